"""`qmatmul physics skyrmion`: relax a texture, map the phase diagram, sweep the field,
or evaluate the Rashba-Edelstein effect. Writes figures and a JSON summary to --out."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from .edelstein import rashba_edelstein
from .lattice import BOUNDARIES, LATTICES, SpinSystem
from .observables import texture_summary
from .phase import (
    DEFAULT_INITIAL_STATES,
    lowest_energy_state,
    phase_diagram,
    skyrmion_lattice_window,
)
from .solvers import relax
from .states import INITIAL_STATES, initial_state


def _values(text: str) -> list[float]:
    """'0.1,0.2,0.3' or 'start:stop:count' (inclusive linspace)."""
    try:
        if ":" in text:
            start, stop, count = text.split(":")
            return list(np.linspace(float(start), float(stop), int(count)))
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"expected 'a,b,c' or 'start:stop:count', got {text!r}"
        ) from error


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qmatmul physics skyrmion",
        description=(
            "Néel skyrmions in a polar magnet (spin lattice with exchange J, interfacial "
            "DMI D, anisotropy K, Zeeman B; all in units of J) and the Rashba-Edelstein "
            "effect. Default: relax one texture and write its image."
        ),
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--phase-diagram",
        action="store_true",
        help="map the lowest-energy phase over --D-values x --B-values",
    )
    mode.add_argument(
        "--window",
        action="store_true",
        help="sweep --B-values at --D: helix / skyrmion lattice / ferromagnet",
    )
    mode.add_argument(
        "--edelstein",
        action="store_true",
        help="Rashba-Edelstein spin density: k-grid vs closed form",
    )
    model = parser.add_argument_group("spin model (lattice units, J = energy unit)")
    model.add_argument("--D", type=float, default=0.3, help="DMI per bond (default 0.3)")
    model.add_argument("--B", type=float, default=0.02, help="Zeeman energy per spin (0.02)")
    model.add_argument("--K", type=float, default=0.0, help="uniaxial anisotropy (0)")
    model.add_argument("--J", type=float, default=1.0, help="exchange per bond, > 0 (1)")
    model.add_argument("--size", type=_positive_int, default=64, help="sites along x (64)")
    model.add_argument(
        "--size-y", type=_positive_int, default=None, help="sites along y (default: --size)"
    )
    model.add_argument("--lattice", choices=LATTICES, default="square")
    model.add_argument("--boundary", choices=BOUNDARIES, default="periodic")
    model.add_argument(
        "--init",
        choices=(*INITIAL_STATES, "best"),
        default="random",
        help="initial state; 'best' relaxes all and keeps the lowest energy",
    )
    model.add_argument("--seed", type=int, default=0, help="seed of random initial states")
    model.add_argument("--tol", type=float, default=1e-6, help="torque tolerance (1e-6)")
    model.add_argument("--max-iter", type=_positive_int, default=100_000)
    sweep = parser.add_argument_group("phase diagram and field sweep")
    sweep.add_argument(
        "--D-values",
        type=_values,
        default=_values("0.2:0.5:4"),
        help="'a,b,c' or 'start:stop:count' (default 0.2:0.5:4)",
    )
    sweep.add_argument(
        "--B-values",
        type=_values,
        default=None,
        help="default: 0:0.12:13 (phase diagram), 0:0.1:21 (window)",
    )
    sweep.add_argument(
        "--box-scales",
        type=_values,
        default=None,
        help="box stretch factors (default 1,1.15,1.3 / 1:1.5:11)",
    )
    ree = parser.add_argument_group("Rashba-Edelstein (SI with eV)")
    ree.add_argument("--alpha", type=float, default=1e-11, help="Rashba alpha, eV m (1e-11)")
    ree.add_argument("--m-eff", type=float, default=1.0, help="effective mass, m_e (1)")
    ree.add_argument("--tau", type=float, default=1e-14, help="relaxation time, s (1e-14)")
    ree.add_argument("--E", type=float, default=1e4, help="electric field, V/m (1e4)")
    ree.add_argument("--fermi-energy", type=float, default=0.1, help="E_F, eV (0.1)")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("build/skyrmion"),
        help="output directory (default build/skyrmion)",
    )
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    return parser


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"wrote {path}")


def _run_relax(args) -> int:
    from .plotting import plot_texture

    shape = (args.size, args.size_y or args.size)
    system = SpinSystem(
        shape, lattice=args.lattice, J=args.J, D=args.D, K=args.K, B=args.B, boundary=args.boundary
    )
    if args.init == "best":
        initial = [k for k in INITIAL_STATES if k != "skyrmion"]
        state, kind, all_states = lowest_energy_state(
            system, initial, seed=args.seed, torque_tol=args.tol, max_iter=args.max_iter
        )
        for name, other in all_states.items():
            print(
                f"  from {name:16s} E/site = {other.energy_per_site:.6f}  "
                f"Q = {other.topological_charge:+.3f}  {other.phase}"
            )
    else:
        kind = args.init
        state = relax(
            system,
            initial_state(system, kind, seed=args.seed),
            torque_tol=args.tol,
            max_iter=args.max_iter,
            progress=args.progress,
        )
    summary = texture_summary(system, state.m)
    summary.update(
        system=repr(system),
        initial_state=kind,
        seed=args.seed,
        iterations=state.iterations,
        converged=state.converged,
        max_torque=state.max_torque,
    )
    radii = summary["skyrmion_radii"]
    print(system)
    print(
        f"relaxed from {kind} in {state.iterations} iterations "
        f"(converged: {state.converged}, max torque {state.max_torque:.1e})"
    )
    print(
        f"Q = {summary['topological_charge']:+.4f}   phase: {summary['phase']}   "
        f"E/site = {summary['energy_per_site']:.6f}"
    )
    if radii:
        print(
            f"skyrmion radii (m_z = 0, lattice constants): mean {np.mean(radii):.2f}, "
            f"n = {len(radii)}"
        )
    if not state.converged:
        print("warning: not converged; raise --max-iter or --tol")
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"texture_D{args.D:g}_B{args.B:g}_{args.lattice}_{kind}"
    path = plot_texture(
        system,
        state.m,
        args.out / f"{stem}.png",
        title=f"{args.lattice}, D={args.D:g}, B={args.B:g}, K={args.K:g}: "
        f"Q = {summary['topological_charge']:+.2f}, {summary['phase']}",
    )
    print(f"wrote {path}")
    np.save(args.out / f"{stem}.npy", state.m)
    _write_json(args.out / f"{stem}.json", summary)
    return 0 if state.converged else 1


def _run_phase_diagram(args) -> int:
    from .plotting import plot_phase_diagram

    B_values = args.B_values or _values("0:0.12:13")
    scales = args.box_scales or (1.0, 1.15, 1.3)
    diagram = phase_diagram(
        args.D_values,
        B_values,
        J=args.J,
        K=args.K,
        lattice=args.lattice,
        box_scales=scales,
        initial_states=DEFAULT_INITIAL_STATES,
        seed=args.seed,
        torque_tol=args.tol,
        max_iter=args.max_iter,
        progress=args.progress,
    )
    header = "D \\ B    " + " ".join(f"{b:7.3f}" for b in diagram.B_values)
    print(header)
    short = {
        "ferromagnet": "FM",
        "helix": "H",
        "isolated skyrmions": "iSk",
        "skyrmion lattice": "SkX",
    }
    for i, D in enumerate(diagram.D_values):
        print(f"{D:7.3f}  " + " ".join(f"{short[p]:>7s}" for p in diagram.phase[i]))
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"wrote {plot_phase_diagram(diagram, args.out / 'phase_diagram.png')}")
    reduced = plot_phase_diagram(
        diagram, args.out / "phase_diagram_reduced.png", reduced_field=True
    )
    print(f"wrote {reduced}")
    _write_json(args.out / "phase_diagram.json", diagram.to_dict())
    return 0


def _run_window(args) -> int:
    from .plotting import plot_field_window

    B_values = args.B_values or _values("0:0.1:21")
    scales = args.box_scales or _values("1:1.5:11")
    window = skyrmion_lattice_window(
        args.D,
        B_values,
        J=args.J,
        K=args.K,
        lattice=args.lattice,
        box_scales=scales,
        progress=args.progress,
    )

    def show(value):
        return "not found in the sweep" if value is None else f"B = {value:.4f} J"

    print(f"D = {args.D:g} J, K = {args.K:g} J, {args.lattice} lattice")
    print(f"helix -> skyrmion lattice : {show(window.helix_to_lattice)}")
    print(f"skyrmion lattice -> FM    : {show(window.lattice_to_ferromagnet)}")
    print(f"lattice collapse (unwinds): {show(window.lattice_collapse)}")
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"wrote {plot_field_window(window, args.out / f'window_D{args.D:g}.png')}")
    data = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in vars(window).items()}
    _write_json(args.out / f"window_D{args.D:g}.json", data)
    return 0


def _run_edelstein(args) -> int:
    result = rashba_edelstein(
        args.alpha, args.m_eff, args.tau, args.E, fermi_energy=args.fermi_energy
    )
    print(
        f"alpha = {args.alpha:g} eV m, m = {args.m_eff:g} m_e, tau = {args.tau:g} s, "
        f"E = {args.E:g} V/m, E_F = {args.fermi_energy:g} eV (electrons)"
    )
    print(
        f"S_y k-grid     = {result.spin_density:.6e} J s/m^2 "
        f"({result.spin_polarization:.4e} spins/m^2)"
    )
    print(
        f"S_y closed form = {result.spin_density_closed_form:.6e} J s/m^2 "
        f"(relative difference {result.relative_difference:.1e})"
    )
    print(f"j_x = {result.current_density:.4e} A/m, n = {result.carrier_density:.4e} m^-2")
    print(f"lambda_IREE = alpha tau / hbar = {result.lambda_iree * 1e9:.4f} nm")
    args.out.mkdir(parents=True, exist_ok=True)
    _write_json(args.out / "edelstein.json", result.to_dict())
    return 0 if result.relative_difference < 1e-4 else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.phase_diagram:
            return _run_phase_diagram(args)
        if args.window:
            return _run_window(args)
        if args.edelstein:
            return _run_edelstein(args)
        return _run_relax(args)
    except ValueError as error:
        print(f"error: {error}")
        return 2


if __name__ == "__main__":
    import sys

    sys.exit(main())

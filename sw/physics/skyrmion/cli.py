"""`qmatmul physics skyrmion`: relax a texture, map the T = 0 phase diagram, sweep the field,
map the finite-temperature (T, B) phase diagram by Monte Carlo, place a material in lattice
units, or evaluate the Rashba-Edelstein effect. Writes figures and a JSON summary to --out.

Bad parameters print one line on stderr and exit with code 2 (``common.run_cli``); a relaxation
that did not converge exits with 1.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ...workloads.common import format_table, write_json
from ..common import check_count, run_cli, values_argument
from .edelstein import rashba_edelstein
from .model import BOUNDARIES, LATTICES, SpinSystem
from .observables import texture_summary
from .phase import (
    DEFAULT_INITIAL_STATES,
    lowest_energy_state,
    phase_diagram,
    skyrmion_lattice_window,
)
from .solvers import relax
from .states import INITIAL_STATES, initial_state


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
    mode.add_argument(
        "--thermal",
        action="store_true",
        help="field-cooled Monte Carlo phase diagram over --B-values x --T-values at --D, --K",
    )
    mode.add_argument(
        "--material",
        action="store_true",
        help="the Fe(Co)GeTe2 parameter set in lattice units, and its Edelstein estimate",
    )
    model = parser.add_argument_group("spin model (lattice units, J = energy unit)")
    model.add_argument("--D", type=float, default=0.3, help="DMI per bond (default 0.3)")
    model.add_argument("--B", type=float, default=0.02, help="Zeeman energy per spin (0.02)")
    model.add_argument("--K", type=float, default=0.0, help="uniaxial anisotropy (0)")
    model.add_argument("--J", type=float, default=1.0, help="exchange per bond, > 0 (1)")
    model.add_argument("--size", type=int, default=64, help="sites along x (64)")
    model.add_argument("--size-y", type=int, default=None, help="sites along y (default: --size)")
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
    model.add_argument("--max-iter", type=int, default=100_000)
    sweep = parser.add_argument_group("phase diagram and field sweep")
    sweep.add_argument(
        "--D-values",
        type=values_argument("--D-values"),
        default=[0.2, 0.3, 0.4, 0.5],
        help="'a,b,c' or 'start:stop:count' (default 0.2:0.5:4)",
    )
    sweep.add_argument(
        "--B-values",
        type=values_argument("--B-values"),
        default=None,
        help="default: 0:0.12:13 (phase diagram), 0:0.1:21 (window), (0:1.6:9) x D^2 (thermal)",
    )
    sweep.add_argument(
        "--box-scales",
        type=values_argument("--box-scales"),
        default=None,
        help="box stretch factors (default 1,1.15,1.3 / 1:1.5:11)",
    )
    thermal = parser.add_argument_group("finite temperature (--thermal; T in units of J)")
    thermal.add_argument(
        "--T-values",
        type=values_argument("--T-values"),
        default=None,
        help="temperatures, cooled from the highest (default 12 from 1.2 down to 0.05)",
    )
    thermal.add_argument(
        "--cells",
        type=int,
        default=2,
        help="box of cells x cells skyrmion-lattice cells of the zero-field period (default 2)",
    )
    thermal.add_argument("--sweeps", type=int, default=400, help="measured sweeps per T (400)")
    thermal.add_argument(
        "--equilibration", type=int, default=300, help="discarded sweeps per T (300)"
    )
    thermal.add_argument(
        "--over-relaxation", type=int, default=2, help="reflections per site and sweep (2)"
    )
    thermal.add_argument(
        "--start",
        choices=("random", "skyrmion-lattice"),
        default="random",
        help="state at the highest temperature (default random: a field-cooled paramagnet)",
    )
    material = parser.add_argument_group("material (--material)")
    material.add_argument(
        "--layers",
        type=values_argument("--layers"),
        default=[1, 3, 10, 30],
        help="film thicknesses in van der Waals layers (default 1,3,10,30)",
    )
    material.add_argument(
        "--kelvin", type=float, default=300.0, help="temperature to place (default 300 K)"
    )
    material.add_argument(
        "--tesla", type=float, default=0.1, help="field mu0 H to place (default 0.1 T)"
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
    print(f"wrote {write_json(path, data)}")


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

    B_values = args.B_values or list(np.linspace(0.0, 0.12, 13))
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

    B_values = args.B_values or list(np.linspace(0.0, 0.1, 21))
    scales = args.box_scales or list(np.linspace(1.0, 1.5, 11))
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


def _run_thermal(args) -> int:
    from .phase import commensurate_shape
    from .plotting import plot_thermal_phase_diagram
    from .thermal import THERMAL_PHASES, thermal_phase_diagram

    if args.size_y is not None or args.size != 64:  # an explicit box
        shape = (args.size, args.size_y or args.size)
    else:
        shape = commensurate_shape(args.D, J=args.J, lattice=args.lattice, cells=args.cells)
    system = SpinSystem(shape, lattice=args.lattice, J=args.J, D=args.D, K=args.K)
    B_values = args.B_values or list(np.linspace(0.0, 1.6, 9) * args.D**2)
    temperatures = args.T_values or list(np.geomspace(1.2, 0.05, 12))
    diagram = thermal_phase_diagram(
        system,
        B_values,
        temperatures,
        sweeps=check_count("--sweeps", args.sweeps, 20),
        equilibration=check_count("--equilibration", args.equilibration, 0),
        over_relaxation=check_count("--over-relaxation", args.over_relaxation, 0, 20),
        start=args.start,
        seed=args.seed,
        progress=args.progress,
    )
    short = dict(zip(THERMAL_PHASES, ("PM", "FM", "H", "SkX"), strict=True))
    print(f"{system}; ideal skyrmion count {diagram.ideal_skyrmions:.2f}")
    rows = [
        [f"{t:.3f}"] + [f"{short[p]}({abs(q):.0f})" for p, q in zip(phases, charges, strict=True)]
        for t, phases, charges in zip(
            diagram.temperatures, diagram.phase.T, diagram.charge.T, strict=True
        )
    ]
    print(format_table(["T \\ B"] + [f"{b:.4f}" for b in diagram.B_values], rows))
    print("(phase and |<Q>| per box; field-cooled from the highest T)")
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"thermal_D{args.D:g}_K{args.K:g}"
    print(f"wrote {plot_thermal_phase_diagram(diagram, args.out / f'{stem}.png')}")
    _write_json(args.out / f"{stem}.json", diagram.to_dict())
    return 0


def _run_material(args) -> int:
    from .materials import FCGT_CLASS, edelstein_inputs, to_lattice

    material = FCGT_CLASS
    print(f"{material.name}:")
    rows = [
        ("A", f"{material.A:.3g} J/m", material.sources["A"]),
        ("D", f"{material.D:.3g} J/m^2", material.sources["D"]),
        ("K_u", f"{material.K_u:.3g} J/m^3", material.sources["K_u"]),
        ("Ms", f"{material.Ms:.3g} A/m", material.sources["Ms"]),
        ("a", f"{material.lattice_constant * 1e9:.3f} nm", material.sources["lattice_constant"]),
        ("T_C", f"{material.curie_temperature:g} K", material.sources["curie_temperature"]),
    ]
    for name, value, source in rows:
        print(f"  {name:4s} {value:>14s}  {source}")
    line = (
        f"  K_eff = K_u - mu0 Ms^2/2 = {material.K_eff:.3g} J/m^3; "
        f"helix period 4 pi A/D = {material.helix_period * 1e9:.1f} nm"
    )
    if material.critical_dmi:  # a helix ground state needs D > D_c = 4 sqrt(A K_eff) / pi
        line += f"; D / D_c = {material.D / material.critical_dmi:.2f}"
    print(line)
    table = []
    mappings = []
    for layers in args.layers:
        mapping = to_lattice(material, layers * material.layer_thickness)
        mappings.append(mapping.to_dict() | {"layers": layers})
        table.append(
            (layers, f"{mapping.exchange_kelvin:.0f} K", round(mapping.D, 4), round(mapping.K, 4),
             f"{mapping.field(args.tesla):.3g}", round(mapping.temperature(args.kelvin), 3))
        )  # fmt: skip
    print(f"\nsquare lattice of cell a = {material.lattice_constant * 1e9:.3f} nm, J = 2 A t:")
    headers = ("layers", "J / k_B", "D/J", "K/J", f"B/J at {args.tesla:g} T",
               f"T/J at {args.kelvin:g} K")  # fmt: skip
    print(format_table(headers, table))
    reduced = 2 * material.A * material.Ms * args.tesla / material.D**2
    print(f"reduced field h = 2 A Ms B / D^2 = {reduced:.3f} at {args.tesla:g} T (any cell size)")
    inputs = edelstein_inputs()
    result = rashba_edelstein(
        inputs["alpha_eV_m"], inputs["m_eff"], inputs["tau_s"], inputs["E_V_per_m"],
        fermi_energy=inputs["fermi_energy_eV"],
    )  # fmt: skip
    print(
        f"\nEdelstein (free Rashba gas; {inputs['status']}):\n"
        f"  alpha = {inputs['alpha_eV_m']:g} eV m, m = {inputs['m_eff']:g} m_e, "
        f"tau = {inputs['tau_s']:g} s, E = {inputs['E_V_per_m']:g} V/m"
        f"\n  S_y = {result.spin_density:.3e} J s/m^2 = {result.spin_polarization:.3e} spins/m^2,"
        f" lambda_IREE = {result.lambda_iree * 1e9:.3f} nm"
    )
    args.out.mkdir(parents=True, exist_ok=True)
    data = {
        "material": material.__dict__ | {"K_eff": material.K_eff,
                                         "critical_dmi": material.critical_dmi},
        "lattice": mappings,
        "kelvin": args.kelvin,
        "tesla": args.tesla,
        "reduced_field": reduced,
        "edelstein": {"inputs": inputs, "result": result.to_dict()},
    }  # fmt: skip
    _write_json(args.out / "material.json", data)
    return 0


def run(args: argparse.Namespace) -> int:
    check_count("--size", args.size, 1)
    if args.size_y is not None:
        check_count("--size-y", args.size_y, 1)
    check_count("--max-iter", args.max_iter, 1)
    if args.phase_diagram:
        return _run_phase_diagram(args)
    if args.window:
        return _run_window(args)
    if args.edelstein:
        return _run_edelstein(args)
    if args.thermal:
        return _run_thermal(args)
    if args.material:
        return _run_material(args)
    return _run_relax(args)


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), run, argv)

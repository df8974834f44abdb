"""``qmatmul physics magnon``: mean-field sweeps, quantum checks and the thermodynamic limit.

Examples::

    qmatmul physics magnon --sweep drive                      # defaults, plots in build/magnon
    qmatmul physics magnon --sweep drive --delta-a=-6         # a second-order transition
    qmatmul physics magnon --param kerr --values=-0.1:0.1:40  # phase diagram over K
    qmatmul physics magnon --quantum                          # also the QuTiP checks
    qmatmul physics magnon --gaps --quick                     # Liouvillian gaps vs 1/K
    qmatmul physics magnon --wigner --wigner-kerr 0.2         # steady-state Wigner functions
    qmatmul physics magnon --limit --quick                    # K<m+m> vs drive: exact, TW, MF

Errors in the parameters print one line on stderr and exit with code 2 (``common.run_cli``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ...workloads.common import format_table, write_json
from ..common import check_count, run_cli, values_argument
from .model import (
    SWEEPABLE_PARAMETERS,
    Conventions,
    MagnonParams,
    critical_drive,
    effective_magnon,
    saddle_node_drive,
)
from .observables import drive_sweep, fluctuations
from .quantum import METHODS
from .solver import phase, phase_diagram, steady_states


def build_parser() -> argparse.ArgumentParser:
    defaults = MagnonParams()
    parser = argparse.ArgumentParser(
        prog="qmatmul physics magnon",
        description="Parity-symmetry breaking in a parametrically driven cavity-magnon system: "
        "mean-field steady states and phases, the Lindblad master equation (QuTiP), and the "
        "thermodynamic limit K -> 0 (Liouvillian gaps, Wigner functions, truncated Wigner).",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--gaps", action="store_true", help="Liouvillian gaps vs 1/K at --gap-drives")
    mode.add_argument(
        "--wigner", action="store_true", help="steady-state Wigner functions at --wigner-drives"
    )
    mode.add_argument(
        "--limit",
        action="store_true",
        help="K<m+m> vs drive: exact at --limit-kerr, truncated Wigner at --tw-kerr, mean field",
    )
    parser.add_argument(
        "--sweep",
        choices=["drive"],
        default="drive",
        help="what the 1D plot sweeps (default: drive)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("build/magnon"), help="output directory for PNG/JSON"
    )
    model = parser.add_argument_group("model (units of the magnon linewidth)")
    for name in SWEEPABLE_PARAMETERS:
        model.add_argument(
            f"--{name.replace('_', '-')}",
            type=float,
            default=getattr(defaults, name),
            help=f"default {getattr(defaults, name)}",
        )
    model.add_argument("--drive-factor", type=float, default=Conventions.drive_factor)
    model.add_argument(
        "--kerr-ordering", choices=["number_squared", "normal_ordered"], default="number_squared"
    )
    model.add_argument(
        "--loss", choices=["lindblad_rate", "amplitude_rate"], default="lindblad_rate"
    )
    diagram = parser.add_argument_group("phase diagram")
    diagram.add_argument("--param", choices=SWEEPABLE_PARAMETERS, default="delta_a")
    diagram.add_argument(
        "--values",
        type=values_argument("--values"),
        default=None,
        help="values of the parameter, 'a,b,c' or START:STOP:COUNT; write --values=-10:10:81 "
        "when START is negative (default -10:10:81 for detunings, else 0.2x..2x the value)",
    )
    diagram.add_argument(
        "--drives",
        type=values_argument("--drives"),
        default=None,
        help="drives of the diagram (default 0 .. 5x the critical drive, 81 points)",
    )
    diagram.add_argument(
        "--no-confirm",
        action="store_true",
        help="skip the time integration that confirms points without a stable fixed point",
    )
    quantum = parser.add_argument_group("quantum check (QuTiP)")
    quantum.add_argument("--quantum", action="store_true", help="run the QuTiP checks too")
    quantum.add_argument("--quantum-drive", type=float, default=2.0)
    quantum.add_argument(
        "--kerr-values",
        type=values_argument("--kerr-values"),
        default=[1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01],
        help="Kerr values of the --quantum thermodynamic-limit scan",
    )
    quantum.add_argument(
        "--full-below",
        type=int,
        default=8000,
        help="solve the full Fock space when its even sector has at most this many unknowns, "
        "else expand around the mean-field branch (default 8000)",
    )
    quantum.add_argument(
        "--method", choices=METHODS, default="auto", help="master-equation solver (default auto)"
    )
    limit = parser.add_argument_group("thermodynamic limit (--gaps, --wigner, --limit)")
    limit.add_argument(
        "--gap-kerr",
        type=values_argument("--gap-kerr"),
        default=None,
        help="K values of --gaps (default 0.5,0.35,0.25,0.18,0.13,0.1; --quick 0.5,0.35,0.25)",
    )
    limit.add_argument(
        "--gap-drives",
        type=values_argument("--gap-drives"),
        default=None,
        help="drives of --gaps (default: one below, inside and above the transition)",
    )
    limit.add_argument("--wigner-kerr", type=float, default=0.1, help="K of --wigner (0.1)")
    limit.add_argument(
        "--wigner-drives",
        type=values_argument("--wigner-drives"),
        default=None,
        help="drives of --wigner (default: across the transition)",
    )
    limit.add_argument(
        "--limit-kerr",
        type=values_argument("--limit-kerr"),
        default=None,
        help="K values of the exact curves of --limit (default 0.4,0.2,0.1; --quick 0.4,0.2)",
    )
    limit.add_argument(
        "--tw-kerr",
        type=values_argument("--tw-kerr"),
        default=[0.02],
        help="K values of the truncated-Wigner curves of --limit (default 0.02)",
    )
    limit.add_argument("--tw-trajectories", type=int, default=400, help="(default 400)")
    limit.add_argument("--tw-time", type=float, default=60.0, help="TW run time (default 60)")
    limit.add_argument("--seed", type=int, default=0, help="seed of the TW noise (default 0)")
    parser.add_argument(
        "--quick", action="store_true", help="smaller grids for --gaps and --limit (minutes)"
    )
    parser.add_argument(
        "--points", type=int, default=301, help="drives in the 1D sweep (default 301)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def _params_from_args(args: argparse.Namespace) -> MagnonParams:
    conventions = Conventions(args.drive_factor, args.kerr_ordering, args.loss)
    values = {name: getattr(args, name) for name in SWEEPABLE_PARAMETERS}
    return MagnonParams(**values, conventions=conventions)


def _default_values(params: MagnonParams, name: str) -> np.ndarray:
    if name in ("delta_a", "delta_m"):
        return np.linspace(-10, 10, 81)
    value = getattr(params, name)
    if name == "kerr":  # both signs
        return np.linspace(-2 * abs(value), 2 * abs(value), 80)  # even count: avoids K = 0
    return np.linspace(0.2 * value, 2 * value, 81) if value > 0 else np.linspace(0, 2, 81)


def transition_drives(params: MagnonParams) -> list[float]:
    """Drives that show a transition: below it, inside the bistable window (two) or at the
    critical drive, and above it."""
    drive_c = critical_drive(params)
    lower = saddle_node_drive(params)
    if lower is not None:
        width = drive_c - lower
        return [round(x, 4) for x in (0.6 * lower, lower + 0.35 * width, lower + 0.75 * width,
                                      1.3 * drive_c)]  # fmt: skip
    return [round(x, 4) for x in (0.6 * drive_c, drive_c, 1.3 * drive_c)]


def _print_params(params: MagnonParams) -> None:
    print("parameters: " + ", ".join(f"{k}={v}" for k, v in params.as_dict().items()))


# --------------------------------------------------------------------------- default mode


def _quantum_report(
    params: MagnonParams, drive: float, kerr_values: list[float], full_below: int
) -> dict:
    from .quantum import kerr_scan, quantum_steady_state

    report: dict = {"drive": drive}
    full_params = params.with_value("kerr", 1.0)
    print(f"\nQuTiP, full Fock space, K=1, drive={drive}: convergence in the cutoffs")
    print(f"{'n_max':>6} {'n_cav':>6} {'<m+m>':>12} {'<P>':>9} {'top level':>10} {'odd gap':>9}")
    rows = []
    for n_max, n_cavity in ((6, 3), (8, 3), (10, 3), (10, 4), (10, 5)):
        state = quantum_steady_state(full_params, drive, n_max, n_cavity, method="direct")
        rows.append(
            {
                "n_max": n_max,
                "n_cavity": n_cavity,
                "magnon_number": state.magnon_number,
                "total_parity": state.total_parity,
                "magnon_tail": state.magnon_tail,
                "odd_gap": state.odd_gap,
                "even_gap": state.even_gap,
            }
        )
        print(
            f"{n_max:6d} {n_cavity:6d} {state.magnon_number:12.8f} {state.total_parity:9.5f} "
            f"{state.magnon_tail:10.1e} {state.odd_gap:9.5f}"
        )
    report["cutoff_convergence"] = rows
    print(f"\nthermodynamic limit K -> 0 at drive={drive} (K<m+m> vs mean-field K|beta|^2)")
    header = f"{'K':>7} {'method':>7} {'cutoffs':>8} {'K|b|^2':>9} {'K<m+m>':>9}"
    print(header + f" {'rel.diff':>9} {'cutoff chg':>10}")
    scan = kerr_scan(params, drive, kerr_values, full_below=full_below)
    for point in scan:
        cutoffs = f"{point.n_max},{point.n_cavity}"
        print(
            f"{point.kerr:7.3f} {point.method:>7} {cutoffs:>8} {point.scaled_mean_field:9.5f} "
            f"{point.scaled_quantum:9.5f} {point.relative_difference:9.2e} "
            f"{point.cutoff_change:10.1e}"
        )
    report["kerr_scan"] = [point.__dict__ for point in scan]
    return report


def _run_sweep(args: argparse.Namespace, params: MagnonParams) -> int:
    from .plotting import plot_drive_sweep, plot_phase_diagram

    effective = effective_magnon(params)
    drive_max = 2.5 * critical_drive(params)
    drives = np.linspace(0.0, drive_max, args.points)
    if not args.quiet:
        print("  time-integrating adiabatic sweeps up and down ...", flush=True)
    sweep = drive_sweep(params, drives)
    info = sweep.transition
    relative = abs(info.instability.drive / info.critical_drive - 1)
    print(
        f"effective magnon: Delta_eff={effective.detuning:.6f}, Gamma_eff={effective.damping:.6f}"
    )
    print(f"critical drive (closed form):      {info.critical_drive:.10f}")
    print(
        f"zero state unstable (Jacobian):    {info.instability.drive:.10f} "
        f"({info.instability.kind}; relative difference {relative:.1e})"
    )
    print(f"transition: {info.order} order (predicted {info.predicted_order} from Delta_eff*K)")
    if info.bistable_window:
        low, high = info.bistable_window
        print(f"bistable window: {low:.6f} < drive < {high:.6f}; jump |beta|^2 = {info.jump:.4f}")
    plot_path = plot_drive_sweep(sweep, args.out / "order_parameter_vs_drive.png")

    print(f"\n{'drive':>8} {'phase':>10} {'stable |beta|^2':>18} {'<dm+dm> zero':>13}")
    for drive in np.linspace(0.0, drive_max, 11):
        branches = steady_states(params, drive)
        stable = sorted({round(b.magnon_number, 6) for b in branches if b.stable})
        zero_stable = branches[0].stable
        # abs(): at zero drive the Lyapunov solution is 0 up to rounding, printed as -0.0
        excitations = abs(fluctuations(params, drive).magnon_excitations) if zero_stable else 0
        fluct = f"{excitations:13.5f}" if zero_stable else "-"
        numbers = ", ".join(f"{n:.4f}" for n in stable) or "none"
        print(f"{drive:8.4f} {phase(params, drive).value:>10} {numbers:>18} {fluct:>13}")

    values = args.values if args.values is not None else _default_values(params, args.param)
    if args.drives is not None:
        diagram_drives = args.drives
    else:
        diagram_drives = np.linspace(0.0, 5 * critical_drive(params), 81)
    diagram = phase_diagram(
        args.param,
        values,
        diagram_drives,
        base=params,
        confirm=not args.no_confirm,
        progress=not args.quiet,
    )
    diagram_path = plot_phase_diagram(diagram, args.out / f"phase_diagram_{args.param}.png")
    print(f"\nphase diagram ({args.param} x drive, {len(values)}x{len(diagram_drives)}):")
    print("  " + ", ".join(f"{k} {v}" for k, v in diagram.counts().items()))

    hysteresis = sweep.hysteresis
    summary = {
        "params": params.as_dict(),
        "effective_detuning": effective.detuning,
        "effective_damping": effective.damping,
        "critical_drive": info.critical_drive,
        "instability_drive": info.instability.drive,
        "instability_kind": info.instability.kind,
        "order": info.order,
        "predicted_order": info.predicted_order,
        "jump_magnon_number": info.jump,
        "bistable_window": info.bistable_window,
        "hysteresis": {
            "drives": hysteresis.drives,
            "up": hysteresis.up,
            "down": hysteresis.down,
        },
        "phase_counts": diagram.counts(),
    }
    if args.quantum:
        summary["quantum"] = _quantum_report(
            params, args.quantum_drive, args.kerr_values, args.full_below
        )
    summary_path = write_json(args.out / "summary.json", summary)
    print(f"\nwrote {plot_path}, {diagram_path}, {summary_path}")
    return 0


# --------------------------------------------------------------------------- limit modes


def _run_gaps(args: argparse.Namespace, params: MagnonParams) -> int:
    from .plotting import plot_gap_scaling
    from .scaling import fit_gap_closing, gap_scan

    kerr_values = args.gap_kerr or (
        [0.5, 0.35, 0.25] if args.quick else [0.5, 0.35, 0.25, 0.18, 0.13, 0.1]
    )
    drives = args.gap_drives or transition_drives(params)
    points = gap_scan(params, drives, kerr_values, method=args.method, progress=not args.quiet)
    rows = [
        (p.kerr, p.drive, p.mean_field_phase, f"{p.n_max},{p.n_cavity}", p.method,
         round(p.scaled_magnon_number, 4), f"{p.even_gap:.3e}", f"{p.odd_gap:.3e}",
         round(p.seconds, 1))
        for p in points
    ]  # fmt: skip
    headers = ("K", "drive", "mean field", "cutoffs", "solver", "K<m+m>", "even gap", "odd gap",
               "s")  # fmt: skip
    print(format_table(headers, rows))
    fits = []
    if len(kerr_values) >= 3:
        print("\nfits of ln(gap): exponential exp(-S/K) vs power law K^nu (rms of ln gap)")
        for drive in drives:
            for sector in ("even", "odd"):
                fit = fit_gap_closing(points, drive, sector)
                fits.append(fit)
                print(
                    f"  drive {drive:g} {sector:>4}: S = {fit.exponential_action:7.3f} "
                    f"(rms {fit.exponential_rms:.3f}), nu = {fit.power_exponent:6.3f} "
                    f"(rms {fit.power_rms:.3f}) -> {fit.better_fit}"
                )
    info = f"{effective_magnon(params).detuning:+.3f}"
    path = plot_gap_scaling([(f"Delta_eff = {info}", points)], args.out / "gap_scaling.png")
    data = {
        "params": params.as_dict(),
        "kerr_values": kerr_values,
        "drives": drives,
        "points": [p.to_dict() for p in points],
        "fits": [fit.__dict__ | {"better_fit": fit.better_fit} for fit in fits],
    }
    print(f"wrote {path}, {write_json(args.out / 'gap_scaling.json', data)}")
    return 0


def _run_wigner(args: argparse.Namespace, params: MagnonParams) -> int:
    from .plotting import plot_wigner_snapshots
    from .scaling import thermodynamic_family, wigner_snapshots

    scaled = thermodynamic_family(params, args.wigner_kerr)
    drives = args.wigner_drives or transition_drives(scaled)
    snapshots = wigner_snapshots(scaled, drives, method=args.method, progress=not args.quiet)
    rows = []
    for snap in snapshots:
        peaks = "; ".join(f"{p.amplitude.real:+.2f}{p.amplitude.imag:+.2f}i" for p in snap.peaks)
        rows.append((snap.drive, snap.mean_field_phase, len(snap.peaks), peaks))
    print(format_table(("drive", "mean field", "peaks", "peak positions (beta)"), rows))
    path = plot_wigner_snapshots([(f"K = {scaled.kerr:g}", snapshots)], args.out / "wigner.png")
    data = {"params": scaled.as_dict(), "snapshots": [s.to_dict() for s in snapshots]}
    print(f"wrote {path}, {write_json(args.out / 'wigner.json', data)}")
    return 0


def _run_limit(args: argparse.Namespace, params: MagnonParams) -> int:
    from .plotting import plot_order_parameter_limit
    from .scaling import quantum_order_parameter, thermodynamic_family, wigner_order_parameter

    trajectories = check_count("--tw-trajectories", args.tw_trajectories, 2, 100_000)
    drive_c = critical_drive(params)
    drives = np.linspace(0.2 * drive_c, 1.6 * drive_c, 8 if args.quick else 15)
    exact_kerr = args.limit_kerr or ([0.4, 0.2] if args.quick else [0.4, 0.2, 0.1])
    exact_family = [thermodynamic_family(params, k) for k in exact_kerr]  # validate first
    wigner_family = [thermodynamic_family(params, k) for k in args.tw_kerr]
    curves = [
        quantum_order_parameter(member, drives, method=args.method, progress=not args.quiet)
        for member in exact_family
    ]
    for member in wigner_family:
        for start in ("vacuum", "broken"):
            curves.append(
                wigner_order_parameter(
                    member, drives, start=start,
                    t_final=args.tw_time, trajectories=trajectories, seed=args.seed,
                    progress=not args.quiet,
                )
            )  # fmt: skip
    rows = [
        [round(d, 4)] + [f"{c.scaled_number[i]:.4f}" for c in curves] for i, d in enumerate(drives)
    ]
    headers = ["drive"] + [f"K={c.kerr:g} {c.method.split(' ')[0][:5]}" for c in curves]
    print(format_table(headers, rows))
    title = f"Delta_eff = {effective_magnon(params).detuning:+.3f}"
    path = plot_order_parameter_limit(
        [(title, params, drives, curves)], args.out / "order_parameter_limit.png"
    )
    data = {"params": params.as_dict(), "curves": [c.to_dict() for c in curves]}
    print(f"wrote {path}, {write_json(args.out / 'order_parameter_limit.json', data)}")
    return 0


def run(args: argparse.Namespace) -> int:
    check_count("--points", args.points, 2)
    params = _params_from_args(args)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    _print_params(params)
    if args.gaps:
        code = _run_gaps(args, params)
    elif args.wigner:
        code = _run_wigner(args, params)
    elif args.limit:
        code = _run_limit(args, params)
    else:
        code = _run_sweep(args, params)
    print(f"({time.perf_counter() - started:.1f} s)")
    return code


def main(argv: list[str] | None = None) -> int:
    return run_cli(build_parser(), run, argv)

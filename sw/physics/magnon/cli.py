"""``qmatmul physics magnon``: sweeps, plots and a short report.

Examples::

    qmatmul physics magnon --sweep drive                      # defaults, plots in build/magnon
    qmatmul physics magnon --sweep drive --delta-a -4         # a second-order transition
    qmatmul physics magnon --param kerr --values -0.1:0.1:41  # phase diagram over K
    qmatmul physics magnon --quantum                          # also the QuTiP checks
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from .meanfield import (
    PHASES,
    Phase,
    critical_drive,
    effective_magnon,
    fluctuations,
    hysteresis_sweep,
    phase,
    phase_diagram,
    steady_states,
    transition,
)
from .model import SWEEPABLE_PARAMETERS, Conventions, MagnonParams

PHASE_COLORS = {
    Phase.SYMMETRIC: "#d9e6f2",
    Phase.BROKEN: "#f4b183",
    Phase.BISTABLE: "#a9d18e",
    Phase.UNSTABLE: "#b4a7d6",
    Phase.UNCONFIRMED: "#ff0000",
}


def _grid(text: str, name: str) -> np.ndarray:
    """Parse START:STOP:COUNT into a linspace."""
    try:
        start, stop, count = text.split(":")
        start, stop, count = float(start), float(stop), int(count)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{name} must be START:STOP:COUNT with COUNT an integer >= 2 (got {text!r})"
        ) from None
    if count < 2 or not (math.isfinite(start) and math.isfinite(stop)) or start == stop:
        raise argparse.ArgumentTypeError(
            f"{name} must be START:STOP:COUNT with finite START != STOP and COUNT >= 2 "
            f"(got {text!r})"
        )
    return np.linspace(start, stop, count)


def _float_list(text: str) -> list[float]:
    try:
        return [float(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers (got {text!r})"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    defaults = MagnonParams()
    parser = argparse.ArgumentParser(
        prog="qmatmul physics magnon",
        description="Parity-symmetry breaking in a parametrically driven cavity-magnon system: "
        "mean-field steady states, phases, and a QuTiP check.",
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
        type=lambda t: _grid(t, "--values"),
        default=None,
        help="START:STOP:COUNT of the parameter; write --values=-10:10:81 when START is "
        "negative (default -10:10:81 for detunings, else 0.2x..2x the current value)",
    )
    diagram.add_argument(
        "--drives",
        type=lambda t: _grid(t, "--drives"),
        default=None,
        help="START:STOP:COUNT of the drive (default 0 .. 5x the critical drive, 81 points)",
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
        type=_float_list,
        default=[1.0, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01],
        help="Kerr values of the thermodynamic-limit scan",
    )
    quantum.add_argument(
        "--full-below",
        type=int,
        default=8000,
        help="solve the full Fock space when it has at most this many unknowns, else expand "
        "around the mean-field branch (default 8000, about a minute)",
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


# --------------------------------------------------------------------------- plots


def plot_order_parameter(params: MagnonParams, drives: np.ndarray, path: Path, quiet: bool):
    """Order parameter +-|beta| vs drive (stable solid, unstable dashed), the time-integrated
    hysteresis sweeps, and the Lyapunov fluctuations below it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves: dict[tuple[str, int], dict[str, list[float]]] = {}
    zero_fluct, upper_fluct = [], []
    for drive in drives:
        branches = steady_states(params, drive)
        for key in {(b.name, b.parity) for b in branches}:
            curves.setdefault(key, {"stable": [], "unstable": []})
        for key, curve in curves.items():
            match = [b for b in branches if (b.name, b.parity) == key]
            signed = key[1] * abs(match[0].magnon) if match else np.nan
            is_stable = bool(match and match[0].stable)
            curve["stable"].append(signed if is_stable else np.nan)
            curve["unstable"].append(np.nan if is_stable else signed)
        zero = branches[0]
        zero_fluct.append(fluctuations(params, drive).magnon_excitations if zero.stable else np.nan)
        upper = [b for b in branches if b.name == "upper" and b.parity == 1 and b.stable]
        upper_fluct.append(
            fluctuations(params, drive, upper[0]).magnon_excitations if upper else np.nan
        )
    # Curves first seen late are shorter: pad them at the start.
    for curve in curves.values():
        for style in ("stable", "unstable"):
            missing = len(drives) - len(curve[style])
            curve[style] = [np.nan] * missing + curve[style]

    sweep_drives = np.linspace(drives[0], drives[-1], min(41, len(drives)))
    if not quiet:
        print("  time-integrating adiabatic sweeps up and down ...", flush=True)
    sweep = hysteresis_sweep(params, sweep_drives)

    colors = {"zero": "black", "upper": "tab:red", "lower": "tab:blue"}
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 7), sharex=True, height_ratios=[3, 2])
    labelled = set()
    for (name, _parity), curve in sorted(curves.items()):
        label = None if name in labelled else name
        labelled.add(name)
        top.plot(drives, curve["stable"], "-", color=colors[name], lw=2, label=label)
        top.plot(drives, curve["unstable"], "--", color=colors[name], lw=1.2)
    top.plot(sweep.drives, np.sqrt(sweep.up), "^", ms=5, mfc="none", color="tab:green",
             label="time integration, sweep up")  # fmt: skip
    top.plot(sweep.drives, -np.sqrt(sweep.down), "v", ms=5, mfc="none", color="tab:purple",
             label="sweep down (shown as -|beta|)")  # fmt: skip
    info = transition(params)
    for axis in (top, bottom):
        axis.axvline(info.critical_drive, color="gray", lw=0.8, ls=":")
        if info.bistable_window:
            axis.axvspan(*info.bistable_window, color="tab:green", alpha=0.08)
    top.set_ylabel(r"order parameter $\pm|\beta|$")
    top.set_title(
        f"{info.order} order, critical drive {info.critical_drive:.4f}"
        + (
            f", bistable {info.bistable_window[0]:.4f}..{info.bistable_window[1]:.4f}"
            if info.bistable_window
            else ""
        )
        + "\nsolid: stable, dashed: unstable",
        fontsize=10,
    )
    top.legend(fontsize=8, loc="upper left")
    bottom.semilogy(drives, zero_fluct, color="black", label="around zero state")
    bottom.semilogy(drives, upper_fluct, color="tab:red", label="around broken state")
    bottom.set_xlabel(r"drive $\Omega$")
    bottom.set_ylabel(r"$\langle\delta m^\dagger\delta m\rangle$ (Lyapunov)")
    bottom.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return sweep


def plot_phase_diagram(diagram, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    colors = ListedColormap([PHASE_COLORS[p] for p in PHASES])
    norm = BoundaryNorm(np.arange(len(PHASES) + 1) - 0.5, len(PHASES))
    fig, axis = plt.subplots(figsize=(7, 5))
    axis.pcolormesh(
        diagram.values, diagram.drives, diagram.phases.T, cmap=colors, norm=norm, shading="nearest"
    )
    axis.plot(diagram.values, diagram.critical_drives, "k-", lw=1.2, label="pitchfork")
    axis.plot(diagram.values, diagram.saddle_node_drives, "k--", lw=1.2, label="saddle node")
    hopf = np.where(
        diagram.instability_drives < diagram.critical_drives * (1 - 1e-9),
        diagram.instability_drives,
        np.nan,
    )
    axis.plot(diagram.values, hopf, ":", color="tab:purple", lw=2, label="Hopf (zero state)")
    axis.set_ylim(diagram.drives[0], diagram.drives[-1])
    axis.set_xlabel(diagram.param_name)
    axis.set_ylabel(r"drive $\Omega$")
    counts = diagram.counts()
    handles = [
        Patch(color=PHASE_COLORS[p], label=f"{p.value} ({counts[p.value]})")
        for p in PHASES
        if counts[p.value] or p is not Phase.UNCONFIRMED
    ]
    line_handles, _ = axis.get_legend_handles_labels()
    axis.legend(handles=handles + line_handles, fontsize=8, loc="upper right")
    axis.set_title("mean-field phases (unstable = limit cycle, confirmed by integration)")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


# --------------------------------------------------------------------------- report


def _print_params(params: MagnonParams) -> None:
    print("parameters: " + ", ".join(f"{k}={v}" for k, v in params.as_dict().items()))


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
        state = quantum_steady_state(full_params, drive, n_max, n_cavity)
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.points < 2:
        parser.error(f"--points must be an integer >= 2 (got {args.points})")
    try:
        return _run(args)
    except ValueError as error:  # bad model parameters or grids: say which, no traceback
        print(f"error: {error}")
        return 2


def _run(args: argparse.Namespace) -> int:
    params = _params_from_args(args)
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    _print_params(params)
    effective = effective_magnon(params)
    info = transition(params)
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

    drive_max = 2.5 * critical_drive(params)
    drives = np.linspace(0.0, drive_max, args.points)
    plot_path = args.out / "order_parameter_vs_drive.png"
    sweep = plot_order_parameter(params, drives, plot_path, args.quiet)

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
    diagram_path = args.out / f"phase_diagram_{args.param}.png"
    plot_phase_diagram(diagram, diagram_path)
    print(f"\nphase diagram ({args.param} x drive, {len(values)}x{len(diagram_drives)}):")
    print("  " + ", ".join(f"{k} {v}" for k, v in diagram.counts().items()))

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
            "drives": sweep.drives.tolist(),
            "up": sweep.up.tolist(),
            "down": sweep.down.tolist(),
        },
        "phase_counts": diagram.counts(),
    }
    if args.quantum:
        summary["quantum"] = _quantum_report(
            params, args.quantum_drive, args.kerr_values, args.full_below
        )
    summary_path = args.out / "summary.json"
    summary_path.write_text(json.dumps(summary, indent=2, default=float) + "\n")
    print(f"\nwrote {plot_path}, {diagram_path}, {summary_path}")
    print(f"({time.perf_counter() - started:.1f} s)")
    return 0

"""Benchmark and accuracy record of sw.physics.magnon; writes bench/results/magnon.json and the
figures docs/figures/magnon_{gap_scaling,wigner,quantum_vs_mean_field}.png.

Sections (each is written to the JSON as soon as it is done, so a long run can be inspected):

- ``mean_field``: closed form vs Jacobian vs root finder; timings of the phase diagram.
- ``solvers``: the direct (sparse LU) and iterative (Sylvester-preconditioned GMRES) master-
  equation solvers on the same problems (agreement, time), and the largest cutoffs reached.
- ``gaps``: Liouvillian gaps against 1/K for the first-order (delta_a = 6) and second-order
  (delta_a = -6) families at fixed mean field (``scaling.thermodynamic_family``), with fits.
- ``wigner``: steady-state Wigner functions and their peaks across both transitions.
- ``order_parameter``: K<m+m> against the drive, exact and truncated Wigner, vs the mean field.
- ``truncated_wigner``: truncated Wigner against the exact master equation (moments and
  escape rates vs the Liouvillian gaps).

Run: .venv/bin/python bench/magnon.py [--quick] [--only SECTION ...]   (hours on a loaded
2-core machine without --quick; --quick about 20 minutes)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sw.physics.magnon import (  # noqa: E402
    MagnonParams,
    branch_steady_state,
    critical_drive,
    escape_rate,
    find_steady_states_numerically,
    phase_diagram,
    quantum_steady_state,
    residual,
    steady_states,
    suggested_cutoffs,
    transition,
    truncated_wigner,
)
from sw.physics.magnon.plotting import (  # noqa: E402
    plot_gap_scaling,
    plot_order_parameter_limit,
    plot_wigner_snapshots,
)
from sw.physics.magnon.scaling import (  # noqa: E402
    fit_gap_closing,
    gap_scan,
    quantum_order_parameter,
    thermodynamic_family,
    wigner_order_parameter,
    wigner_snapshots,
)
from sw.workloads.common import write_json  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "magnon.json"
FIGURES = ROOT / "docs" / "figures"
FIRST_ORDER = MagnonParams()  # delta_a = 6: Delta_eff < 0 < K
SECOND_ORDER = MagnonParams(delta_a=-6.0)  # Delta_eff > 0


def _timed(function):
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def mean_field() -> dict:
    params = FIRST_ORDER
    info = transition(params)
    drives = np.linspace(0.0, 3 * info.critical_drive, 200)
    worst = max(
        residual(params, d, b.cavity, b.magnon) for d in drives for b in steady_states(params, d)
    )
    gap = 0.0
    for drive in (1.2, 2.5):
        closed = [b.magnon for b in steady_states(params, drive)]
        numerical = [m for _, m in find_steady_states_numerically(params, drive)]
        gap = max(gap, *(min(abs(c - n) for n in numerical) for c in closed))
    diagram, seconds = _timed(
        lambda: phase_diagram("delta_a", np.linspace(-10, 10, 41), np.linspace(0, 8, 41))
    )
    return {
        "critical_drive_closed_form": info.critical_drive,
        "critical_drive_jacobian": info.instability.drive,
        "order": info.order,
        "bistable_window": info.bistable_window,
        "jump_magnon_number": info.jump,
        "max_residual_closed_form": worst,
        "max_distance_closed_form_vs_root_finder": gap,
        "seconds_phase_diagram_41x41_confirmed": seconds,
        "phase_counts_41x41": diagram.counts(),
        "second_order_critical_drive": critical_drive(SECOND_ORDER),
    }


def solvers(quick: bool) -> dict:
    out = {"agreement": [], "largest": []}
    cases = [(FIRST_ORDER.with_value("kerr", 1.0), 2.0, (8, 3)),
             (thermodynamic_family(FIRST_ORDER, 0.6), 1.2, (12, 7))]  # fmt: skip
    if not quick:
        cases.append((thermodynamic_family(FIRST_ORDER, 0.45), 1.2, (14, 7)))
    for params, drive, cutoffs in cases:
        direct = quantum_steady_state(params, drive, *cutoffs, method="direct", eigenvalue_count=2)
        iterative = quantum_steady_state(params, drive, *cutoffs, method="iterative")
        row = {
            "kerr": params.kerr,
            "drive": drive,
            "cutoffs": cutoffs,
            "max_abs_density_matrix_difference": float(
                np.max(np.abs(direct.density_matrix - iterative.density_matrix))
            ),
            "odd_gap": [direct.odd_gap, iterative.odd_gap],
            "even_gap": [direct.even_gap, iterative.even_gap],
            "seconds_direct": direct.seconds,
            "seconds_iterative": iterative.seconds,
            "gmres_steps": iterative.solver_steps,
        }
        out["agreement"].append(row)
        print("solver agreement", row, flush=True)
    for kerr, drive in [(0.1, 1.2)] if quick else [(0.1, 1.2), (0.05, 1.2), (0.05, 2.0)]:
        params = thermodynamic_family(FIRST_ORDER, kerr)
        cutoffs = suggested_cutoffs(params, drive)
        state = quantum_steady_state(params, drive, *cutoffs, liouvillian_gap=False)
        upper = max(b.magnon_number for b in steady_states(params, drive) if b.stable)
        row = {
            "kerr": kerr,
            "drive": drive,
            "cutoffs": cutoffs,
            "hilbert_dimension": (cutoffs[0] + 1) * (cutoffs[1] + 1),
            "method": state.method,
            "seconds": state.seconds,
            "gmres_steps": state.solver_steps,
            "residual": state.residual,
            "magnon_tail": state.magnon_tail,
            "cavity_tail": state.cavity_tail,
            "magnon_number": state.magnon_number,
            "mean_field_upper_number": upper,
        }
        out["largest"].append(row)
        print("largest", row, flush=True)
    branch, seconds = _timed(
        lambda: branch_steady_state(FIRST_ORDER.with_value("kerr", 0.05), 2.0, 6, 3)
    )
    out["branch_k005"] = {"seconds": seconds, "magnon_number": branch.magnon_number}
    return out


def _gap_families(quick: bool):
    kerr = [0.5, 0.35, 0.25] if quick else [0.5, 0.35, 0.25, 0.18, 0.13, 0.1]
    first = [0.5, 1.0, 1.3, 2.0] if not quick else [0.5, 1.2, 2.0]
    drive_c = round(critical_drive(SECOND_ORDER), 4)
    second = [1.0, drive_c, 2.3]
    return kerr, [("first order (delta_a = 6)", FIRST_ORDER, first),
                  ("second order (delta_a = -6)", SECOND_ORDER, second)]  # fmt: skip


def gaps(quick: bool) -> dict:
    kerr, families = _gap_families(quick)
    out, panels = {}, []
    for title, params, drives in families:
        points, seconds = _timed(lambda p=params, d=drives: gap_scan(p, d, kerr, progress=True))
        fits = [
            fit_gap_closing(points, drive, sector).__dict__
            | {"better_fit": fit_gap_closing(points, drive, sector).better_fit}
            for drive in drives
            for sector in ("even", "odd")
        ]
        out[title] = {
            "drives": drives,
            "kerr": kerr,
            "seconds": seconds,
            "points": [p.to_dict() for p in points],
            "fits": fits,
        }
        panels.append((title, points))
        for fit in fits:
            print(title, fit, flush=True)
    plot_gap_scaling(panels, FIGURES / "magnon_gap_scaling.png")
    return out


def wigner(quick: bool) -> dict:
    kerr = 0.2 if quick else 0.1
    rows, out = [], {}
    drive_c = round(critical_drive(SECOND_ORDER), 4)
    for title, params, drives in (
        ("first order", FIRST_ORDER, [0.45, 1.0, 1.3, 2.0]),
        ("second order", SECOND_ORDER, [1.0, drive_c, 2.3]),
    ):
        scaled = thermodynamic_family(params, kerr)
        snapshots, seconds = _timed(
            lambda s=scaled, d=drives: wigner_snapshots(s, d, progress=True)
        )
        rows.append((f"{title}, K = {kerr:g}", snapshots))
        out[title] = {"seconds": seconds, "snapshots": [s.to_dict() for s in snapshots]}
        print(title, [len(s.peaks) for s in snapshots], flush=True)
    plot_wigner_snapshots(rows, FIGURES / "magnon_wigner.png")
    return out


def order_parameter(quick: bool) -> dict:
    exact_kerr = [0.4, 0.2] if quick else [0.4, 0.2, 0.1]
    tw_kerr = 0.02
    panels, out = [], {}
    for title, params in (("first order (delta_a = 6)", FIRST_ORDER),
                          ("second order (delta_a = -6)", SECOND_ORDER)):  # fmt: skip
        drive_c = critical_drive(params)
        drives = np.linspace(0.2 * drive_c, 1.6 * drive_c, 8 if quick else 15)
        curves = [
            quantum_order_parameter(thermodynamic_family(params, k), drives, progress=True)
            for k in exact_kerr
        ]
        for start in ("vacuum", "broken"):
            curves.append(
                wigner_order_parameter(
                    thermodynamic_family(params, tw_kerr), drives, start=start,
                    trajectories=200 if quick else 400, t_final=60.0, progress=True,
                )
            )  # fmt: skip
        panels.append((title, params, drives, curves))
        out[title] = {"drives": drives.tolist(), "curves": [c.to_dict() for c in curves]}
    plot_order_parameter_limit(panels, FIGURES / "magnon_quantum_vs_mean_field.png")
    return out


def truncated_wigner_checks(quick: bool) -> dict:
    """TW moments against the exact master equation in the broken phase, and TW escape rates
    against the exact gaps (a two-state picture: even gap = rate(zero) + rate(broken), odd gap
    = 2 rate(flip))."""
    out = {"moments": [], "escape": []}
    for kerr in [0.5, 0.25] if quick else [0.5, 0.25, 0.1]:
        params = thermodynamic_family(FIRST_ORDER, kerr)
        cutoffs = suggested_cutoffs(params, 2.0)
        exact = quantum_steady_state(params, 2.0, *cutoffs, liouvillian_gap=False)
        run, seconds = _timed(
            lambda p=params: truncated_wigner(p, 2.0, 40.0, trajectories=2000, samples=80)
        )
        averages = run.stationary(after=20.0)
        row = {
            "kerr": kerr,
            "exact_magnon_number": exact.magnon_number,
            "tw_magnon_number": averages["magnon_number"],
            "tw_error": averages["magnon_number_error"],
            "relative_difference": averages["magnon_number"] / exact.magnon_number - 1,
            "seconds_tw": seconds,
            "seconds_exact": exact.seconds,
        }
        out["moments"].append(row)
        print("TW moments", row, flush=True)
    for kerr in [0.6, 0.45] if quick else [0.6, 0.45, 0.35]:
        params = thermodynamic_family(FIRST_ORDER, kerr)
        exact_flip = quantum_steady_state(params, 2.0, *suggested_cutoffs(params, 2.0))
        exact_window = quantum_steady_state(params, 1.2, *suggested_cutoffs(params, 1.2))
        t_final = 200.0 if quick else 400.0
        flip = escape_rate(params, 2.0, "flip", t_final, trajectories=300)
        up = escape_rate(params, 1.2, "zero", t_final, trajectories=300)
        down = escape_rate(params, 1.2, "broken", t_final, trajectories=300)
        row = {
            "kerr": kerr,
            "exact_odd_gap_drive_2": exact_flip.odd_gap,
            "tw_two_flip_rates": 2 * flip.rate,
            "tw_flip": flip.__dict__,
            "exact_even_gap_drive_1.2": exact_window.even_gap,
            "tw_up_plus_down": up.rate + down.rate,
            "tw_up": up.__dict__,
            "tw_down": down.__dict__,
        }
        out["escape"].append(row)
        print("TW escape", row, flush=True)
    return out


SECTIONS = {
    "mean_field": lambda quick: mean_field(),
    "solvers": solvers,
    "truncated_wigner": truncated_wigner_checks,
    "wigner": wigner,
    "order_parameter": order_parameter,
    "gaps": gaps,
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller grids (about 20 minutes)")
    parser.add_argument("--only", nargs="+", choices=list(SECTIONS), help="run these sections")
    args = parser.parse_args(argv)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() and args.only else {}
    results["machine"] = {"platform": platform.platform(), "python": platform.python_version()}
    results["quick"] = args.quick
    FIGURES.mkdir(parents=True, exist_ok=True)
    for name in args.only or list(SECTIONS):
        started = time.perf_counter()
        results[name] = SECTIONS[name](args.quick)
        results[name + "_seconds"] = time.perf_counter() - started
        write_json(RESULTS, results)
        print(f"== {name} done in {results[name + '_seconds']:.0f} s", flush=True)
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark and accuracy record of sw.physics.magnon; writes bench/results/magnon.json.

Run: .venv/bin/python bench/magnon.py   (about a minute on a shared 2-core machine)
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np

from sw.physics.magnon import (
    MagnonParams,
    branch_steady_state,
    critical_drive,
    find_steady_states_numerically,
    phase_diagram,
    quantum_steady_state,
    residual,
    steady_states,
    transition,
)


def _timed(function, repeat: int = 1):
    started = time.perf_counter()
    for _ in range(repeat):
        result = function()
    return result, (time.perf_counter() - started) / repeat


def main() -> int:
    params = MagnonParams()
    info = transition(params)
    drives = np.linspace(0.0, 3 * info.critical_drive, 200)

    worst_residual = max(
        residual(params, d, b.cavity, b.magnon) for d in drives for b in steady_states(params, d)
    )
    root_finder_gap = 0.0
    for drive in (1.2, 2.5):
        closed = [b.magnon for b in steady_states(params, drive)]
        numerical = [m for _, m in find_steady_states_numerically(params, drive)]
        root_finder_gap = max(
            root_finder_gap, *(min(abs(c - n) for n in numerical) for c in closed)
        )

    _, steady_seconds = _timed(lambda: steady_states(params, 1.2), repeat=200)
    diagram, diagram_seconds = _timed(
        lambda: phase_diagram("delta_a", np.linspace(-10, 10, 41), np.linspace(0, 8, 41))
    )
    full, full_seconds = _timed(
        lambda: quantum_steady_state(params.with_value("kerr", 1.0), 2.0, n_max=10, n_cavity=4)
    )
    branch, branch_seconds = _timed(
        lambda: branch_steady_state(params.with_value("kerr", 0.05), 2.0, n_max=6, n_cavity=3)
    )

    results = {
        "machine": platform.platform(),
        "critical_drive_closed_form": critical_drive(params),
        "critical_drive_jacobian": info.instability.drive,
        "critical_drive_relative_difference": abs(info.instability.drive / info.critical_drive - 1),
        "order": info.order,
        "bistable_window": info.bistable_window,
        "jump_magnon_number": info.jump,
        "max_residual_closed_form": worst_residual,
        "max_distance_closed_form_vs_root_finder": root_finder_gap,
        "seconds_steady_states_call": steady_seconds,
        "seconds_phase_diagram_41x41_confirmed": diagram_seconds,
        "phase_counts_41x41": diagram.counts(),
        "quantum_full_k1_n10_4": {
            "seconds": full_seconds,
            "magnon_number": full.magnon_number,
            "odd_gap": full.odd_gap,
            "even_gap": full.even_gap,
        },
        "quantum_branch_k005_n6_3": {
            "seconds": branch_seconds,
            "magnon_number": branch.magnon_number,
        },
    }
    out = Path(__file__).parent / "results" / "magnon.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(json.dumps(results, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

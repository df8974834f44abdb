"""Benchmark and reference numbers for sw.physics.nitride -> bench/results/nitride.json.

Deterministic (no random input): solve time of the default stack, the undoped p_s and
interface charge per parameter set, thick-cap agreement with first-order electrostatics,
mesh convergence, and the p_s spread with and without an IBL.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from sw.physics.nitride import (
    DonorTail,
    available_parameter_sets,
    electrostatic_estimate_cm2,
    preset,
    solve,
    sweep,
)

RESULTS = Path(__file__).resolve().parent / "results" / "nitride.json"


def timed(function, repeats: int = 5):
    """(best wall time in s, last return value)."""
    best, value = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        value = function()
        best = min(best, time.perf_counter() - start)
    return best, value


def main() -> int:
    report = {"parameter_sets": {}}
    stack = preset("gan-on-aln")
    for name in available_parameter_sets():
        seconds, result = timed(lambda name=name: solve(stack, parameter_set=name))
        caps = {}
        for cap_nm in (8.0, 13.0, 30.0, 60.0):
            capped = stack.with_cap_thickness(cap_nm)
            solved = solve(capped, parameter_set=name).p_s_cm2
            estimate = electrostatic_estimate_cm2(capped, parameter_set=name)
            caps[f"{cap_nm:g}nm"] = {
                "p_s_cm2": solved,
                "estimate_cm2": estimate,
                "relative_difference": solved / estimate - 1.0,
            }
        spread = sweep(parameter_set=name)
        report["parameter_sets"][name] = {
            "solve_seconds": seconds,
            "mesh_nodes": int(result.z_nm.size),
            "polarization_charge_cm2": result.polarization_charge_cm2,
            "p_s_undoped_cm2": result.p_s_cm2,
            "outer_iterations": result.convergence.outer_iterations,
            "newton_iterations": result.convergence.newton_iterations,
            "potential_updates_V": result.convergence.potential_updates_V,
            "cap_thickness_vs_first_order_estimate": caps,
            "sweep": spread.to_dict(),
        }
        print(
            f"{name}: |sigma|/q {result.polarization_charge_cm2:.4g}, p_s {result.p_s_cm2:.4g} "
            f"cm^-2 in {1e3 * seconds:.0f} ms; spread {spread.spread_without_ibl_cm2:.3g} "
            f"(no IBL) vs {spread.spread_with_ibl_cm2:.3g} (IBL) cm^-2"
        )

    doped = stack.with_donors(DonorTail(1e20, 100.0))
    refinement = []
    for scale in (2.0, 1.0, 0.5, 0.25, 0.125):
        result = solve(doped, mesh_scale=scale)
        refinement.append(
            {"mesh_scale": scale, "nodes": int(result.z_nm.size), "p_s_cm2": result.p_s_cm2}
        )
    report["mesh_refinement_tail_1e20_100nm"] = refinement
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

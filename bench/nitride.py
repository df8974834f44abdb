"""Benchmark and reference numbers for sw.physics.nitride -> bench/results/nitride.json.

Deterministic (no random input). Measures: solve time of the default stack, the undoped p_s
and interface charge per parameter set, thick-cap agreement with first-order electrostatics,
mesh convergence; the Hall mobility of the undoped gas (each mechanism alone, 77 and 300 K)
and its sensitivity to the assumed parameters; the growths with and without an IBL for a
smooth segregation tail and for a pile-up in the cap (p_s spread, Hall mobility and
conductance ratios); the IBL placement/efficiency map; the apparent two-carrier Hall
density when the donor-rich buffer conducts.

Run: .venv/bin/python bench/nitride.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sw.physics.nitride import (  # noqa: E402
    DonorTail,
    available_parameter_sets,
    electrostatic_estimate_cm2,
    hall_mobility,
    ibl_map,
    preset,
    solve,
    sweep,
    transport_parameters,
    two_carrier_hall,
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


def parameter_sets(quick: bool) -> dict:
    report = {}
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
        densities = np.logspace(17, np.log10(3e20), 5 if quick else 15)
        spread = sweep(parameter_set=name, tail_densities_cm3=densities)
        report[name] = {
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
    return report


def mobility_of_the_undoped_gas() -> dict:
    report = {}
    for temperature in (77.0, 300.0):
        result = solve(preset("gan-on-aln"), T=temperature)
        seconds, mobility = timed(lambda result=result: hall_mobility(result), repeats=3)
        report[f"{temperature:g}K"] = {**mobility.to_dict(), "seconds": seconds}
        print(f"undoped, {temperature:g} K: {mobility.summary()}")
    base = solve(preset("gan-on-aln"))
    sensitivity = {}
    for name, values in (
        ("roughness_height_nm", (0.13, 0.26, 0.39)),
        ("roughness_correlation_nm", (1.0, 1.5, 3.0)),
        ("dislocation_density_cm2", (1e9, 1e10, 1e11)),
        ("deformation_potential_eV", (4.5, 9.0)),
    ):
        sensitivity[name] = {
            f"{value:g}": hall_mobility(
                base, transport_parameters(base, **{name: value})
            ).hall_cm2_per_Vs
            for value in values
        }
    report["sensitivity_300K_hall_cm2_per_Vs"] = sensitivity
    print(f"sensitivity of the 300 K Hall mobility: {json.dumps(sensitivity)}")
    return report


def growths(quick: bool) -> dict:
    densities = np.logspace(17, np.log10(3e20), 6 if quick else 15)
    report = {}
    for label, cap_length in (("smooth_tail", None), ("pileup_cap_2nm", 2.0)):
        result = sweep(tail_densities_cm3=densities, cap_decay_length_nm=cap_length)
        ratios = result.mobility_ratio
        best = int(np.nanargmax(np.where(np.isfinite(ratios), ratios, np.nan)))
        report[label] = {
            **result.to_dict(),
            "largest_finite_mobility_ratio": float(ratios[best]),
            "conductance_ratio_there": float(result.conductance_ratio[best]),
            "tail_density_there_cm3": float(densities[best]),
        }
        print(
            f"{label}: spread {result.spread_without_ibl_cm2:.3g} -> "
            f"{result.spread_with_ibl_cm2:.3g} cm^-2; largest Hall-mobility gain "
            f"{ratios[best]:.2f}x (conductance {result.conductance_ratio[best]:.2f}x) at N0 = "
            f"{densities[best]:.3g}"
        )
    return report


def placement(quick: bool) -> dict:
    kwargs = {}
    if quick:
        kwargs = {"heights_nm": [0.0, 130.0, 260.0], "transmissions": [0.1, 0.01, 1e-3]}
    active = ibl_map(**kwargs)
    inactive = ibl_map(trapped_active=False, **kwargs)
    recovery = active.recovery
    print(
        f"IBL map: recovery {np.nanmin(recovery):.1%} .. {np.nanmax(recovery):.1%} with the "
        f"captured donors active; {np.nanmin(inactive.recovery):.1%} .. "
        f"{np.nanmax(inactive.recovery):.1%} when they are bound inactive"
    )
    return {"captured_active": active.to_dict(), "captured_inactive": inactive.to_dict()}


def parallel_conduction() -> dict:
    """Apparent Hall density and mobility if the donor-rich buffer's electrons conduct."""
    rows = []
    for density in (1e20, 3e20):
        result = solve(preset("gan-on-aln").with_donors(DonorTail(density, 100.0)))
        mobility = hall_mobility(result)
        electrons = float((result.electron_density_cm3 * result.node_weights_nm).sum() * 1e-7)
        for electron_mobility in (1.0, 3.0, 10.0):
            apparent, apparent_mobility = two_carrier_hall(
                mobility.hall_density_cm2, mobility.hall_cm2_per_Vs, electrons, electron_mobility
            )
            rows.append(
                {
                    "tail_density_cm3": density,
                    "p_s_cm2": result.p_s_cm2,
                    "hole_hall_mobility_cm2_per_Vs": mobility.hall_cm2_per_Vs,
                    "buffer_electrons_cm2": electrons,
                    "electron_mobility_cm2_per_Vs": electron_mobility,
                    "apparent_hall_density_cm2": apparent,
                    "apparent_hall_mobility_cm2_per_Vs": apparent_mobility,
                }
            )
            print(
                f"N0 {density:.0e}: p_s {result.p_s_cm2:.3g}, buffer electrons {electrons:.3g}, "
                f"mu_n {electron_mobility:g} -> apparent Hall density {apparent:.3g} cm^-2, "
                f"mobility {apparent_mobility:.3g}"
            )
    return {"rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sweep points")
    args = parser.parse_args()
    started = time.monotonic()
    report = {
        "parameter_sets": parameter_sets(args.quick),
        "mobility_undoped": mobility_of_the_undoped_gas(),
        "growths": growths(args.quick),
        "ibl_map": placement(args.quick),
        "parallel_conduction": parallel_conduction(),
    }
    doped = preset("gan-on-aln").with_donors(DonorTail(1e20, 100.0))
    refinement = []
    for scale in (2.0, 1.0, 0.5, 0.25, 0.125):
        result = solve(doped, mesh_scale=scale)
        refinement.append(
            {"mesh_scale": scale, "nodes": int(result.z_nm.size), "p_s_cm2": result.p_s_cm2}
        )
    report["mesh_refinement_tail_1e20_100nm"] = refinement
    report["quick"] = args.quick
    report["seconds"] = round(time.monotonic() - started, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {RESULTS} ({report['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

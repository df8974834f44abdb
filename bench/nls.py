"""Normalized-solution solver: the validation numbers quoted in docs/physics/nls.md.

Measures
- ∫Q² of the scalar ground state (-ΔQ + Q = Q³) on refined grids, N = 1, 2, 3, with the
  observed convergence order, against the published 4 / 11.7009 / 18.897;
- the 3D scaling law λ = (18.897 / a)² of the normalized scalar solver;
- the issue's CLI example (N=3, p=q=4, μ=1, β=0.5, a=10, b=12) with both methods on the
  automatic grid (λ, energy, residuals, time), and on fixed grids h, h/2, ... (order);
- the agreement of the two methods on several coupled cases, and along β for the CLI
  example (where the fixed-λ multi-start does or does not reach the ground state);
- the concentration diagnostics at the Sobolev-critical exponent (N = 3, 4);
- the N = 4 example of issue 22 (long-tail route), the beta = 2 ground-state check, the
  branch map along beta and the existence study along the masses (N = 2, 3, 4).

Everything is deterministic (no random numbers). Writes bench/results/nls.json.
Run: .venv/bin/python bench/nls.py
"""

from __future__ import annotations

import json
import math
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sw.physics.nls import (  # noqa: E402
    ConcentrationError,
    RadialGrid,
    branch_map,
    certify_ground_state,
    existence_study,
    solve,
    solve_scalar,
    solve_scalar_fixed_lambda,
)

RESULTS = Path(__file__).resolve().parent / "results" / "nls.json"
PUBLISHED_Q_MASS = {1: 4.0, 2: 11.7009, 3: 18.897}
CLI_EXAMPLE = (3, 4.0, 4.0, 1.0, 1.0, 0.5, 10.0, 12.0)
COUPLED_CASES = [
    CLI_EXAMPLE,
    (3, 4.0, 4.0, 1.0, 1.0, 0.5, 10.0, 10.0),
    (3, 4.0, 5.0, 1.0, 2.0, 1.0, 5.0, 8.0),
    (3, 6.0, 4.0, 1.0, 1.0, 1.0, 3.0, 5.0),  # p Sobolev-critical, q supercritical
    (2, 5.0, 6.0, 1.0, 1.0, 0.3, 4.0, 6.0),
    (1, 7.0, 8.0, 1.0, 1.0, 0.5, 2.0, 3.0),
    (3, 4.0, 4.0, 1.0, 1.0, 4.0, 10.0, 12.0),  # strong coupling
]


def orders(values: list[float]) -> list[float]:
    """Observed orders from successive differences on grids halved each time."""
    differences = [abs(a - b) for a, b in zip(values, values[1:], strict=False)]
    return [math.log2(d0 / d1) for d0, d1 in zip(differences, differences[1:], strict=False)]


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


def scalar_constants() -> dict:
    report = {}
    for dim in (1, 2, 3):
        default = solve_scalar_fixed_lambda(dim, 4.0)
        spacings = [0.1, 0.05, 0.025, 0.0125]
        masses = [
            solve_scalar_fixed_lambda(
                dim, 4.0, grid=RadialGrid(dim, h, 40.0, 2.0), pohozaev_tol=None
            ).mass
            for h in spacings
        ]
        report[str(dim)] = {
            "published": PUBLISHED_Q_MASS[dim],
            "default_grid": {
                "mass": default.mass,
                "grid": default.grid.describe(),
                "residual": default.residual,
                "pohozaev_residual": default.pohozaev_residual,
            },
            "refinement": {"spacings": spacings, "masses": masses, "orders": orders(masses)},
        }
    return report


def scaling_law() -> list[dict]:
    rows = []
    for mass in (4.0, 10.0, 30.0):
        solution = solve_scalar(3, 4.0, 1.0, mass)
        rows.append(
            {
                "a": mass,
                "lambda": solution.lambda_,
                "published_prediction": (PUBLISHED_Q_MASS[3] / mass) ** 2,
                "implied_Q_mass": mass * math.sqrt(solution.lambda_),
            }
        )
    return rows


def describe(solution, seconds: float) -> dict:
    return {
        "decay_rate": solution.decay_rate,
        "morse_index": solution.morse_index,
        "lambda1": solution.lambda1,
        "lambda2": solution.lambda2,
        "energy": solution.energy,
        "residual": solution.residual,
        "mass_error": solution.mass_error,
        "pohozaev_residual": solution.pohozaev_residual,
        "start": solution.start,
        "grid": solution.grid.describe(),
        "seconds": round(seconds, 3),
    }


def cli_example() -> dict:
    report = {}
    for method in ("pohozaev", "fixed_lambda"):
        solution, seconds = timed(solve, *CLI_EXAMPLE, method=method, check="none")
        report[method] = describe(solution, seconds)
    spacings = [0.04, 0.02, 0.01, 0.005]
    runs = [
        solve(
            *CLI_EXAMPLE,
            method="fixed_lambda",
            grid=RadialGrid(3, h, 300.0, 1.2),
            pohozaev_tol=None,
            check="none",
        )
        for h in spacings
    ]
    report["refinement"] = {"spacings": spacings, "grid": "RadialGrid(3, h, 300, stretch 1.2)"}
    for name in ("lambda1", "lambda2", "energy", "pohozaev_residual"):
        values = [getattr(run, name) for run in runs]
        report["refinement"][name] = values
        if name == "pohozaev_residual":
            report["refinement"][name + "_orders"] = [
                math.log2(abs(a / b)) for a, b in zip(values, values[1:], strict=False)
            ]
        else:
            report["refinement"][name + "_orders"] = orders(values)
    return report


def agreement() -> list[dict]:
    rows = []
    for case in COUPLED_CASES:
        descent, t_descent = timed(solve, *case, method="pohozaev", check="none")
        nested, t_nested = timed(solve, *case, method="fixed_lambda", check="none")
        rows.append(
            {
                "case": dict(
                    zip(("N", "p", "q", "mu1", "mu2", "beta", "a", "b"), case, strict=True)
                ),
                "pohozaev": describe(descent, t_descent),
                "fixed_lambda": describe(nested, t_nested),
                "max_relative_lambda_difference": max(
                    abs(descent.lambda1 - nested.lambda1) / descent.lambda1,
                    abs(descent.lambda2 - nested.lambda2) / descent.lambda2,
                ),
            }
        )
    return rows


def beta_sweep() -> list[dict]:
    rows = []
    for beta in (0.25, 0.5, 1.0, 2.0, 3.0, 4.0):
        case = (*CLI_EXAMPLE[:5], beta, *CLI_EXAMPLE[6:])
        row = {"beta": beta}
        for method in ("pohozaev", "fixed_lambda"):
            solution, seconds = timed(solve, *case, method=method, check="none")
            row[method] = describe(solution, seconds)
        row["same_solution"] = (
            abs(row["pohozaev"]["lambda1"] - row["fixed_lambda"]["lambda1"])
            < 1e-6 * row["pohozaev"]["lambda1"]
        )
        rows.append(row)
    return rows


def critical() -> list[dict]:
    rows = []
    for dim, beta, a, b in ((3, 0.5, 3.0, 5.0), (3, 2.0, 10.0, 10.0), (4, 0.5, 3.0, 4.0)):
        exponent = 2 * dim / (dim - 2)
        started = time.perf_counter()
        try:
            solve(dim, exponent, exponent, 1.0, 1.0, beta, a, b, check="none")
            outcome = {"status": "solved (unexpected)"}
        except ConcentrationError as error:
            outcome = {
                "status": "concentration",
                "component": "uv"[error.component],
                "shrink_factor": error.shrink_factor,
                "core_width": error.core_width,
                "sobolev_ratio": error.sobolev_ratio,
                "bubble_misfit": error.bubble_misfit,
                "last_residual": error.residual,
                "iterations": error.iterations,
            }
        outcome.update(N=dim, p=exponent, q=exponent, beta=beta, a=a, b=b)
        outcome["seconds"] = round(time.perf_counter() - started, 2)
        rows.append(outcome)
    return rows


N4_EXAMPLE = (4, 3.5, 3.8, 1.0, 1.0, 0.5, 3.0, 4.0)
BETA_TWO = (3, 4.0, 4.0, 1.0, 1.0, 2.0, 10.0, 12.0)


def four_dimensional() -> dict:
    """The N = 4 example of issue 22: both methods, the check, the 'both' branch."""
    report = {}
    solutions = []
    for method in ("pohozaev", "fixed_lambda"):
        solution, seconds = timed(solve, *N4_EXAMPLE, method=method, check="none")
        report[method] = {**describe(solution, seconds), "note": solution.note}
        solutions.append(solution)
    check = certify_ground_state(solutions[0], others=solutions[1:])
    report["check"] = check.to_dict()
    both = solve(*N4_EXAMPLE, method="fixed_lambda", branch="both", check="none")
    report["both_branch"] = describe(both, 0.0)
    return report


def beta_two_check() -> dict:
    """The beta = 2 case: the fixed-λ state flagged, and found again by continuation."""
    fixed, seconds = timed(solve, *BETA_TWO, method="fixed_lambda", check="none")
    started = time.perf_counter()
    check = certify_ground_state(fixed, level="continuation")
    return {
        "fixed_lambda": describe(fixed, seconds),
        "check": check.to_dict(),
        "check_seconds": round(time.perf_counter() - started, 2),
    }


def branches_along_beta() -> dict:
    values = [0.25, 0.5, 1.0, 2.0, 3.0, 4.0]
    result = branch_map(*CLI_EXAMPLE, vary="beta", values=values)
    return {"parameter": result.parameter, "points": result.points}


def main() -> int:
    started = time.monotonic()
    report = {
        "benchmark": "nls",
        "machine": platform.platform(),
        "scalar_ground_state_mass": scalar_constants(),
        "scaling_law_3d": scaling_law(),
        "cli_example": cli_example(),
        "method_agreement": agreement(),
        "beta_sweep_cli_example": beta_sweep(),
        "sobolev_critical": critical(),
        "n4_example": four_dimensional(),
        "beta_two_check": beta_two_check(),
        "branch_map_beta": branches_along_beta(),
        "existence": existence_study(),
    }
    report["seconds"] = round(time.monotonic() - started, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")

    for dim, row in report["scalar_ground_state_mass"].items():
        refinement = row["refinement"]
        print(
            f"N={dim}: ∫Q² = {row['default_grid']['mass']:.7f} (published {row['published']}), "
            f"orders {', '.join(f'{o:.2f}' for o in refinement['orders'])}"
        )
    for method in ("pohozaev", "fixed_lambda"):
        row = report["cli_example"][method]
        print(
            f"CLI example, {method}: λ1 = {row['lambda1']:.12g}, λ2 = {row['lambda2']:.12g}, "
            f"E = {row['energy']:.10g}, residual {row['residual']:.1e}, "
            f"Pohozaev {row['pohozaev_residual']:.1e}, {row['seconds']:.2f} s"
        )
    refinement = report["cli_example"]["refinement"]
    for name in ("lambda1", "lambda2", "energy", "pohozaev_residual"):
        print(f"  order of {name}: {', '.join(f'{o:.2f}' for o in refinement[name + '_orders'])}")
    worst = max(row["max_relative_lambda_difference"] for row in report["method_agreement"])
    print(f"methods agree on λ to {worst:.1e} (worst of {len(COUPLED_CASES)} cases)")
    for row in report["beta_sweep_cli_example"]:
        print(
            f"β = {row['beta']}: E = {row['pohozaev']['energy']:.8g} (descent, "
            f"{row['pohozaev']['start']}), {row['fixed_lambda']['energy']:.8g} (fixed-λ, "
            f"{row['fixed_lambda']['start']})"
        )
    for row in report["sobolev_critical"]:
        print(
            f"critical N={row['N']}: {row['status']}, Sobolev quotient / S = "
            f"{row.get('sobolev_ratio', float('nan')):.4f}, {row['seconds']} s"
        )
    n4 = report["n4_example"]
    for method in ("pohozaev", "fixed_lambda"):
        row = n4[method]
        print(
            f"N = 4 example, {method}: λ1 = {row['lambda1']:.10g}, λ2 = {row['lambda2']:.10g}, "
            f"E = {row['energy']:.10g}, κ = {row['decay_rate']:.3e}, index {row['morse_index']}, "
            f"{row['seconds']:.1f} s"
        )
    print(
        f"  'both' branch: E = {n4['both_branch']['energy']:.6g}; check: {n4['check']['verdict']}"
    )
    beta2 = report["beta_two_check"]
    print(f"beta = 2, fixed-λ state: {beta2['check']['verdict']} ({beta2['check_seconds']} s)")
    for point in report["branch_map_beta"]["points"]:
        missed = ", ".join(point["missed_by"]) or "-"
        print(
            f"branch map β = {point['value']:g}: {len(point['states'])} states, lowest E = "
            f"{point['states'][0]['energy']:.6g}, missed by {missed}"
        )
    from sw.physics.nls.existence import summary_table

    print(summary_table(report["existence"]))
    print(f"wrote {RESULTS} ({report['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

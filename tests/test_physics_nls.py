"""Validation of the normalized-solution solver for the coupled Schrödinger system.

    -Δu + λ1 u = μ1 |u|^(p-2) u + β v,   -Δv + λ2 v = μ2 |v|^(q-2) v + β u,
    ∫u² = a,  ∫v² = b   (radial, R^N).

The only numbers written down here are published constants: the mass of the ground state
Q of -ΔQ + Q = Q³ (4 in 1D, exactly; 11.7009 in 2D, the Townes soliton; 18.897 in 3D) and
the scaling laws that follow from them. Everything else is checked against the equations
themselves (recomputed here from the returned profiles), against the other method, or
against the expected order of the discretization.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sw.physics.nls import (
    BranchMap,
    ConcentrationError,
    ConvergenceError,
    NLSSolution,
    RadialGrid,
    ResolutionError,
    VanishingError,
    branch_map,
    certify_ground_state,
    existence_study,
    main,
    morse_index,
    scan,
    solve,
    solve_fixed_lambda,
    solve_scalar,
    solve_scalar_fixed_lambda,
)

# ∫Q² for -ΔQ + Q = Q³ in R^N, with the precision it is published to (absolute).
PUBLISHED_Q_MASS = {1: (4.0, 1e-6), 2: (11.7009, 1e-4), 3: (18.897, 6e-4)}

# Coupled cases (N, p, q, mu1, mu2, beta, a, b), all mass-supercritical; the first is the
# CLI example of the issue.
COUPLED_CASES = [
    (3, 4.0, 4.0, 1.0, 1.0, 0.5, 10.0, 12.0),
    (3, 4.0, 5.0, 1.0, 2.0, 1.0, 5.0, 8.0),
    (2, 5.0, 6.0, 1.0, 1.0, 0.3, 4.0, 6.0),
    (1, 7.0, 8.0, 1.0, 1.0, 0.5, 2.0, 3.0),
    (3, 4.0, 4.0, 1.0, 1.0, 4.0, 10.0, 12.0),  # strong coupling
]


def observed_order(coarse: float, medium: float, fine: float, ratio: float = 2.0) -> float:
    """Convergence order from three results on grids refined by ``ratio`` each time."""
    return math.log(abs(coarse - medium) / abs(medium - fine)) / math.log(ratio)


def independent_checks(solution: NLSSolution) -> dict[str, float]:
    """Residual, masses and Pohozaev identity recomputed from the returned profiles."""
    grid, u, v = solution.grid, solution.u, solution.v
    lap_u, lap_v = grid.laplacian @ u, grid.laplacian @ v
    f_u, f_v = solution.mu1 * u ** (solution.p - 1), solution.mu2 * v ** (solution.q - 1)
    residuals = []
    for lap, w, lam, f, other in (
        (lap_u, u, solution.lambda1, f_u, v),
        (lap_v, v, solution.lambda2, f_v, u),
    ):
        equation = -lap + lam * w - f - solution.beta * other
        scale = (
            np.abs(lap).max()
            + lam * np.abs(w).max()
            + np.abs(f).max()
            + solution.beta * np.abs(other).max()
        )
        residuals.append(np.abs(equation).max() / scale)
    weights = solution.weights
    kinetic = -np.dot(weights, u * lap_u + v * lap_v)
    gamma_p = solution.N * (solution.p - 2) / (2 * solution.p)
    gamma_q = solution.N * (solution.q - 2) / (2 * solution.q)
    pohozaev = kinetic - solution.mu1 * gamma_p * np.dot(weights, u**solution.p)
    pohozaev -= solution.mu2 * gamma_q * np.dot(weights, v**solution.q)
    return {
        "residual": max(residuals),
        "mass_u": float(np.dot(weights, u * u)),
        "mass_v": float(np.dot(weights, v * v)),
        "pohozaev": abs(pohozaev) / kinetic,
    }


# ---- the discretization ------------------------------------------------------------------


@pytest.mark.parametrize("dim", [1, 2, 3, 4])
def test_radial_laplacian_and_quadrature_are_fourth_order(dim):
    errors = []
    for spacing in (0.1, 0.05):
        grid = RadialGrid(dim, spacing, 12.0, stretch=3.0)
        r = grid.r
        exact = (4 * r**2 - 2 * dim) * np.exp(-(r**2))
        errors.append(np.abs(grid.laplacian @ np.exp(-(r**2)) - exact).max())
    assert 3.7 < math.log2(errors[0] / errors[1]) < 4.3
    # ∫ exp(-r²) over R^N = π^(N/2); the end-corrected midpoint rule is O(h^6) for even N
    assert grid.integrate(np.exp(-(grid.r**2))) == pytest.approx(math.pi ** (dim / 2), rel=1e-8)


# ---- scalar limit: published constants -----------------------------------------------------


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_scalar_ground_state_mass_matches_published_value(dim):
    ground_state = solve_scalar_fixed_lambda(dim, 4.0)
    published, precision = PUBLISHED_Q_MASS[dim]
    assert abs(ground_state.mass - published) < precision
    assert ground_state.residual < 1e-8
    assert abs(ground_state.pohozaev_residual) < 1e-6
    assert np.all(ground_state.u > 0)


@pytest.mark.parametrize("method", ["pohozaev", "fixed_lambda"])
@pytest.mark.parametrize("mass", [4.0, 10.0, 30.0])
def test_3d_cubic_normalized_solution_follows_the_scaling_law(method, mass):
    # u = s Q(s x) has mass s^(2-N) ∫Q² = 18.897 / s in 3D and λ = s².
    solution = solve_scalar(3, 4.0, 1.0, mass, method=method)
    expected = (PUBLISHED_Q_MASS[3][0] / mass) ** 2
    assert solution.lambda_ == pytest.approx(expected, rel=2 * PUBLISHED_Q_MASS[3][1] / 18.897)
    assert solution.mass_error < 1e-8 and solution.residual < 1e-8
    assert abs(solution.pohozaev_residual) < 1e-6


@pytest.mark.parametrize("mass", [1.0, 6.0])
def test_1d_cubic_normalized_solution_is_exact(mass):
    # mass-subcritical: u = s sqrt(2) sech(s x), mass 4 s, λ = s² = mass² / 16.
    solution = solve_scalar(1, 4.0, 1.0, mass)
    assert solution.lambda_ == pytest.approx(mass**2 / 16, rel=1e-6)


def test_mass_critical_2d_cubic_has_the_townes_threshold():
    # Below the Townes mass the profile disperses, above it collapses (Weinstein).
    with pytest.raises(VanishingError):
        solve_scalar(2, 4.0, 1.0, 0.8 * PUBLISHED_Q_MASS[2][0])
    with pytest.raises(ConcentrationError):
        solve_scalar(2, 4.0, 1.0, 1.2 * PUBLISHED_Q_MASS[2][0])


def test_symmetric_system_branch_reduces_to_the_scalar_law():
    # With equal data, u = v solves -Δu + (λ - β) u = u³: λ1 = λ2 = (18.897/a)² + β.
    beta, mass = 0.5, 10.0
    solution = solve(
        3, 4, 4, 1, 1, beta, mass, mass, method="fixed_lambda", branch="both", check="none"
    )
    expected = (PUBLISHED_Q_MASS[3][0] / mass) ** 2 + beta
    assert solution.lambda1 == pytest.approx(expected, rel=1e-4)
    assert solution.lambda2 == pytest.approx(solution.lambda1, rel=1e-9)
    assert np.max(np.abs(solution.u - solution.v)) < 1e-6 * solution.u.max()


# ---- the coupled system ------------------------------------------------------------------


@pytest.mark.parametrize(
    "case", COUPLED_CASES, ids=lambda c: f"N{c[0]}-p{c[1]:g}-q{c[2]:g}-beta{c[5]:g}"
)
def test_methods_agree_and_solutions_satisfy_the_equations(case):
    descent = solve(*case, method="pohozaev", check="none")
    nested = solve(*case, method="fixed_lambda", check="none")
    assert descent.lambda1 == pytest.approx(nested.lambda1, rel=1e-6)
    assert descent.lambda2 == pytest.approx(nested.lambda2, rel=1e-6)
    assert descent.energy == pytest.approx(nested.energy, rel=1e-6)
    a, b = case[6], case[7]
    for solution in (descent, nested):
        checks = independent_checks(solution)
        assert checks["residual"] < 1e-8
        assert checks["mass_u"] == pytest.approx(a, rel=1e-8)
        assert checks["mass_v"] == pytest.approx(b, rel=1e-8)
        assert checks["pohozaev"] < 1e-6
        assert solution.residual < 1e-8 and solution.mass_error < 1e-8
        assert np.all(solution.u > 0) and np.all(solution.v > 0)
        assert solution.lambda1 * solution.lambda2 > solution.beta**2  # decaying


def test_ground_state_has_the_least_energy_of_the_branches_found():
    case = COUPLED_CASES[0]
    ground = solve(*case, check="none")
    both = solve(*case, method="fixed_lambda", branch="both", check="none")
    assert ground.energy < both.energy
    assert abs(ground.lambda1 - both.lambda1) > 1e-3  # a different solution
    assert abs(both.pohozaev_residual) < 1e-6


def test_grid_refinement_shows_fourth_order():
    masses = [
        solve_scalar_fixed_lambda(3, 4.0, grid=RadialGrid(3, h, 40.0, 2.0), pohozaev_tol=None).mass
        for h in (0.1, 0.05, 0.025)
    ]
    assert 3.7 < observed_order(*masses) < 4.3
    solutions = [
        solve(
            *COUPLED_CASES[0],
            method="fixed_lambda",
            grid=RadialGrid(3, h, 300.0, 1.2),
            pohozaev_tol=None,
            check="none",
        )
        for h in (0.04, 0.02, 0.01)
    ]
    for name in ("lambda1", "lambda2", "energy"):
        assert 3.6 < observed_order(*(getattr(s, name) for s in solutions)) < 4.4, name
    pohozaev = [abs(s.pohozaev_residual) for s in solutions]
    assert 3.6 < math.log2(pohozaev[0] / pohozaev[1]) < 4.4


def test_continuation_from_a_previous_solution():
    case = COUPLED_CASES[0]
    previous = solve(*case, check="none")
    nearby = list(case)
    nearby[5] = 0.55
    continued = solve(*nearby, initial=previous, check="none")
    fresh = solve(*nearby, check="none")
    assert continued.lambda1 == pytest.approx(fresh.lambda1, rel=1e-6)
    assert continued.lambda2 == pytest.approx(fresh.lambda2, rel=1e-6)


# ---- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("override", "name"),
    [
        ({"N": 5}, "N"),
        ({"p": 2.0}, "p"),
        ({"p": 6.5}, "p"),  # above 2* = 6 in 3D
        ({"q": 1.5}, "q"),
        ({"mu1": 0.0}, "mu1"),
        ({"mu2": -1.0}, "mu2"),
        ({"beta": 0.0}, "beta"),
        ({"a": -2.0}, "a"),
        ({"b": float("nan")}, "b"),
        ({"method": "gradient"}, "method"),
    ],
)
def test_invalid_parameters_raise_value_error_naming_them(override, name):
    arguments = dict(N=3, p=4.0, q=4.0, mu1=1.0, mu2=1.0, beta=0.5, a=10.0, b=12.0)
    arguments.update(override)
    with pytest.raises(ValueError, match=rf"^{name}="):
        solve(**arguments, check="none")


def test_fixed_lambda_rejects_lambdas_without_decay():
    with pytest.raises(ValueError, match="lambda1 \\* lambda2 > beta"):
        solve_fixed_lambda(3, 4, 4, 1, 1, 0.5, 0.2, 1.0)
    with pytest.raises(ValueError, match="lambda2="):
        solve_fixed_lambda(3, 4, 4, 1, 1, 0.5, 1.0, -1.0)


def test_fixed_lambda_solution_has_the_requested_lambdas():
    solution = solve_fixed_lambda(3, 4, 5, 1, 2, 1.0, 2.0, 3.0)
    checks = independent_checks(solution)
    assert checks["residual"] < 1e-8 and checks["pohozaev"] < 1e-6
    assert (solution.lambda1, solution.lambda2) == (2.0, 3.0)
    assert solution.a == pytest.approx(checks["mass_u"], rel=1e-12)


def test_unresolved_grid_is_an_error_not_an_answer():
    with pytest.raises(ResolutionError) as caught:
        solve_fixed_lambda(3, 4, 4, 1, 1, 0.5, 4.0, 3.0, grid=RadialGrid(3, 0.2, 40.0, 1.0))
    assert "Pohozaev residual" in str(caught.value)
    assert caught.value.residual < 1e-8  # the discrete equations were solved...


@pytest.mark.parametrize("dim", [3, 4])
def test_sobolev_critical_system_concentrates_into_a_bubble(dim):
    critical = 2 * dim / (dim - 2)
    with pytest.raises(ConcentrationError) as caught:
        solve(dim, critical, critical, 1.0, 1.0, 0.5, 3.0, 4.0, check="none")
    error = caught.value
    assert isinstance(error, ConvergenceError)
    assert abs(error.sobolev_ratio - 1) < 0.02  # the Sobolev quotient of a bubble is S
    assert error.bubble_misfit < 0.05
    assert error.shrink_factor > 5
    assert error.residual > 1e-8  # ... and it says how far from a solution it stopped
    assert "Aubin-Talenti" in str(error)


# ---- scan and command line -----------------------------------------------------------------


def test_scan_detects_concentration_at_the_critical_exponent(tmp_path):
    result = scan(3, 6, 6, 1, 1, 0.5, 3, 5, vary="beta", values=[0.5, 2.0], plot=tmp_path / "s.png")
    assert result.statuses == ["concentration", "concentration"]
    assert np.all(np.isnan(result.column("lambda1")))  # no numbers where there is no solution
    assert np.all(np.abs(result.column("sobolev_ratio") - 1) < 0.02)
    assert "Aubin-Talenti" in result.nonexistence_report()
    assert (tmp_path / "s.png").stat().st_size > 10_000


def test_scan_along_the_masses_matches_single_solves(tmp_path):
    case = COUPLED_CASES[0]
    result = scan(*case, vary="mass_scale", values=[0.8, 1.0], plot=tmp_path / "m.png")
    assert result.statuses == ["ok", "ok"]
    single = solve(*case, check="none")
    assert result.points[1].lambda1 == pytest.approx(single.lambda1, rel=1e-9)
    # mass-supercritical: more mass, narrower and deeper bound state
    assert result.points[0].lambda2 > result.points[1].lambda2
    result.to_json(tmp_path / "m.json")
    assert json.loads((tmp_path / "m.json").read_text())["points"][1]["status"] == "ok"


def test_scan_refuses_bad_paths_before_solving():
    with pytest.raises(ValueError, match="^vary='mu1' is not allowed"):
        scan(3, 4, 4, 1, 1, 0.5, 10, 12, vary="mu1", values=[1.0])
    with pytest.raises(ValueError, match="^a=-1.0 is out of range"):  # the second point
        scan(3, 4, 4, 1, 1, 0.5, 10, 12, vary="a", values=[10.0, -1.0])


def test_cli_solves_the_issue_example_and_writes_outputs(tmp_path, capsys):
    arguments = "--N 3 --p 4 --q 4 --mu1 1 --mu2 1 --beta 0.5 --a 10 --b 12".split()
    assert main([*arguments, "--check", "branches", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "methods agree" in printed and "lambda1" in printed
    assert printed.count("least energy of the 3 distinct states found") == 2
    saved = json.loads((tmp_path / "solution.json").read_text())
    profiles = np.load(tmp_path / "solution.npz")
    assert saved["lambda1"] == pytest.approx(float(profiles["lambda1"]))
    assert f"{saved['lambda1']:.12g}" in printed
    assert saved["ground_state_check"]["passed"] is True
    assert saved["morse_index"] == 1 and saved["decay_rate"] == pytest.approx(0.1263, rel=1e-3)
    assert profiles["u"].shape == profiles["r"].shape
    assert (tmp_path / "profiles.png").stat().st_size > 10_000


def test_cli_rejects_bad_input_with_the_parameter_name(capsys):
    assert main(["--p", "1.5"]) == 2  # a ValueError: one line on stderr, exit code 2
    error = capsys.readouterr().err
    assert error.startswith("qmatmul physics nls: error: p=1.5 is out of range")
    assert "(2, 6]" in error and len(error.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as caught:  # argparse's own errors keep exit code 2
        main(["scan", "--values", "1:x:3"])
    assert caught.value.code == 2
    assert "--values must be" in capsys.readouterr().err


# ---- ground-state checks: Morse index, branches, continuation -------------------------------


@pytest.mark.parametrize(("dim", "expected"), [(1, 0), (3, 1)])
def test_morse_index_of_scalar_ground_states_follows_vakhitov_kolokolov(dim, expected):
    # L+ has one negative eigenvalue; on the mass constraint it survives iff d(mass)/dλ < 0:
    # the 1D cubic (mass-subcritical, a local minimum) has index 0, the 3D cubic index 1.
    solution = solve_scalar(dim, 4.0, 1.0, 6.0)
    assert solution.morse_index == expected
    again = morse_index(solution.grid, (4.0,), (1.0,), 0.0, solution.u, [solution.lambda_])
    assert again == expected


def test_morse_index_separates_the_ground_state_from_the_both_branch():
    case = COUPLED_CASES[0]
    ground = solve(*case, method="fixed_lambda", branch="u_driven", check="none")
    both = solve(*case, method="fixed_lambda", branch="both", check="none")
    assert ground.morse_index == 1  # a minimum on the Pohozaev manifold
    assert both.morse_index == 2  # a second descending direction: not a ground state
    assert ground.energy < both.energy


@pytest.fixture(scope="module")
def beta_two():
    """The beta = 2 case of issue 22: the states each method returns (no check)."""
    case = (3, 4.0, 4.0, 1.0, 1.0, 2.0, 10.0, 12.0)
    return {
        method: solve(*case, method=method, check="none") for method in ("pohozaev", "fixed_lambda")
    }


def test_fixed_lambda_state_at_beta_2_is_flagged_not_least_energy(beta_two):
    fixed, descent = beta_two["fixed_lambda"], beta_two["pohozaev"]
    check = certify_ground_state(fixed, others=[descent])
    assert not check.least_energy_found and not check.passed
    assert fixed.energy > check.lowest.energy + 1.0  # 7.32 against 2.29
    assert check.lowest.found_by.startswith("pohozaev")
    assert "NOT the least-energy state" in check.verdict()
    # both states are minima on the Pohozaev manifold: only the energy tells them apart
    assert fixed.morse_index == 1 and check.lowest.morse_index == 1
    assert certify_ground_state(descent, others=[fixed]).passed


def test_solve_runs_the_check_itself():
    # check="branches" (the default) solves the other method too and records the verdict
    solution = solve(1, 7.0, 8.0, 1.0, 1.0, 0.5, 2.0, 3.0, method="fixed_lambda")
    assert solution.check is not None and solution.check.passed
    assert any("pohozaev starts" in line for line in solution.check.checks)
    assert solution.check.morse_index == solution.morse_index == 1


def test_continuation_in_beta_follows_a_branch_the_starts_miss(beta_two):
    from sw.physics.nls.certify import _follow

    start = solve(*COUPLED_CASES[0], method="fixed_lambda", check="none")
    arrived, failure = _follow(start, list(start.problem), 2.0, {})
    assert failure is None and arrived.beta == 2.0
    fixed, descent = beta_two["fixed_lambda"], beta_two["pohozaev"]
    assert arrived.energy < fixed.energy - 1.0  # the fixed-λ starts at beta = 2 miss it
    assert arrived.lambda1 == pytest.approx(descent.lambda1, rel=1e-6)
    assert arrived.energy == pytest.approx(descent.energy, rel=1e-8)


def test_branch_map_shows_where_a_method_misses_the_ground_state(tmp_path):
    result = branch_map(3, 4, 4, 1, 1, 0.5, 10, 12, vary="beta", values=[2.0])
    assert isinstance(result, BranchMap)
    (point,) = result.points
    assert point["missed_by"] == ["fixed_lambda"]
    energies = [state["energy"] for state in point["states"]]
    assert energies == sorted(energies) and len(energies) == 3
    assert [state["morse_index"] for state in point["states"]] == [1, 1, 2]
    assert "fixed_lambda" in result.table()
    assert result.plot(tmp_path / "b.png").stat().st_size > 10_000


# ---- N = 4: the long-tail route -------------------------------------------------------------


@pytest.fixture(scope="module")
def four_dimensional():
    """The N = 4 example of issue 22 (inside the theorem: 3 < p, q < 4)."""
    return solve(4, 3.5, 3.8, 1.0, 1.0, 0.5, 3.0, 4.0, method="fixed_lambda", check="none")


def test_n4_example_is_solved_by_continuation_in_the_decay_rate(four_dimensional):
    solution = four_dimensional
    assert solution.start == "u_driven+decay continuation"
    checks = independent_checks(solution)
    assert checks["residual"] < 1e-8 and checks["pohozaev"] < 1e-6
    assert checks["mass_u"] == pytest.approx(3.0, rel=1e-8)
    assert checks["mass_v"] == pytest.approx(4.0, rel=1e-8)
    assert np.all(solution.u > 0) and np.all(solution.v > 0)
    # the driven tail: λ1 λ2 - β² is far below what λ1, λ2 resolve in double precision
    assert solution.decay_rate < 1e-10
    assert solution.lambda1 * solution.lambda2 == pytest.approx(0.25, rel=1e-12)
    assert solution.morse_index == 1
    both = solve(4, 3.5, 3.8, 1, 1, 0.5, 3, 4, method="fixed_lambda", branch="both", check="none")
    assert solution.energy < both.energy  # 44.07 against the E = 267.3 of issue 22


def test_n4_driven_tail_is_the_harmonic_function_r_to_minus_2(four_dimensional):
    # Between the core and 1/κ the equation for u is -Δu = 0 up to κ² and u^(p-1) terms,
    # whose radial solution in R^4 is c / r²: r² u is constant there, and the mass in a
    # shell [r1, r2] is 2π² c² ln(r2 / r1) (the logarithmic law that makes the tail long).
    solution = four_dimensional
    r, u = solution.r, solution.u
    window = (r > 1e4) & (r < 1e-4 / solution.decay_rate)
    scaled = r[window] ** 2 * u[window]
    assert np.ptp(scaled) < 1e-3 * scaled.mean()
    shell = window & (r < 1e8)
    mass = np.dot(solution.weights[shell], u[shell] ** 2)
    expected = 2 * np.pi**2 * scaled.mean() ** 2 * np.log(r[shell][-1] / r[shell][0])
    assert mass == pytest.approx(expected, rel=2e-2)


def test_mode_parameters_keep_tiny_gaps_exact():
    from sw.physics.nls import ModeParameters

    params = ModeParameters(beta=0.5, lead=1, lambda_lead=2.9, log_kappa2=-100.0)
    lam1, lam2 = params.lambdas
    matrix = np.array([[lam1, -0.5], [-0.5, lam2]])
    slow, fast = params.vectors()
    assert slow @ fast == pytest.approx(0.0, abs=1e-16)
    np.testing.assert_allclose(matrix @ fast, params.fast * fast, rtol=1e-14)
    # κ² = e^-100 ~ 4e-44 is invisible in λ1, but the slow eigenvector carries it exactly
    assert lam1 == 0.25 / 2.9 and params.kappa2 == pytest.approx(np.exp(-100.0), rel=1e-14)
    back = ModeParameters.from_lambdas([0.3, 2.0], 0.5)
    assert back.kappa2 == pytest.approx(
        1.15 - np.hypot(0.85, 0.5), rel=1e-12
    )  # the smaller eigenvalue of [[0.3, -0.5], [-0.5, 2]]


def test_mode_parameter_derivatives_match_finite_differences():
    from sw.physics.nls import ModeParameters
    from sw.physics.nls.model import Model
    from sw.physics.nls.tails import ModeSystem

    small = solve(4, 3.5, 3.8, 1, 1, 0.5, 0.4, 4, method="fixed_lambda", check="none")
    model = Model(small.grid, (3.5, 3.8), (1.0, 1.0), 0.5)
    params = ModeParameters.from_lambdas([small.lambda1, small.lambda2], 0.5)
    system = ModeSystem(model)
    W = system.modes(np.stack([small.u, small.v]), params)
    dG, dm = system.parameter_derivatives(W, params)
    step = 1e-6
    plus = params.with_values(params.lambda_lead + step, params.log_kappa2)
    minus = params.with_values(params.lambda_lead - step, params.log_kappa2)
    numeric = (system.residual(W, plus) - system.residual(W, minus)) / (2 * step)
    assert np.abs(numeric - dG).max() < 1e-5 * np.abs(numeric).max()
    masses = (model.masses(system.profiles(W, plus)) - model.masses(system.profiles(W, minus))) / (
        2 * step
    )
    np.testing.assert_allclose(masses, dm, rtol=1e-5)


def test_existence_study_reports_solutions_and_non_existence(tmp_path):
    from sw.physics.nls.plotting import plot_existence

    study = existence_study(
        masses=[1.0],
        series=[(3, 4.0, 4.5, 1.0, 1.0, 0.5, 4.0)],
        critical=[(3, 6.0, 6.0, 0.5, 3.0, 5.0)],
    )
    (row,) = study["series"][0]["rows"]
    assert row["status"] == "ok" and row["morse_index"] == 1 and row["decay_rate"] > 0
    assert study["critical"][0]["status"] == "concentration"
    assert plot_existence(study, tmp_path / "e.png").stat().st_size > 10_000

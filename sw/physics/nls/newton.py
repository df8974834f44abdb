"""Newton-type solvers: fixed-λ (Petviashvili, Newton), bordered Newton, Newton on λ.

All act on a :class:`~sw.physics.nls.model.Model` (equations on a grid) and stacked
profiles ``U`` of shape (k, M). Residuals are the scale-free ``Model.relative_residual``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.sparse.linalg import splu

from .errors import ConvergenceError
from .model import Model

DEFAULT_TOL = 1e-10  # relative equation residual and relative mass error
_ROUNDOFF = 1e-12  # Newton stops early below this merit


def petviashvili(
    model: Model,
    U: np.ndarray,
    lambdas: np.ndarray,
    *,
    tol: float = 1e-6,
    max_iterations: int = 300,
) -> tuple[np.ndarray, int]:
    """Petviashvili iteration U <- S ∘ L_λ^{-1} f(U) for L_λ U = f(U).

    The stabilizing factor of component j is ``S_j = (<u_j, (L_λ U)_j> / <u_j, f_j(U)>)^γ``
    with ``γ = (p_j - 1)/(p_j - 2)``; it removes the growing mode of the plain fixed-point
    iteration along the amplitude. Returns the profiles and the iterations done. It is
    only a good first guess for Newton: it stops at ``tol`` or when it stalls."""
    linear_operator = model.linear_operator(lambdas)
    inverse = splu(linear_operator)
    size = model.grid.size
    exponents = np.array([(p - 1.0) / (p - 2.0) for p in model.exponents])
    best = (math.inf, U)
    iterations = 0
    while iterations < max_iterations:
        iterations += 1
        nonlinear = model.nonlinearity(U)
        linear_part = (linear_operator @ U.ravel()).reshape(U.shape)
        numerators = np.array([model.grid.integrate(x) for x in U * linear_part])
        denominators = np.array([model.grid.integrate(x) for x in U * nonlinear])
        if np.any(denominators <= 0) or np.any(numerators <= 0):
            break
        factors = (numerators / denominators) ** exponents
        U = factors[:, None] * inverse.solve(nonlinear.ravel()).reshape(model.components, size)
        residual = model.relative_residual(U, lambdas)
        if residual < best[0]:
            best = (residual, U)
        if residual < tol:
            break
    return best[1], iterations


def newton_fixed_lambda(
    model: Model,
    U: np.ndarray,
    lambdas: np.ndarray,
    *,
    tol: float = DEFAULT_TOL,
    max_iterations: int = 40,
) -> tuple[np.ndarray, float, int]:
    """Damped Newton on F(U) = 0 at fixed λ. Returns (U, relative residual, iterations);
    raises ConvergenceError if the residual stays above ``tol``."""
    residual = model.relative_residual(U, lambdas)
    for iteration in range(1, max_iterations + 1):
        if residual < _ROUNDOFF:
            return U, residual, iteration - 1
        step = splu(model.jacobian(U, lambdas)).solve(-model.residual(U, lambdas).ravel())
        step = step.reshape(U.shape)
        damping = 1.0
        while True:
            trial = U + damping * step
            trial_residual = model.relative_residual(trial, lambdas)
            if trial_residual < residual or damping < 1e-3:
                break
            damping *= 0.5
        stalled = trial_residual > 0.5 * residual
        U, previous, residual = trial, residual, trial_residual
        if stalled and residual < tol:
            return U, residual, iteration
        if stalled and residual >= previous:
            break
    if residual < tol:
        return U, residual, max_iterations
    raise ConvergenceError(
        "fixed-λ Newton did not converge",
        residual=residual,
        iterations=max_iterations,
        lambdas=tuple(lambdas),
    )


def bordered_newton(
    model: Model,
    U: np.ndarray,
    lambdas: np.ndarray,
    masses: np.ndarray,
    *,
    tol: float = DEFAULT_TOL,
    max_iterations: int = 40,
) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Newton on (U, λ) for F(U, λ) = 0 and ∫u_j² = m_j together.

    The Jacobian is dF/dU bordered by the columns dF/dλ_j = u_j and the rows
    d(∫u_j²/m_j)/du_j = 2 w u_j / m_j. The merit is the larger of the relative residual
    and the relative mass error. Returns (U, λ, merit, iterations)."""
    k, size = U.shape
    lambdas = np.array(lambdas, dtype=float)

    def merit_of(U, lambdas):
        mass_error = np.max(np.abs(model.masses(U) / masses - 1.0))
        return max(model.relative_residual(U, lambdas), mass_error)

    merit = merit_of(U, lambdas)
    best = (merit, U, lambdas)
    # Near λ1 λ2 = β² (a driven component with a long tail) the full Newton step first
    # overshoots the mass and then converges quadratically: allow a few non-monotone
    # steps before falling back to damping from the best iterate.
    non_monotone_budget = 4
    for iteration in range(1, max_iterations + 1):
        if merit < _ROUNDOFF:
            return U, lambdas, merit, iteration - 1
        step_U, step_lambdas = _bordered_step(model, U, lambdas, masses)
        damping = 1.0
        while True:
            trial_U = U + damping * step_U
            trial_lambdas = lambdas + damping * step_lambdas
            trial_merit = merit_of(trial_U, trial_lambdas)
            if trial_merit < merit or damping < 1e-3:
                break
            if damping == 1.0 and non_monotone_budget > 0 and trial_merit < 1e3 * merit:
                non_monotone_budget -= 1
                break
            damping *= 0.5
        stalled = trial_merit > 0.5 * merit
        previous = merit
        U, lambdas, merit = trial_U, trial_lambdas, trial_merit
        if merit < best[0]:
            best = (merit, U, lambdas)
        if stalled and merit < tol:
            break
        if stalled and merit >= previous and non_monotone_budget == 0:
            break
    merit, U, lambdas = best
    if merit < tol:
        return U, lambdas, merit, iteration
    raise ConvergenceError(
        "bordered Newton did not converge",
        residual=merit,
        iterations=iteration,
        lambdas=tuple(lambdas),
    )


def _bordered_step(model: Model, U, lambdas, masses) -> tuple[np.ndarray, np.ndarray]:
    """The Newton step of :func:`bordered_newton` by block elimination of the border.

    J dU + C dλ = -F and R dU = 1 - m/m_target, with C_j = u_j in block j and
    R_j = 2 w u_j / m_j: dλ from the k×k system (R J⁻¹ C) dλ = R J⁻¹(-F) - (1 - m/m_target),
    then dU. One sparse LU of J (banded), no dense rows or columns in the factorization."""
    k, size = U.shape
    columns = np.zeros((k * size, k))
    rows = np.zeros((k, k * size))
    for j in range(k):
        columns[j * size : (j + 1) * size, j] = U[j]
        rows[j, j * size : (j + 1) * size] = 2.0 * model.grid.weights * U[j] / masses[j]
    solved = splu(model.jacobian(U, lambdas)).solve(
        np.column_stack([-model.residual(U, lambdas).ravel(), columns])
    )
    mass_residual = 1.0 - model.masses(U) / masses
    step_lambdas = np.linalg.solve(rows @ solved[:, 1:], rows @ solved[:, 0] - mass_residual)
    step_U = (solved[:, 0] - solved[:, 1:] @ step_lambdas).reshape(k, size)
    return step_U, step_lambdas


def lambda_newton(
    model: Model,
    U: np.ndarray,
    lambdas: np.ndarray,
    masses: np.ndarray,
    *,
    tol: float = DEFAULT_TOL,
    warm: bool = False,
    max_iterations: int = 30,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Find λ with ∫u_j(λ)² = m_j, where U(λ) solves the fixed-λ system.

    Newton on log(masses) in λ; dU/dλ_j solves J dU/dλ_j = -(u_j in block j) with the
    inner Jacobian J (implicit-function theorem), which also gives a first-order
    predictor for the next inner solve. Steps are halved until λ stays admissible
    (λ_j > 0, λ1 λ2 > β²), the inner Newton converges and the mass error drops.
    ``warm=True`` skips the Petviashvili start (U already close to a solution).
    Returns (U, λ, outer iterations)."""
    k, size = U.shape
    lambdas = np.array(lambdas, dtype=float)
    inner_tol = min(tol, 1e-11)
    if not warm:
        U, _ = petviashvili(model, U, lambdas)
    U, _, _ = newton_fixed_lambda(model, U, lambdas, tol=inner_tol)
    log_error = np.log(model.masses(U) / masses)
    for iteration in range(1, max_iterations + 1):
        if np.max(np.abs(np.expm1(log_error))) < tol:
            return U, lambdas, iteration - 1
        inverse = splu(model.jacobian(U, lambdas))
        sensitivities = np.empty((k, k, size))  # [j, i] = d u_i / d λ_j
        for j in range(k):
            rhs = np.zeros((k, size))
            rhs[j] = -U[j]
            sensitivities[j] = inverse.solve(rhs.ravel()).reshape(k, size)
        mass_jacobian = (
            np.array(
                [
                    [
                        2.0 * model.grid.integrate(U[i] * sensitivities[j, i]) / masses[i]
                        for j in range(k)
                    ]
                    for i in range(k)
                ]
            )
            / np.exp(log_error)[:, None]
        )
        newton_step = np.linalg.solve(mass_jacobian, -log_error)
        damping = 1.0
        while True:
            trial_lambdas = lambdas + damping * newton_step
            accepted = False
            if model.admissible(trial_lambdas):
                predictor = U + damping * np.tensordot(newton_step, sensitivities, axes=1)
                try:
                    trial_U, _, _ = newton_fixed_lambda(
                        model, predictor, trial_lambdas, tol=inner_tol, max_iterations=20
                    )
                    trial_error = np.log(model.masses(trial_U) / masses)
                    accepted = np.max(np.abs(trial_error)) < np.max(np.abs(log_error))
                except (ConvergenceError, FloatingPointError, RuntimeError):
                    accepted = False
            if accepted:
                break
            damping *= 0.5
            if damping < 1.0 / 64:
                raise ConvergenceError(
                    "outer Newton on (λ1, λ2) cannot reduce the mass error",
                    residual=float(np.max(np.abs(np.expm1(log_error)))),
                    iterations=iteration,
                    lambdas=tuple(lambdas),
                )
        U, lambdas, log_error = trial_U, trial_lambdas, trial_error
    raise ConvergenceError(
        "outer Newton on (λ1, λ2) did not converge",
        residual=float(np.max(np.abs(np.expm1(log_error)))),
        iterations=max_iterations,
        lambdas=tuple(lambdas),
    )

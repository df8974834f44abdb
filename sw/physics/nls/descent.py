"""Descent on the Pohozaev manifold, with its concentration and spreading diagnostics.

The ground state is the minimum of the energy on {∫u² = a, ∫v² = b, P = 0}; see
:func:`pohozaev_descent`. Profiles ``U`` are stacked (k, M) on the model's grid, which the
descent may replace by a finer or longer one to follow a shrinking core or a spreading
tail.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.optimize import brentq
from scipy.sparse.linalg import splu

from .errors import ConcentrationError, ConvergenceError, ResolutionError, VanishingError
from .grid import RadialGrid
from .model import Model, sobolev_exponent

DESCENT_TOL = 1e-4  # the descent hands over to Newton at this relative residual
HANDOVER_MAX = 1e-2  # ... or at this one if it stalls (round-off of the dilation on coarse grids)
MAX_SHRINK = 100.0  # a core narrower than 1/MAX_SHRINK of the initial guess = concentration
BUBBLE_SHRINK = 10.0  # ... or narrower than 1/10 with the shape of a bubble (critical p)
MAX_SPREAD = 1e6  # a domain wider than MAX_SPREAD initial core widths = vanishing


def core_width(grid: RadialGrid, profile: np.ndarray) -> float:
    """Radius where a profile first drops to half its value at the origin."""
    profile = np.abs(profile)
    peak = profile[0]
    below = np.nonzero(profile <= 0.5 * peak)[0]
    if peak <= 0 or below.size == 0:
        return grid.r_max
    i = below[0]
    if i == 0:
        return grid.r[0]
    r0, r1, f0, f1 = grid.r[i - 1], grid.r[i], profile[i - 1], profile[i]
    return float(r0 + (0.5 * peak - f0) * (r1 - r0) / (f1 - f0))


def sobolev_constant(dim: int) -> float:
    """Best constant S in ‖∇w‖² >= S ‖w‖²_{2*} (N >= 3), attained by Aubin-Talenti bubbles."""
    return math.pi * dim * (dim - 2) * (math.gamma(dim / 2) / math.gamma(dim)) ** (2.0 / dim)


def bubble_diagnostics(grid: RadialGrid, profile: np.ndarray) -> tuple[float, float]:
    """(sobolev_ratio, bubble_misfit) of a profile in N = 3, 4 (see ConcentrationError)."""
    dim = grid.dim
    critical = sobolev_exponent(dim)
    kinetic = -grid.integrate(profile * (grid.laplacian @ profile))
    norm = grid.integrate(np.abs(profile) ** critical) ** (2.0 / critical)
    ratio = kinetic / norm / sobolev_constant(dim)
    width = core_width(grid, profile)
    scale = width / math.sqrt(2.0 ** (2.0 / (dim - 2)) - 1.0)  # bubble with the same width
    inside = grid.r < 3.0 * width
    bubble = (1.0 + (grid.r[inside] / scale) ** 2) ** (-(dim - 2) / 2.0)
    misfit = float(np.max(np.abs(profile[inside] / profile[0] - bubble)))
    return ratio, misfit


def fibre_factor(model: Model, U: np.ndarray) -> float:
    """The dilation t > 0 with P(t^(N/2) u(t x)) = 0 closest to t = 1 (1 if there is none).

    For mass-supercritical exponents it is the unique maximum of the energy along the
    fibre, for subcritical ones the unique minimum."""
    kinetic = model.kinetic(U).sum()
    coefficients = np.array(model.mus) * model.gammas() * model.potential(U)
    powers = np.array(model.exponents) * model.gammas() - 2.0

    def slope(log_t: np.ndarray) -> np.ndarray:  # P(u_t) / t^2 for an array of log t
        return kinetic - coefficients @ np.exp(np.multiply.outer(powers, log_t))

    grid = np.linspace(-12.0, 12.0, 241)
    values = slope(grid)
    changes = np.nonzero(np.sign(values[:-1]) != np.sign(values[1:]))[0]
    if changes.size == 0:
        return 1.0
    i = changes[np.argmin(np.abs(grid[changes] + 0.05))]  # bracket whose middle is nearest 0
    return math.exp(
        brentq(lambda x: float(slope(np.array([x]))[0]), grid[i], grid[i + 1], xtol=1e-14)
    )


def project_to_fibre(model: Model, U: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """U dilated onto P = 0 (see fibre_factor), masses restored after the interpolation."""
    t = fibre_factor(model, U)
    if abs(t - 1.0) < 1e-13:
        return U
    dilated = np.stack([model.grid.dilate(u, t) for u in U])
    return model.normalize(dilated, masses)


def tail_fraction(grid: RadialGrid, profile: np.ndarray) -> float:
    """max |u| over the outer half of the domain, relative to max |u|: ~exp(-κ r_max / 2)
    for a resolved profile."""
    outer = grid.r > 0.5 * grid.r_max
    return float(np.max(np.abs(profile[outer])) / np.max(np.abs(profile)))


def _concentration_error(
    model: Model, U, j: int, widths, shrink, residual, iteration, lambdas, how: str
) -> ConcentrationError:
    grid = model.grid
    ratio, misfit = bubble_diagnostics(grid, U[j]) if grid.dim >= 3 else (math.nan, math.nan)
    name = "uv"[j] if model.components == 2 else "u"
    bubble = ""
    if grid.dim >= 3:
        bubble = (
            f", Sobolev quotient / S = {ratio:.4f}, misfit to an Aubin-Talenti bubble {misfit:.2g}"
        )
    return ConcentrationError(
        f"the profile of {name} concentrates at the origin ({how}): its core shrank by "
        f"{shrink[j]:.3g}x to width {widths[j]:.3g}{bubble}; no normalized solution found",
        residual=residual,
        iterations=iteration,
        component=j,
        core_width=float(widths[j]),
        shrink_factor=float(shrink[j]),
        sobolev_ratio=ratio,
        bubble_misfit=misfit,
        lambdas=tuple(lambdas),
    )


def _adapt_grid(
    model: Model,
    U: np.ndarray,
    initial_widths: np.ndarray,
    residual: float,
    iteration: int,
    lambdas: np.ndarray,
    *,
    max_shrink: float,
    max_spread: float,
    can_adapt: bool,
) -> RadialGrid | None:
    """Follow a core that shrinks or a tail that spreads during an iteration.

    Returns a finer grid (core under-resolved) or a longer one (tail reaching r_max), or
    None if the grid is fine. Raises ConcentrationError when a core has shrunk by more
    than ``max_shrink``, or by more than BUBBLE_SHRINK with a Sobolev-critical exponent
    and the shape of an Aubin-Talenti bubble (Sobolev quotient within 1% of S);
    VanishingError when the domain would exceed ``max_spread`` core widths. On a fixed
    grid (``can_adapt=False``) a core narrower than 3 cells raises ResolutionError (or
    ConcentrationError if it got there by shrinking)."""
    grid = model.grid
    widths = np.array([core_width(grid, u) for u in U])
    shrink = initial_widths / widths
    j = int(np.argmax(shrink))
    if shrink[j] > max_shrink:
        raise _concentration_error(
            model, U, j, widths, shrink, residual, iteration, lambdas, "collapse"
        )
    if not can_adapt and widths[j] < 3.0 * grid.spacing:
        if shrink[j] > BUBBLE_SHRINK:
            raise _concentration_error(
                model, U, j, widths, shrink, residual, iteration, lambdas, "down to the grid"
            )
        raise ResolutionError(
            f"the grid ({grid.describe()}) is too coarse for a core of width {widths[j]:.3g}",
            residual=residual,
            iterations=iteration,
            lambdas=tuple(lambdas),
        )
    critical = model.exponents[j] >= sobolev_exponent(grid.dim) - 1e-9
    if critical and shrink[j] > BUBBLE_SHRINK and iteration % 10 == 0:
        ratio, misfit = bubble_diagnostics(grid, U[j])
        if ratio < 1.01 and misfit < 0.05:
            raise _concentration_error(
                model, U, j, widths, shrink, residual, iteration, lambdas, "bubble formed"
            )
    if can_adapt and widths[j] < 10.0 * grid.spacing:
        width = widths[j]
        return RadialGrid(grid.dim, width / 25.0, grid.r_max, stretch=2.0 * width)
    tails = [tail_fraction(grid, u) for u in U]
    if can_adapt and max(tails) > 1e-7:  # (a fixed grid is judged on the result instead)
        longer = 4.0 * grid.r_max
        if longer > max_spread * min(initial_widths):
            name = "uv"[int(np.argmax(tails))] if model.components == 2 else "u"
            limit = "λ1 λ2 - β² -> 0" if model.components == 2 else "λ -> 0"
            raise VanishingError(
                f"the profile of {name} spreads beyond r = {grid.r_max:.3g} "
                f"({limit}, decay length -> infinity); no localized solution found",
                residual=residual,
                iterations=iteration,
                lambdas=tuple(lambdas),
            )
        return RadialGrid(grid.dim, grid.spacing, longer, grid.stretch)
    return None


def _stalled_descent_error(model, U, history, residual, iteration, lambdas) -> ConvergenceError:
    """Why the descent ran out of iterations, from the trend over its second half: a core
    still shrinking (concentration), λ1 λ2 - β² still creeping to 0 from below (a
    component spreading out), or neither."""
    first_widths, first_gap = history[len(history) // 2]
    widths, gap = history[-1]
    shrinking = first_widths / widths
    j = int(np.argmax(shrinking))
    if shrinking[j] > 1.2:
        initial_widths = history[0][0]
        return _concentration_error(
            model,
            U,
            j,
            widths,
            initial_widths / widths,
            residual,
            iteration,
            lambdas,
            f"still shrinking by {shrinking[j]:.2f}x over the last {iteration // 2} iterations",
        )
    if gap < 0 and abs(gap) < 0.8 * abs(first_gap):
        return VanishingError(
            f"λ1 λ2 - β² creeps to 0 from below ({first_gap:.3g} -> {gap:.3g}): a component "
            "spreads out and no decaying solution is approached",
            residual=residual,
            iterations=iteration,
            lambdas=tuple(lambdas),
        )
    return ConvergenceError(
        "Pohozaev descent did not reach its tolerance",
        residual=residual,
        iterations=iteration,
        lambdas=tuple(lambdas),
    )


def _preconditioner_shifts(model: Model, U, lambdas, masses) -> np.ndarray:
    """σ for the metric [[-Δ + σ1, -β], [-β, -Δ + σ2]]: the current λ, kept above a
    fraction of the kinetic scale and with σ1 σ2 >= 1.1 β² so the metric is positive."""
    floor = 0.1 * model.kinetic(U) / masses
    shifts = np.maximum(lambdas, floor)
    if model.components == 2 and shifts[0] * shifts[1] < 1.1 * model.beta**2:
        low = int(np.argmin(shifts))
        shifts[low] = 1.1 * model.beta**2 / shifts[1 - low]
    return shifts


def _preconditioned_direction(model: Model, U, gradient, lambdas, masses) -> np.ndarray:
    """The Sobolev gradient: G^(-1) E'(U) in the metric G = L_σ (the linear part of the
    equations, coupling included), projected on the tangent space of the mass spheres
    in that metric. Including β in G matters for a driven component, whose slow mode is
    the coupled long-wave mode with eigenvalue ~ λ1 λ2 - β²."""
    k, size = U.shape
    inverse = splu(model.linear_operator(_preconditioner_shifts(model, U, lambdas, masses)))
    solved_gradient = inverse.solve(gradient.ravel()).reshape(k, size)
    solved_u = np.empty((k, k, size))  # [i] = G^(-1) (u_i in block i)
    for i in range(k):
        rhs = np.zeros((k, size))
        rhs[i] = U[i]
        solved_u[i] = inverse.solve(rhs.ravel()).reshape(k, size)
    # choose α so that <d_j, u_j> = 0 for each j, with d = G^(-1)E' - sum_i α_i G^(-1)u_i
    gram = np.array(
        [[model.grid.integrate(solved_u[i, j] * U[j]) for i in range(k)] for j in range(k)]
    )
    along = np.array([model.grid.integrate(solved_gradient[j] * U[j]) for j in range(k)])
    alpha = np.linalg.solve(gram, along)
    return solved_gradient - np.tensordot(alpha, solved_u, axes=1)


def pohozaev_descent(
    model: Model,
    U: np.ndarray,
    masses: np.ndarray,
    *,
    tol: float = DESCENT_TOL,
    max_iterations: int = 800,
    can_adapt: bool = True,
    max_shrink: float = MAX_SHRINK,
    max_spread: float = MAX_SPREAD,
    progress: Callable[[int, float], None] | None = None,
) -> tuple[Model, np.ndarray, np.ndarray, int]:
    """Descend to the minimum of the energy on {∫u² = a, ∫v² = b, P = 0}.

    Each iteration: the Lagrange multipliers λ_j = -<E'_j, u_j> / m_j, a step along the
    Sobolev gradient (see ``_preconditioned_direction``), renormalization of the masses,
    and the dilation back to P = 0. The step length halves whenever the energy would
    rise. If it stalls after ``max_iterations`` below HANDOVER_MAX with no sign of
    concentration or spreading, it returns anyway. Returns (model, U, λ, iterations);
    the model's grid changes to follow a shrinking core or a spreading tail
    (``can_adapt``)."""
    U = project_to_fibre(model, model.normalize(U, masses), masses)
    initial_widths = np.array([core_width(model.grid, u) for u in U])
    energy = model.energy(U)
    step = 0.5
    lambdas = np.zeros(len(masses))
    history = []  # (core widths, λ1 λ2 - β²) per iteration, to explain a failure
    for iteration in range(1, max_iterations + 1):
        gradient = -model.laplacian(U) - model.nonlinearity(U) - model.coupling(U)
        lambdas = (
            -np.array([model.grid.integrate(g * u) for g, u in zip(gradient, U, strict=True)])
            / masses
        )
        residual = model.relative_residual(U, lambdas)
        gap = lambdas[0] * lambdas[-1] - model.beta**2 if model.components == 2 else math.nan
        history.append((np.array([core_width(model.grid, u) for u in U]), gap))
        if progress is not None:
            progress(iteration, residual)
        if residual < tol:
            return model, U, lambdas, iteration
        finer = _adapt_grid(
            model,
            U,
            initial_widths,
            residual,
            iteration,
            lambdas,
            max_shrink=max_shrink,
            max_spread=max_spread,
            can_adapt=can_adapt,
        )
        if finer is not None:
            U = np.stack([model.grid.transfer(u, finer) for u in U])
            model = model.on_grid(finer)
            U = model.normalize(U, masses)
            energy = model.energy(U)
            continue
        direction = _preconditioned_direction(model, U, gradient, lambdas, masses)
        while True:
            trial = project_to_fibre(model, model.normalize(U - step * direction, masses), masses)
            trial_energy = model.energy(trial)
            if trial_energy <= energy + 1e-13 * abs(energy):
                break
            step *= 0.5
            if step < 1e-8:
                raise ConvergenceError(
                    "Pohozaev descent cannot decrease the energy",
                    residual=residual,
                    iterations=iteration,
                    lambdas=tuple(lambdas),
                )
        U, energy = trial, trial_energy
        step = min(1.0, 1.5 * step)
    error = _stalled_descent_error(model, U, history, residual, max_iterations, lambdas)
    if type(error) is ConvergenceError and residual < HANDOVER_MAX:
        return model, U, lambdas, max_iterations  # stalled near a solution: Newton's turn
    raise error

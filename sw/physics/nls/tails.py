"""Driven states whose tails outrun double precision: the slow/fast mode basis.

A *driven* component (a weak, wide response to the other, self-focused one) decays like
exp(-κ r), where κ² is the smallest eigenvalue of the matrix at infinity

    Λ = [[λ1, -β], [-β, λ2]],     κ² = (λ1 λ2 - β²) / e₊,   e₊ = the other eigenvalue.

Its mass grows without bound as κ -> 0: like 1/κ² in N = 1, 2, like 1/κ in N = 3, but only
like ln(1/κ) in N = 4 (the tail is the harmonic r^(2-N) = r^-2 out to r ~ 1/κ, and
∫ r^-4 r³ dr is logarithmic). A driven mass of order one in 4D therefore needs κ ~ 1e-13:
λ1 λ2 - β² ~ 1e-27, far below what the numbers λ1, λ2 (or the unknowns u, v) resolve in
double precision. In the (u, v) equations the gap is then pure round-off.

The remedy is to write everything in the eigenbasis of Λ and to take κ itself as an unknown:

* parameters: λ_lead (the larger multiplier, the self-focused component) and σ = ln κ²;
  the other multiplier, e₊ and the eigenvectors follow without cancellation
  (:class:`ModeParameters`);
* unknowns: W = (w_s, w_f), the slow and fast combinations of (u, v) (``U = s w_s + p w_f``),
  so the far field is carried by w_s alone and the operator -Δ + κ² acts on it exactly;
* grid: the stretched radial grid out to 38/κ (its cells grow geometrically, so r ~ 1e15
  costs a few thousand cells).

:func:`continue_in_decay` starts from an ordinary solution at a smaller driven mass (where
the usual solvers work) and follows the branch in σ until the driven mass is reached, with
a bordered Newton in the mode basis at fixed σ (:func:`mode_newton`) and a secant on σ for
the driven mass. Units are those of the PDE.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu
from scipy.special import kve

from .errors import ConvergenceError, ResolutionError, VanishingError
from .grid import RadialGrid
from .model import Model, smallest_eigenvalue

MODE_TOL = 1e-9  # pointwise relative residual and relative mass error
SMALLEST_LOG_KAPPA2 = math.log(1e-280)  # κ² below this underflows: give up
MAX_DECAY_STEP = 20.0  # largest change of ln κ² per continuation step
MAX_CONTINUATION_STEPS = 40


@dataclass(frozen=True)
class ModeParameters:
    """(λ1, λ2) through the lead multiplier and the decay rate κ of the slow mode.

    ``lead`` is the index (0 for u, 1 for v) of the component with the larger multiplier;
    with t = λ_lead - κ² the other multiplier is κ² + β²/t and the fast eigenvalue is
    e₊ = λ_lead + β²/t. The slow eigenvector is s ∝ (t, β) in (other, lead) order and the
    fast one p ∝ (-β, t): both are computed from t, never from a small difference.
    """

    beta: float
    lead: int
    lambda_lead: float
    log_kappa2: float

    @classmethod
    def from_lambdas(cls, lambdas, beta: float) -> ModeParameters:
        lambdas = np.asarray(lambdas, dtype=float)
        lead = int(np.argmax(lambdas))
        kappa2 = smallest_eigenvalue(lambdas, beta)
        if not kappa2 > 0:
            raise ValueError(f"λ = {tuple(lambdas)} has no decaying mode (need λ1 λ2 > β²)")
        return cls(float(beta), lead, float(lambdas[lead]), math.log(kappa2))

    @property
    def other(self) -> int:
        return 1 - self.lead

    @property
    def kappa2(self) -> float:
        return math.exp(self.log_kappa2)

    @property
    def kappa(self) -> float:
        return math.exp(0.5 * self.log_kappa2)

    @property
    def gap(self) -> float:
        """t = λ_lead - κ² (> β²/λ_lead... always > 0 here)."""
        return self.lambda_lead - self.kappa2

    @property
    def fast(self) -> float:
        """e₊, the larger eigenvalue of Λ."""
        return self.lambda_lead + self.beta**2 / self.gap

    @property
    def lambdas(self) -> np.ndarray:
        """(λ1, λ2); the other multiplier carries κ² only as far as double precision does."""
        values = np.empty(2)
        values[self.lead] = self.lambda_lead
        values[self.other] = self.kappa2 + self.beta**2 / self.gap
        return values

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(s, p): unit slow and fast eigenvectors in (u, v) order."""
        t, beta = self.gap, self.beta
        norm = math.hypot(t, beta)
        slow, fast = np.empty(2), np.empty(2)
        slow[self.other], slow[self.lead] = t / norm, beta / norm
        fast[self.other], fast[self.lead] = -beta / norm, t / norm
        return slow, fast

    def with_values(self, lambda_lead: float, log_kappa2: float) -> ModeParameters:
        return replace(self, lambda_lead=float(lambda_lead), log_kappa2=float(log_kappa2))


class ModeSystem:
    """The two-component equations of ``model`` in the mode basis (see the module doc).

    For W = (w_s, w_f) and U = s w_s + p w_f:

        G_s = -Δw_s + κ² w_s - s·f(U),     G_f = -Δw_f + e₊ w_f - p·f(U),

    with f(U) = (μ1 |u|^(p-2) u, μ2 |v|^(q-2) v). G = 0 is the system F(U, λ) = 0 rotated.
    """

    def __init__(self, model: Model):
        if model.components != 2:
            raise ValueError("the mode basis is for the two-component system")
        self.model = model

    @property
    def grid(self) -> RadialGrid:
        return self.model.grid

    def on_grid(self, grid: RadialGrid) -> ModeSystem:
        return ModeSystem(self.model.on_grid(grid))

    @staticmethod
    def profiles(W: np.ndarray, params: ModeParameters) -> np.ndarray:
        slow, fast = params.vectors()
        return np.outer(slow, W[0]) + np.outer(fast, W[1])

    @staticmethod
    def modes(U: np.ndarray, params: ModeParameters) -> np.ndarray:
        slow, fast = params.vectors()
        return np.stack([slow @ U, fast @ U])

    def residual(self, W: np.ndarray, params: ModeParameters) -> np.ndarray:
        slow, fast = params.vectors()
        U = self.profiles(W, params)
        force = self.model.nonlinearity(U)
        laplacian = self.model.laplacian(W)
        return np.stack(
            [
                -laplacian[0] + params.kappa2 * W[0] - slow @ force,
                -laplacian[1] + params.fast * W[1] - fast @ force,
            ]
        )

    def relative_residual(self, W: np.ndarray, params: ModeParameters) -> float:
        """max |G| / (|L| |W| + |D W| + |projected f|) over the points that matter.

        Pointwise, because the far tail carries mass at amplitudes far below the core's;
        the scale of the Laplacian is |L| applied to |W| (the size of the terms that cancel
        in the stencil), so a harmonic tail is not judged against a round-off zero. Points
        whose share of the mass density is below 1e-15 (and whose terms are below 1e-12 of
        the largest) are ignored.
        """
        slow, fast = params.vectors()
        U = self.profiles(W, params)
        force = self.model.nonlinearity(U)
        absolute = abs(self.grid.laplacian)
        terms = np.stack([absolute @ np.abs(w) for w in W])
        terms += np.abs(np.array([params.kappa2, params.fast]))[:, None] * np.abs(W)
        terms += np.abs(np.stack([slow @ force, fast @ force]))
        density = self.grid.weights[None, :] * W * W
        relevant = (density > 1e-15 * density.max()) | (terms > 1e-12 * terms.max())
        relative = np.abs(self.residual(W, params))[relevant] / terms[relevant]
        return float(relative.max())

    def jacobian(self, W: np.ndarray, params: ModeParameters) -> sp.csc_matrix:
        """dG/dW, a sparse (2M, 2M) matrix (symmetric up to the Laplacian's stencil)."""
        slow, fast = params.vectors()
        slopes = self.model.nonlinearity_derivative(self.profiles(W, params))
        lap = self.grid.laplacian
        slow_slow = -lap + sp.diags(params.kappa2 - (slow**2) @ slopes)
        mixed = sp.diags(-(slow * fast) @ slopes)
        fast_fast = -lap + sp.diags(params.fast - (fast**2) @ slopes)
        return sp.bmat([[slow_slow, mixed], [mixed, fast_fast]], format="csc")

    def parameter_derivatives(
        self, W: np.ndarray, params: ModeParameters
    ) -> tuple[np.ndarray, np.ndarray]:
        """(dG/dλ_lead as (2, M), dm/dλ_lead for both masses) at fixed W and σ.

        With t = λ_lead - κ²: ds/dt = -(β/n²) p, dp/dt = (β/n²) s (n² = t² + β²),
        de₊/dλ_lead = 1 - β²/t², dt/dλ_lead = 1 (W fixed: U rotates with the basis).
        """
        slow, fast = params.vectors()
        beta, t = params.beta, params.gap
        rotation = beta / (t * t + beta * beta)
        U = self.profiles(W, params)
        force = self.model.nonlinearity(U)
        slopes = self.model.nonlinearity_derivative(U)
        dU_dt = rotation * (np.outer(-fast, W[0]) + np.outer(slow, W[1]))
        response = slopes * dU_dt
        dG = np.stack(
            [
                rotation * (fast @ force) - slow @ response,
                -rotation * (slow @ force) - fast @ response,
            ]
        )
        dG[1] += (1.0 - (beta / t) ** 2) * W[1]
        dm = np.array([2.0 * self.grid.integrate(U[c] * dU_dt[c]) for c in range(2)])
        return dG, dm


def _solve_scaled(matrix: sp.csc_matrix, rhs: np.ndarray) -> np.ndarray:
    """Solve ``matrix x = rhs`` with rows equilibrated by the diagonal and diagonal pivots.

    The rows' scales span ~1/h² in the core to ~1e-100 in a long tail; partial pivoting
    would mix them and lose the tail (or the core) entirely. The scaled matrix has a unit
    diagonal and is diagonally dominant except in the core, so diagonal pivots are stable
    in practice; the linear residual is checked and partial pivoting is the fallback."""
    scale = 1.0 / np.abs(matrix.diagonal())
    scaled = (sp.diags(scale) @ matrix).tocsc()
    right = scale[:, None] * rhs
    for threshold in (0.0, 1.0):
        solution = splu(scaled, diag_pivot_thresh=threshold).solve(right)
        error = np.abs(scaled @ solution - right).max() / max(np.abs(right).max(), 1e-300)
        if error < 1e-10:
            break
    return solution


def mode_newton(
    system: ModeSystem,
    W: np.ndarray,
    params: ModeParameters,
    targets: np.ndarray,
    *,
    tol: float = MODE_TOL,
    max_iterations: int = 30,
) -> tuple[np.ndarray, ModeParameters, float, int]:
    """Bordered Newton at fixed σ = ln κ²: unknowns (W, λ_lead), the lead mass constrained.

    The border is eliminated with the sparse LU of dG/dW (block elimination keeps the solve
    O(M)). Merit: the larger of :meth:`ModeSystem.relative_residual` and the relative error
    of the lead mass. Returns (W, params, merit, iterations); raises ConvergenceError.
    (The driven mass is matched by the outer root finding on σ in ``continue_in_decay``:
    a joint Newton in σ from a distant start is unreliable, because the tail's extent
    depends exponentially on σ.)
    """
    lead = params.lead
    target = float(targets[lead])

    def merit_of(W, params):
        if not params.gap > 0:
            return math.inf
        mass = system.model.masses(system.profiles(W, params))[lead]
        return max(system.relative_residual(W, params), abs(mass / target - 1.0))

    merit = merit_of(W, params)
    size = system.grid.size
    for iteration in range(1, max_iterations + 1):
        # At least one step, even from a start already below tol: the driven mass is read
        # off the result and must be a smooth function of σ, not the stale start's.
        if merit < tol and iteration > 1:
            return W, params, merit, iteration - 1
        U = system.profiles(W, params)
        slow, fast = params.vectors()
        dG, dm = system.parameter_derivatives(W, params)
        residual = system.residual(W, params).ravel()
        # dW = -J⁻¹G - J⁻¹B dλ;  lead mass row: R dW + D dλ = -(m/target - 1)
        solved = _solve_scaled(system.jacobian(W, params), np.column_stack([residual, dG.ravel()]))
        row = 2.0 * np.concatenate([slow[lead] * U[lead], fast[lead] * U[lead]])
        row *= np.tile(system.grid.weights, 2) / target
        mass = system.model.masses(U)[lead]
        delta = (-(mass / target - 1.0) + row @ solved[:, 0]) / (
            dm[lead] / target - row @ solved[:, 1]
        )
        step_W = (-solved[:, 0] - solved[:, 1] * delta).reshape(2, size)
        damping = 1.0
        while True:
            trial_params = params.with_values(
                params.lambda_lead + damping * delta, params.log_kappa2
            )
            trial_W = W + damping * step_W
            trial_merit = merit_of(trial_W, trial_params)
            if trial_merit < merit or damping < 1e-3:
                break
            damping *= 0.5
        if not trial_merit < merit:
            if iteration == 1 and merit < tol:  # already at the round-off floor
                return W, params, merit, 0
            break
        W, params, merit = trial_W, trial_params, trial_merit
    if merit < tol:
        return W, params, merit, iteration
    raise ConvergenceError(
        "Newton in the mode basis did not converge",
        residual=merit,
        iterations=iteration,
        lambdas=tuple(params.lambdas),
    )


def bessel_tail(dim: int, kappa: float, r: np.ndarray) -> np.ndarray:
    """The decaying radial solution r^(-ν) K_ν(κ r) of -Δw + κ² w = 0 (ν = (N-2)/2),
    normalized to 1 at r[0] (ratios only, so no overflow for tiny or huge κ r)."""
    nu = abs(0.5 * (dim - 2))
    r = np.asarray(r, dtype=float)
    scaled = kve(nu, kappa * r) / kve(nu, kappa * r[0])
    return (r / r[0]) ** (-0.5 * (dim - 2)) * scaled * np.exp(-kappa * (r - r[0]))


def _regrid(
    system: ModeSystem, W: np.ndarray, old_kappa: float, new_kappa: float, grid: RadialGrid
) -> np.ndarray:
    """W moved to ``grid``; where κ shrinks, the slow tail beyond the linear region of the
    old profile is replaced by the new κ's Bessel tail (the predictor of the next step)."""
    moved = np.stack([system.grid.transfer(w, grid) for w in W])
    if new_kappa < old_kappa:
        match = int(np.searchsorted(grid.r, 0.05 / old_kappa))
        if match < grid.size - 1:
            value = system.grid.interpolate(W[0], grid.r[match : match + 1])[0]
            moved[0, match:] = value * bessel_tail(grid.dim, new_kappa, grid.r[match:])
    return moved


@dataclass
class DecayContinuation:
    """What :func:`continue_in_decay` did: the path in σ = ln κ² and the driven mass."""

    log_kappa2: list[float]
    driven_mass: list[float]
    newton_iterations: int

    def describe(self, driven: str) -> str:
        return (
            f"continued in ln κ² from {self.log_kappa2[0]:.3g} to {self.log_kappa2[-1]:.4g} "
            f"({len(self.log_kappa2)} steps): mass of {driven} {self.driven_mass[0]:.4g} -> "
            f"{self.driven_mass[-1]:.6g}"
        )


def continue_in_decay(
    model: Model,
    U: np.ndarray,
    lambdas: np.ndarray,
    targets: np.ndarray,
    grid_for: Callable[[float, float, float], RadialGrid],
    *,
    refinement: float = 1.0,
    pohozaev_tol: float | None = None,
    tol: float = MODE_TOL,
) -> tuple[Model, np.ndarray, ModeParameters, DecayContinuation]:
    """From a solution (U, λ) whose driven mass is below its target, lower κ until it is met.

    ``grid_for(core_length, kappa, refinement)`` gives the grid for a decay rate. The lead
    mass is held at its target (Newton in W and λ_lead at fixed σ) while σ = ln κ² steps
    down (secant steps on the driven mass, at most MAX_DECAY_STEP per step, each on a grid
    out to 38/κ); once the target is bracketed, a safeguarded secant on σ meets the driven
    mass. The grid is then refined (at most twice) until the Pohozaev residual is below
    ``pohozaev_tol``. Returns (model on the final grid, U, parameters, the path). Raises
    VanishingError if κ² would underflow, ConvergenceError if Newton or the secant fails,
    ResolutionError if the grid cannot be refined enough.
    """
    params = ModeParameters.from_lambdas(lambdas, model.beta)
    driven = params.other
    core = 1.0 / math.sqrt(params.lambda_lead)
    system = ModeSystem(model)
    W = system.modes(U, params)
    path = DecayContinuation([], [], 0)
    previous: tuple[float, float] | None = None
    for _ in range(MAX_CONTINUATION_STEPS):
        W, params, _, iterations = mode_newton(system, W, params, targets, tol=tol)
        path.newton_iterations += iterations
        mass = float(system.model.masses(system.profiles(W, params))[driven])
        path.log_kappa2.append(params.log_kappa2)
        path.driven_mass.append(mass)
        if mass >= targets[driven]:
            break
        sigma = params.log_kappa2
        if previous is None:
            step = -2.0
        else:
            slope = (mass - previous[1]) / (sigma - previous[0])  # dm/dσ < 0
            step = (targets[driven] - mass) / slope if slope < 0 else -MAX_DECAY_STEP
        step = float(np.clip(1.15 * step, -MAX_DECAY_STEP, -0.25))
        previous = (sigma, mass)
        new_sigma = sigma + step
        if new_sigma < SMALLEST_LOG_KAPPA2:
            raise VanishingError(
                f"the driven component would need κ < 1e-140 to reach its mass "
                f"({mass:.4g} of {targets[driven]:.4g} at κ = {params.kappa:.3g})",
                residual=math.nan,
                lambdas=tuple(params.lambdas),
            )
        grid = grid_for(core, math.exp(0.5 * new_sigma), refinement)
        W = _regrid(system, W, params.kappa, math.exp(0.5 * new_sigma), grid)
        system = system.on_grid(grid)
        params = params.with_values(params.lambda_lead, new_sigma)
    else:
        raise ConvergenceError(
            "continuation in the decay rate did not reach the driven mass",
            residual=abs(path.driven_mass[-1] / targets[driven] - 1.0),
            iterations=MAX_CONTINUATION_STEPS,
            lambdas=tuple(params.lambdas),
        )
    # Regula falsi on σ between the last two steps (the driven mass is monotone in σ,
    # nearly linear in N = 4); each evaluation is a fixed-σ Newton on the current grid,
    # which reaches the smallest κ of the bracket. Then refine for the Pohozaev identity.
    current = (params.log_kappa2, mass, W, params)
    # the seed may already carry the mass: the root finder widens a one-sided bracket
    bracket = [current, current] if previous is None else [(*previous, W, params), current]
    for attempt in range(3):
        W, params, evaluations = _match_driven_mass(system, bracket, targets, tol)
        path.newton_iterations += evaluations
        path.log_kappa2.append(params.log_kappa2)
        path.driven_mass.append(float(system.model.masses(system.profiles(W, params))[driven]))
        if pohozaev_tol is None:
            break
        pohozaev, kinetic = system.model.pohozaev(system.profiles(W, params))
        if abs(pohozaev) <= pohozaev_tol * kinetic:
            break
        if attempt == 2:
            raise ResolutionError(
                f"the grid ({system.grid.describe()}) does not resolve the driven state: "
                f"Pohozaev residual {abs(pohozaev) / kinetic:.2e} > {pohozaev_tol:g}",
                residual=system.relative_residual(W, params),
                lambdas=tuple(params.lambdas),
            )
        # on the finer grid the root moves by the discretization error only: solve at the
        # same σ first (W is close), then step 0.01 towards the target mass
        sigma = params.log_kappa2
        finer = grid_for(core, math.exp(0.5 * (sigma - 1.0)), refinement * 2.0 ** (attempt + 1))
        W = np.stack([system.grid.transfer(w, finer) for w in W])
        system = system.on_grid(finer)
        same = _driven_mass_at(system, W, params, targets, 0.1 * tol)
        step = -0.01 if same[1] < targets[driven] else 0.01
        moved = _driven_mass_at(
            system,
            same[2],
            same[3].with_values(same[3].lambda_lead, sigma + step),
            targets,
            0.1 * tol,
        )
        bracket = [same, moved]
    return system.model, system.profiles(W, params), params, path


def _driven_mass_at(system, W, params, targets, tol):
    """(σ, driven mass, W, params) after a fixed-σ Newton at params.log_kappa2."""
    W, params, _, _ = mode_newton(system, W, params, targets, tol=tol)
    mass = float(system.model.masses(system.profiles(W, params))[params.other])
    return (params.log_kappa2, mass, W, params)


def _match_driven_mass(system, bracket, targets, tol, max_evaluations: int = 40):
    """Secant on σ for the driven mass, safeguarded by a bracket (bisection when a secant
    step leaves it), from ``bracket`` (two entries (σ, mass, W, params); widened until the
    masses lie on both sides of the target). The mass is nearly linear in σ (N = 4: the
    logarithmic law), so the secant converges in a few steps; each evaluation is a fixed-σ
    Newton solved ten times tighter than the mass tolerance ``tol``."""
    inner = 0.1 * tol
    driven = bracket[0][3].other
    target = targets[driven]

    def evaluate(start, sigma):
        return _driven_mass_at(
            system, start[2], start[3].with_values(start[3].lambda_lead, sigma), targets, inner
        )

    low, high = sorted(bracket, key=lambda entry: entry[1])  # low: mass below the target
    history = [low, high]
    evaluations = 0
    while low[1] > target or high[1] < target:  # not a bracket yet: widen (σ up: less mass)
        width = max(abs(high[0] - low[0]), 0.5)
        if low[1] > target:
            low = evaluate(low, low[0] + width)
            history.append(low)
        else:
            high = evaluate(high, high[0] - width)
            history.append(high)
        evaluations += 1
        if evaluations > max_evaluations:
            raise ConvergenceError("cannot bracket the driven mass in σ", residual=math.nan)
    best = min(history, key=lambda item: abs(item[1] / target - 1.0))
    while abs(best[1] / target - 1.0) > tol and evaluations < max_evaluations:
        first, second = history[-2], history[-1]
        sigma = 0.5 * (low[0] + high[0])
        if second[1] != first[1]:
            secant = second[0] - (second[1] - target) * (second[0] - first[0]) / (
                second[1] - first[1]
            )
            if min(low[0], high[0]) < secant < max(low[0], high[0]):
                sigma = secant
        start = min((low, high), key=lambda entry: abs(entry[0] - sigma))
        entry = evaluate(start, sigma)
        evaluations += 1
        history.append(entry)
        if entry[1] < target:
            low = entry
        else:
            high = entry
        best = min(history, key=lambda item: abs(item[1] / target - 1.0))
    if abs(best[1] / target - 1.0) > tol:
        raise ConvergenceError(
            "the secant on σ did not meet the driven mass",
            residual=abs(best[1] / target - 1.0),
            iterations=evaluations,
            lambdas=tuple(best[3].lambdas),
        )
    return best[2], best[3], evaluations

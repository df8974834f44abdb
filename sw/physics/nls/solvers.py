"""Solvers for normalized and fixed-λ solutions of the coupled system (see ``model.py``).

Two independent routes to the same discrete solution:

``method="pohozaev"``
    Descent on the Pohozaev manifold. Each step is a Sobolev-preconditioned gradient step
    on the product of the two mass spheres, followed by the mass-preserving dilation
    ``t^(N/2) u(t x)`` that puts the state back on ``P = 0`` (for mass-supercritical
    exponents: the maximum of the energy along the dilation fibre). The ground state is
    the minimum of the energy on that manifold, so the iteration descends to it even
    though it is a saddle of the energy on the mass constraint, where a plain normalized
    gradient flow collapses or disperses. A bordered Newton on (u, v, λ1, λ2) polishes
    the result to round-off.

``method="fixed_lambda"``
    For given (λ1, λ2) the system without mass constraints is solved by a
    Petviashvili iteration followed by Newton; an outer Newton iteration on (λ1, λ2)
    (derivatives of the masses from the implicit-function theorem, i.e. one extra
    linear solve with the inner Jacobian) adjusts the λ until the masses match.

Both run on the same :class:`~sw.physics.nls.grid.RadialGrid`, chosen automatically from
an estimate of λ and re-chosen from the converged λ until it fits. The iterations live in
``descent.py`` and ``newton.py``; this module has the starts, the driver that runs them
and checks the result, and the public functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .descent import core_width, pohozaev_descent, project_to_fibre
from .errors import ConcentrationError, ConvergenceError, ResolutionError, VanishingError
from .grid import RadialGrid
from .model import Model, _check_positive, check_dimension, check_exponent, sobolev_exponent
from .newton import DEFAULT_TOL, bordered_newton, lambda_newton, newton_fixed_lambda, petviashvili

METHODS = ("pohozaev", "fixed_lambda")
DEFAULT_POHOZAEV_TOL = 1e-6  # |P| / ∫|∇u|²+|∇v|² accepted as "resolved"


# ---------------------------------------------------------------------------------------
# Public result types
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class NLSSolution:
    """A solution (λ1, λ2, u, v) of the coupled system on a radial grid.

    Profiles ``u``, ``v`` are sampled at the radii ``r``; integrals over R^N are
    ``sum(weights * f)``. ``a``, ``b`` are the prescribed masses (for a fixed-λ solve: the
    masses found); ``start`` is the start (see ``BRANCHES``) that led to it. Diagnostics:

    - ``residual``: relative residual of the discrete equations, max over both equations
      of ``‖F‖_inf / (sum of the sup norms of the terms)``;
    - ``mass_error``: ``max(|∫u² - a| / a, |∫v² - b| / b)`` (0 for fixed-λ solves);
    - ``pohozaev_residual``: ``P / ∫|∇u|²+|∇v|²`` with
      ``P = ∫|∇u|²+|∇v|² - μ1 γp ∫|u|^p - μ2 γq ∫|v|^q``. It vanishes for exact solutions
      of the PDE but is not an identity of the discrete equations, so it measures the
      discretization error;
    - ``energy``: ``1/2 ∫|∇u|²+|∇v|² - μ1/p ∫|u|^p - μ2/q ∫|v|^q - β ∫uv``.
    """

    N: int
    p: float
    q: float
    mu1: float
    mu2: float
    beta: float
    a: float
    b: float
    lambda1: float
    lambda2: float
    r: np.ndarray
    u: np.ndarray
    v: np.ndarray
    weights: np.ndarray
    energy: float
    kinetic: float
    residual: float
    mass_error: float
    pohozaev_residual: float
    method: str
    start: str
    iterations: int
    grid: RadialGrid

    @property
    def mass_u(self) -> float:
        return float(np.dot(self.weights, self.u**2))

    @property
    def mass_v(self) -> float:
        return float(np.dot(self.weights, self.v**2))

    @property
    def decay_rate(self) -> float:
        """κ: u, v decay like exp(-κ r)."""
        mean = 0.5 * (self.lambda1 + self.lambda2)
        return math.sqrt(mean - math.hypot(0.5 * (self.lambda1 - self.lambda2), self.beta))

    def summary(self) -> str:
        return (
            f"λ1 = {self.lambda1:.10g}, λ2 = {self.lambda2:.10g}, E = {self.energy:.10g}, "
            f"residual {self.residual:.1e}, mass error {self.mass_error:.1e}, "
            f"Pohozaev {self.pohozaev_residual:.1e} ({self.method} from {self.start!r}, "
            f"{self.grid.size} cells)"
        )


@dataclass(frozen=True, eq=False)
class ScalarSolution:
    """A solution (λ, u) of ``-Δu + λu = μ|u|^(p-2)u`` (the scalar limit, β = 0).

    Same conventions and diagnostics as :class:`NLSSolution`."""

    N: int
    p: float
    mu: float
    mass: float
    lambda_: float
    r: np.ndarray
    u: np.ndarray
    weights: np.ndarray
    energy: float
    kinetic: float
    residual: float
    mass_error: float
    pohozaev_residual: float
    method: str
    iterations: int
    grid: RadialGrid


# ---------------------------------------------------------------------------------------
# Parameter checks
# ---------------------------------------------------------------------------------------


def _check_system(N, p, q, mu1, mu2, beta) -> tuple[int, float, float, float, float, float]:
    N = check_dimension(N)
    return (
        N,
        check_exponent("p", p, N),
        check_exponent("q", q, N),
        _check_positive("mu1", mu1),
        _check_positive("mu2", mu2),
        _check_positive("beta", beta),
    )


def check_parameters(N, p, q, mu1, mu2, beta, a, b, *, method: str = "pohozaev") -> None:
    """Raise ValueError, naming the parameter and its range, for input :func:`solve`
    refuses (without solving anything)."""
    _check_system(N, p, q, mu1, mu2, beta)
    _check_positive("a", a)
    _check_positive("b", b)
    _check_method(method)


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)} (got {method!r})")
    return method


def _check_lambdas(model: Model, lambdas: np.ndarray) -> None:
    """A decaying solution needs the operator at infinity to be positive definite."""
    names = ("lambda1", "lambda2") if model.components == 2 else ("lam",)
    for name, value in zip(names, lambdas, strict=True):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0 (got {value!r})")
    if model.components == 2 and not lambdas[0] * lambdas[1] > model.beta**2:
        raise ValueError(
            "need lambda1 * lambda2 > beta**2 for decaying solutions "
            f"(got {lambdas[0] * lambdas[1]:.6g} <= {model.beta**2:.6g})"
        )


# ---------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------


def _grid_for(model: Model, lambdas: np.ndarray, refinement: float) -> RadialGrid:
    """The default grid for a solution with these λ (core ~ 1/sqrt(max λ), tail ~ 1/κ)."""
    core = 1.0 / math.sqrt(max(lambdas))
    decay_rate = model.decay_rate(lambdas)
    decay = 1.0 / decay_rate if math.isfinite(decay_rate) else 50.0 * core
    return RadialGrid.for_scales(model.dim, core, min(decay, 1e4 * core), refinement=refinement)


def _grid_fits(grid: RadialGrid, ideal: RadialGrid) -> bool:
    return grid.spacing <= 1.25 * ideal.spacing and grid.r_max >= 0.8 * ideal.r_max


# ---------------------------------------------------------------------------------------
# Initial guesses
# ---------------------------------------------------------------------------------------


def _bell(r: np.ndarray, exponent: float) -> np.ndarray:
    """The 1D ground state shape sech^(2/(p-2)) of width ~1: a good start in any N."""
    x = 0.5 * (exponent - 2.0) * np.abs(r)
    sech = 2.0 * np.exp(-x) / (1.0 + np.exp(-2.0 * x))
    return sech ** (2.0 / (exponent - 2.0))


@lru_cache(maxsize=32)
def reference_ground_state(dim: int, exponent: float) -> tuple[RadialGrid, np.ndarray, float]:
    """Q solving -ΔQ + Q = |Q|^(p-2) Q (positive, radial): (grid, Q, ∫Q²).

    Cached; exists for 2 < p < 2*. Any other scalar solution follows by scaling:
    u = (λ/μ)^(1/(p-2)) Q(sqrt(λ) x) solves -Δu + λu = μ|u|^(p-2)u."""
    grid = RadialGrid.for_scales(dim, 1.0, 1.0)
    model = Model(grid, (exponent,), (1.0,))
    lambdas = np.array([1.0])
    U = (0.5 * exponent) ** (1.0 / (exponent - 2.0)) * _bell(grid.r, exponent)[None]
    U, _ = petviashvili(model, U, lambdas)
    U, _, _ = newton_fixed_lambda(model, U, lambdas, tol=1e-11)
    return grid, U[0], float(model.masses(U)[0])


def _has_reference(dim: int, exponent: float) -> bool:
    return exponent < sobolev_exponent(dim) - 1e-9


def _scaling_lambda(dim: int, exponent: float, mu: float, mass: float) -> float | None:
    """λ of the scalar normalized solution of mass ``mass`` (β = 0), from the scaling
    mass = (λ/μ)^(2/(p-2)) λ^(-N/2) ∫Q²; None at the mass-critical or Sobolev-critical
    exponent where the scaling does not fix λ."""
    power = 2.0 / (exponent - 2.0) - dim / 2.0  # mass ∝ λ^power
    if abs(power) < 0.05 or not _has_reference(dim, exponent):
        return None
    reference_mass = reference_ground_state(dim, exponent)[2]
    return (mass * mu ** (2.0 / (exponent - 2.0)) / reference_mass) ** (1.0 / power)


def _scaled_profile(grid: RadialGrid, exponent: float, mu: float, lam: float) -> np.ndarray:
    """The scalar ground state of -Δu + λu = μ|u|^(p-2)u sampled on ``grid`` (a bell of
    the right width when there is none)."""
    amplitude = (lam / mu) ** (1.0 / (exponent - 2.0))
    if _has_reference(grid.dim, exponent):
        ref_grid, Q, _ = reference_ground_state(grid.dim, exponent)
        return amplitude * ref_grid.interpolate(Q, math.sqrt(lam) * grid.r)
    return amplitude * _bell(math.sqrt(lam) * grid.r, 4.0)


def _own_lambdas(dim: int, exponents: tuple, mus: tuple, masses: np.ndarray) -> np.ndarray:
    """λ of each component alone (β = 0) at its mass, where the scaling law fixes it; the
    largest known one (or 1) otherwise."""
    estimates = [
        _scaling_lambda(dim, p, mu, m) for p, mu, m in zip(exponents, mus, masses, strict=True)
    ]
    known = [x for x in estimates if x is not None]
    fallback = max(known) if known else 1.0
    return np.array([fallback if x is None else x for x in estimates])


# How the iterations are started. "both": each component near its own scalar ground state
# (the branch that continues from β = 0). "u_driven": v near its scalar ground state and u
# a wide, small-amplitude response β(-Δ + λ1)^(-1) v to it (λ1 near its lower limit
# β²/λ2); "v_driven": the other way round. Driven states are often the ground state: the
# driven component costs almost no energy and gains -β∫uv.
BRANCHES = ("ground", "both", "u_driven", "v_driven")


def _initial_state(
    problem: Model, masses: np.ndarray, kind: str, grid: RadialGrid | None, refinement: float
) -> tuple[Model, np.ndarray, np.ndarray]:
    """(model on its grid, profiles, λ) to start ``kind`` from (see BRANCHES)."""
    beta = problem.beta
    own = _own_lambdas(problem.dim, problem.exponents, problem.mus, masses)
    if problem.components == 1 or kind == "both":
        lambdas = own.copy()
        if problem.components == 2:
            lambdas += beta * np.sqrt(masses[::-1] / masses)
        driven = None
    else:
        driven = 0 if kind == "u_driven" else 1
        lambdas = own.copy()
        lambdas[driven] = 1.5 * beta**2 / own[1 - driven]
    model = problem.on_grid(grid if grid is not None else _grid_for(problem, lambdas, refinement))
    U = np.stack(
        [
            _scaled_profile(model.grid, p, mu, lam)
            for p, mu, lam in zip(problem.exponents, problem.mus, own, strict=True)
        ]
    )
    if driven is not None:
        U[driven] = model.grid.solve_shifted(lambdas[driven], beta * U[1 - driven])
    return model, model.normalize(U, masses), lambdas


def _more_driven_guesses(
    model: Model, U: np.ndarray, lambdas: np.ndarray, masses: np.ndarray, kind: str
) -> list[tuple[np.ndarray, np.ndarray]]:
    """More starts for the fixed-λ method on a driven branch, for stronger coupling.

    Both use λ_j = -<E'_j(U), u_j> / m_j of the first guess put on the Pohozaev manifold:
    as it is (if admissible), and with the driven λ raised to at least 1.5 β² / λ_leader
    and the driven profile recomputed as the response to the leader at that λ. Guesses
    within 10% of the first one are dropped."""
    driven = 0 if kind == "u_driven" else 1
    projected = project_to_fibre(model, U, masses)
    gradient = -model.laplacian(projected) - model.nonlinearity(projected)
    gradient -= model.coupling(projected)
    multipliers = -np.array(
        [model.grid.integrate(g * u) for g, u in zip(gradient, projected, strict=True)]
    )
    multipliers /= masses
    guesses = []
    if model.admissible(multipliers):
        guesses.append((projected, multipliers))
    if multipliers[1 - driven] > 0:
        repaired = multipliers.copy()
        repaired[driven] = max(repaired[driven], 1.5 * model.beta**2 / repaired[1 - driven])
        rebuilt = U.copy()
        rebuilt[driven] = model.grid.solve_shifted(repaired[driven], model.beta * U[1 - driven])
        guesses.append((model.normalize(rebuilt, masses), repaired))
    return [(V, lam) for V, lam in guesses if np.max(np.abs(lam / lambdas - 1)) > 0.1]


# ---------------------------------------------------------------------------------------
# The normalized driver shared by the system and the scalar limit
# ---------------------------------------------------------------------------------------


def _check_positive_solution(model: Model, U: np.ndarray, lambdas, residual) -> None:
    for j, u in enumerate(U):
        if np.min(u) < -1e-8 * np.max(np.abs(u)) or u[0] <= 0:
            raise ConvergenceError(
                f"converged to a solution whose component {j + 1} is not positive",
                residual=residual,
                lambdas=tuple(lambdas),
            )


def _check_feasible(model: Model, U: np.ndarray, lambdas: np.ndarray, iterations: int) -> None:
    if not model.admissible(lambdas):
        raise VanishingError(
            "reached λ with no decaying solution (need λ1, λ2 > 0 and λ1 λ2 > β²): "
            "the profile spreads out",
            residual=model.relative_residual(U, lambdas),
            iterations=iterations,
            lambdas=tuple(lambdas),
        )


def _ideal_grid(model: Model, U: np.ndarray, lambdas: np.ndarray, refinement: float):
    """The automatic grid for λ, made finer if a core is narrower than 1/sqrt(max λ)."""
    ideal = _grid_for(model, lambdas, refinement)
    width = min(core_width(model.grid, u) for u in U)
    spacing = width / (25.0 * refinement)
    if spacing < ideal.spacing:
        ideal = RadialGrid(model.dim, spacing, ideal.r_max, stretch=2.0 * width)
    return ideal


def _move(model: Model, U: np.ndarray, grid: RadialGrid, masses) -> tuple[Model, np.ndarray]:
    moved = model.on_grid(grid)
    U = np.stack([model.grid.transfer(u, grid) for u in U])
    return moved, (U if masses is None else moved.normalize(U, masses))


def _polish(model, U, lambdas, masses, method, tol):
    if method == "pohozaev":
        U, lambdas, _, iterations = bordered_newton(model, U, lambdas, masses, tol=tol)
    else:
        U, lambdas, iterations = lambda_newton(model, U, lambdas, masses, tol=tol, warm=True)
    return U, lambdas, iterations


def _run_from(
    model: Model,
    U: np.ndarray,
    lambdas: np.ndarray,
    masses: np.ndarray,
    *,
    method: str,
    warm: bool,
    explicit_grid: bool,
    refinement: float,
    tol: float,
    pohozaev_tol: float | None,
    progress,
) -> tuple[Model, np.ndarray, np.ndarray, int]:
    """One start: iterate, polish, re-grid until the grid fits the solution, check it."""
    if method == "pohozaev":
        model, U, lambdas, iterations = pohozaev_descent(
            model, U, masses, can_adapt=not explicit_grid, progress=progress
        )
        # The descent's λ are only accurate to its tolerance; near λ1 λ2 = β² (a driven
        # component with a long tail) they may even look inadmissible: let Newton decide.
        if model.admissible(lambdas):
            if not explicit_grid:
                model, U = _move(model, U, _ideal_grid(model, U, lambdas, refinement), masses)
            U, lambdas, more = _polish(model, U, lambdas, masses, method, tol)
        else:
            try:
                U, lambdas, more = _polish(model, U, lambdas, masses, method, tol)
            except ConvergenceError as error:
                raise VanishingError(
                    "the Pohozaev descent ended at λ1 λ2 < β², where no solution decays, and "
                    "Newton found none nearby: lowering the energy spreads a component out "
                    f"over the whole domain (r_max = {model.grid.r_max:.3g})",
                    residual=error.residual,
                    iterations=iterations,
                    lambdas=tuple(lambdas),
                ) from error
    else:
        iterations = 0
        U, lambdas, more = lambda_newton(model, U, lambdas, masses, tol=tol, warm=warm)
    iterations += more

    refinements = 0
    while not explicit_grid:
        _check_feasible(model, U, lambdas, iterations)
        ideal = _ideal_grid(model, U, lambdas, refinement * 2.0**refinements)
        if not _grid_fits(model.grid, ideal):
            model, U = _move(model, U, ideal, masses)
            U, lambdas, more = _polish(model, U, lambdas, masses, method, tol)
            iterations += more
            continue
        if pohozaev_tol is not None and refinements < 2:
            pohozaev, kinetic = model.pohozaev(U)
            if abs(pohozaev) > pohozaev_tol * kinetic:
                refinements += 1
                continue
        break

    residual = model.relative_residual(U, lambdas)
    _check_feasible(model, U, lambdas, iterations)
    _check_positive_solution(model, U, lambdas, residual)
    if pohozaev_tol is not None:
        pohozaev, kinetic = model.pohozaev(U)
        if abs(pohozaev) > pohozaev_tol * kinetic:
            raise ResolutionError(
                f"the grid ({model.grid.describe()}) does not resolve the solution: Pohozaev "
                f"residual {abs(pohozaev) / kinetic:.2e} > pohozaev_tol = {pohozaev_tol:g}",
                residual=residual,
                iterations=iterations,
                lambdas=tuple(lambdas),
            )
    return model, U, lambdas, iterations


def _most_informative(failures: list[tuple[str, ConvergenceError]]) -> ConvergenceError:
    """The failure that best explains why no start worked, with the others as notes."""
    ranking = (ConcentrationError, VanishingError, ResolutionError, ConvergenceError)
    chosen_kind, chosen = min(
        failures, key=lambda item: next(i for i, t in enumerate(ranking) if isinstance(item[1], t))
    )
    for kind, error in failures:
        if error is not chosen:
            chosen.add_note(f"start {kind!r}: {type(error).__name__}: {error}")
    chosen.add_note(f"(reported failure: start {chosen_kind!r})")
    return chosen


def _all_critical(problem: Model) -> bool:
    critical = sobolev_exponent(problem.dim)
    return all(p >= critical - 1e-9 for p in problem.exponents)


def _solve_normalized(
    problem: Model,
    masses: np.ndarray,
    *,
    method: str,
    branch: str,
    grid: RadialGrid | None,
    refinement: float,
    tol: float,
    pohozaev_tol: float | None,
    initial: tuple[RadialGrid, np.ndarray, np.ndarray] | None,
    progress: Callable[[int, float], None] | None = None,
) -> tuple[Model, np.ndarray, np.ndarray, int, str]:
    """Run the starts for ``branch`` and keep the converged solution of least energy.

    Returns (model, U, λ, iterations, start). For the descent the "ground" branch tries
    the two driven starts and falls back to "both" only if both fail; the fixed-λ method
    tries all three, the driven ones with up to three guesses (``_more_driven_guesses``)."""
    if initial is not None:
        kinds = ["initial"]
    elif problem.components == 1:
        kinds = ["both"]
    elif branch == "ground":
        kinds = ["u_driven", "v_driven", "both"]
    else:
        kinds = [branch]
    starts = []  # (kind, model, U, λ)
    for kind in kinds:
        if kind == "initial":
            start_grid, U0, lambdas = initial
            model = problem.on_grid(grid or start_grid)
            U = model.normalize(np.stack([start_grid.transfer(u, model.grid) for u in U0]), masses)
            starts.append((kind, model, U, np.array(lambdas, dtype=float)))
            continue
        model, U, lambdas = _initial_state(problem, masses, kind, grid, refinement)
        starts.append((kind, model, U, lambdas))
        if method == "fixed_lambda" and kind.endswith("driven"):
            for guess in _more_driven_guesses(model, U, lambdas, masses, kind):
                starts.append((kind, model, *guess))
    candidates, failures = [], []
    for kind, model, U, lambdas in starts:
        if kind == "both" and method == "pohozaev" and candidates:
            break
        try:
            result = _run_from(
                model,
                U,
                lambdas,
                masses,
                method=method,
                warm=kind != "both",
                explicit_grid=grid is not None,
                refinement=refinement,
                tol=tol,
                pohozaev_tol=pohozaev_tol,
                progress=progress,
            )
        except ConvergenceError as error:
            failures.append((kind, error))
            if isinstance(error, ConcentrationError) and _all_critical(problem):
                error.add_note(
                    "with every exponent Sobolev-critical, the Nehari and Pohozaev identities "
                    "give λ1 a + λ2 b = 2β∫uv <= 2β sqrt(ab), impossible when λ1 λ2 > β² "
                    "(needed for decay): no other start can succeed"
                )
                break
            continue
        candidates.append((result[0].energy(result[1]), kind, result))
    if not candidates:
        raise _most_informative(failures)
    # Least energy; within round-off (mirror images when u and v have the same data) the
    # first start in the order tried, so the answer is reproducible.
    lowest = min(energy for energy, _, _ in candidates)
    tie = 1e-9 * max(1.0, abs(lowest))
    _, kind, (model, U, lambdas, iterations) = next(
        item for item in candidates if item[0] <= lowest + tie
    )
    return model, U, lambdas, iterations, kind


def _diagnostics(model: Model, U: np.ndarray, lambdas: np.ndarray, masses) -> dict:
    pohozaev, kinetic = model.pohozaev(U)
    return dict(
        r=model.grid.r.copy(),
        weights=model.grid.weights.copy(),
        energy=model.energy(U),
        kinetic=kinetic,
        residual=model.relative_residual(U, lambdas),
        mass_error=0.0 if masses is None else float(np.max(np.abs(model.masses(U) / masses - 1))),
        pohozaev_residual=pohozaev / kinetic,
        grid=model.grid,
    )


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------


def _check_options(method: str, branch: str, refinement: float, tol: float) -> None:
    _check_method(method)
    if branch not in BRANCHES:
        raise ValueError(f"branch must be one of {', '.join(BRANCHES)} (got {branch!r})")
    if method == "pohozaev" and branch != "ground":
        raise ValueError(
            f"branch={branch!r} needs method='fixed_lambda': the Pohozaev descent only finds "
            "the ground state (branch='ground')"
        )
    _check_positive("refinement", refinement)
    if not (isinstance(tol, float | int) and 0 < tol < 1e-3):
        raise ValueError(f"tol must satisfy 0 < tol < 1e-3 (got {tol!r})")


def _problem(N: int, exponents: tuple, mus: tuple, beta: float) -> Model:
    """A Model on a placeholder grid; the solvers move it to the grid they choose."""
    return Model(RadialGrid.for_scales(N, 1.0, 1.0), exponents, mus, beta)


def solve(
    N: int,
    p: float,
    q: float,
    mu1: float,
    mu2: float,
    beta: float,
    a: float,
    b: float,
    *,
    method: str = "pohozaev",
    branch: str = "ground",
    grid: RadialGrid | None = None,
    refinement: float = 1.0,
    tol: float = DEFAULT_TOL,
    pohozaev_tol: float | None = DEFAULT_POHOZAEV_TOL,
    initial: NLSSolution | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> NLSSolution:
    """Positive radial normalized solution (λ1, λ2, u, v) of the coupled system.

    Parameters
    ----------
    N:
        Dimension, 1..4.
    p, q:
        Exponents, ``2 < p, q <= 2*`` (``2* = 2N/(N-2)`` for N = 3, 4; unbounded for
        N = 1, 2). Built for the mass-supercritical range ``p, q > 2 + 4/N``; subcritical
        and critical exponents are accepted and the solver reports when no solution
        is found.
    mu1, mu2, beta:
        Couplings, all > 0.
    a, b:
        Masses ``∫u² = a``, ``∫v² = b`` (> 0).
    method:
        ``"pohozaev"`` (descent on the Pohozaev manifold, then bordered Newton) or
        ``"fixed_lambda"`` (Petviashvili/Newton at fixed λ inside Newton on λ).
    branch:
        ``"ground"``: the least-energy solution over the starts tried (see ``BRANCHES``).
        With ``method="fixed_lambda"`` one branch can be asked for: ``"both"`` (both
        components self-focused, the continuation of β = 0), ``"u_driven"`` (u a wide
        response to v) or ``"v_driven"``.
    grid:
        A fixed :class:`RadialGrid`; by default the grid is chosen from λ and refined
        until the solution is resolved (and follows a shrinking or spreading profile).
    refinement:
        Multiplies the number of cells of the automatic grid.
    tol:
        Required relative residual of the equations and relative mass error.
    pohozaev_tol:
        Required ``|P| / ∫|∇u|²+|∇v|²`` (the discretization error); ``None`` to skip.
    initial:
        A previous solution to start from (continuation); replaces the starts.
    progress:
        Called as ``progress(iteration, residual)`` during the descent.

    Raises
    ------
    ValueError
        Invalid parameters (naming the parameter and its allowed range).
    ConvergenceError
        No solution to the requested accuracy; subclasses ``ConcentrationError`` (the
        profile collapses to a bubble), ``VanishingError`` (it spreads out) and
        ``ResolutionError`` (grid too coarse) say why. The message has the last residual.
    """
    N, p, q, mu1, mu2, beta = _check_system(N, p, q, mu1, mu2, beta)
    a, b = _check_positive("a", a), _check_positive("b", b)
    _check_options(method, branch, refinement, tol)
    masses = np.array([a, b])
    start = None
    if initial is not None:
        start = (
            initial.grid,
            np.stack([initial.u, initial.v]),
            np.array([initial.lambda1, initial.lambda2]),
        )
    model, U, lambdas, iterations, kind = _solve_normalized(
        _problem(N, (p, q), (mu1, mu2), beta),
        masses,
        method=method,
        branch=branch,
        grid=grid,
        refinement=refinement,
        tol=tol,
        pohozaev_tol=pohozaev_tol,
        initial=start,
        progress=progress,
    )
    return NLSSolution(
        N=N,
        p=p,
        q=q,
        mu1=mu1,
        mu2=mu2,
        beta=beta,
        a=a,
        b=b,
        lambda1=float(lambdas[0]),
        lambda2=float(lambdas[1]),
        u=U[0],
        v=U[1],
        method=method,
        start=kind,
        iterations=iterations,
        **_diagnostics(model, U, lambdas, masses),
    )


def solve_fixed_lambda(
    N: int,
    p: float,
    q: float,
    mu1: float,
    mu2: float,
    beta: float,
    lambda1: float,
    lambda2: float,
    *,
    grid: RadialGrid | None = None,
    refinement: float = 1.0,
    tol: float = DEFAULT_TOL,
    pohozaev_tol: float | None = DEFAULT_POHOZAEV_TOL,
) -> NLSSolution:
    """Positive radial solution (u, v) of the system at given (λ1, λ2), no mass constraint.

    Needs ``lambda1, lambda2 > 0`` and ``lambda1 * lambda2 > beta**2`` (else no solution
    decays). Petviashvili from the scalar ground states (branch "both"), then Newton.
    The returned ``a``, ``b`` are the masses found and ``mass_error`` is 0. Same errors
    as :func:`solve`."""
    N, p, q, mu1, mu2, beta = _check_system(N, p, q, mu1, mu2, beta)
    lambdas = np.array([_check_positive("lambda1", lambda1), _check_positive("lambda2", lambda2)])
    _check_options("fixed_lambda", "both", refinement, tol)
    model = _problem(N, (p, q), (mu1, mu2), beta)
    _check_lambdas(model, lambdas)
    U, model, iterations = _fixed_lambda_driver(model, lambdas, grid, refinement, tol, pohozaev_tol)
    masses = model.masses(U)
    return NLSSolution(
        N=N,
        p=p,
        q=q,
        mu1=mu1,
        mu2=mu2,
        beta=beta,
        a=float(masses[0]),
        b=float(masses[1]),
        lambda1=float(lambdas[0]),
        lambda2=float(lambdas[1]),
        u=U[0],
        v=U[1],
        method="fixed_lambda",
        start="both",
        iterations=iterations,
        **_diagnostics(model, U, lambdas, None),
    )


def _fixed_lambda_driver(model, lambdas, grid, refinement, tol, pohozaev_tol):
    """Petviashvili + Newton at fixed λ from the scaled scalar ground states, refining the
    automatic grid (at most twice) until the Pohozaev residual is below tolerance."""
    model = model.on_grid(grid if grid is not None else _grid_for(model, lambdas, refinement))
    for attempt in range(3):
        U = np.stack(
            [
                _scaled_profile(model.grid, p, mu, lam)
                for p, mu, lam in zip(model.exponents, model.mus, lambdas, strict=True)
            ]
        )
        U, petviashvili_iterations = petviashvili(model, U, lambdas)
        U, residual, newton_iterations = newton_fixed_lambda(model, U, lambdas, tol=tol)
        _check_positive_solution(model, U, lambdas, residual)
        pohozaev, kinetic = model.pohozaev(U)
        if pohozaev_tol is None or abs(pohozaev) <= pohozaev_tol * kinetic:
            return U, model, petviashvili_iterations + newton_iterations
        if grid is not None or attempt == 2:
            raise ResolutionError(
                f"the grid ({model.grid.describe()}) does not resolve the solution: "
                f"Pohozaev residual {abs(pohozaev) / kinetic:.2e} > {pohozaev_tol:g}",
                residual=residual,
                iterations=newton_iterations,
                lambdas=tuple(lambdas),
            )
        model = model.on_grid(_grid_for(model, lambdas, refinement * 2.0 ** (attempt + 1)))
    raise AssertionError("unreachable")


def _check_scalar(N, p, mu) -> tuple[int, float, float]:
    N = check_dimension(N)
    return N, check_exponent("p", p, N), _check_positive("mu", mu)


def solve_scalar(
    N: int,
    p: float,
    mu: float,
    mass: float,
    *,
    method: str = "pohozaev",
    grid: RadialGrid | None = None,
    refinement: float = 1.0,
    tol: float = DEFAULT_TOL,
    pohozaev_tol: float | None = DEFAULT_POHOZAEV_TOL,
) -> ScalarSolution:
    """Normalized solution of the scalar limit ``-Δu + λu = μ|u|^(p-2)u``, ``∫u² = mass``.

    Same methods, options and errors as :func:`solve`. At the mass-critical exponent
    ``p = 2 + 4/N`` a solution exists only for one mass, and the solver says so by
    failing elsewhere."""
    N, p, mu = _check_scalar(N, p, mu)
    mass = _check_positive("mass", mass)
    _check_options(method, "ground", refinement, tol)
    masses = np.array([mass])
    model, U, lambdas, iterations, kind = _solve_normalized(
        _problem(N, (p,), (mu,), 0.0),
        masses,
        method=method,
        branch="ground",
        grid=grid,
        refinement=refinement,
        tol=tol,
        pohozaev_tol=pohozaev_tol,
        initial=None,
    )
    return ScalarSolution(
        N=N,
        p=p,
        mu=mu,
        mass=mass,
        lambda_=float(lambdas[0]),
        u=U[0],
        method=method,
        iterations=iterations,
        **_diagnostics(model, U, lambdas, masses),
    )


def solve_scalar_fixed_lambda(
    N: int,
    p: float,
    mu: float = 1.0,
    lam: float = 1.0,
    *,
    grid: RadialGrid | None = None,
    refinement: float = 1.0,
    tol: float = DEFAULT_TOL,
    pohozaev_tol: float | None = DEFAULT_POHOZAEV_TOL,
) -> ScalarSolution:
    """Positive radial solution of ``-Δu + λu = μ|u|^(p-2)u`` at given λ > 0 (for
    λ = μ = 1 the ground state Q; its mass ∫Q² is the constant of the scaling laws)."""
    N, p, mu = _check_scalar(N, p, mu)
    lambdas = np.array([_check_positive("lam", lam)])
    _check_options("fixed_lambda", "both", refinement, tol)
    model = _problem(N, (p,), (mu,), 0.0)
    U, model, iterations = _fixed_lambda_driver(model, lambdas, grid, refinement, tol, pohozaev_tol)
    mass = float(model.masses(U)[0])
    return ScalarSolution(
        N=N,
        p=p,
        mu=mu,
        mass=mass,
        lambda_=float(lambdas[0]),
        u=U[0],
        method="fixed_lambda",
        iterations=iterations,
        **_diagnostics(model, U, lambdas, None),
    )

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

Both run from several starts (``starts.py``) on a grid chosen from λ and re-chosen until it
fits. A driven start that spreads out (λ1 λ2 -> β²) is not given up at once: the driven
mass is lowered until the method converges, and the branch is then continued in the decay
rate κ in the slow/fast mode basis (``tails.py``) up to the requested mass. This is what
N = 4 needs, where a driven mass of order one sits in a tail of length ~1e13.

Every solution records the candidates its starts found (``found``) and, unless
``check="none"``, a :class:`~sw.physics.nls.certify.GroundStateCheck` saying whether it is
the least-energy state found and how that was checked.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from ..common import check_choice, check_positive, check_range
from .descent import core_width, pohozaev_descent
from .errors import ConcentrationError, ConvergenceError, ResolutionError, VanishingError
from .grid import RadialGrid
from .model import Model, check_dimension, check_exponent, decay_rate, sobolev_exponent
from .newton import DEFAULT_TOL, bordered_newton, lambda_newton, newton_fixed_lambda, petviashvili
from .observables import morse_index
from .starts import (
    BRANCHES,
    DRIVEN,
    grid_fits,
    grid_for,
    initial_state,
    more_driven_guesses,
    scaled_profile,
    tail_grid,
)
from .tails import ModeParameters, continue_in_decay

if TYPE_CHECKING:
    from .certify import GroundStateCheck

METHODS = ("pohozaev", "fixed_lambda")
CHECKS = ("none", "branches", "continuation")
DEFAULT_POHOZAEV_TOL = 1e-6  # |P| / ∫|∇u|²+|∇v|² accepted as "resolved"
NEAR_GAP = 1e-2  # λ1 λ2 / β² - 1 below this: a failed driven start is a long tail
SEED_HALVINGS = (3, 8)  # the long-tail route seeds at the driven mass times 2^-3 ... 2^-8


# ---------------------------------------------------------------------------------------
# Public result types
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A converged solution one start led to (the energy landscape a solve saw)."""

    found_by: str  # "<method> from '<start>'"
    lambda1: float
    lambda2: float
    energy: float
    morse_index: int | None = None


@dataclass(frozen=True, eq=False)
class NLSSolution:
    """A solution (λ1, λ2, u, v) of the coupled system on a radial grid.

    Profiles ``u``, ``v`` are sampled at the radii ``r``; integrals over R^N are
    ``sum(weights * f)``. ``a``, ``b`` are the prescribed masses (for a fixed-λ solve: the
    masses found); ``start`` is the start (see ``BRANCHES``) that led to it, with
    ``"+decay continuation"`` when the long-tail route finished it. Diagnostics:

    - ``residual``: relative residual of the discrete equations, max over both equations
      of ``‖F‖_inf / (sum of the sup norms of the terms)``;
    - ``mass_error``: ``max(|∫u² - a| / a, |∫v² - b| / b)`` (0 for fixed-λ solves);
    - ``pohozaev_residual``: ``P / ∫|∇u|²+|∇v|²`` with
      ``P = ∫|∇u|²+|∇v|² - μ1 γp ∫|u|^p - μ2 γq ∫|v|^q``. It vanishes for exact solutions
      of the PDE but is not an identity of the discrete equations, so it measures the
      discretization error;
    - ``energy``: ``1/2 ∫|∇u|²+|∇v|² - μ1/p ∫|u|^p - μ2/q ∫|v|^q - β ∫uv``;
    - ``decay_rate``: κ, u and v decay like exp(-κ r) (κ² the smaller eigenvalue of
      [[λ1, -β], [-β, λ2]], computed without cancellation);
    - ``morse_index``: descending directions of the energy on the mass constraint (1 for
      a mass-supercritical ground state; see ``observables.morse_index``);
    - ``found``: every distinct solution the starts of this solve converged to;
    - ``check``: the ground-state check (None for ``check="none"``).
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
    decay_rate: float = math.nan
    morse_index: int | None = None
    found: tuple[Candidate, ...] = ()
    check: GroundStateCheck | None = None
    note: str = ""  # how a long-tail state was reached

    @property
    def mass_u(self) -> float:
        return float(np.dot(self.weights, self.u**2))

    @property
    def mass_v(self) -> float:
        return float(np.dot(self.weights, self.v**2))

    @property
    def problem(self) -> tuple:
        """(N, p, q, mu1, mu2, beta, a, b): the arguments of :func:`solve`."""
        return (self.N, self.p, self.q, self.mu1, self.mu2, self.beta, self.a, self.b)

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
    morse_index: int | None = None


# ---------------------------------------------------------------------------------------
# Parameter checks
# ---------------------------------------------------------------------------------------


def _check_system(N, p, q, mu1, mu2, beta) -> tuple[int, float, float, float, float, float]:
    N = check_dimension(N)
    return (
        N,
        check_exponent("p", p, N),
        check_exponent("q", q, N),
        check_positive("mu1", mu1),
        check_positive("mu2", mu2),
        check_positive("beta", beta),
    )


def check_parameters(N, p, q, mu1, mu2, beta, a, b, *, method: str = "pohozaev") -> None:
    """Raise ValueError, naming the parameter and its range, for input :func:`solve`
    refuses (without solving anything)."""
    _check_system(N, p, q, mu1, mu2, beta)
    check_positive("a", a)
    check_positive("b", b)
    check_choice("method", method, METHODS)


def _check_lambdas(model: Model, lambdas: np.ndarray) -> None:
    """A decaying solution needs the operator at infinity to be positive definite."""
    names = ("lambda1", "lambda2") if model.components == 2 else ("lam",)
    for name, value in zip(names, lambdas, strict=True):
        check_positive(name, value)
    if model.components == 2 and not lambdas[0] * lambdas[1] > model.beta**2:
        raise ValueError(
            "need lambda1 * lambda2 > beta**2 for decaying solutions "
            f"(got {lambdas[0] * lambdas[1]:.6g} <= {model.beta**2:.6g})"
        )


def _check_options(method: str, branch: str, refinement: float, tol: float) -> None:
    check_choice("method", method, METHODS)
    check_choice("branch", branch, BRANCHES)
    if method == "pohozaev" and branch != "ground":
        raise ValueError(
            f"branch={branch!r} needs method='fixed_lambda': the Pohozaev descent only finds "
            "the ground state (branch='ground')"
        )
    check_positive("refinement", refinement)
    check_range("tol", tol, 0.0, 1e-3, low_open=True, high_open=True)


# ---------------------------------------------------------------------------------------
# One start: iterate, polish, re-grid, check
# ---------------------------------------------------------------------------------------


@dataclass
class _Run:
    """A converged start, before it becomes a public solution."""

    kind: str
    model: Model
    U: np.ndarray
    lambdas: np.ndarray
    iterations: int
    mode: ModeParameters | None = None  # set by the long-tail route
    note: str = ""

    @property
    def energy(self) -> float:
        return self.model.energy(self.U)


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
    ideal = grid_for(model, lambdas, refinement)
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
        if not grid_fits(model.grid, ideal):
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
    _check_resolved(model, U, residual, iterations, lambdas, pohozaev_tol)
    return model, U, lambdas, iterations


def _check_resolved(model, U, residual, iterations, lambdas, pohozaev_tol) -> None:
    if pohozaev_tol is None:
        return
    pohozaev, kinetic = model.pohozaev(U)
    if abs(pohozaev) > pohozaev_tol * kinetic:
        raise ResolutionError(
            f"the grid ({model.grid.describe()}) does not resolve the solution: Pohozaev "
            f"residual {abs(pohozaev) / kinetic:.2e} > pohozaev_tol = {pohozaev_tol:g}",
            residual=residual,
            iterations=iterations,
            lambdas=tuple(lambdas),
        )


# ---------------------------------------------------------------------------------------
# The long-tail route (N = 4 driven states)
# ---------------------------------------------------------------------------------------


def _is_long_tail_failure(problem: Model, kind: str, error: ConvergenceError) -> bool:
    """A driven start that spread out, or stopped with λ1 λ2 within 1% of β²."""
    if problem.components != 2 or kind not in DRIVEN:
        return False
    if isinstance(error, VanishingError):
        return True
    lambdas = error.lambdas
    if lambdas is None or len(lambdas) != 2 or not all(math.isfinite(x) for x in lambdas):
        return False
    return abs(lambdas[0] * lambdas[1] / problem.beta**2 - 1.0) < NEAR_GAP


def _driven_by_continuation(
    problem: Model,
    masses: np.ndarray,
    kind: str,
    *,
    refinement: float,
    tol: float,
    pohozaev_tol: float | None,
) -> _Run:
    """The long-tail route: a fixed-λ solution of the ``kind`` branch with the driven mass
    lowered (by 2^-3 ... 2^-8, until it converges to a driven state), then
    :func:`~sw.physics.nls.tails.continue_in_decay` up to the requested mass.

    Both methods use this route, so for long-tail states their agreement is not an
    independent check (the note on the solution says so)."""
    driven = 0 if kind == "u_driven" else 1
    failure: ConvergenceError | None = None
    for halvings in range(SEED_HALVINGS[0], SEED_HALVINGS[1] + 1):
        reduced = masses.copy()
        reduced[driven] *= 0.5**halvings
        model, U, lambdas = initial_state(problem, reduced, kind, None, refinement)
        try:
            model, U, lambdas, iterations = _run_from(
                model,
                U,
                lambdas,
                reduced,
                method="fixed_lambda",
                warm=True,
                explicit_grid=False,
                refinement=refinement,
                tol=tol,
                pohozaev_tol=pohozaev_tol,
                progress=None,
            )
        except ConvergenceError as error:
            failure = error
            continue
        if int(np.argmax(lambdas)) != driven:  # the driven component has the smaller λ
            break
        failure = ConvergenceError(
            f"at reduced mass the {kind!r} start converged to a state where the driven "
            "component is self-focused",
            residual=model.relative_residual(U, lambdas),
            lambdas=tuple(lambdas),
        )
    else:
        raise failure
    tail_model, U, mode, path = continue_in_decay(
        model,
        U,
        lambdas,
        masses,
        lambda core, kappa, ref: tail_grid(problem.dim, core, kappa, ref),
        refinement=refinement,
        pohozaev_tol=pohozaev_tol,
    )
    name = "uv"[driven]
    note = (
        f"fixed-λ {kind} start with the mass of {name} lowered to {reduced[driven]:.4g}, then "
        f"{path.describe(name)}; κ = {mode.kappa:.3e} (shared by both methods)"
    )
    _check_positive_solution(tail_model, U, mode.lambdas, 0.0)
    return _Run(
        f"{kind}+decay continuation",
        tail_model,
        U,
        mode.lambdas,
        iterations + path.newton_iterations,
        mode,
        note,
    )


# ---------------------------------------------------------------------------------------
# The normalized driver shared by the system and the scalar limit
# ---------------------------------------------------------------------------------------


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
) -> tuple[_Run, list[_Run]]:
    """Run the starts for ``branch``; return the converged run of least energy and all runs.

    For the descent the "ground" branch tries the two driven starts and falls back to
    "both" only if both fail; the fixed-λ method tries all three, the driven ones with up
    to three guesses (``more_driven_guesses``). A driven start that spreads out gets the
    long-tail route (``_driven_by_continuation``) when the grid is automatic."""
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
        model, U, lambdas = initial_state(problem, masses, kind, grid, refinement)
        starts.append((kind, model, U, lambdas))
        if method == "fixed_lambda" and kind in DRIVEN:
            for guess in more_driven_guesses(model, U, lambdas, masses, kind):
                starts.append((kind, model, *guess))
    runs: list[_Run] = []
    failures: list[tuple[str, ConvergenceError]] = []
    for kind, model, U, lambdas in starts:
        if kind == "both" and method == "pohozaev" and runs:
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
        runs.append(_Run(kind, *result))
    if grid is None and initial is None:
        tried = set()
        for kind, error in failures:
            if kind in tried or any(run.kind == kind for run in runs):
                continue
            if not _is_long_tail_failure(problem, kind, error):
                continue
            tried.add(kind)
            try:
                runs.append(
                    _driven_by_continuation(
                        problem,
                        masses,
                        kind,
                        refinement=refinement,
                        tol=tol,
                        pohozaev_tol=pohozaev_tol,
                    )
                )
            except ConvergenceError as tail_error:
                error.add_note(
                    f"long-tail route for {kind!r}: {type(tail_error).__name__}: {tail_error}"
                )
    if not runs:
        raise _most_informative(failures)
    # Least energy; within round-off (mirror images when u and v have the same data) the
    # first start in the order tried, so the answer is reproducible.
    lowest = min(run.energy for run in runs)
    tie = 1e-9 * max(1.0, abs(lowest))
    chosen = next(run for run in runs if run.energy <= lowest + tie)
    return chosen, runs


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


def _distinct_candidates(runs: list[_Run], method: str) -> tuple[Candidate, ...]:
    """The runs as candidates with their Morse index, duplicates (same λ to 1e-6) dropped,
    lowest energy first."""
    candidates: list[Candidate] = []
    for run in sorted(runs, key=lambda item: item.energy):
        candidate = Candidate(
            f"{method} from {run.kind!r}", float(run.lambdas[0]), float(run.lambdas[-1]), run.energy
        )
        if any(same_state(candidate, other) for other in candidates):
            continue
        model = run.model
        index = morse_index(
            model.grid, model.exponents, model.mus, model.beta, run.U, run.lambdas, mode=run.mode
        )
        candidates.append(replace(candidate, morse_index=index))
    return tuple(candidates)


def same_state(first, second, rel: float = 1e-6) -> bool:
    """Two solutions (anything with lambda1, lambda2) with the same multipliers."""
    return all(
        abs(x - y) <= rel * max(abs(x), abs(y), 1e-300)
        for x, y in ((first.lambda1, second.lambda1), (first.lambda2, second.lambda2))
    )


def _as_state(lambdas) -> Candidate:
    return Candidate("", float(lambdas[0]), float(lambdas[-1]), math.nan)


def _solution_from_run(run: _Run, problem: tuple, masses, method: str, runs) -> NLSSolution:
    N, p, q, mu1, mu2, beta = problem
    model, U, lambdas = run.model, run.U, run.lambdas
    kappa = run.mode.kappa if run.mode is not None else decay_rate(lambdas, beta)
    found = _distinct_candidates(runs, method)
    index = next((c.morse_index for c in found if same_state(c, _as_state(lambdas))), None)
    if index is None:
        index = morse_index(model.grid, (p, q), (mu1, mu2), beta, U, lambdas, mode=run.mode)
    found_masses = model.masses(U) if masses is None else masses
    return NLSSolution(
        N=N,
        p=p,
        q=q,
        mu1=mu1,
        mu2=mu2,
        beta=beta,
        a=float(found_masses[0]),
        b=float(found_masses[1]),
        lambda1=float(lambdas[0]),
        lambda2=float(lambdas[1]),
        u=U[0],
        v=U[1],
        method=method,
        start=run.kind,
        iterations=run.iterations,
        decay_rate=kappa,
        morse_index=index,
        found=found,
        note=run.note,
        **_diagnostics(model, U, lambdas, masses),
    )


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------


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
    check: str = "branches",
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
    check:
        How to check that the result is the ground state (``solution.check``):
        ``"branches"`` (default: the other method's starts too, and the Morse index of
        each state), ``"continuation"`` (also follow every branch in β from β/4 and 4β),
        ``"none"``. See ``certify.py``.

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
    a, b = check_positive("a", a), check_positive("b", b)
    _check_options(method, branch, refinement, tol)
    check_choice("check", check, CHECKS)
    masses = np.array([a, b])
    start = None
    if initial is not None:
        start = (
            initial.grid,
            np.stack([initial.u, initial.v]),
            np.array([initial.lambda1, initial.lambda2]),
        )
    chosen, runs = _solve_normalized(
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
    solution = _solution_from_run(chosen, (N, p, q, mu1, mu2, beta), masses, method, runs)
    if check == "none":
        return solution
    from .certify import certify_ground_state

    verdict = certify_ground_state(
        solution,
        level=check,
        refinement=refinement,
        tol=tol,
        pohozaev_tol=pohozaev_tol,
    )
    return replace(solution, check=verdict)


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
    lambdas = np.array([check_positive("lambda1", lambda1), check_positive("lambda2", lambda2)])
    _check_options("fixed_lambda", "both", refinement, tol)
    model = _problem(N, (p, q), (mu1, mu2), beta)
    _check_lambdas(model, lambdas)
    U, model, iterations = _fixed_lambda_driver(model, lambdas, grid, refinement, tol, pohozaev_tol)
    run = _Run("both", model, U, lambdas, iterations)
    return _solution_from_run(run, (N, p, q, mu1, mu2, beta), None, "fixed_lambda", [run])


def _fixed_lambda_driver(model, lambdas, grid, refinement, tol, pohozaev_tol):
    """Petviashvili + Newton at fixed λ from the scaled scalar ground states, refining the
    automatic grid (at most twice) until the Pohozaev residual is below tolerance."""
    model = model.on_grid(grid if grid is not None else grid_for(model, lambdas, refinement))
    for attempt in range(3):
        U = np.stack(
            [
                scaled_profile(model.grid, p, mu, lam)
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
        model = model.on_grid(grid_for(model, lambdas, refinement * 2.0 ** (attempt + 1)))
    raise AssertionError("unreachable")


def _check_scalar(N, p, mu) -> tuple[int, float, float]:
    N = check_dimension(N)
    return N, check_exponent("p", p, N), check_positive("mu", mu)


def _scalar_solution(run: _Run, N, p, mu, masses, method) -> ScalarSolution:
    model, U, lambdas = run.model, run.U, run.lambdas
    return ScalarSolution(
        N=N,
        p=p,
        mu=mu,
        mass=float(model.masses(U)[0] if masses is None else masses[0]),
        lambda_=float(lambdas[0]),
        u=U[0],
        method=method,
        iterations=run.iterations,
        morse_index=morse_index(model.grid, (p,), (mu,), 0.0, U, lambdas),
        **_diagnostics(model, U, lambdas, masses),
    )


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
    mass = check_positive("mass", mass)
    _check_options(method, "ground", refinement, tol)
    masses = np.array([mass])
    chosen, _ = _solve_normalized(
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
    return _scalar_solution(chosen, N, p, mu, masses, method)


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
    lambdas = np.array([check_positive("lam", lam)])
    _check_options("fixed_lambda", "both", refinement, tol)
    model = _problem(N, (p,), (mu,), 0.0)
    U, model, iterations = _fixed_lambda_driver(model, lambdas, grid, refinement, tol, pohozaev_tol)
    return _scalar_solution(
        _Run("both", model, U, lambdas, iterations), N, p, mu, None, "fixed_lambda"
    )

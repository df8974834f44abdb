"""Is a returned state the ground state? Compare branches, continue in β, count directions.

"Ground state" can only mean "the least energy over the states found", so this module says
what was searched and whether the state passes the local test:

* **branches**: every distinct state the solve's own starts converged to, and every state
  the *other* method's starts converged to (the two methods fall into different basins:
  at β = 2 in the CLI example the fixed-λ starts find only a state with E = 7.32, the
  descent one with E = 2.29);
* **Morse index** of each state (``observables.morse_index``): a mass-supercritical ground
  state has exactly one descending direction on the mass constraint (a subcritical one
  none); more means it is certainly not the ground state, and a second local minimum on
  the Pohozaev manifold still has index 1, which is why the energies are compared too;
* **continuation** (level ``"continuation"``): the ground states at β/4 and 4β, from both
  methods, each followed to β by fixed-λ Newton continuation in geometric steps; this
  finds branches that no start at β reaches.

The verdict: ``least_energy_found`` (no state found has lower energy) and
``index_consistent`` (the index is the one a ground state must have).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from .errors import ConvergenceError
from .model import mass_critical_exponent
from .newton import DEFAULT_TOL

LEVELS = ("branches", "continuation")
CONTINUATION_FACTOR = 4.0  # continue from β / 4 and 4 β
CONTINUATION_STEPS = 6
MAX_HALVINGS = 4  # a failed continuation step is halved (in log β) at most this often
SAME_STATE = 1e-5  # relative difference of λ1 and λ2 below which two states are one
LONG_TAIL_KAPPA = 1e-6  # below this decay rate the (u, v) continuation cannot follow


@dataclass(frozen=True)
class Branch:
    """One distinct state found while checking (energy, multipliers, Morse index)."""

    found_by: str
    lambda1: float
    lambda2: float
    energy: float
    morse_index: int | None = None


@dataclass(frozen=True)
class GroundStateCheck:
    """The verdict on one solution; ``branches`` is sorted by energy (lowest first)."""

    least_energy_found: bool
    index_consistent: bool | None  # None when no index is expected (mixed exponents)
    energy: float
    morse_index: int | None
    expected_index: int | None
    branches: tuple[Branch, ...]
    checks: tuple[str, ...]

    @property
    def lowest(self) -> Branch:
        return self.branches[0]

    @property
    def passed(self) -> bool:
        return self.least_energy_found and self.index_consistent is not False

    def verdict(self) -> str:
        count = len(self.branches)
        states = f"{count} distinct state{'s' if count != 1 else ''} found"
        if not self.least_energy_found:
            low = self.lowest
            return (
                f"NOT the least-energy state: E = {self.energy:.8g}, but {low.found_by} "
                f"found E = {low.energy:.8g} (λ1 = {low.lambda1:.6g}, λ2 = {low.lambda2:.6g})"
            )
        if self.index_consistent is False:
            return (
                f"least energy of the {states}, but its Morse index is {self.morse_index} "
                f"where a ground state has {self.expected_index}: not a ground state"
            )
        return f"least energy of the {states}" + (
            f"; Morse index {self.morse_index} as a ground state must have"
            if self.index_consistent
            else ""
        )

    def summary(self) -> str:
        lines = [self.verdict(), "  states found (lowest energy first):"]
        for branch in self.branches:
            index = "?" if branch.morse_index is None else str(branch.morse_index)
            lines.append(
                f"    E = {branch.energy:14.8g}  λ1 = {branch.lambda1:<12.6g} "
                f"λ2 = {branch.lambda2:<12.6g} index {index:>2}  ({branch.found_by})"
            )
        lines.append("  checked by:")
        lines.extend(f"    - {line}" for line in self.checks)
        return "\n".join(lines)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["verdict"] = self.verdict()
        data["passed"] = self.passed
        return data


def expected_morse_index(N: int, p: float, q: float) -> int | None:
    """1 if both exponents are mass-supercritical, 0 if both subcritical, else None."""
    critical = mass_critical_exponent(N)
    if p > critical and q > critical:
        return 1
    if p < critical and q < critical:
        return 0
    return None


def _branches_of(solution) -> list[Branch]:
    return [
        Branch(c.found_by, c.lambda1, c.lambda2, c.energy, c.morse_index) for c in solution.found
    ]


def _same(first: Branch, second: Branch) -> bool:
    return all(
        abs(x - y) <= SAME_STATE * max(abs(x), abs(y))
        for x, y in ((first.lambda1, second.lambda1), (first.lambda2, second.lambda2))
    )


def _merge(branches: list[Branch]) -> tuple[Branch, ...]:
    distinct: list[Branch] = []
    for branch in sorted(branches, key=lambda item: item.energy):
        if not any(_same(branch, other) for other in distinct):
            distinct.append(branch)
    return tuple(distinct)


def _found_line(solution) -> str:
    kinds = ", ".join(c.found_by.split(" from ", 1)[-1] for c in solution.found)
    return f"{len(solution.found)} state(s) from the {solution.method} starts ({kinds})"


def _predicted(history: list, beta: float):
    """The last state with λ extrapolated to ``beta``: linear in log β through the last two
    states, or for the first step the driven multiplier scaled by (β/β_old)² (a driven λ
    follows β²/λ_lead, and must stay above it for the state to decay)."""
    last = history[-1]
    lambdas = np.array([last.lambda1, last.lambda2])
    if len(history) >= 2:
        before = history[-2]
        previous = np.array([before.lambda1, before.lambda2])
        fraction = math.log(beta / last.beta) / math.log(last.beta / before.beta)
        lambdas = lambdas * (lambdas / previous) ** fraction
    else:
        small = int(np.argmin(lambdas))
        lambdas[small] *= (beta / last.beta) ** 2
    return replace(last, lambda1=float(lambdas[0]), lambda2=float(lambdas[1]))


def _follow(state, problem: list, target: float, options: dict):
    """Fixed-λ Newton continuation of ``state`` in β to ``target``: geometric steps from a
    predictor (``_predicted``), each halved in log β (up to MAX_HALVINGS times) when
    Newton fails. Returns (solution, None) or (None, (β where it was lost, error name))."""
    from .solvers import solve

    problem = list(problem)
    history = [state]
    step = (target / state.beta) ** (1.0 / CONTINUATION_STEPS)
    halvings = 0
    while history[-1].beta != target:
        trial = history[-1].beta * step
        if (step > 1.0 and trial > target) or (step < 1.0 and trial < target):
            trial = target
        problem[5] = float(trial)
        try:
            reached = solve(
                *problem,
                method="fixed_lambda",
                initial=_predicted(history, trial),
                check="none",
                **options,
            )
        except ConvergenceError as error:
            if halvings == MAX_HALVINGS:
                return None, (trial, type(error).__name__)
            step, halvings = math.sqrt(step), halvings + 1
            continue
        history.append(reached)
    return history[-1], None


def _continue_branches(solution, options: dict) -> tuple[list[Branch], list[str]]:
    """Ground states at β/4 and 4β (both methods), each followed back to β."""
    from .solvers import METHODS, solve

    problem = list(solution.problem)
    beta = solution.beta
    found, notes = [], []
    for origin in (beta / CONTINUATION_FACTOR, beta * CONTINUATION_FACTOR):
        problem[5] = origin
        starts = []
        for method in METHODS:
            try:
                starts.append(solve(*problem, method=method, check="none", **options))
            except ConvergenceError as error:
                notes.append(f"at β = {origin:g} the {method} method found no state ({error})")
        distinct = []
        for state in starts:
            if not any(
                abs(state.lambda1 - other.lambda1) <= SAME_STATE * state.lambda1
                for other in distinct
            ):
                distinct.append(state)
        for state in distinct:
            arrived, failure = _follow(state, problem, beta, options)
            if arrived is None:
                notes.append(
                    f"the branch of the {state.method} ground state at β = {origin:g} was lost "
                    f"at β = {failure[0]:.4g} ({failure[1]})"
                )
                continue
            found.append(
                Branch(
                    f"continued in β from {origin:g} ({state.method} ground state there)",
                    arrived.lambda1,
                    arrived.lambda2,
                    arrived.energy,
                    arrived.morse_index,
                )
            )
        problem[5] = beta
    return found, notes


def certify_ground_state(
    solution,
    *,
    level: str = "branches",
    others=(),
    refinement: float = 1.0,
    tol: float = DEFAULT_TOL,
    pohozaev_tol: float | None = 1e-6,
) -> GroundStateCheck:
    """Check ``solution`` (an NLSSolution) against the other states that can be found.

    ``others``: solutions of the same problem already computed (e.g. by the other method);
    the other method is solved here only if none of them used it. ``level``: "branches"
    or "continuation" (see the module docstring). Solver options are passed on.
    """
    from .solvers import METHODS, solve

    if level not in LEVELS:
        raise ValueError(f"level={level!r} is not allowed; choose one of {', '.join(LEVELS)}")
    options = dict(refinement=refinement, tol=tol, pohozaev_tol=pohozaev_tol)
    branches = _branches_of(solution)
    checks = [_found_line(solution)]
    if solution.note:
        checks.append(f"reached by the long-tail route: {solution.note}")
    used = {solution.method} | {other.method for other in others}
    for other in others:
        branches += _branches_of(other)
        checks.append(_found_line(other))
    for method in METHODS:
        if method in used:
            continue
        try:
            other = solve(*solution.problem, method=method, check="none", **options)
        except ConvergenceError as error:
            checks.append(f"the {method} starts found no state ({type(error).__name__}: {error})")
            continue
        branches += _branches_of(other)
        checks.append(_found_line(other))
    if level == "continuation":
        if solution.decay_rate < LONG_TAIL_KAPPA:
            checks.append(
                f"no continuation in β: κ = {solution.decay_rate:.2g} is below what the "
                "(u, v) Newton resolves; the long-tail route is itself a continuation in mass"
            )
        else:
            continued, notes = _continue_branches(solution, options)
            branches += continued
            checks.append(
                f"continuation in β from {solution.beta / CONTINUATION_FACTOR:g} and "
                f"{solution.beta * CONTINUATION_FACTOR:g} ({CONTINUATION_STEPS} steps, fixed-λ "
                f"Newton): {len(continued)} branch(es) followed to β = {solution.beta:g}"
            )
            checks.extend(notes)
    distinct = _merge(branches)
    lowest = distinct[0].energy
    itself = Branch("", solution.lambda1, solution.lambda2, solution.energy)
    # the same state found by another method on another grid differs by its discretization
    # error (~1e-7 relative in E), so identity is judged by the multipliers
    least = _same(itself, distinct[0]) or solution.energy <= lowest + 1e-8 * max(1.0, abs(lowest))
    expected = expected_morse_index(solution.N, solution.p, solution.q)
    index = solution.morse_index
    consistent = None if expected is None or index is None else index == expected
    if index is not None:
        meaning = (
            ""
            if expected is None
            else f" (a {'super' if expected else 'sub'}critical ground state has {expected})"
        )
        checks.append(
            f"Morse index {index} on the mass constraint, radial subspace{meaning}; "
            f"indices of the other states listed"
        )
    if not math.isfinite(solution.energy):
        least = False
    return GroundStateCheck(
        least_energy_found=bool(least),
        index_consistent=consistent,
        energy=solution.energy,
        morse_index=index,
        expected_index=expected,
        branches=distinct,
        checks=tuple(checks),
    )

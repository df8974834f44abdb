"""Parameter scans: λ1, λ2 and the energy along a path in β or in the masses (a, b).

Each point is solved afresh with :func:`~sw.physics.nls.solvers.solve` (all starts, so a
scan follows the ground state even where it changes branch). A point where no solution
is found is kept with its diagnosis instead of a number:

- ``"concentration"``: the profile collapses to an Aubin-Talenti bubble (Sobolev-critical
  exponent, N = 3 or 4): the sign of non-existence there;
- ``"vanishing"``: a component spreads out (λ1 λ2 -> β²);
- ``"unresolved"``: the grid cannot resolve the solution;
- ``"failed"``: no convergence for another reason.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..common import PhysicsInputError, check_choice, show_progress
from .errors import ConcentrationError, ConvergenceError, ResolutionError, VanishingError
from .solvers import NLSSolution, check_parameters, same_state, solve

PARAMETERS = ("beta", "a", "b", "mass_scale")
SAME_STATE = 1e-5  # relative difference of λ1, λ2 below which two states are one


@dataclass
class ScanPoint:
    """One point of a scan. Numbers are NaN where ``status != "ok"``."""

    value: float
    beta: float
    a: float
    b: float
    status: str
    lambda1: float = math.nan
    lambda2: float = math.nan
    energy: float = math.nan
    residual: float = math.nan
    pohozaev_residual: float = math.nan
    start: str = ""
    message: str = ""
    sobolev_ratio: float = math.nan
    core_width: float = math.nan


@dataclass
class ScanResult:
    """The points of a scan and the fixed parameters (``parameters``)."""

    parameter: str
    parameters: dict
    points: list[ScanPoint] = field(default_factory=list)

    @property
    def values(self) -> np.ndarray:
        return np.array([p.value for p in self.points])

    def column(self, name: str) -> np.ndarray:
        return np.array([getattr(p, name) for p in self.points], dtype=float)

    @property
    def statuses(self) -> list[str]:
        return [p.status for p in self.points]

    def nonexistence_report(self) -> str:
        """One line per point where no solution was found, saying why."""
        lines = []
        for point in self.points:
            if point.status == "concentration":
                lines.append(
                    f"{self.parameter} = {point.value:.4g}: no solution found, the profile "
                    f"concentrates into an Aubin-Talenti bubble (Sobolev quotient / S = "
                    f"{point.sobolev_ratio:.4f}, core width {point.core_width:.3g})"
                )
            elif point.status != "ok":
                lines.append(
                    f"{self.parameter} = {point.value:.4g}: {point.status}: {point.message}"
                )
        return "\n".join(lines)

    def table(self) -> str:
        header = (
            f"{self.parameter:>10} {'status':>13} {'lambda1':>14} {'lambda2':>14} {'energy':>14}"
        )
        rows = [header]
        for p in self.points:
            numbers = f"{p.lambda1:14.8g} {p.lambda2:14.8g} {p.energy:14.8g}"
            rows.append(f"{p.value:10.4g} {p.status:>13} {numbers}")
        return "\n".join(rows)

    def to_json(self, path: str | Path) -> None:
        data = {
            "parameter": self.parameter,
            "parameters": self.parameters,
            "points": [
                {
                    k: (None if isinstance(v, float) and math.isnan(v) else v)
                    for k, v in asdict(p).items()
                }
                for p in self.points
            ],
        }
        Path(path).write_text(json.dumps(data, indent=2) + "\n")

    def plot(self, path: str | Path) -> Path:
        """λ1, λ2 and the energy against the parameter (``plotting.plot_scan``)."""
        from .plotting import plot_scan

        return plot_scan(self, path)


def _point_parameters(parameter: str, value: float, beta: float, a: float, b: float):
    if parameter == "beta":
        return value, a, b
    if parameter == "a":
        return beta, value, b
    if parameter == "b":
        return beta, a, value
    return beta, a * value, b * value  # mass_scale: along the ray through (a, b)


def scan(
    N: int,
    p: float,
    q: float,
    mu1: float,
    mu2: float,
    beta: float,
    a: float,
    b: float,
    *,
    vary: str,
    values: Sequence[float],
    method: str = "pohozaev",
    plot: str | Path | None = None,
    progress: bool = False,
    **solve_options,
) -> ScanResult:
    """Solve along a path and collect λ1, λ2 and the energy.

    ``vary`` is ``"beta"``, ``"a"``, ``"b"`` (that parameter takes ``values``) or
    ``"mass_scale"`` (the masses are ``(t a, t b)`` for t in ``values``). Parameters are
    validated up front (ValueError); a point with no solution gets a status instead of
    numbers (see the module docstring). ``plot``: path of a PNG to write. Extra keyword
    arguments go to :func:`solve`."""
    check_choice("vary", vary, PARAMETERS)
    values = [float(v) for v in values]
    if not values:
        raise PhysicsInputError("values must not be empty")
    # validate the fixed parameters and every point before spending time on any
    for value in values:
        point_beta, point_a, point_b = _point_parameters(vary, value, beta, a, b)
        check_parameters(N, p, q, mu1, mu2, point_beta, point_a, point_b, method=method)

    result = ScanResult(
        parameter=vary,
        parameters=dict(N=N, p=p, q=q, mu1=mu1, mu2=mu2, beta=beta, a=a, b=b),
    )
    options = {"check": "none", **solve_options}  # a scan compares points, not branches
    for value in show_progress(values, progress, f"scan {vary}"):
        point_beta, point_a, point_b = _point_parameters(vary, value, beta, a, b)
        point = ScanPoint(value=value, beta=point_beta, a=point_a, b=point_b, status="ok")
        try:
            solution = solve(
                N, p, q, mu1, mu2, point_beta, point_a, point_b, method=method, **options
            )
        except ConcentrationError as error:
            point.status, point.message = "concentration", str(error)
            point.sobolev_ratio, point.core_width = error.sobolev_ratio, error.core_width
        except VanishingError as error:
            point.status, point.message = "vanishing", str(error)
        except ResolutionError as error:
            point.status, point.message = "unresolved", str(error)
        except ConvergenceError as error:
            point.status, point.message = "failed", str(error)
        else:
            _fill(point, solution)
        result.points.append(point)
    if plot is not None:
        result.plot(plot)
    return result


def _fill(point: ScanPoint, solution: NLSSolution) -> None:
    point.lambda1, point.lambda2 = solution.lambda1, solution.lambda2
    point.energy, point.residual = solution.energy, solution.residual
    point.pohozaev_residual, point.start = solution.pohozaev_residual, solution.start


@dataclass
class BranchMap:
    """Every distinct state both methods' starts find at each point of a path.

    ``points``: one dict per value with ``value`` and ``states`` (method, start, λ1, λ2,
    energy, Morse index), lowest energy first, and ``missed_by`` (the methods whose own
    least-energy state is above the lowest found there).
    """

    parameter: str
    parameters: dict
    points: list[dict] = field(default_factory=list)

    def table(self) -> str:
        rows = [f"{self.parameter:>10} {'E (lowest)':>14} {'by':>26} {'states':>6}  missed by"]
        for point in self.points:
            if not point["states"]:
                rows.append(f"{point['value']:10.4g} {'no state found':>14}")
                continue
            low = point["states"][0]
            rows.append(
                f"{point['value']:10.4g} {low['energy']:14.8g} "
                f"{low['method'] + ' ' + low['start']:>26} {len(point['states']):>6}  "
                f"{', '.join(point['missed_by']) or '-'}"
            )
        return "\n".join(rows)

    def to_json(self, path: str | Path) -> None:
        data = {"parameter": self.parameter, "parameters": self.parameters, "points": self.points}
        Path(path).write_text(json.dumps(data, indent=2) + "\n")

    def plot(self, path: str | Path) -> Path:
        from .plotting import plot_branch_map

        return plot_branch_map(self, path)


def branch_map(
    N: int,
    p: float,
    q: float,
    mu1: float,
    mu2: float,
    beta: float,
    a: float,
    b: float,
    *,
    vary: str,
    values: Sequence[float],
    progress: bool = False,
    **solve_options,
) -> BranchMap:
    """All states found by both methods along a path in ``vary`` (as :func:`scan`).

    Shows where one method's least-energy state is not the lowest state found (the
    fixed-λ starts at β = 2 in the CLI example). Extra keyword arguments go to
    :func:`solve` (``check`` is "none": the map *is* the branch comparison)."""
    from .solvers import METHODS

    check_choice("vary", vary, PARAMETERS)
    values = [float(v) for v in values]
    if not values:
        raise PhysicsInputError("values must not be empty")
    for value in values:
        point_beta, point_a, point_b = _point_parameters(vary, value, beta, a, b)
        check_parameters(N, p, q, mu1, mu2, point_beta, point_a, point_b)
    result = BranchMap(vary, dict(N=N, p=p, q=q, mu1=mu1, mu2=mu2, beta=beta, a=a, b=b))
    options = {**solve_options, "check": "none"}
    for value in show_progress(values, progress, f"branches along {vary}"):
        point_beta, point_a, point_b = _point_parameters(vary, value, beta, a, b)
        states, own_lowest = [], {}
        for method in METHODS:
            try:
                solution = solve(
                    N, p, q, mu1, mu2, point_beta, point_a, point_b, method=method, **options
                )
            except ConvergenceError:
                continue
            own_lowest[method] = solution
            for candidate in solution.found:
                state = {
                    "method": method,
                    "start": candidate.found_by.split("'")[1],
                    "lambda1": candidate.lambda1,
                    "lambda2": candidate.lambda2,
                    "energy": candidate.energy,
                    "morse_index": candidate.morse_index,
                }
                if not any(
                    same_state(candidate, _Lambdas(**other), rel=SAME_STATE) for other in states
                ):
                    states.append(state)
        states.sort(key=lambda state: state["energy"])
        lowest = states[0] if states else None
        # a method missed the ground state if its own answer is another state (by its
        # multipliers: the same state on two grids differs by ~1e-7 in energy)
        missed = [
            method
            for method, own in own_lowest.items()
            if lowest is not None
            and not same_state(own, _Lambdas(**lowest), rel=SAME_STATE)
            and own.energy > lowest["energy"] + 1e-8 * max(1.0, abs(lowest["energy"]))
        ]
        result.points.append({"value": value, "states": states, "missed_by": missed})
    return result


class _Lambdas:
    """Adapter: a state dict seen as something with lambda1, lambda2 (for same_state)."""

    def __init__(self, lambda1, lambda2, **_):
        self.lambda1, self.lambda2 = lambda1, lambda2

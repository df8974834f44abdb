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

from .errors import ConcentrationError, ConvergenceError, ResolutionError, VanishingError
from .solvers import NLSSolution, check_parameters, solve

PARAMETERS = ("beta", "a", "b", "mass_scale")


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

    def plot(self, path: str | Path) -> None:
        """λ1, λ2 and the energy against the scanned parameter; points without a solution
        are marked on the axis with their diagnosis."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        x = self.values
        fig, (ax_lambda, ax_energy) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
        ax_lambda.plot(x, self.column("lambda1"), "o-", label="λ1")
        ax_lambda.plot(x, self.column("lambda2"), "s-", label="λ2")
        ax_energy.plot(x, self.column("energy"), "o-", color="C2", label="energy")
        markers = {"concentration": ("x", "C3"), "vanishing": ("v", "C4")}
        for axis in (ax_lambda, ax_energy):
            for status, (marker, color) in markers.items():
                chosen = [p.value for p in self.points if p.status == status]
                if chosen:
                    axis.plot(
                        chosen,
                        np.zeros(len(chosen)),
                        marker,
                        color=color,
                        ms=10,
                        label=f"no solution: {status}",
                        clip_on=False,
                    )
            others = [p.value for p in self.points if p.status in ("unresolved", "failed")]
            if others:
                axis.plot(others, np.zeros(len(others)), "^", color="0.4", label="not converged")
            axis.set_xlabel(self.parameter)
            axis.grid(alpha=0.3)
            axis.legend()
        ax_lambda.set_ylabel("Lagrange multipliers")
        ax_energy.set_ylabel("E(u, v)")
        fixed = ", ".join(f"{k}={v:g}" for k, v in self.parameters.items() if k != self.parameter)
        fig.suptitle(f"normalized solutions along {self.parameter} ({fixed})", fontsize=10)
        fig.savefig(path, dpi=120)
        plt.close(fig)


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
    if vary not in PARAMETERS:
        raise ValueError(f"vary must be one of {', '.join(PARAMETERS)} (got {vary!r})")
    values = [float(v) for v in values]
    if not values:
        raise ValueError("values must not be empty")
    # validate the fixed parameters and every point before spending time on any
    for value in values:
        point_beta, point_a, point_b = _point_parameters(vary, value, beta, a, b)
        check_parameters(N, p, q, mu1, mu2, point_beta, point_a, point_b, method=method)

    result = ScanResult(
        parameter=vary,
        parameters=dict(N=N, p=p, q=q, mu1=mu1, mu2=mu2, beta=beta, a=a, b=b),
    )
    iterator = values
    if progress:
        from tqdm import tqdm

        iterator = tqdm(values, desc=f"scan {vary}", unit="point")
    for value in iterator:
        point_beta, point_a, point_b = _point_parameters(vary, value, beta, a, b)
        point = ScanPoint(value=value, beta=point_beta, a=point_a, b=point_b, status="ok")
        try:
            solution = solve(
                N, p, q, mu1, mu2, point_beta, point_a, point_b, method=method, **solve_options
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

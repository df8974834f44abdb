"""The seed paper's theorem, tested: a positive normalized ground state for every a, b, β > 0.

arXiv 2107.12564 (abstract): for 2 + 4/N < p, q < 2* and 2 <= N <= 4 a positive ground
state exists for any a, b > 0 and β > 0; at the Sobolev-critical exponent (N = 3, 4) it
exists or not "under suitable assumptions". The closest computable quantity is the
ground state itself along a path in the masses, one dimension at a time: this module
solves it for a range of a with b and β fixed, in N = 2, 3, 4, and records the decay rate
κ of the tail (how close the state is to vanishing), the energy and the Morse index; plus
the Sobolev-critical cases (non-existence when both exponents are critical, existence
with one). Ground states are found by the descent; a failure is recorded with its error.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from tqdm import tqdm

from .errors import ConcentrationError, ConvergenceError, VanishingError
from .solvers import solve

# (N, p, q, mu1, mu2, beta, b): one series per dimension, inside the theorem's range
SERIES = (
    (2, 5.0, 6.0, 1.0, 1.0, 0.5, 4.0),
    (3, 4.0, 4.5, 1.0, 1.0, 0.5, 4.0),
    (4, 3.5, 3.8, 1.0, 1.0, 0.5, 4.0),  # the N = 4 example of issue 22
)
MASSES = (0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
QUICK_MASSES = (0.5, 3.0)
# (N, p, q, beta, a, b) at the Sobolev-critical exponent
CRITICAL = (
    (3, 6.0, 6.0, 0.5, 3.0, 5.0),
    (4, 4.0, 4.0, 0.5, 3.0, 4.0),
    (3, 6.0, 4.0, 1.0, 3.0, 5.0),
)


def _row(problem: tuple, method: str) -> dict:
    N, p, q, mu1, mu2, beta, a, b = problem
    row = {"a": a, "b": b, "beta": beta}
    started = time.perf_counter()
    try:
        solution = solve(*problem, method=method, check="none")
    except ConcentrationError as error:
        row.update(status="concentration", error=str(error), sobolev_ratio=error.sobolev_ratio)
    except VanishingError as error:
        row.update(status="vanishing", error=str(error))
    except ConvergenceError as error:
        row.update(status="failed", error=str(error))
    else:
        row.update(
            status="ok",
            lambda1=solution.lambda1,
            lambda2=solution.lambda2,
            energy=solution.energy,
            decay_rate=solution.decay_rate,
            morse_index=solution.morse_index,
            start=solution.start,
            residual=solution.residual,
            pohozaev_residual=solution.pohozaev_residual,
            cells=solution.grid.size,
        )
    row["seconds"] = round(time.perf_counter() - started, 2)
    return row


def existence_study(
    masses: Sequence[float] = MASSES,
    series: Sequence[tuple] = SERIES,
    critical: Sequence[tuple] = CRITICAL,
    *,
    method: str = "pohozaev",
    progress: bool = False,
) -> dict:
    """Solve the ground state along ``masses`` (the mass a of u) for each series, and the
    critical cases. Returns a JSON-ready dict (``series``, ``critical``, ``title``)."""
    jobs = [(entry, a) for entry in series for a in masses]
    bar = tqdm(total=len(jobs) + len(critical), desc="existence", disable=not progress)
    result = {
        "title": "ground state along the mass of u (b, β fixed), inside the theorem's range",
        "method": method,
        "series": [],
        "critical": [],
    }
    for entry in series:
        N, p, q, mu1, mu2, beta, b = entry
        rows = []
        for a in masses:
            rows.append(_row((N, p, q, mu1, mu2, beta, float(a), b), method))
            bar.update()
        result["series"].append(
            {"N": N, "p": p, "q": q, "mu1": mu1, "mu2": mu2, "beta": beta, "b": b, "rows": rows}
        )
    for N, p, q, beta, a, b in critical:
        row = _row((N, p, q, 1.0, 1.0, beta, a, b), method)
        row.update(N=N, p=p, q=q)
        result["critical"].append(row)
        bar.update()
    bar.close()
    return result


def summary_table(study: dict) -> str:
    lines = [
        f"{'N':>2} {'p':>4} {'q':>4} {'a':>6} {'status':>13} {'kappa':>10} {'E':>12} {'idx':>3}"
    ]
    for series in study["series"]:
        for row in series["rows"]:
            numbers = (
                f"{row['decay_rate']:10.3e} {row['energy']:12.7g} {row['morse_index']:>3}"
                if row["status"] == "ok"
                else ""
            )
            lines.append(
                f"{series['N']:>2} {series['p']:>4g} {series['q']:>4g} {row['a']:>6g} "
                f"{row['status']:>13} {numbers}"
            )
    lines.append("Sobolev-critical cases:")
    for row in study["critical"]:
        numbers = (
            f"{row['decay_rate']:10.3e} {row['energy']:12.7g}" if row["status"] == "ok" else ""
        )
        lines.append(
            f"{row['N']:>2} {row['p']:>4g} {row['q']:>4g} {row['a']:>6g} {row['status']:>13} "
            f"{numbers}"
        )
    return "\n".join(lines)

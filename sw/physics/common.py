"""What the four physics command lines share: argument parsing, checks and error exits.

Every solver package has the same shape (``model``, ``solver``/``solvers``,
``observables``, ``plotting``, ``cli``), and every ``cli.main(argv) -> int`` runs through
`run_cli`, so bad input looks the same everywhere: one line ``error: ...`` on stderr
naming the parameter and its allowed range, exit code 2, no traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable

import numpy as np

USAGE_ERROR = 2  # argparse's own exit code for bad arguments; ours match it


class PhysicsInputError(ValueError):
    """A parameter outside what the model or the solver accepts."""


def run_cli(parser: argparse.ArgumentParser, run: Callable, argv: list[str] | None) -> int:
    """Parse ``argv`` with ``parser`` and call ``run(args)``.

    A `ValueError` (bad parameters, bad grids) becomes ``error: ...`` on stderr and
    exit code 2; ``QMATMUL_DEBUG=1`` keeps the traceback.
    """
    args = parser.parse_args(argv)  # argparse prints usage and exits 2 on its own errors
    try:
        return int(run(args) or 0)
    except ValueError as error:
        if os.environ.get("QMATMUL_DEBUG"):
            raise
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return USAGE_ERROR


def check_range(
    name: str,
    value: float,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """``value`` if it is finite and inside the interval, else `PhysicsInputError` naming both."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PhysicsInputError(f"{name} must be a number, got {value!r}") from None
    below = low is not None and (number <= low if low_open else number < low)
    above = high is not None and (number >= high if high_open else number > high)
    if not math.isfinite(number) or below or above:
        left = "(-inf" if low is None else ("(" if low_open else "[") + f"{low:g}"
        right = "inf)" if high is None else f"{high:g}" + (")" if high_open else "]")
        raise PhysicsInputError(
            f"{name}={value!r} is out of range; allowed range is {left}, {right}"
        )
    return number


def check_positive(name: str, value: float) -> float:
    return check_range(name, value, 0.0, low_open=True)


def check_count(name: str, value: int, low: int = 1, high: int | None = None) -> int:
    """An integer count in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise PhysicsInputError(f"{name} must be an integer, got {value!r}")
    check_range(name, value, low, high)
    return int(value)


def check_choice(name: str, value, choices) -> str:
    """``value`` if it is one of ``choices``, else `PhysicsInputError` listing them."""
    choices = tuple(choices)
    if value not in choices:
        allowed = ", ".join(str(choice) for choice in choices)
        raise PhysicsInputError(f"{name}={value!r} is not allowed; choose one of {allowed}")
    return value


def parse_values(text: str, name: str) -> list[float]:
    """``'a,b,c'`` or ``'START:STOP:COUNT'`` (an inclusive, even grid) -> floats."""
    usage = f"{name} must be 'x1,x2,...' or 'START:STOP:COUNT' with COUNT >= 2, got {text!r}"
    try:
        if ":" in text:
            start, stop, count = text.split(":")
            start, stop, count = float(start), float(stop), int(count)
            if count < 2 or not (math.isfinite(start) and math.isfinite(stop)):
                raise ValueError
            return [float(v) for v in np.linspace(start, stop, count)]
        values = [float(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise PhysicsInputError(usage) from None
    if not values or not all(math.isfinite(v) for v in values):
        raise PhysicsInputError(usage)
    return values


def values_argument(name: str) -> Callable[[str], list[float]]:
    """An argparse ``type=`` for `parse_values` (argparse reports the error, exit 2)."""

    def parse(text: str) -> list[float]:
        try:
            return parse_values(text, name)
        except PhysicsInputError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse


def show_progress(items, enabled: bool, description: str, unit: str = "point", **options):
    """``items`` behind a tqdm bar when ``enabled`` (tqdm imported only then)."""
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=description, unit=unit, **options)

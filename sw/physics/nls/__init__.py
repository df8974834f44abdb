"""Normalized solutions of a coupled Schrödinger system with linear coupling.

    -Δu + λ1 u = μ1 |u|^(p-2) u + β v,   -Δv + λ2 v = μ2 |v|^(q-2) v + β u   in R^N,
    ∫u² = a,  ∫v² = b,   u, v > 0 radial,   N = 1..4,   2 < p, q <= 2*.

Seed: arXiv 2107.12564. See docs/physics/nls.md for the method and its validation.
``main(argv)`` is the ``qmatmul physics nls`` command.
"""

from .cli import main
from .errors import ConcentrationError, ConvergenceError, ResolutionError, VanishingError
from .grid import RadialGrid
from .scan import ScanPoint, ScanResult, scan
from .solvers import (
    BRANCHES,
    METHODS,
    NLSSolution,
    ScalarSolution,
    check_parameters,
    solve,
    solve_fixed_lambda,
    solve_scalar,
    solve_scalar_fixed_lambda,
)

__all__ = [
    "BRANCHES",
    "METHODS",
    "ConcentrationError",
    "ConvergenceError",
    "NLSSolution",
    "RadialGrid",
    "ResolutionError",
    "ScalarSolution",
    "ScanPoint",
    "ScanResult",
    "VanishingError",
    "check_parameters",
    "main",
    "scan",
    "solve",
    "solve_fixed_lambda",
    "solve_scalar",
    "solve_scalar_fixed_lambda",
]

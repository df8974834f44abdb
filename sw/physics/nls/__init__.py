"""Normalized solutions of a coupled Schrödinger system with linear coupling.

    -Δu + λ1 u = μ1 |u|^(p-2) u + β v,   -Δv + λ2 v = μ2 |v|^(q-2) v + β u   in R^N,
    ∫u² = a,  ∫v² = b,   u, v > 0 radial,   N = 1..4,   2 < p, q <= 2*.

Seed: arXiv 2107.12564. See docs/physics/nls.md for the method and its validation.
Shape: ``model`` (the equations), ``solvers`` (descent, fixed-λ, the long-tail route in
``tails``), ``observables`` (decay rate, energy parts, Morse index), ``certify`` (is it the
ground state?), ``scan``/``existence`` (paths in the parameters), ``plotting``, ``cli``
(``main(argv)`` is the ``qmatmul physics nls`` command).
"""

from .certify import Branch, GroundStateCheck, certify_ground_state, expected_morse_index
from .cli import main
from .errors import ConcentrationError, ConvergenceError, ResolutionError, VanishingError
from .existence import existence_study
from .grid import RadialGrid
from .model import decay_rate
from .observables import EnergyParts, energy_parts, morse_index
from .scan import BranchMap, ScanPoint, ScanResult, branch_map, scan
from .solvers import (
    BRANCHES,
    CHECKS,
    METHODS,
    Candidate,
    NLSSolution,
    ScalarSolution,
    check_parameters,
    solve,
    solve_fixed_lambda,
    solve_scalar,
    solve_scalar_fixed_lambda,
)
from .tails import ModeParameters, continue_in_decay

__all__ = [
    "BRANCHES",
    "CHECKS",
    "METHODS",
    "Branch",
    "BranchMap",
    "Candidate",
    "ConcentrationError",
    "ConvergenceError",
    "EnergyParts",
    "GroundStateCheck",
    "ModeParameters",
    "NLSSolution",
    "RadialGrid",
    "ResolutionError",
    "ScalarSolution",
    "ScanPoint",
    "ScanResult",
    "VanishingError",
    "branch_map",
    "certify_ground_state",
    "check_parameters",
    "continue_in_decay",
    "decay_rate",
    "energy_parts",
    "existence_study",
    "expected_morse_index",
    "main",
    "morse_index",
    "scan",
    "solve",
    "solve_fixed_lambda",
    "solve_scalar",
    "solve_scalar_fixed_lambda",
]

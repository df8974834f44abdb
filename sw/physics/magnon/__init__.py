"""Parity-symmetry breaking in a parametrically driven cavity-magnon system (arXiv 2105.08371).

- ``model``: parameters, conventions (drive factor, Kerr ordering, loss rates), the mean-field
  equations and their closed forms (effective magnon, critical drive, saddle node).
- ``solver``: mean-field steady states, stability, time integration, phases, phase diagrams.
- ``observables``: Lyapunov fluctuations, reduced states, Wigner functions and their peaks.
- ``quantum``: the Lindblad master equation (QuTiP operators, imported only when used): steady
  state and Liouvillian gaps by sparse LU or by Sylvester-preconditioned GMRES for large cutoffs.
- ``truncated_wigner``: stochastic phase-space trajectories (no cutoff) and escape rates.
- ``scaling``: the thermodynamic limit K -> 0: gaps, order parameter and Wigner functions.
- ``plotting``, ``cli``: figures and ``qmatmul physics magnon`` (:func:`main`).
"""

from .cli import main
from .model import (
    SWEEPABLE_PARAMETERS,
    Conventions,
    EffectiveMagnon,
    MagnonParams,
    critical_drive,
    effective_magnon,
    equations_of_motion,
    jacobian,
    predicted_order,
    residual,
    saddle_node_drive,
)
from .observables import (
    Fluctuations,
    WignerPeak,
    amplitude_grid,
    fluctuations,
    reduced_magnon_state,
    wigner_function,
    wigner_histogram,
    wigner_maxima,
)
from .quantum import (
    BranchQuantumState,
    KerrScanPoint,
    ParitySplitLiouvillian,
    QuantumSteadyState,
    branch_steady_state,
    kerr_scan,
    quantum_steady_state,
    suggested_cutoffs,
)
from .solver import (
    PHASES,
    Branch,
    HysteresisSweep,
    LongTimeBehaviour,
    Phase,
    PhaseDiagram,
    Trajectory,
    Transition,
    ZeroStateInstability,
    find_steady_states_numerically,
    hysteresis_sweep,
    integrate,
    long_time_behaviour,
    phase,
    phase_diagram,
    steady_states,
    transition,
    zero_state_instability,
)
from .truncated_wigner import EscapeRate, WignerTrajectories, escape_rate, truncated_wigner

__all__ = [
    "PHASES",
    "SWEEPABLE_PARAMETERS",
    "Branch",
    "BranchQuantumState",
    "Conventions",
    "EffectiveMagnon",
    "EscapeRate",
    "Fluctuations",
    "HysteresisSweep",
    "KerrScanPoint",
    "LongTimeBehaviour",
    "MagnonParams",
    "ParitySplitLiouvillian",
    "Phase",
    "PhaseDiagram",
    "QuantumSteadyState",
    "Trajectory",
    "Transition",
    "WignerPeak",
    "WignerTrajectories",
    "ZeroStateInstability",
    "amplitude_grid",
    "branch_steady_state",
    "critical_drive",
    "effective_magnon",
    "equations_of_motion",
    "escape_rate",
    "find_steady_states_numerically",
    "fluctuations",
    "hysteresis_sweep",
    "integrate",
    "jacobian",
    "kerr_scan",
    "long_time_behaviour",
    "main",
    "phase",
    "phase_diagram",
    "predicted_order",
    "quantum_steady_state",
    "reduced_magnon_state",
    "residual",
    "saddle_node_drive",
    "steady_states",
    "suggested_cutoffs",
    "transition",
    "truncated_wigner",
    "wigner_function",
    "wigner_histogram",
    "wigner_maxima",
    "zero_state_instability",
]

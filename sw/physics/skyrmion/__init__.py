"""Néel skyrmions in a polar magnet and the Rashba-Edelstein effect.

Seed: arXiv 2106.00833, a polar (C6v) magnetic metal, (Fe0.5Co0.5)5-xGeTe2, with a
room-temperature Néel skyrmion lattice and a Rashba-Edelstein effect. Interfacial (C_nv)
DMI in a polar magnet stabilizes Néel skyrmions in a field window; Rashba spin-orbit
coupling turns a charge current into a spin density.

    system = SpinSystem(48, D=0.3, B=0.04)                  # lattice units, J = 1
    state = relax(system, initial_state(system, "skyrmion-lattice"))
    state.topological_charge, state.phase                   # Berg-Lüscher Q, classifier
    trajectory = llg(system, state.m, 10.0, damping=0.1)    # geometric LLG integrator
    diagram = phase_diagram([0.3], [0.0, 0.04, 0.1])
    rashba_edelstein(alpha=1e-11, m_eff=1.0, tau=1e-14, E=1e4)

See docs/physics/skyrmion.md for the model, conventions and measured numbers.
"""

from .edelstein import EdelsteinResult, rashba_edelstein
from .lattice import LATTICES, SpinSystem, lattice_helix_period
from .observables import (
    PHASES,
    charge_density,
    classify_state,
    domain_census,
    skyrmion_radii,
    texture_summary,
    topological_charge,
)
from .phase import (
    FieldWindow,
    PhaseDiagram,
    commensurate_shape,
    lowest_energy_state,
    phase_diagram,
    skyrmion_lattice_window,
)
from .solvers import State, Trajectory, llg, relax
from .states import (
    INITIAL_STATES,
    add_noise,
    helix_state,
    initial_state,
    random_state,
    skyrmion_lattice_state,
    skyrmion_state,
    uniform_state,
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `qmatmul physics skyrmion` (see cli.py)."""
    from .cli import main as cli_main

    return cli_main(argv)


__all__ = [
    "INITIAL_STATES",
    "LATTICES",
    "PHASES",
    "EdelsteinResult",
    "FieldWindow",
    "PhaseDiagram",
    "SpinSystem",
    "State",
    "Trajectory",
    "add_noise",
    "charge_density",
    "classify_state",
    "commensurate_shape",
    "domain_census",
    "helix_state",
    "initial_state",
    "lattice_helix_period",
    "llg",
    "lowest_energy_state",
    "main",
    "phase_diagram",
    "random_state",
    "relax",
    "rashba_edelstein",
    "skyrmion_lattice_state",
    "skyrmion_lattice_window",
    "skyrmion_radii",
    "skyrmion_state",
    "texture_summary",
    "topological_charge",
    "uniform_state",
]

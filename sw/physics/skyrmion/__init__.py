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
    run = monte_carlo(system, 0.1, state.m)                 # k_B T = 0.1 J, Monte Carlo
    to_lattice(FCGT_CLASS, thickness=10e-9)                 # SI material -> lattice units
    rashba_edelstein(alpha=1e-11, m_eff=1.0, tau=1e-14, E=1e4)

Modules: ``model`` (SpinSystem, energy, units), ``states``, ``solvers`` (relax, LLG),
``observables`` (Q, radii, classifier), ``phase`` (T = 0 phase diagram, field window),
``thermal`` (Monte Carlo, T-B phase diagram), ``materials`` (SI parameter set, conversion),
``edelstein``, ``plotting``, ``cli``. See docs/physics/skyrmion.md for the model, conventions and
measured numbers.
"""

from .cli import main
from .edelstein import EdelsteinResult, rashba_edelstein
from .materials import FCGT_CLASS, LatticeMapping, MaterialParameters, to_lattice
from .model import LATTICES, SpinSystem, lattice_helix_period
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
from .thermal import (
    ONSAGER_TC,
    THERMAL_PHASES,
    ThermalPhaseDiagram,
    ThermalRun,
    anneal,
    langevin,
    monte_carlo,
    onsager_energy,
    onsager_magnetization,
    thermal_phase,
    thermal_phase_diagram,
)

__all__ = [
    "FCGT_CLASS",
    "INITIAL_STATES",
    "LATTICES",
    "ONSAGER_TC",
    "PHASES",
    "THERMAL_PHASES",
    "EdelsteinResult",
    "LatticeMapping",
    "MaterialParameters",
    "ThermalPhaseDiagram",
    "ThermalRun",
    "anneal",
    "langevin",
    "monte_carlo",
    "onsager_energy",
    "onsager_magnetization",
    "thermal_phase",
    "thermal_phase_diagram",
    "to_lattice",
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

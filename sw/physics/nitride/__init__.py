"""GaN/AlN polarization-induced 2D hole gases with floating donors and blocking layers.

Seed: Chaudhuri et al., arXiv:2106.15952. Shape: ``model`` (materials and transport
parameters from one cited data file), ``structure`` (stacks, segregating donor tails, IBLs),
``solver`` (self-consistent Schrödinger–Poisson; ``mesh`` and ``schrodinger`` are its
numerics), ``scattering`` and ``observables`` (the Hall mobility from its mechanisms),
``sweep`` (growths with and without IBLs, IBL placement and efficiency), ``plotting``,
``cli`` (``main(argv)`` is ``qmatmul physics nitride``). See docs/physics/nitride.md.
"""

from .cli import main
from .model import (
    TransportParameters,
    available_parameter_sets,
    load_parameter_set,
)
from .observables import (
    MECHANISMS,
    MobilityBreakdown,
    electrostatic_estimate_cm2,
    hall_mobility,
    recovery,
    transport_parameters,
)
from .plotting import plot_band_diagram
from .solver import NitrideResult, SolverOptions, Subband, solve
from .structure import (
    PRESETS,
    BlockingLayer,
    DonorSheet,
    DonorTail,
    Layer,
    Stack,
    UniformDonors,
    preset,
)
from .sweep import IBLMap, SweepResult, ibl_map, sweep, two_carrier_hall

__all__ = [
    "MECHANISMS",
    "PRESETS",
    "BlockingLayer",
    "DonorSheet",
    "DonorTail",
    "IBLMap",
    "Layer",
    "MobilityBreakdown",
    "NitrideResult",
    "SolverOptions",
    "Stack",
    "Subband",
    "SweepResult",
    "TransportParameters",
    "UniformDonors",
    "available_parameter_sets",
    "electrostatic_estimate_cm2",
    "hall_mobility",
    "ibl_map",
    "load_parameter_set",
    "main",
    "plot_band_diagram",
    "preset",
    "recovery",
    "solve",
    "sweep",
    "transport_parameters",
    "two_carrier_hall",
]

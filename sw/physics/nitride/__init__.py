"""GaN/AlN polarization-induced 2D hole gases with donor impurities and blocking layers.

Seed: Chaudhuri et al., arXiv:2106.15952. A 1D self-consistent Schrodinger-Poisson solver
(:func:`solve`), a Matthiessen mobility model (:func:`estimate_hall_mobility`) and the
p_s-versus-impurity comparison with and without impurity blocking layers (:func:`sweep`).
See docs/physics/nitride.md.
"""

from .cli import main
from .materials import available_parameter_sets, load_parameter_set
from .mobility import MobilityEstimate, estimate_hall_mobility
from .plotting import plot_band_diagram
from .solver import NitrideResult, SolverOptions, Subband, electrostatic_estimate_cm2, solve
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
from .sweep import SweepResult, sweep

__all__ = [
    "PRESETS",
    "BlockingLayer",
    "DonorSheet",
    "DonorTail",
    "Layer",
    "MobilityEstimate",
    "NitrideResult",
    "SolverOptions",
    "Stack",
    "Subband",
    "SweepResult",
    "UniformDonors",
    "available_parameter_sets",
    "electrostatic_estimate_cm2",
    "estimate_hall_mobility",
    "load_parameter_set",
    "main",
    "plot_band_diagram",
    "preset",
    "solve",
    "sweep",
]

"""Where the iterations start: grids sized from λ, scaled ground states, branch starts.

The system has several positive normalized solutions and the ground state is usually not
the one that continues from β = 0, so every solve starts from several guesses
(:data:`BRANCHES`): "both" (each component near its own scalar ground state, the branch
that continues from β = 0), "u_driven" (v near its scalar ground state and u a wide,
small-amplitude response β(-Δ + λ1)⁻¹ v to it, λ1 near its lower limit β²/λ2) and
"v_driven" (the other way round). Driven states are often the ground state: the driven
component costs almost no energy and gains -β∫uv.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .descent import project_to_fibre
from .grid import RadialGrid
from .model import Model, sobolev_exponent
from .newton import newton_fixed_lambda, petviashvili

BRANCHES = ("ground", "both", "u_driven", "v_driven")
DRIVEN = ("u_driven", "v_driven")


def grid_for(model: Model, lambdas: np.ndarray, refinement: float) -> RadialGrid:
    """The default grid for a solution with these λ (core ~ 1/sqrt(max λ), tail ~ 1/κ)."""
    core = 1.0 / math.sqrt(max(lambdas))
    decay_rate = model.decay_rate(lambdas)
    decay = 1.0 / decay_rate if math.isfinite(decay_rate) else 50.0 * core
    return RadialGrid.for_scales(model.dim, core, min(decay, 1e4 * core), refinement=refinement)


def grid_fits(grid: RadialGrid, ideal: RadialGrid) -> bool:
    return grid.spacing <= 1.25 * ideal.spacing and grid.r_max >= 0.8 * ideal.r_max


def _bell(r: np.ndarray, exponent: float) -> np.ndarray:
    """The 1D ground state shape sech^(2/(p-2)) of width ~1: a good start in any N."""
    x = 0.5 * (exponent - 2.0) * np.abs(r)
    sech = 2.0 * np.exp(-x) / (1.0 + np.exp(-2.0 * x))
    return sech ** (2.0 / (exponent - 2.0))


@lru_cache(maxsize=32)
def reference_ground_state(dim: int, exponent: float) -> tuple[RadialGrid, np.ndarray, float]:
    """Q solving -ΔQ + Q = |Q|^(p-2) Q (positive, radial): (grid, Q, ∫Q²).

    Cached; exists for 2 < p < 2*. Any other scalar solution follows by scaling:
    u = (λ/μ)^(1/(p-2)) Q(sqrt(λ) x) solves -Δu + λu = μ|u|^(p-2)u."""
    grid = RadialGrid.for_scales(dim, 1.0, 1.0)
    model = Model(grid, (exponent,), (1.0,))
    lambdas = np.array([1.0])
    U = (0.5 * exponent) ** (1.0 / (exponent - 2.0)) * _bell(grid.r, exponent)[None]
    U, _ = petviashvili(model, U, lambdas)
    U, _, _ = newton_fixed_lambda(model, U, lambdas, tol=1e-11)
    return grid, U[0], float(model.masses(U)[0])


def _has_reference(dim: int, exponent: float) -> bool:
    return exponent < sobolev_exponent(dim) - 1e-9


def _scaling_lambda(dim: int, exponent: float, mu: float, mass: float) -> float | None:
    """λ of the scalar normalized solution of mass ``mass`` (β = 0), from the scaling
    mass = (λ/μ)^(2/(p-2)) λ^(-N/2) ∫Q²; None at the mass-critical or Sobolev-critical
    exponent where the scaling does not fix λ."""
    power = 2.0 / (exponent - 2.0) - dim / 2.0  # mass ∝ λ^power
    if abs(power) < 0.05 or not _has_reference(dim, exponent):
        return None
    reference_mass = reference_ground_state(dim, exponent)[2]
    return (mass * mu ** (2.0 / (exponent - 2.0)) / reference_mass) ** (1.0 / power)


def scaled_profile(grid: RadialGrid, exponent: float, mu: float, lam: float) -> np.ndarray:
    """The scalar ground state of -Δu + λu = μ|u|^(p-2)u sampled on ``grid`` (a bell of
    the right width when there is none)."""
    amplitude = (lam / mu) ** (1.0 / (exponent - 2.0))
    if _has_reference(grid.dim, exponent):
        ref_grid, Q, _ = reference_ground_state(grid.dim, exponent)
        return amplitude * ref_grid.interpolate(Q, math.sqrt(lam) * grid.r)
    return amplitude * _bell(math.sqrt(lam) * grid.r, 4.0)


def _own_lambdas(dim: int, exponents: tuple, mus: tuple, masses: np.ndarray) -> np.ndarray:
    """λ of each component alone (β = 0) at its mass, where the scaling law fixes it; the
    largest known one (or 1) otherwise."""
    estimates = [
        _scaling_lambda(dim, p, mu, m) for p, mu, m in zip(exponents, mus, masses, strict=True)
    ]
    known = [x for x in estimates if x is not None]
    fallback = max(known) if known else 1.0
    return np.array([fallback if x is None else x for x in estimates])


def initial_state(
    problem: Model, masses: np.ndarray, kind: str, grid: RadialGrid | None, refinement: float
) -> tuple[Model, np.ndarray, np.ndarray]:
    """(model on its grid, profiles, λ) to start ``kind`` from (see BRANCHES)."""
    beta = problem.beta
    own = _own_lambdas(problem.dim, problem.exponents, problem.mus, masses)
    if problem.components == 1 or kind == "both":
        lambdas = own.copy()
        if problem.components == 2:
            lambdas += beta * np.sqrt(masses[::-1] / masses)
        driven = None
    else:
        driven = 0 if kind == "u_driven" else 1
        lambdas = own.copy()
        lambdas[driven] = 1.5 * beta**2 / own[1 - driven]
    model = problem.on_grid(grid if grid is not None else grid_for(problem, lambdas, refinement))
    U = np.stack(
        [
            scaled_profile(model.grid, p, mu, lam)
            for p, mu, lam in zip(problem.exponents, problem.mus, own, strict=True)
        ]
    )
    if driven is not None:
        U[driven] = model.grid.solve_shifted(lambdas[driven], beta * U[1 - driven])
    return model, model.normalize(U, masses), lambdas


def more_driven_guesses(
    model: Model, U: np.ndarray, lambdas: np.ndarray, masses: np.ndarray, kind: str
) -> list[tuple[np.ndarray, np.ndarray]]:
    """More starts for the fixed-λ method on a driven branch, for stronger coupling.

    Both use λ_j = -<E'_j(U), u_j> / m_j of the first guess put on the Pohozaev manifold:
    as it is (if admissible), and with the driven λ raised to at least 1.5 β² / λ_leader
    and the driven profile recomputed as the response to the leader at that λ. Guesses
    within 10% of the first one are dropped."""
    driven = 0 if kind == "u_driven" else 1
    projected = project_to_fibre(model, U, masses)
    gradient = -model.laplacian(projected) - model.nonlinearity(projected)
    gradient -= model.coupling(projected)
    multipliers = -np.array(
        [model.grid.integrate(g * u) for g, u in zip(gradient, projected, strict=True)]
    )
    multipliers /= masses
    guesses = []
    if model.admissible(multipliers):
        guesses.append((projected, multipliers))
    if multipliers[1 - driven] > 0:
        repaired = multipliers.copy()
        repaired[driven] = max(repaired[driven], 1.5 * model.beta**2 / repaired[1 - driven])
        rebuilt = U.copy()
        rebuilt[driven] = model.grid.solve_shifted(repaired[driven], model.beta * U[1 - driven])
        guesses.append((model.normalize(rebuilt, masses), repaired))
    return [(V, lam) for V, lam in guesses if np.max(np.abs(lam / lambdas - 1)) > 0.1]


def tail_grid(dim: int, core_length: float, kappa: float, refinement: float) -> RadialGrid:
    """The grid for a driven state of decay rate κ, out to 38/κ with no cap (``tails.py``)."""
    return RadialGrid.for_scales(dim, core_length, 1.0 / kappa, refinement=refinement)

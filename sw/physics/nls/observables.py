"""Quantities derived from a solution: decay rate, energy parts, constrained Morse index.

The Morse index is the local test of "ground state": the least-energy normalized solution
of the mass-supercritical problem is a minimum of the energy on the Pohozaev manifold, a
codimension-one set in the product of the mass spheres, so the energy restricted to the
mass constraint has exactly one descending direction there (the dilation). A solution
whose constrained Hessian has two or more descending directions cannot be the ground
state. (Index 1 is necessary, not sufficient: a second local minimum on the manifold also
has index 1; the energy comparison in ``certify.py`` covers that.) In the mass-subcritical
case the ground state is a local minimum on the mass spheres: index 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .grid import RadialGrid, sphere_area
from .tails import ModeParameters


@dataclass(frozen=True)
class EnergyParts:
    """E = kinetic/2 - nonlinear - coupling, per term (integrals over R^N)."""

    kinetic: float  # ∫|∇u|² + |∇v|²
    nonlinear: float  # μ1/p ∫|u|^p + μ2/q ∫|v|^q
    coupling: float  # β ∫uv

    @property
    def energy(self) -> float:
        return 0.5 * self.kinetic - self.nonlinear - self.coupling


def energy_parts(grid: RadialGrid, exponents, mus, beta: float, U: np.ndarray) -> EnergyParts:
    U = np.atleast_2d(U)
    kinetic = sum(-grid.integrate(u * (grid.laplacian @ u)) for u in U)
    nonlinear = sum(
        mu / p * grid.integrate(np.abs(u) ** p) for u, p, mu in zip(U, exponents, mus, strict=True)
    )
    coupling = beta * grid.integrate(U[0] * U[1]) if len(U) == 2 else 0.0
    return EnergyParts(float(kinetic), float(nonlinear), float(coupling))


def _stiffness(grid: RadialGrid) -> np.ndarray:
    """k_i with ∫|∇w|² ≈ Σ_i k_i (w_{i+1} - w_i)² (w = 0 beyond the last cell).

    Second-order finite volumes: the flux through the cell edge ξ = (i+1) h, whose radius
    is r(ξ); symmetric by construction, unlike the fourth-order stencil of the solver.
    """
    h = grid.spacing
    edges = grid._phi((np.arange(grid.size) + 1.0) * h)[0]
    centres = np.append(grid.r, grid._phi(np.array([(grid.size + 0.5) * h]))[0])
    return sphere_area(grid.dim) * edges ** (grid.dim - 1) / np.diff(centres)


def _constraints(U: np.ndarray, weights: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Scaled constraint vectors (M, modes, k): δ∫u_c² = 0 in the mode basis.

    For two components the second one is s_v² (∂∫u²) - s_u² (∂∫v²) (an invertible change of
    the constraint basis, so the inertia is unchanged), written out so that its slow-mode
    part is proportional to w_f: the far-field slow parts of the two mass gradients are
    parallel, and with κ -> 0 their responses H⁻¹c are huge and nearly parallel too, so
    the difference must be formed analytically, not from the two responses.
    """
    root = np.sqrt(weights)
    if U.shape[0] == 1:
        return (root * U[0])[:, None, None] * rotation[None, :, :]
    W = rotation.T @ U  # (w_s, w_f); rotation is orthogonal
    (s_u, p_u), (s_v, p_v) = rotation
    first = np.stack([root * U[0] * s_u, root * U[0] * p_u], axis=1)
    cross = s_u * s_v * (s_v * p_u - s_u * p_v)
    diagonal = (s_v * p_u) ** 2 - (s_u * p_v) ** 2
    second = np.stack([root * cross * W[1], root * (cross * W[0] + diagonal * W[1])], axis=1)
    return np.stack([first, second], axis=2)


def _eliminate_from_far_end(blocks, coupling, constraints):
    """Block LDLᵀ of the block-tridiagonal H (diagonal blocks ``blocks``, off-diagonal
    -coupling[i] I), eliminating from the last node inward: pivots D_i = A_i -
    c_i² D_{i+1}⁻¹, right-hand sides g_i = C_i + c_i D_{i+1}⁻¹ g_{i+1}, and the number of
    negative eigenvalues of all pivots (= n₋(H), Haynsworth)."""
    size = blocks.shape[0]
    pivots = np.empty_like(blocks)
    right = np.empty_like(constraints)
    negative = 0
    inverse_next = np.zeros_like(blocks[0])
    for i in range(size - 1, -1, -1):
        c2 = coupling[i] ** 2 if i < size - 1 else 0.0
        pivot = blocks[i] - c2 * inverse_next
        rhs = constraints[i] + (coupling[i] * (inverse_next @ right[i + 1]) if c2 else 0.0)
        pivots[i], right[i] = pivot, rhs
        if pivot.shape[0] == 1:
            negative += int(pivot[0, 0] < 0)
            inverse_next = 1.0 / pivot
        else:
            a, b, d = pivot[0, 0], pivot[0, 1], pivot[1, 1]
            det = a * d - b * b
            negative += 1 if det < 0 else (2 if a + d < 0 else 0)
            inverse_next = np.array([[d, -b], [-b, a]]) / det
    return pivots, right, negative


def morse_index(
    grid: RadialGrid,
    exponents,
    mus,
    beta: float,
    U: np.ndarray,
    lambdas,
    *,
    mode: ModeParameters | None = None,
) -> int:
    """Descending directions of the energy on the mass constraint, at a solution.

    The Hessian of E - Σ λ_j/2 ∫u_j² (the linearized operator -Δ + Λ - f'(U)) restricted
    to the tangent space {∫ u_j w_j = 0} of the mass spheres, counted in the radial
    subspace. Inertia by Sylvester's law on a block LDLᵀ factorization eliminated from the
    far end inward (the far field is positive definite, so the pivots there are accurate),
    in the slow/fast mode basis for two components (so a gap λ1 λ2 - β² far below double
    precision is seen exactly), after scaling by the quadrature weights; the constraints
    enter through n₋(H|C⊥) = n₋(H) + n₊(Cᵀ H⁻¹ C) - (number of constraints).
    """
    U = np.atleast_2d(np.asarray(U, dtype=float))
    components = U.shape[0]
    weights = grid.weights
    stiffness = _stiffness(grid)
    slopes = np.stack(
        [
            (p - 1.0) * mu * np.abs(u) ** (p - 2.0)
            for u, p, mu in zip(U, exponents, mus, strict=True)
        ]
    )
    if components == 1:
        rotation = np.ones((1, 1))
        shifts = np.array([float(np.atleast_1d(lambdas)[0])])
    else:
        mode = mode or ModeParameters.from_lambdas(lambdas, beta)
        rotation = np.column_stack(mode.vectors())  # columns s, p in (u, v) coordinates
        shifts = np.array([mode.kappa2, mode.fast])
    # Scaled by 1/sqrt(weights) on both sides (a congruence: the inertia is unchanged).
    scale = 1.0 / np.sqrt(weights)
    coupling = stiffness[:-1] * scale[:-1] * scale[1:]  # -k_i between i and i+1
    ring = np.concatenate(([0.0], stiffness[:-1]))
    diagonal_stiffness = (ring + stiffness) * scale**2
    blocks = np.einsum("ci,cm,cn->imn", slopes, rotation, rotation)
    blocks = -blocks
    blocks[:, range(components), range(components)] += shifts + diagonal_stiffness[:, None]
    constraints = _constraints(U, weights, rotation)

    pivots, right, negative = _eliminate_from_far_end(blocks, coupling, constraints)
    solution = np.empty_like(constraints)
    solution[0] = np.linalg.solve(pivots[0], right[0])
    for i in range(grid.size - 1):
        solution[i + 1] = np.linalg.solve(pivots[i + 1], right[i + 1] + coupling[i] * solution[i])
    gram = np.einsum("imc,imd->cd", constraints, solution)
    positive = int(np.sum(np.linalg.eigvalsh(0.5 * (gram + gram.T)) > 0))
    return negative + positive - components

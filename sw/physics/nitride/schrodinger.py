"""1D effective-mass Schrodinger equation on a non-uniform mesh.

    -d/dz [ C / m(z) d psi/dz ] + V(z) psi = E psi,   C = hbar^2 / (2 m0)

discretized by finite volumes (mass per cell, potential per node), hard walls at both
end nodes. The generalized symmetric problem A psi = E W psi (W = dual cell widths) is
turned into a symmetric tridiagonal one and solved with LAPACK (scipy's
``eigh_tridiagonal``). Units: nm, eV, masses in m0.
"""

from __future__ import annotations

import numpy as np
import scipy.constants as const
from scipy.linalg import eigh_tridiagonal

# hbar^2 / (2 m0) in eV nm^2 (about 0.0381)
HBAR2_OVER_2M0_EV_NM2 = const.hbar**2 / (2.0 * const.m_e) / const.e * 1e18


def solve_schrodinger(
    z_nm: np.ndarray,
    potential_eV: np.ndarray,
    cell_mass_m0: np.ndarray,
    energy_ceiling_eV: float | None = None,
    max_states: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Bound states of one band.

    Args:
        z_nm: node positions (N,), strictly increasing. psi = 0 at the first and last node.
        potential_eV: potential energy at the nodes (N,).
        cell_mass_m0: effective mass of each cell between nodes (N-1,).
        energy_ceiling_eV: return every state with E <= ceiling (default: use max_states).
        max_states: return at most this many lowest states.

    Returns:
        energies_eV (k,) ascending, and psi (k, N) in nm^-1/2 with sum(|psi|^2 w) = 1
        over the dual cell widths w (so |psi|^2 is a probability per nm).
    """
    z_nm = np.asarray(z_nm, dtype=float)
    potential_eV = np.asarray(potential_eV, dtype=float)
    cell_mass_m0 = np.asarray(cell_mass_m0, dtype=float)
    spacing = np.diff(z_nm)
    if np.any(spacing <= 0.0):
        raise ValueError("z_nm must be strictly increasing")
    if cell_mass_m0.shape != spacing.shape or potential_eV.shape != z_nm.shape:
        raise ValueError("need len(potential_eV) == len(z_nm) == len(cell_mass_m0) + 1")
    if energy_ceiling_eV is None and max_states is None:
        raise ValueError("give energy_ceiling_eV or max_states")

    coupling = HBAR2_OVER_2M0_EV_NM2 / (cell_mass_m0 * spacing)  # C / (m h) per cell
    dual_width = 0.5 * (spacing[:-1] + spacing[1:])  # interior nodes only
    diagonal = (coupling[:-1] + coupling[1:]) / dual_width + potential_eV[1:-1]
    off_diagonal = -coupling[1:-1] / np.sqrt(dual_width[:-1] * dual_width[1:])

    interior = diagonal.size
    if energy_ceiling_eV is not None:
        lowest = float(np.min(potential_eV)) - 1.0
        if energy_ceiling_eV <= lowest:
            return np.empty(0), np.empty((0, z_nm.size))
        energies, vectors = eigh_tridiagonal(
            diagonal, off_diagonal, select="v", select_range=(lowest, energy_ceiling_eV)
        )
        if max_states is not None:
            energies, vectors = energies[:max_states], vectors[:, :max_states]
    else:
        count = min(int(max_states), interior)
        energies, vectors = eigh_tridiagonal(
            diagonal, off_diagonal, select="i", select_range=(0, count - 1)
        )
    psi = np.zeros((energies.size, z_nm.size))
    psi[:, 1:-1] = (vectors / np.sqrt(dual_width)[:, None]).T
    return energies, psi


def node_weights_nm(z_nm: np.ndarray) -> np.ndarray:
    """Control-volume width of every node (half cells at the two ends)."""
    spacing = np.diff(z_nm)
    weights = np.zeros_like(z_nm)
    weights[:-1] += 0.5 * spacing
    weights[1:] += 0.5 * spacing
    return weights

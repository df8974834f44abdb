"""Rashba-Edelstein effect of a 2D Rashba gas in the relaxation-time approximation.

Hamiltonian H = hbar^2 k^2 / 2m + alpha (sigma_x k_y - sigma_y k_x): two bands
E_s(k) = hbar^2 k^2 / 2m + s alpha |k| (s = +-1) with spins locked perpendicular to k,
<sigma>_s = s (k_y, -k_x) / |k|.

A field E along +x shifts both Fermi contours by delta_k = q E tau / hbar (Boltzmann
equation, relaxation time tau, carrier charge q): delta f_s = -delta_k df0/dk_x. The
spin density (angular momentum per area, S = hbar/2 <sigma>) is integrated numerically
on a Cartesian k-grid,

    S_y = (hbar / 2) sum_s int d^2k / (2 pi)^2  delta f_s(k) <sigma_y>_s(k),

and compared with the closed form S_y = q E tau m alpha / (4 pi hbar^2), which holds for
any Fermi energy above the band crossing (E_F > 0) because k_+(E) - k_-(E) = -2 m alpha /
hbar^2 on every energy shell. A small thermal smearing of f0 makes the integrand smooth,
so the grid sum converges exponentially; its only cost is exp(-E_F / kT) from the band
bottom, negligible at the default kT = E_F / 25.

The inverse Edelstein (spin-to-charge) conversion length is lambda_IREE = alpha tau / hbar
(Shen, Vignale and Raimondi, PRL 112, 096601 (2014)).

Units: alpha in eV m, m_eff in electron masses, tau in s, E in V/m, energies in eV,
charge in units of the elementary charge (default -1, electrons); results in SI.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import constants

from ..common import PhysicsInputError, check_count, check_positive, check_range

HBAR = constants.hbar  # J s
ELEMENTARY_CHARGE = constants.e  # C
ELECTRON_MASS = constants.m_e  # kg
EV = constants.electron_volt  # J


@dataclass(frozen=True)
class EdelsteinResult:
    """Spin density and current of a Rashba gas in a field E along x (SI units)."""

    spin_density: float  # S_y from the k-grid, J s / m^2 (angular momentum per area)
    spin_density_closed_form: float  # q E tau m alpha / (4 pi hbar^2), J s / m^2
    relative_difference: float  # |numeric / closed form - 1|
    spin_polarization: float  # S_y / (hbar / 2): net spins per m^2
    current_density: float  # j_x from the same grid, A / m
    carrier_density: float  # n, 1 / m^2
    lambda_iree: float  # alpha tau / hbar, m
    fermi_energy: float  # eV
    smearing: float  # kT of the smoothed Fermi function, eV
    grid_points: int  # per axis

    def to_dict(self) -> dict:
        return asdict(self)


def rashba_edelstein(
    alpha: float,
    m_eff: float,
    tau: float,
    E: float,
    *,
    fermi_energy: float = 0.1,
    smearing: float | None = None,
    grid_points: int = 400,
    charge: float = -1.0,
) -> EdelsteinResult:
    """Current-induced spin density of a 2D Rashba gas, numerically and in closed form.

    alpha: Rashba parameter, eV m (nonzero; e.g. 1e-11 eV m = 0.1 eV Angstrom).
    m_eff: effective mass in electron masses, > 0. tau: momentum relaxation time, s, > 0.
    E: electric field along x, V/m (finite). fermi_energy: eV above the band crossing at
    k = 0, > 0 (both bands occupied). smearing: kT in eV, default fermi_energy / 25.
    grid_points: k-grid points per axis, even, in [100, 4000]. charge: carrier charge in units
    of e (-1 for electrons).
    """
    alpha_si = check_range("alpha (eV m)", alpha) * EV
    if alpha_si == 0:
        raise PhysicsInputError(
            "alpha (eV m) must be nonzero: without Rashba coupling there is no effect"
        )
    mass = check_positive("m_eff (electron masses)", m_eff) * ELECTRON_MASS
    tau = check_positive("tau (s)", tau)
    check_range("E (V/m)", E)
    fermi = check_positive("fermi_energy (eV above the band crossing)", fermi_energy) * EV
    if smearing is None:
        kT = fermi / 25.0
    else:
        kT = check_range("smearing (eV)", smearing, 0.0, fermi / EV / 10, low_open=True) * EV
    check_count("grid_points", grid_points, 100, 4000)
    if grid_points % 2:
        raise PhysicsInputError(f"grid_points must be even (no point at k = 0), got {grid_points}")
    if check_range("charge (units of e)", charge) == 0:
        raise PhysicsInputError("charge (units of e) must be nonzero")
    q = charge * ELEMENTARY_CHARGE

    # The grid must reach past the outer Fermi contour by many smearing widths.
    k_alpha = mass * abs(alpha_si) / HBAR**2
    e_max = fermi + 40.0 * kT
    k_max = k_alpha + math.sqrt(k_alpha**2 + 2.0 * mass * e_max / HBAR**2)
    # Cell-centred grid with an even number of points: none at k = 0, where the spin
    # direction is undefined.
    spacing = 2.0 * k_max / grid_points
    axis = spacing * (np.arange(grid_points) - (grid_points - 1) / 2.0)
    kx, ky = np.meshgrid(axis, axis, indexing="ij")
    k = np.hypot(kx, ky)
    cell = spacing**2 / (2.0 * math.pi) ** 2  # d^2k / (2 pi)^2

    delta_k = q * E * tau / HBAR  # Boltzmann shift of the Fermi sea along x
    spin_density = current = density = 0.0
    for s in (+1.0, -1.0):
        energy = HBAR**2 * k**2 / (2.0 * mass) + s * alpha_si * k
        x = (energy - fermi) / kT
        occupation = 0.5 * (1.0 - np.tanh(0.5 * x))
        minus_df_dE = 0.25 / kT / np.cosh(0.5 * np.clip(x, -700, 700)) ** 2
        velocity_x = HBAR * kx / mass + s * alpha_si * kx / (HBAR * k)  # dE/dk_x / hbar
        # delta f = -delta_k df0/dk_x = delta_k (-df0/dE) hbar v_x
        delta_f = delta_k * minus_df_dE * HBAR * velocity_x
        sigma_y = -s * kx / k
        spin_density += 0.5 * HBAR * cell * float(np.sum(delta_f * sigma_y))
        current += q * cell * float(np.sum(delta_f * velocity_x))
        density += cell * float(np.sum(occupation))

    closed = q * E * tau * mass * alpha_si / (4.0 * math.pi * HBAR**2)
    relative = abs(spin_density / closed - 1.0) if closed != 0 else abs(spin_density)
    return EdelsteinResult(
        spin_density=spin_density,
        spin_density_closed_form=closed,
        relative_difference=relative,
        spin_polarization=spin_density / (0.5 * HBAR),
        current_density=current,
        carrier_density=density,
        lambda_iree=alpha_si * tau / HBAR,
        fermi_energy=fermi / EV,
        smearing=kT / EV,
        grid_points=int(grid_points),
    )

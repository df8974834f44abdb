"""A simple Matthiessen-rule MODEL of the 2D hole gas Hall mobility.

This is a trend model, not a transport calculation:

    1 / mu = 1 / mu_intrinsic + 1 / mu_impurity

* ``mu_intrinsic`` lumps phonons, dislocations and interface roughness into one fixed
  number (data file, ``model_assumptions``).
* ``mu_impurity`` is Coulomb scattering of a degenerate, strictly 2D gas (all holes in
  one parabolic band of in-plane mass m, at the 2DHG centroid) by the *ionized* donors the
  solver finds, each at distance d from the gas, with Thomas-Fermi screening
  (Davies 1998, ch. 8):

      1/tau = sum_i n_i (m / 2 pi hbar^3) 8 int_0^1 |V(2 k_F u, d_i)|^2 u^2 / sqrt(1-u^2) du
      V(q, d) = e^2 / (2 eps) exp(-q d) / (q + q_TF),   q_TF = m e^2 / (2 pi eps hbar^2)

  For k_F d >> 1 and strong screening this reduces to the textbook remote-impurity
  mobility mu = 8 e (k_F d)^3 / (pi hbar n_imp). Hall factor 1; image charges from the
  GaN/AlN permittivity step and the form factor of the gas are neglected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.constants as const

from .materials import load_parameter_set

_THETA, _THETA_WEIGHTS = np.polynomial.legendre.leggauss(96)
_THETA = 0.25 * math.pi * (_THETA + 1.0)  # map [-1, 1] to [0, pi/2]
_THETA_WEIGHTS = 0.25 * math.pi * _THETA_WEIGHTS


def ionized_impurity_mobility_cm2_per_Vs(
    sheet_densities_cm2: np.ndarray,
    distances_nm: np.ndarray,
    hole_density_cm2: float,
    inplane_mass_m0: float,
    relative_permittivity: float,
) -> float:
    """Mobility limited by charged impurity sheets at the given distances from the gas."""
    if hole_density_cm2 <= 0.0:
        return float("nan")
    sheets = np.asarray(sheet_densities_cm2, dtype=float) * 1e4  # m^-2
    distances = np.abs(np.asarray(distances_nm, dtype=float)) * 1e-9  # m
    keep = sheets > 0.0
    if not np.any(keep):
        return float("inf")
    sheets, distances = sheets[keep], distances[keep]
    mass = inplane_mass_m0 * const.m_e
    permittivity = relative_permittivity * const.epsilon_0
    fermi_k = math.sqrt(2.0 * math.pi * hole_density_cm2 * 1e4)  # spin-degenerate 2D gas
    screening_k = mass * const.e**2 / (2.0 * math.pi * permittivity * const.hbar**2)
    q = 2.0 * fermi_k * np.sin(_THETA)  # (n_theta,)
    potential = (
        const.e**2
        / (2.0 * permittivity)
        * np.exp(-np.outer(distances, q))
        / (q + screening_k)[None, :]
    )
    angular = (potential**2 * np.sin(_THETA) ** 2) @ _THETA_WEIGHTS  # int |V|^2 u^2/sqrt(1-u^2)
    rate = (mass / (2.0 * math.pi * const.hbar**3) * 8.0 * angular * sheets).sum()
    return float(const.e / (mass * rate) * 1e4)


@dataclass(frozen=True)
class MobilityEstimate:
    """Output of :func:`estimate_hall_mobility` (cm^2/Vs). A model, see the module doc."""

    intrinsic_cm2_per_Vs: float
    ionized_impurity_cm2_per_Vs: float
    total_cm2_per_Vs: float
    sheet_conductance_mS: float  # q p_s mu (milli-siemens per square)

    def summary(self) -> str:
        return (
            f"Hall mobility MODEL (Matthiessen): {self.total_cm2_per_Vs:.3g} cm^2/Vs "
            f"(intrinsic {self.intrinsic_cm2_per_Vs:.3g}, ionized donors "
            f"{self.ionized_impurity_cm2_per_Vs:.3g}); sheet conductance "
            f"{self.sheet_conductance_mS:.3g} mS/sq"
        )


def estimate_hall_mobility(result, intrinsic_cm2_per_Vs: float | None = None) -> MobilityEstimate:
    """Matthiessen mobility model for a solved structure (a :class:`NitrideResult`)."""
    if intrinsic_cm2_per_Vs is None:
        assumptions = load_parameter_set(result.parameter_set).assumptions
        intrinsic_cm2_per_Vs = float(assumptions["intrinsic_hole_mobility_cm2_per_Vs"])
    if not intrinsic_cm2_per_Vs > 0.0:
        raise ValueError(f"intrinsic_cm2_per_Vs must be > 0, got {intrinsic_cm2_per_Vs:g}")
    sheets_cm2 = result.ionized_donor_density_cm3 * result.node_weights_nm * 1e-7
    impurity = ionized_impurity_mobility_cm2_per_Vs(
        sheets_cm2,
        result.z_nm - result.hole_centroid_nm,
        result.p_s_cm2,
        result.channel_hole_mass_m0,
        result.channel_relative_permittivity,
    )
    if math.isnan(impurity):
        total = float("nan")
    else:
        total = 1.0 / (1.0 / intrinsic_cm2_per_Vs + 1.0 / impurity)
    conductance = const.e * result.p_s_cm2 * 1e4 * total * 1e-4 * 1e3 if total == total else 0.0
    return MobilityEstimate(intrinsic_cm2_per_Vs, impurity, total, conductance)

"""Momentum relaxation of a 2D hole gas: one function per scattering mechanism.

Each subband is a parabolic 2D band (in-plane mass m, spin-degenerate) with envelope ψ(z)
from the Schrödinger–Poisson solution. Rates are Born (Fermi golden rule) momentum
relaxation rates 1/τ(k) at in-plane wavevector k; the solver's wavefunctions enter through
form factors:

    H(q)    = ∫∫ ψ²(z) ψ²(z') exp(-q |z - z'|) dz dz'     (gas on itself: screening, POP)
    F(q, z0) = ∫ ψ²(z) exp(-q |z - z0|) dz                 (gas and a charge sheet at z0)

Screening: static, by the 2D gas itself, finite-temperature Thomas–Fermi (the q -> 0 limit
of the 2D Lindhard function at temperature T):

    ε(q) = 1 + (q_s / q) H(q),   q_s = e² / (2 ε_s) Σ_i D_i / (1 + exp(-η_i))

(D_i = m_i / π ħ² the density of states of subband i, η_i its reduced Fermi level). It
applies to the Coulomb-type mechanisms (ionized impurities, dislocations, interface
roughness); acoustic and polar-optical phonons are left unscreened (dynamic screening of
the LO phonon is not modeled). Intersubband scattering is neglected: each subband relaxes
on its own, all subbands screen.

Everything here is SI: metres, kilograms, joules, seconds; sheet densities in m^-2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.constants as const

HBAR = const.hbar
CHARGE = const.e
EPSILON_0 = const.epsilon_0
BOLTZMANN = const.k

# Angular quadrature on θ in (0, π) (integrands are even in θ: ∫_0^{2π} = 2 ∫_0^π).
_THETA_NODES, _THETA_WEIGHTS = np.polynomial.legendre.leggauss(96)
THETA = 0.5 * math.pi * (_THETA_NODES + 1.0)
THETA_WEIGHTS = math.pi * _THETA_WEIGHTS  # 2 * (π / 2) * w: the full 0..2π integral


@dataclass(frozen=True)
class Envelope:
    """ψ²(z) of one subband on nodes z (m) with quadrature weights (m); ∫ψ² = 1."""

    z: np.ndarray
    density: np.ndarray  # ψ², 1/m
    weights: np.ndarray

    @classmethod
    def from_nodes(cls, z: np.ndarray, psi: np.ndarray, weights: np.ndarray) -> Envelope:
        """Keep the nodes where ψ² is above 1e-14 of its peak (the rest adds nothing)."""
        density = np.asarray(psi, dtype=float) ** 2
        keep = density > 1e-14 * density.max()
        first, last = np.nonzero(keep)[0][[0, -1]]
        window = slice(max(first - 1, 0), last + 2)
        z, density, weights = z[window], density[window], weights[window]
        return cls(z, density / float(np.dot(density, weights)), weights)

    def self_form_factor(self, q: np.ndarray) -> np.ndarray:
        """H(q), dimensionless, H(0) = 1, decreasing in q.

        O(nodes) per q: with z sorted, Σ_ij m_i m_j e^(-q|z_i - z_j|) = Σ_i m_i (2 L_i - m_i)
        where L_i = m_i + e^(-q (z_i - z_(i-1))) L_(i-1) sums the nodes at or below i."""
        shape = np.shape(q)
        q = np.atleast_1d(np.asarray(q, dtype=float)).ravel()
        mass = self.density * self.weights
        decay = np.exp(-np.outer(np.diff(self.z), q))  # (nodes - 1, Q)
        below = np.empty((mass.size, q.size))
        below[0] = mass[0]
        for i in range(1, mass.size):
            below[i] = mass[i] + decay[i - 1] * below[i - 1]
        return (mass[:, None] * (2.0 * below - mass[:, None])).sum(axis=0).reshape(shape)

    def sheet_form_factors(self, q: np.ndarray, z0: np.ndarray) -> np.ndarray:
        """F(q, z0) for every sheet position z0: shape (len(z0), len(q)).

        Sheets outside the envelope's nodes see e^(-q d) times one sum per side; the few
        inside are summed directly."""
        q = np.atleast_1d(np.asarray(q, dtype=float))
        z0 = np.asarray(z0, dtype=float)
        mass = self.density * self.weights
        low, high = self.z[0], self.z[-1]
        from_low = np.exp(-np.outer(self.z - low, q)).T @ mass  # Σ m_j e^(-q (z_j - z_min))
        from_high = np.exp(-np.outer(high - self.z, q)).T @ mass
        result = np.empty((z0.size, q.size))
        below, above = z0 <= low, z0 >= high
        result[below] = np.exp(-np.outer(low - z0[below], q)) * from_low
        result[above] = np.exp(-np.outer(z0[above] - high, q)) * from_high
        inside = ~(below | above)
        for index in np.nonzero(inside)[0]:
            distance = np.abs(z0[index] - self.z)
            result[index] = np.exp(-np.outer(q, distance)) @ mass
        return result

    def inverse_width(self) -> float:
        """∫ψ⁴ dz (1/m): the effective inverse width of acoustic phonon scattering."""
        return float(np.dot(self.density**2, self.weights))

    def centroid(self) -> float:
        return float(np.dot(self.z * self.density, self.weights))


@dataclass(frozen=True)
class Subband2D:
    """What transport needs of one subband: mass (kg), sheet density (m^-2), reduced Fermi
    level η = (E_F - E_edge)/kT on the hole energy scale, envelope."""

    mass: float
    density: float
    eta: float
    envelope: Envelope

    @property
    def density_of_states(self) -> float:
        """D = m / (π ħ²) per J per m² (spin included)."""
        return self.mass / (math.pi * HBAR**2)


def screening_wavevector(subbands, temperature: float, permittivity: float) -> np.ndarray:
    """q_s,i = e²/(2ε) D_i / (1 + exp(-η_i)) per subband (1/m); their sum screens."""
    del temperature  # η already carries it; kept in the signature for clarity at call sites
    return np.array(
        [
            CHARGE**2 / (2.0 * permittivity) * band.density_of_states / (1.0 + math.exp(-band.eta))
            for band in subbands
        ]
    )


class Screening:
    """ε(q) = 1 + Σ_i q_s,i H_i(q) / q, tabulated on a log grid and interpolated in log q."""

    def __init__(self, subbands, permittivity: float, temperature: float, q_max: float):
        self.q_grid = np.geomspace(1e4, q_max, 240)
        strengths = screening_wavevector(subbands, temperature, permittivity)
        total = np.zeros_like(self.q_grid)
        for band, strength in zip(subbands, strengths, strict=True):
            total += strength * band.envelope.self_form_factor(self.q_grid)
        self._log_q = np.log(self.q_grid)
        self._weighted = total  # Σ q_s,i H_i(q)
        self.strength = float(strengths.sum())

    def __call__(self, q: np.ndarray) -> np.ndarray:
        q = np.maximum(np.asarray(q, dtype=float), self.q_grid[0])
        return 1.0 + np.interp(np.log(q), self._log_q, self._weighted) / q


UNSCREENED = None  # pass as ``screening`` to leave a mechanism unscreened


def tabulated(function, q_max: float, points: int = 240):
    """A smooth function of q (1/m) tabulated on a log grid from 1e4 to ``q_max`` and
    interpolated in log q (form factors are evaluated for thousands of (E, θ) pairs)."""
    grid = np.geomspace(1e4, q_max, points)
    log_grid, values = np.log(grid), function(grid)

    def interpolated(q):
        return np.interp(np.log(np.maximum(q, grid[0])), log_grid, values)

    return interpolated


def elastic_rate(k: np.ndarray, mass: float, power, screening=UNSCREENED) -> np.ndarray:
    """1/τ(k) = m / (2π ħ³) ∫_0^{2π} (1 - cos θ) S(q) / ε(q)² dθ,  q = 2k sin(θ/2).

    ``power(q)`` is S(q) in J² m²: the squared 2D Fourier transform of the scattering
    potential (J² m⁴) times the areal density of scatterers (m^-2), or the roughness power
    spectrum (m⁴) times the squared matrix element (J²/m²). Returns s^-1 for every k (1/m)."""
    k = np.atleast_1d(np.asarray(k, dtype=float))
    q = 2.0 * k[:, None] * np.sin(0.5 * THETA)[None, :]
    q = np.maximum(q, 1e-30)
    integrand = (1.0 - np.cos(THETA))[None, :] * power(q)
    if screening is not None:
        integrand = integrand / screening(q) ** 2
    return mass / (2.0 * math.pi * HBAR**3) * (integrand @ THETA_WEIGHTS)


def coulomb_sheet_power(
    envelope: Envelope, sheets_m2: np.ndarray, z0: np.ndarray, permittivity: float, q_max: float
):
    """S(q) of ionized impurities: Σ_j n_j [e²/(2 ε q) F(q, z_j)]² (tabulated in q)."""
    q_grid = np.geomspace(1e4, q_max, 240)
    factors = envelope.sheet_form_factors(q_grid, z0)  # (S, Q)
    table = (np.asarray(sheets_m2)[:, None] * factors**2).sum(axis=0)
    log_q = np.log(q_grid)

    def power(q):
        q = np.maximum(q, q_grid[0])
        weight = np.interp(np.log(q), log_q, table)
        return (CHARGE**2 / (2.0 * permittivity * q)) ** 2 * weight

    return power


def roughness_power(matrix_element: float, height: float, correlation: float):
    """S(q) = |M|² π Δ² Λ² exp(-q² Λ² / 4): Gaussian-correlated steps of height Δ (m) and
    correlation length Λ (m) (Ando, Fowler and Stern 1982). M (J/m) is the change of the
    subband energy per unit displacement of the interface (``observables.interface_force``;
    Prange and Nee 1968 for an infinite barrier)."""

    def power(q):
        return (
            matrix_element**2
            * math.pi
            * height**2
            * correlation**2
            * np.exp(-0.25 * (q * correlation) ** 2)
        )

    return power


def dislocation_power(density_m2: float, occupancy: float, spacing: float, permittivity: float):
    """S(q) = N_dis [e ρ_L / (ε q²)]², ρ_L = e f / c: charged lines along the growth axis,
    a fraction f of the sites (one per c) charged (Jena, Gossard and Mishra, APL 76, 1707
    (2000)). The potential does not depend on z, so no form factor."""
    line_charge = CHARGE * occupancy / spacing

    def power(q):
        return density_m2 * (CHARGE * line_charge / (permittivity * q * q)) ** 2

    return power


def acoustic_rate(mass: float, deformation: float, elastic: float, temperature: float, envelope):
    """1/τ = m Ξ² k_B T ∫ψ⁴ / (ħ³ c_L): deformation-potential scattering by longitudinal
    acoustic phonons (equipartition, elastic, bulk phonons; independent of k)."""
    return (
        mass
        * deformation**2
        * BOLTZMANN
        * temperature
        * envelope.inverse_width()
        / (HBAR**3 * elastic)
    )


def polar_optical_rate(
    k: np.ndarray,
    mass: float,
    phonon_energy: float,
    high_frequency: float,
    static: float,
    temperature: float,
    form_factor,
    eta: float,
) -> np.ndarray:
    """Momentum relaxation rate by bulk LO phonons (Fröhlich), absorption plus emission.

        1/τ(k) = m e² ω / (8π ħ² ε_p) Σ± (N + ½ ∓ ½) P±(E) ∫_0^{2π} H(q)/q (1 - k' cos θ / k) dθ

    with 1/ε_p = 1/ε_∞ - 1/ε_s, k'² = k² ± 2mω/ħ, q² = k² + k'² - 2kk' cos θ and the
    Pauli factor P± = (1 - f(E ± ħω)) / (1 - f(E)). This is the relaxation-time form of
    an inelastic process (Ridley), not a solution of the Boltzmann equation: the usual
    approximation when ħω ~ E_F. ``form_factor`` is H(q) of the subband."""
    k = np.atleast_1d(np.asarray(k, dtype=float))
    omega = phonon_energy / HBAR
    thermal = BOLTZMANN * temperature
    occupation = 1.0 / math.expm1(phonon_energy / thermal)
    inverse_polar = 1.0 / high_frequency - 1.0 / static
    prefactor = mass * CHARGE**2 * omega * inverse_polar / (8.0 * math.pi * HBAR**2)
    energy = (HBAR * k) ** 2 / (2.0 * mass)

    def blocked(final_energy):
        # (1 - f(E')) / (1 - f(E)) with f(E) = 1 / (1 + exp(E/kT - η)), E from the band edge
        return np.exp(-np.logaddexp(0.0, eta - final_energy / thermal)) / np.exp(
            -np.logaddexp(0.0, eta - energy / thermal)
        )

    rate = np.zeros_like(k)
    for sign, weight in ((+1.0, occupation), (-1.0, occupation + 1.0)):
        final = k**2 + sign * 2.0 * mass * omega / HBAR
        allowed = final > 0
        if not np.any(allowed):
            continue
        k_out = np.sqrt(np.where(allowed, final, 0.0))
        cosine = np.cos(THETA)[None, :]
        q = np.sqrt(
            np.maximum(
                k[:, None] ** 2 + k_out[:, None] ** 2 - 2 * k[:, None] * k_out[:, None] * cosine,
                1e-30,
            )
        )
        ratio = np.divide(k_out, k, out=np.zeros_like(k), where=k > 0)
        integrand = form_factor(q) / q * (1.0 - ratio[:, None] * cosine)
        angular = integrand @ THETA_WEIGHTS
        pauli = blocked(energy + sign * phonon_energy)
        rate += np.where(allowed, weight * pauli * angular, 0.0)
    return prefactor * rate


@dataclass(frozen=True)
class Averages:
    """⟨τ⟩ and ⟨τ²⟩ over -E ∂f/∂E (the 2D transport average), in s and s²."""

    tau: float
    tau_squared: float

    def mobility(self, mass: float) -> float:
        return CHARGE * self.tau / mass

    def hall_mobility(self, mass: float) -> float:
        return CHARGE * self.tau_squared / (self.tau * mass)


def energy_grid(eta: float, temperature: float, points: int = 240) -> np.ndarray:
    """In-plane kinetic energies (J) covering -E ∂f/∂E: 0 to max(η, 0) + 36 kT."""
    thermal = BOLTZMANN * temperature
    top = (max(eta, 0.0) + 36.0) * thermal
    return np.linspace(0.0, top, points + 1)[1:]


def transport_average(rates: np.ndarray, energies: np.ndarray, eta: float, temperature) -> Averages:
    """⟨τ⟩ = ∫ τ E (-∂f/∂E) dE / ∫ E (-∂f/∂E) dE for a 2D band (σ = e² n ⟨τ⟩ / m)."""
    x = energies / (BOLTZMANN * temperature)
    occupation = 1.0 / (1.0 + np.exp(np.clip(x - eta, -700, 700)))
    weight = x * occupation * (1.0 - occupation)  # x (-df/dx)
    tau = 1.0 / np.asarray(rates, dtype=float)
    norm = np.trapezoid(weight, x)
    return Averages(
        float(np.trapezoid(weight * tau, x) / norm), float(np.trapezoid(weight * tau**2, x) / norm)
    )

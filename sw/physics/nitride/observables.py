"""Quantities derived from a solved structure: the Hall mobility and its mechanisms.

:func:`hall_mobility` applies the mechanisms of ``scattering.py`` to every occupied subband
of a :class:`~sw.physics.nitride.solver.NitrideResult`, with the solver's own wavefunctions
(form factors), its ionized donor profile (remote: in the buffer; background: in the cap)
and the transport parameters of the channel material (``model.TransportParameters``):

    μ_i = (e / m_i) ⟨τ_i⟩,   μ_H,i = (e / m_i) ⟨τ_i²⟩ / ⟨τ_i⟩,   1/τ_i(E) = Σ_mechanisms,
    σ = e Σ p_i μ_i,   μ_Hall = Σ p_i μ_i μ_H,i / Σ p_i μ_i,   p_Hall = σ / (e μ_Hall).

Each mechanism is also reported alone (all others switched off), and the Matthiessen
combination of those is given for comparison: with energy-dependent rates the true
mobility is below it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import scipy.constants as const

from . import scattering
from .model import TransportParameters, interface_sheet_charge_C_per_m2, load_parameter_set
from .scattering import BOLTZMANN, CHARGE, EPSILON_0, Envelope, Screening, Subband2D

MECHANISMS = (
    "acoustic_phonons",
    "polar_optical_phonons",
    "remote_impurities",
    "background_impurities",
    "interface_roughness",
    "dislocations",
)
MINIMUM_SUBBAND_SHARE = 1e-9  # subbands holding less of p_s are left out of transport
# Only heavy-hole subbands carry current in this model: a light-hole subband (in-plane
# mass ~0.14 m0) would otherwise dominate the Hall signal, but without hh-lh intersubband
# scattering (not modeled) its mobility is meaningless. Holes in other bands are reported.
TRANSPORT_BAND = "hh"


@dataclass(frozen=True)
class MobilityBreakdown:
    """The Hall mobility of a solved structure and what limits it (cm^2/Vs, cm^-2, mS)."""

    temperature_K: float
    p_s_cm2: float
    drift_cm2_per_Vs: float
    hall_cm2_per_Vs: float
    hall_factor: float
    hall_density_cm2: float  # p_s / r_H: what a Hall measurement reports
    sheet_conductance_mS: float  # e p_s μ (per square)
    mechanisms_cm2_per_Vs: dict[str, float]  # each mechanism alone (drift)
    matthiessen_cm2_per_Vs: float
    screening_per_nm: float  # q_s, the Thomas-Fermi wavevector of the gas
    subbands: int
    transport: TransportParameters
    other_bands_cm2: float = 0.0  # holes in lh/ch subbands, left out of transport

    @property
    def sheet_resistance_ohm(self) -> float:
        return 1e3 / self.sheet_conductance_mS if self.sheet_conductance_mS > 0 else math.inf

    @property
    def limiting(self) -> str:
        """The mechanism with the lowest mobility alone."""
        return min(self.mechanisms_cm2_per_Vs, key=self.mechanisms_cm2_per_Vs.get)

    def summary(self) -> str:
        parts = ", ".join(
            f"{name.replace('_', ' ')} {value:.3g}"
            for name, value in self.mechanisms_cm2_per_Vs.items()
        )
        return (
            f"Hall mobility {self.hall_cm2_per_Vs:.3g} cm^2/Vs (drift {self.drift_cm2_per_Vs:.3g}, "
            f"Hall factor {self.hall_factor:.3f}), Hall density {self.hall_density_cm2:.3g} "
            f"cm^-2, sheet resistance {self.sheet_resistance_ohm:.3g} ohm/sq at "
            f"{self.temperature_K:g} K\n  each mechanism alone (cm^2/Vs): {parts}; "
            f"limited by {self.limiting.replace('_', ' ')}"
        ) + (
            f"\n  {self.other_bands_cm2:.3g} cm^-2 of holes in lh/ch subbands are not in "
            "transport (hh-lh intersubband scattering is not modeled)"
            if self.other_bands_cm2 > 0
            else ""
        )

    def to_dict(self) -> dict:
        """JSON-ready; a mechanism with nothing to scatter from (mobility ∞) is None."""
        data = asdict(self)
        data["mechanisms_cm2_per_Vs"] = {
            name: value if math.isfinite(value) else None
            for name, value in self.mechanisms_cm2_per_Vs.items()
        }
        data["sheet_resistance_ohm"] = self.sheet_resistance_ohm
        data["limiting"] = self.limiting
        return data


def interface_force(envelope: Envelope, z_nodes: np.ndarray, slope: np.ndarray) -> float:
    """|⟨dφ/dz⟩| over the subband (J/m): the interface-roughness matrix element.

    Moving the interface by δ changes the subband energy by δ times the force the smooth
    (electrostatic) potential exerts on the state, by translation invariance of the rest
    (Ehrenfest: it balances the force of the band-offset step, potential and mass step
    together). For a thin gas it equals e(F_outside + e p_s / 2ε), Ando's effective field."""
    inside = np.interp(envelope.z, z_nodes, slope)
    return abs(float(np.dot(envelope.density * inside, envelope.weights)))


def transport_parameters(result, **overrides) -> TransportParameters:
    """The channel's :class:`TransportParameters` at the result's temperature."""
    params = load_parameter_set(result.parameter_set)
    cap = params.material(result.stack.layers[0].material)
    base = TransportParameters.for_channel(cap, params.assumptions, result.temperature_K)
    return base.replace(**overrides) if overrides else base


def _subbands(result) -> list[Subband2D]:
    """The heavy-hole subbands as transport sees them (other bands: see ``hall_mobility``)."""
    kT = BOLTZMANN * result.temperature_K / CHARGE
    z = result.z_nm * 1e-9
    weights = result.node_weights_nm * 1e-9
    chosen = []
    for subband in result.subbands:
        if subband.band != TRANSPORT_BAND:
            continue
        if subband.sheet_density_cm2 < MINIMUM_SUBBAND_SHARE * result.p_s_cm2:
            continue
        chosen.append(
            Subband2D(
                mass=subband.inplane_mass_m0 * const.m_e,
                density=subband.sheet_density_cm2 * 1e4,
                eta=subband.energy_eV / kT,
                envelope=Envelope.from_nodes(z, subband.wavefunction_per_sqrt_nm, weights),
            )
        )
    return chosen


def hall_mobility(
    result, transport: TransportParameters | None = None, mechanisms=MECHANISMS
) -> MobilityBreakdown:
    """Mobility of the 2D hole gas of ``result`` from its scattering mechanisms."""
    unknown = set(mechanisms) - set(MECHANISMS)
    if unknown or not mechanisms:
        raise ValueError(
            f"mechanisms must be a non-empty subset of {', '.join(MECHANISMS)}, got "
            f"{', '.join(sorted(unknown)) or 'nothing'}"
        )
    transport = transport or transport_parameters(result)
    temperature = result.temperature_K
    subbands = _subbands(result)
    if result.p_s_cm2 <= 0 or not subbands:
        raise ValueError(f"no heavy-hole gas to transport (p_s = {result.p_s_cm2:.3g} cm^-2)")
    permittivity = transport.static_permittivity * EPSILON_0
    energies = {id(band): scattering.energy_grid(band.eta, temperature) for band in subbands}
    q_max = 4.0 * max(
        math.sqrt(2.0 * band.mass * energies[id(band)][-1]) / const.hbar for band in subbands
    )
    screening = Screening(subbands, permittivity, temperature, q_max)

    interface = result.stack.channel_depth_nm * 1e-9
    donors_m2 = result.ionized_donor_density_cm3 * 1e6 * result.node_weights_nm * 1e-9
    present = donors_m2 > 0
    z_nodes = result.z_nm * 1e-9
    sheets = {
        "remote_impurities": present & (z_nodes >= interface),
        "background_impurities": present & (z_nodes < interface),
    }
    slope = np.gradient(result.potential_V, result.z_nm) * CHARGE * 1e9  # dφ/dz in J/m
    roughness_height = transport.roughness_height_nm * 1e-9
    roughness_length = transport.roughness_correlation_nm * 1e-9

    per_subband = []
    for band in subbands:
        grid = energies[id(band)]
        k = np.sqrt(2.0 * band.mass * grid) / const.hbar
        envelope = band.envelope
        rates = {}
        if "acoustic_phonons" in mechanisms:
            rate = scattering.acoustic_rate(
                band.mass,
                transport.deformation_potential_eV * CHARGE,
                transport.elastic_constant_GPa * 1e9,
                temperature,
                envelope,
            )
            rates["acoustic_phonons"] = np.full_like(k, rate)
        if "polar_optical_phonons" in mechanisms:
            rates["polar_optical_phonons"] = scattering.polar_optical_rate(
                k,
                band.mass,
                transport.lo_phonon_energy_eV * CHARGE,
                transport.high_frequency_permittivity * EPSILON_0,
                permittivity,
                temperature,
                scattering.tabulated(envelope.self_form_factor, q_max),
                band.eta,
            )
        for name, mask in sheets.items():
            if name not in mechanisms:
                continue
            if not np.any(mask):
                rates[name] = np.zeros_like(k)
                continue
            power = scattering.coulomb_sheet_power(
                envelope, donors_m2[mask], z_nodes[mask], permittivity, q_max
            )
            rates[name] = scattering.elastic_rate(k, band.mass, power, screening)
        if "interface_roughness" in mechanisms:
            power = scattering.roughness_power(
                interface_force(envelope, z_nodes, slope), roughness_height, roughness_length
            )
            rates["interface_roughness"] = scattering.elastic_rate(k, band.mass, power, screening)
        if "dislocations" in mechanisms:
            power = scattering.dislocation_power(
                transport.dislocation_density_cm2 * 1e4,
                transport.dislocation_occupancy,
                transport.dislocation_site_spacing_nm * 1e-9,
                permittivity,
            )
            rates["dislocations"] = scattering.elastic_rate(k, band.mass, power, screening)
        per_subband.append((band, grid, rates))

    def combine(selected) -> tuple[float, float]:
        """(drift μ, Hall μ) in m²/Vs with the ``selected`` mechanisms only."""
        conductivity = hall = 0.0
        for band, grid, rates in per_subband:
            total = sum(rates[name] for name in selected)
            if not np.any(total > 0):
                return math.inf, math.inf
            averages = scattering.transport_average(total, grid, band.eta, temperature)
            mobility = averages.mobility(band.mass)
            conductivity += band.density * mobility
            hall += band.density * mobility * averages.hall_mobility(band.mass)
        density = sum(band.density for band, _, _ in per_subband)
        return conductivity / density, hall / conductivity

    drift, hall = combine(mechanisms)
    alone = {name: combine([name])[0] * 1e4 for name in mechanisms}
    finite = [value for value in alone.values() if value > 0]
    matthiessen = 1.0 / sum(1.0 / value for value in finite) if finite else math.inf
    density_cm2 = sum(band.density for band, _, _ in per_subband) * 1e-4
    hall_factor = hall / drift
    return MobilityBreakdown(
        temperature_K=temperature,
        p_s_cm2=result.p_s_cm2,
        drift_cm2_per_Vs=drift * 1e4,
        hall_cm2_per_Vs=hall * 1e4,
        hall_factor=hall_factor,
        hall_density_cm2=density_cm2 / hall_factor,
        sheet_conductance_mS=CHARGE * density_cm2 * 1e4 * drift * 1e3,
        mechanisms_cm2_per_Vs=alone,
        matthiessen_cm2_per_Vs=matthiessen,
        screening_per_nm=screening.strength * 1e-9,
        subbands=len(per_subband),
        transport=transport,
        other_bands_cm2=float(
            sum(sub.sheet_density_cm2 for sub in result.subbands if sub.band != TRANSPORT_BAND)
        ),
    )


def electrostatic_estimate_cm2(stack, T: float = 300.0, parameter_set: str | None = None) -> float:
    """First-order p_s = |sigma|/q - eps_cap phi_s / (q t_cap), phi_s = E_F - E_V(surface).

    Assumes the valence band sits exactly at E_F at the interface and the cap holds no
    other charge: the undoped, thick-cap limit the solver must approach.
    """
    params = load_parameter_set(parameter_set)
    cap = params.material(stack.layers[0].material)
    buffer = params.material(stack.layers[1].material)
    substrate_a = params.material(stack.layers[-1].material).lattice_a_angstrom
    sigma_cm2 = -interface_sheet_charge_C_per_m2(cap, buffer, substrate_a) / const.e * 1e-4
    barrier = stack.surface_barrier_eV
    if barrier is None:
        barrier = float(params.assumptions["surface_barrier_eV"])
    phi_s = cap.bandgap_eV(T) - barrier
    field_term = (
        cap.relative_permittivity
        * const.epsilon_0
        * phi_s
        / (const.e * stack.channel_depth_nm * 1e-9)
    )
    return sigma_cm2 - field_term * 1e-4


def recovery(p_with_ibl: float, p_without_ibl: float, p_undoped: float) -> float:
    """Fraction of the donor-induced loss of p_s that an IBL recovers (1: all of it)."""
    loss = p_undoped - p_without_ibl
    return (p_with_ibl - p_without_ibl) / loss if loss > 0 else math.nan

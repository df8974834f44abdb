"""GaN/AlN 2D hole gas solver (sw.physics.nitride): the validations of issues 5 and 22.

Analytic limits (infinite and triangular wells, a finite well with a mass step), the
textbook polarization charge, the first-order electrostatic estimate, charge neutrality
with donor sheets, IBLs restoring p_s, mesh convergence, the sweep, and bad input; the
scattering mechanisms against their textbook limits (Fang–Howard form factor, acoustic
phonons in a square well, remote impurities, interface roughness, charged dislocations,
activated optical phonons, 2D Thomas–Fermi screening, Matthiessen's rule), the
segregating donor profile (conservation, capture, pile-up) and the IBL placement.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import scipy.constants as const
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.special import ai_zeros, i0e, i1e

from sw.physics import nitride
from sw.physics.nitride import (
    BlockingLayer,
    DonorSheet,
    DonorTail,
    Layer,
    Stack,
    available_parameter_sets,
    hall_mobility,
    ibl_map,
    load_parameter_set,
    preset,
    scattering,
    solve,
    sweep,
    transport_parameters,
    two_carrier_hall,
)
from sw.physics.nitride.mesh import graded_mesh_nm
from sw.physics.nitride.model import DATA_FILE, interface_sheet_charge_C_per_m2
from sw.physics.nitride.observables import interface_force
from sw.physics.nitride.schrodinger import HBAR2_OVER_2M0_EV_NM2, solve_schrodinger
from sw.physics.nitride.solver import fermi_dirac_half, fermi_half_antiderivative

Q = const.e
PARAMETER_SETS = available_parameter_sets()


@pytest.fixture(scope="module")
def undoped():
    """The default stack solved once per parameter set."""
    return {name: solve(preset("gan-on-aln"), parameter_set=name) for name in PARAMETER_SETS}


def textbook_sigma_cm2(upper: dict, lower: dict) -> float:
    """|sigma|/q for a strained `upper` layer on a relaxed `lower` one, from raw numbers.

    sigma = P_sp(lower) - [P_sp(upper) + 2 eps (e31 - e33 C13 / C33)], eps = (a_l - a_u)/a_u
    (Ambacher et al., J. Appl. Phys. 87, 334 (2000)).
    """
    strain = (lower["a"] - upper["a"]) / upper["a"]
    piezo = 2 * strain * (upper["e31"] - upper["e33"] * upper["c13"] / upper["c33"])
    sigma = lower["psp"] - (upper["psp"] + piezo)
    return -sigma / Q * 1e-4


# ----- material database and the textbook interface charge ---------------------------


def test_two_published_parameter_sets_are_selectable():
    assert len(PARAMETER_SETS) >= 2
    for name in PARAMETER_SETS:
        params = load_parameter_set(name)
        for material in params.materials.values():
            assert all(material.sources.values()), f"{name}/{material.name}: a value lacks a source"
    with pytest.raises(ValueError, match="unknown parameter set 'nope'; allowed"):
        load_parameter_set("nope")


def test_interface_charge_equals_textbook_calculation():
    # Bernardini, Fiorentini & Vanderbilt (1997) polarization with Wright (1997) elastic
    # constants, the textbook GaN/AlN numbers: about 5.3e13 cm^-2.
    gan = {"a": 3.189, "psp": -0.029, "e31": -0.49, "e33": 0.73, "c13": 103, "c33": 405}
    aln = {"a": 3.112, "psp": -0.081, "e31": -0.60, "e33": 1.46, "c13": 108, "c33": 373}
    textbook = textbook_sigma_cm2(gan, aln)
    assert 5.2e13 < textbook < 5.4e13
    params = load_parameter_set("ambacher2000")
    sigma = interface_sheet_charge_C_per_m2(
        params.material("GaN"), params.material("AlN"), params.material("AlN").lattice_a_angstrom
    )
    assert -sigma / Q * 1e-4 == pytest.approx(textbook, rel=1e-9)

    # Every set, re-derived from the raw data file with the same formula: about 5e13.
    raw = json.loads(DATA_FILE.read_text())
    for name, entry in raw["parameter_sets"].items():
        values = {
            material: {
                "a": fields["lattice_a_angstrom"]["value"],
                "psp": fields["spontaneous_polarization_C_per_m2"]["value"],
                "e31": fields["e31_C_per_m2"]["value"],
                "e33": fields["e33_C_per_m2"]["value"],
                "c13": fields["c13_GPa"]["value"],
                "c33": fields["c33_GPa"]["value"],
            }
            for material, fields in entry["materials"].items()
        }
        expected = textbook_sigma_cm2(values["GaN"], values["AlN"])
        result = solve(preset("gan-on-aln"), parameter_set=name)
        assert 4.5e13 < expected < 6.0e13, name
        assert result.polarization_charge_cm2 == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("cap_nm", [8.0, 13.0, 60.0])
def test_polarization_charge_bounds_p_s_from_above(undoped, cap_nm):
    for name in PARAMETER_SETS:
        result = solve(preset("gan-on-aln").with_cap_thickness(cap_nm), parameter_set=name)
        assert 0.0 < result.p_s_cm2 < result.polarization_charge_cm2


def test_zone_centre_valence_splittings_of_relaxed_gan():
    # A-B and A-C exciton splittings of relaxed GaN are about 5-6 and 22 meV.
    gan = load_parameter_set().material("GaN")
    edges = gan.valence_band_edges_eV(0.0)
    assert edges["hh"] == 0.0
    assert -6.5e-3 < edges["lh"] < -4.5e-3
    assert -23.5e-3 < edges["ch"] < -20.5e-3
    # Compressive strain on AlN pushes the crystal-field band far down (hundreds of meV).
    strained = gan.valence_band_edges_eV(gan.in_plane_strain(3.112))
    assert strained["ch"] < -0.2


# ----- the undoped limit -----------------------------------------------------------------


@pytest.mark.parametrize("name", PARAMETER_SETS)
def test_thick_caps_match_first_order_electrostatics(name):
    """p_s = sigma/q - eps phi_s / (q t): within a few percent, better for thicker caps."""
    params = load_parameter_set(name)
    gan, aln = params.material("GaN"), params.material("AlN")
    sigma_cm2 = -interface_sheet_charge_C_per_m2(gan, aln, aln.lattice_a_angstrom) / Q * 1e-4
    barrier = params.assumptions["surface_barrier_eV"]
    phi_s = gan.bandgap_eV(300.0) - barrier  # E_F - E_V at the surface
    errors = []
    for cap_nm in (13.0, 30.0, 60.0):
        estimate = (
            sigma_cm2
            - gan.relative_permittivity * const.epsilon_0 * phi_s / (Q * cap_nm * 1e-9) * 1e-4
        )
        result = solve(preset("gan-on-aln").with_cap_thickness(cap_nm), parameter_set=name)
        assert result.convergence.converged
        errors.append(abs(result.p_s_cm2 / estimate - 1.0))
        assert nitride.electrostatic_estimate_cm2(
            preset("gan-on-aln").with_cap_thickness(cap_nm), parameter_set=name
        ) == pytest.approx(estimate, rel=1e-9)
    assert errors[1] < 0.03 and errors[2] < 0.01
    assert errors[0] > errors[1] > errors[2]


def test_p_s_falls_as_the_cap_thins():
    caps = [40.0, 20.0, 13.0, 8.0, 5.0, 3.0]
    densities = [solve(preset("gan-on-aln").with_cap_thickness(cap)).p_s_cm2 for cap in caps]
    assert all(a > b for a, b in zip(densities, densities[1:], strict=False))
    # Below the critical thickness t_c = eps phi_s / sigma (about 2.2 nm here) no 2DHG forms.
    assert solve(preset("gan-on-aln").with_cap_thickness(1.5)).p_s_cm2 < 1e10


# ----- donors and blocking layers ------------------------------------------------------------


def test_an_ionized_donor_sheet_reduces_p_s_by_its_density(undoped):
    reference = undoped[load_parameter_set().name].p_s_cm2
    sheet_cm2 = 1e13
    near = solve(preset("gan-on-aln").with_donors(DonorSheet(sheet_cm2, depth_nm=23.0)))
    assert near.ionized_donor_sheet_cm2 == pytest.approx(sheet_cm2, rel=1e-3)
    assert reference - near.p_s_cm2 == pytest.approx(sheet_cm2, rel=0.02)
    # Deep in the buffer only part of the sheet can ionize (the AlN gap limits the band
    # bending) and a few electrons gather there; p_s drops by the net positive charge.
    far = solve(preset("gan-on-aln").with_donors(DonorSheet(sheet_cm2, depth_nm=113.0)))
    electrons_cm2 = float((far.electron_density_cm3 * far.node_weights_nm).sum() * 1e-7)
    assert far.ionized_donor_sheet_cm2 < 0.5 * sheet_cm2
    net_cm2 = far.ionized_donor_sheet_cm2 - electrons_cm2
    assert reference - far.p_s_cm2 == pytest.approx(net_cm2, rel=0.02)


def test_blocking_layer_restores_p_s(undoped):
    reference = undoped[load_parameter_set().name].p_s_cm2
    tail = preset("gan-on-aln").with_donors(DonorTail(1e20, decay_length_nm=100.0))
    compensated = solve(tail).p_s_cm2
    assert compensated < reference - 1.5e13
    leaky = solve(tail.with_blocking_layers(BlockingLayer(20.0, transmission=0.1))).p_s_cm2
    tight = solve(tail.with_blocking_layers(BlockingLayer(20.0, transmission=0.0))).p_s_cm2
    assert compensated < leaky < tight <= reference
    # deep in the AlN the captured donors cannot ionize: a tight IBL restores p_s
    assert tight == pytest.approx(reference, rel=0.05)


def test_segregating_tail_conserves_the_released_donors():
    """∫N dh = S(0) = N0 λ whatever the IBLs do with them (when none is made inactive)."""
    tail = DonorTail(1e19, 40.0)
    step = 0.005
    heights = (np.arange(400_000) + 0.5) * step  # midpoints: the IBL edges fall on cell edges
    ibls = (BlockingLayer(10.0, height_nm=60.0, transmission=0.05),)
    for layers in ((), ibls):
        density = tail.density_at_height_cm3(heights, layers)
        assert density.sum() * step * 1e-7 == pytest.approx(tail.released_sheet_cm2, rel=1e-6)
    # above the IBL the floating sheet is exactly T times what it would have been
    above = np.array([80.0, 150.0])
    ratio = tail.density_at_height_cm3(above, ibls) / tail.density_at_height_cm3(above)
    np.testing.assert_allclose(ratio, 0.05 * np.exp(10.0 / 40.0), rtol=1e-12)
    assert tail.floating_fraction(70.0, ibls) == pytest.approx(0.05 * np.exp(-60.0 / 40.0))
    # inside, the captured donors pile up at the bottom edge: N = S / λ_I, λ_I = t / ln(1/T)
    ibl = ibls[0]
    assert ibl.segregation_length_nm == pytest.approx(10.0 / np.log(20.0))
    bottom = tail.density_at_height_cm3(np.array([60.0]), ibls)[0]
    assert bottom == pytest.approx(1e19 * np.exp(-60.0 / 40.0) * 40.0 / ibl.segregation_length_nm)
    inactive = (BlockingLayer(10.0, height_nm=60.0, transmission=0.05, trapped_active=False),)
    assert tail.density_at_height_cm3(np.array([65.0]), inactive)[0] == 0.0


def test_short_cap_segregation_length_piles_donors_up_at_the_channel():
    stack = preset("gan-on-aln")
    smooth = stack.with_donors(DonorTail(1e19, 100.0))
    piled = stack.with_donors(DonorTail(1e19, 100.0, cap_decay_length_nm=1.0))
    depths = np.linspace(12.0, 13.0, 2001)  # the first nm of GaN above the interface
    sheet_smooth = np.trapezoid(smooth.donor_density_cm3(depths), depths) * 1e-7
    sheet_piled = np.trapezoid(piled.donor_density_cm3(depths), depths) * 1e-7
    floating = 1e19 * 100e-7 * np.exp(-300.0 / 100.0)  # S at the interface, cm^-2
    assert sheet_piled == pytest.approx(floating * (1 - np.exp(-1.0)), rel=1e-3)
    assert sheet_smooth < 0.02 * sheet_piled


def test_an_ibl_near_the_channel_recovers_less_than_a_deep_one():
    result = ibl_map(heights_nm=[20.0, 270.0], transmissions=[0.01])
    deep, shallow = result.recovery[:, 0]
    assert deep > 0.8 and shallow < deep - 0.2
    # the difference is the captured donors, which ionize near the channel: bind them
    # inactive and the shallow IBL recovers (almost) as much as the deep one
    assert np.all(result.trapped_ionized_cm2 > 0)
    inactive = ibl_map(heights_nm=[270.0], transmissions=[0.01], trapped_active=False)
    assert inactive.recovery[0, 0] > shallow + 0.2


def test_sweep_reproduces_the_ibl_comparison(tmp_path):
    result = sweep(tail_densities_cm3=np.logspace(17, np.log10(3e20), 5))
    assert result.all_converged
    assert result.spread_without_ibl_cm2 > 3e13
    assert result.spread_with_ibl_cm2 <= 1e13
    # the IBL never costs more than 0.1 % of p_s (its donor spike sits deep in the AlN)
    assert np.all(result.p_s_with_ibl_cm2 >= result.p_s_without_ibl_cm2 - 1e-3 * 4.6e13)
    # donors only remove holes: the spread can never exceed the undoped density
    assert result.spread_without_ibl_cm2 < result.undoped_p_s_cm2
    # σ ratio = drift-mobility ratio × p_s ratio; at the worst growth the IBL gains in both
    assert result.mobility_ratio[-1] > 1.5 and result.conductance_ratio[-1] > 5.0
    figure = result.plot(tmp_path / "sweep.png")
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = result.to_dict()
    assert saved["conductance_ratio"][-1] == pytest.approx(result.conductance_ratio[-1])


def test_two_carrier_hall_density_can_exceed_the_polarization_charge():
    holes, hole_mobility = 2.6e13, 20.0
    assert two_carrier_hall(holes, hole_mobility, 0.0, 5.0) == (holes, hole_mobility)
    density, mobility = two_carrier_hall(holes, hole_mobility, 5.7e13, 5.0)
    assert density > 6e13 and mobility < 0.6 * hole_mobility
    assert two_carrier_hall(holes, hole_mobility, 3e14, 10.0)[0] < 0  # looks n-type


# ----- Schrodinger limits ---------------------------------------------------------------------


def test_infinite_well_eigenvalues_and_mesh_convergence():
    width_nm, mass = 10.0, 0.5
    exact = HBAR2_OVER_2M0_EV_NM2 * (math.pi * np.arange(1, 4)) ** 2 / (mass * width_nm**2)
    errors = []
    for scale in (1.0, 0.5, 0.25):
        z = graded_mesh_nm([0.0, width_nm], [(0.0, 0.1 * scale)], 0.5 * scale, 1 + 0.1 * scale)
        energies, psi = solve_schrodinger(z, np.zeros_like(z), np.full(z.size - 1, mass), None, 3)
        errors.append(np.max(np.abs(energies / exact - 1.0)))
        weights = np.gradient(z)
        assert np.sum(psi[0] ** 2 * weights) == pytest.approx(1.0, rel=1e-2)
    assert errors[-1] < 1e-3
    assert 3.0 < errors[0] / errors[1] < 5.0 and 3.0 < errors[1] / errors[2] < 5.0


def test_triangular_well_matches_airy_zeros():
    field_eV_per_nm, mass = 0.05, 1.9
    airy = -ai_zeros(3)[0]
    exact = (HBAR2_OVER_2M0_EV_NM2 / mass) ** (1 / 3) * field_eV_per_nm ** (2 / 3) * airy
    errors = []
    for scale in (1.0, 0.5, 0.25):
        z = graded_mesh_nm([0.0, 40.0], [(0.0, 0.05 * scale)], 1.0 * scale, 1 + 0.1 * scale)
        energies, _ = solve_schrodinger(
            z, field_eV_per_nm * z, np.full(z.size - 1, mass), energy_ceiling_eV=0.5
        )
        errors.append(np.max(np.abs(energies[:3] / exact - 1.0)))
    assert errors[-1] < 1e-3
    assert 3.0 < errors[0] / errors[1] < 5.0 and 3.0 < errors[1] / errors[2] < 5.0


def test_finite_well_with_a_mass_step_obeys_ben_daniel_duke_matching():
    """Ground state of a finite well whose barrier is heavier (as AlN below the 2DHG)."""
    width, depth, well_mass, barrier_mass = 4.0, 0.5, 0.2, 0.6

    def mismatch(energy):
        k = math.sqrt(well_mass * energy / HBAR2_OVER_2M0_EV_NM2)
        kappa = math.sqrt(barrier_mass * (depth - energy) / HBAR2_OVER_2M0_EV_NM2)
        return k * math.tan(k * width / 2) / well_mass - kappa / barrier_mass

    exact = brentq(
        mismatch,
        1e-6,
        min(depth, (math.pi / width) ** 2 * HBAR2_OVER_2M0_EV_NM2 / well_mass) - 1e-9,
    )
    z = graded_mesh_nm([-20.0, -width / 2, width / 2, 20.0], [(-2.0, 0.02), (2.0, 0.02)], 0.5, 1.05)
    mid = 0.5 * (z[1:] + z[:-1])
    inside = np.abs(mid) < width / 2
    masses = np.where(inside, well_mass, barrier_mass)
    potential = np.where(np.abs(z) < width / 2 - 1e-9, 0.0, depth)
    potential[np.isclose(np.abs(z), width / 2)] = depth / 2  # half-cell average at the steps
    energies, _ = solve_schrodinger(z, potential, masses, max_states=1)
    assert energies[0] == pytest.approx(exact, rel=2e-3)


# ----- the self-consistent loop ---------------------------------------------------------------


def test_self_consistent_loop_converges_and_reports_it(undoped):
    for result in undoped.values():
        info = result.convergence
        assert info.converged
        assert info.outer_iterations < 40
        assert info.potential_updates_V[-1] < 1e-7
        assert info.potential_updates_V[-1] < 1e-3 * info.potential_updates_V[0]
        assert info.final_residual_cm2 < 1e-5 * result.p_s_cm2
        assert sum(s.sheet_density_cm2 for s in result.subbands) == pytest.approx(result.p_s_cm2)
        # The 2DHG sits on the GaN side of the interface, within a couple of nm.
        assert -2.5 < result.hole_centroid_nm - result.stack.channel_depth_nm < 0.0


def test_mesh_refinement_converges_p_s():
    stack = preset("gan-on-aln").with_donors(DonorTail(1e20, 100.0))
    values = [solve(stack, mesh_scale=scale).p_s_cm2 for scale in (1.0, 0.5, 0.25)]
    first, second = abs(values[0] - values[2]), abs(values[1] - values[2])
    assert second < 0.5 * first
    assert first < 2e-3 * values[2]


def test_light_and_crystal_field_bands_are_optional_and_minor(undoped):
    reference = undoped[load_parameter_set().name]
    result = solve(preset("gan-on-aln"), bands=("hh", "lh", "ch"))
    bands = {subband.band for subband in result.subbands}
    assert bands == {"hh", "lh", "ch"}
    heavy = sum(s.sheet_density_cm2 for s in result.subbands if s.band == "hh")
    assert heavy > 0.9 * result.p_s_cm2
    assert result.p_s_cm2 == pytest.approx(reference.p_s_cm2, rel=0.03)
    # transport keeps to the heavy holes and says how many it leaves out
    mobility = hall_mobility(result)
    assert mobility.other_bands_cm2 == pytest.approx(result.p_s_cm2 - heavy)
    assert "not in transport" in mobility.summary()


def test_fermi_dirac_half_and_its_antiderivative():
    for eta in (-8.0, -1.0, 0.0, 1.5, 6.0, 25.0):

        def occupied(x, eta=eta):
            return math.sqrt(x) / (1 + math.exp(x - eta))

        exact = 2 / math.sqrt(math.pi) * quad(occupied, 0, 60 + eta)[0]
        assert fermi_dirac_half(np.array([eta]))[0][0] == pytest.approx(exact, rel=6e-3)
    eta = np.linspace(-70.0, 80.0, 9)
    step = 1e-4
    slope = (fermi_half_antiderivative(eta + step) - fermi_half_antiderivative(eta - step)) / (
        2 * step
    )
    np.testing.assert_allclose(slope, fermi_dirac_half(eta)[0], rtol=1e-6)


# ----- mobility model -------------------------------------------------------------------------


def _gaussian_envelope(width_nm: float, centre_nm: float = 0.0) -> scattering.Envelope:
    z = np.linspace(centre_nm - 8 * width_nm, centre_nm + 8 * width_nm, 801) * 1e-9
    psi = np.exp(-0.25 * ((z - centre_nm * 1e-9) / (width_nm * 1e-9)) ** 2)
    return scattering.Envelope.from_nodes(z, psi, np.gradient(z))


def test_fang_howard_form_factor():
    """ψ² = (b³/2) z² e^(-bz): H(q) = (8 + 9y + 3y²) / (8 (1 + y)³), y = q/b (Ando et al.)."""
    b = 1.5e9
    z = np.linspace(0.0, 40.0 / b, 4001)
    envelope = scattering.Envelope(z, 0.5 * b**3 * z**2 * np.exp(-b * z), np.gradient(z))
    y = np.array([0.1, 0.5, 1.0, 3.0])
    exact = (8 + 9 * y + 3 * y**2) / (8 * (1 + y) ** 3)
    np.testing.assert_allclose(envelope.self_form_factor(y * b), exact, rtol=1e-4)
    # a sheet far from a narrow gas: F(q, d) = exp(-q d)
    narrow = _gaussian_envelope(0.01)
    d = 5e-9
    factors = narrow.sheet_form_factors(np.array([1e8, 5e8]), np.array([d]))[0]
    np.testing.assert_allclose(factors, np.exp(-np.array([1e8, 5e8]) * d), rtol=1e-3)


def test_acoustic_phonon_rate_in_an_infinite_well():
    """∫ψ⁴ = 3/(2L) for ψ = sqrt(2/L) sin(πz/L): 1/τ = 3 m Ξ² kT / (2 L ħ³ c_L)."""
    length = 4e-9
    z = np.linspace(0.0, length, 20001)
    psi = np.sqrt(2 / length) * np.sin(np.pi * z / length)
    envelope = scattering.Envelope(z, psi**2, np.gradient(z))
    mass, xi, elastic = 2.0 * const.m_e, 4.5 * Q, 398e9
    rates = [
        scattering.acoustic_rate(mass, xi, elastic, temperature, envelope)
        for temperature in (100.0, 300.0)
    ]
    exact = 3 * mass * xi**2 * const.k * 300.0 / (2 * length * const.hbar**3 * elastic)
    assert rates[1] == pytest.approx(exact, rel=1e-6)
    assert rates[1] / rates[0] == pytest.approx(3.0)  # equipartition: μ ∝ 1/T


def test_two_dimensional_thomas_fermi_screening():
    """Degenerate single subband: q_s = m e² / (2π ε ħ²) (spin included)."""
    band = scattering.Subband2D(2.0 * const.m_e, 4e17, 60.0, _gaussian_envelope(0.5))
    permittivity = 8.9 * const.epsilon_0
    (q_s,) = scattering.screening_wavevector([band], 300.0, permittivity)
    exact = 2.0 * const.m_e * Q**2 / (2 * np.pi * permittivity * const.hbar**2)
    assert q_s == pytest.approx(exact, rel=1e-12)
    cold = scattering.Subband2D(2.0 * const.m_e, 4e17, -5.0, _gaussian_envelope(0.5))
    assert scattering.screening_wavevector([cold], 300.0, permittivity)[0] < 0.01 * exact


def test_remote_impurity_limit():
    """Narrow degenerate gas, a sheet at k_F d >> 1, strong screening:
    μ = 8 e (k_F d)³ / (π ħ n_imp) (Davies 1998, ch. 8), ∝ p_s^(3/2)."""
    permittivity = 8.9 * const.epsilon_0
    for holes_m2, distance in ((4e17, 30e-9), (1e17, 60e-9)):
        band = scattering.Subband2D(2.0 * const.m_e, holes_m2, 200.0, _gaussian_envelope(0.005))
        screening = scattering.Screening([band], permittivity, 4.0, 2e10)
        fermi_k = np.sqrt(2 * np.pi * holes_m2)
        sheets = 1e16
        power = scattering.coulomb_sheet_power(
            band.envelope, np.array([sheets]), np.array([distance]), permittivity, 2e10
        )
        rate = scattering.elastic_rate(np.array([fermi_k]), band.mass, power, screening)[0]
        mobility = Q / (band.mass * rate)
        exact = 8 * Q * (fermi_k * distance) ** 3 / (np.pi * const.hbar * sheets)
        assert mobility == pytest.approx(exact, rel=0.03)


def test_interface_roughness_rate_matches_the_bessel_closed_form():
    """Unscreened: ∫(1-cos θ) exp(-k²Λ²(1-cos θ)/2) dθ = 2π e^(-x) (I0(x) - I1(x))."""
    mass, force, height, correlation = 2.0 * const.m_e, 0.6 * Q * 1e9, 0.26e-9, 1.5e-9
    power = scattering.roughness_power(force, height, correlation)
    k = np.array([2e8, 1e9, 2e9])
    rate = scattering.elastic_rate(k, mass, power)
    x = 0.5 * (k * correlation) ** 2
    exact = mass * force**2 * np.pi * height**2 * correlation**2 * (i0e(x) - i1e(x)) / const.hbar**3
    np.testing.assert_allclose(rate, exact, rtol=1e-6)


def test_dislocation_rate_matches_jena_gossard_mishra():
    """Strictly 2D screening: 1/τ = N m e⁴ f² I(q_s/2k) / (4π ħ³ c² ε² k⁴),
    I(y) = ∫_0^1 du / ((u + y)² sqrt(1 - u²))."""
    permittivity = 8.9 * const.epsilon_0
    band = scattering.Subband2D(2.0 * const.m_e, 4e17, 60.0, _gaussian_envelope(0.001))
    screening = scattering.Screening([band], permittivity, 300.0, 2e10)
    density, occupancy, spacing = 1e13, 0.3, 0.5185e-9
    power = scattering.dislocation_power(density, occupancy, spacing, permittivity)
    for k in (5e8, 1.7e9):
        rate = scattering.elastic_rate(np.array([k]), band.mass, power, screening)[0]
        y = screening.strength / (2 * k)
        integral = quad(lambda u, y=y: 1 / ((u + y) ** 2 * np.sqrt(1 - u * u)), 0, 1)[0]
        exact = (
            density
            * band.mass
            * Q**4
            * occupancy**2
            * integral
            / (4 * np.pi * const.hbar**3 * spacing**2 * permittivity**2 * k**4)
        )
        assert rate == pytest.approx(exact, rel=0.01)


def test_polar_optical_rate_of_a_slow_hole_in_a_strictly_2d_gas():
    """k -> 0, non-degenerate, H = 1: only absorption, to k' = k0 = sqrt(2mω/ħ), q -> k0 - k cos θ,
    ∫(1 - k' cos θ / k) / q dθ -> π / k0, so 1/τ = m e² ω N (1/ε∞ - 1/ε_s) / (8 ħ² k0)."""
    mass, phonon, temperature = 2.0 * const.m_e, 0.0912 * Q, 300.0
    high, static = 5.35 * const.epsilon_0, 8.9 * const.epsilon_0
    form = scattering.tabulated(_gaussian_envelope(0.001).self_form_factor, 3e10)
    k = np.array([1e5, 1e6])
    rates = scattering.polar_optical_rate(k, mass, phonon, high, static, temperature, form, -30.0)
    omega = phonon / const.hbar
    k0 = math.sqrt(2 * mass * omega / const.hbar)
    occupation = 1 / math.expm1(phonon / (const.k * temperature))
    exact = mass * Q**2 * omega * occupation * (1 / high - 1 / static) / (8 * const.hbar**2 * k0)
    np.testing.assert_allclose(rates, exact, rtol=1e-2)


def test_polar_optical_mobility_is_activated_at_low_temperature():
    """Only absorption of thermal LO phonons (N ≈ exp(-ħω/kT)) at kT << ħω, E_F < ħω:
    μ_POP ∝ exp(ħω/kT), d ln μ / d(1/T) -> ħω/k (91.2 meV = 1058 K)."""
    mass, phonon = 2.0 * const.m_e, 0.0912 * Q
    band = scattering.Subband2D(mass, 4e17, 10.0, _gaussian_envelope(0.7))
    form = scattering.tabulated(band.envelope.self_form_factor, 3e10)
    mobilities = []
    temperatures = (40.0, 50.0)
    for temperature in temperatures:
        eta = 0.055 * Q / (const.k * temperature)  # E_F = 55 meV above the band edge
        energies = scattering.energy_grid(eta, temperature)
        k = np.sqrt(2 * mass * energies) / const.hbar
        rates = scattering.polar_optical_rate(
            k, mass, phonon, 5.35 * const.epsilon_0, 8.9 * const.epsilon_0, temperature, form, eta
        )
        averages = scattering.transport_average(rates, energies, eta, temperature)
        mobilities.append(averages.mobility(mass))
    slope = np.log(mobilities[0] / mobilities[1]) / (1 / temperatures[0] - 1 / temperatures[1])
    assert slope == pytest.approx(phonon / const.k, rel=0.05)


def test_hall_mobility_of_the_undoped_gas_and_matthiessen(undoped):
    result = undoped[load_parameter_set().name]
    mobility = hall_mobility(result)
    assert set(mobility.mechanisms_cm2_per_Vs) == set(nitride.MECHANISMS)
    assert mobility.hall_factor >= 1.0 and mobility.hall_cm2_per_Vs >= mobility.drift_cm2_per_Vs
    # energy-dependent rates: the true mobility is at most Matthiessen's combination
    assert mobility.drift_cm2_per_Vs <= mobility.matthiessen_cm2_per_Vs
    # with one energy-independent mechanism the two coincide exactly
    acoustic = hall_mobility(result, mechanisms=("acoustic_phonons",))
    assert acoustic.drift_cm2_per_Vs == pytest.approx(
        acoustic.mechanisms_cm2_per_Vs["acoustic_phonons"], rel=1e-12
    )
    assert mobility.sheet_conductance_mS == pytest.approx(
        Q * result.p_s_cm2 * mobility.drift_cm2_per_Vs * 1e3, rel=1e-9
    )
    cold = hall_mobility(solve(preset("gan-on-aln"), T=77.0))
    assert cold.hall_cm2_per_Vs > 1.3 * mobility.hall_cm2_per_Vs  # phonons freeze out
    assert (
        cold.mechanisms_cm2_per_Vs["polar_optical_phonons"]
        > 1e3 * mobility.mechanisms_cm2_per_Vs["polar_optical_phonons"]
    )


def test_interface_roughness_matrix_element_is_the_effective_field(undoped):
    """For a thin gas, |⟨dφ/dz⟩| = F_cap + e p_s / (2ε) (Gauss's law on the sheet)."""
    result = undoped[load_parameter_set().name]
    top = max(result.subbands, key=lambda s: s.sheet_density_cm2)
    z = result.z_nm * 1e-9
    envelope = scattering.Envelope.from_nodes(z, top.wavefunction_per_sqrt_nm, np.gradient(z))
    slope = np.gradient(result.potential_V, result.z_nm) * 1e9  # V/m
    force = interface_force(envelope, z, slope)  # V/m here (slope in V/m)
    cap_field = abs(float(np.interp(0.5 * result.stack.channel_depth_nm, result.z_nm, slope / 1e9)))
    gauss = cap_field * 1e9 + Q * result.p_s_cm2 * 1e4 / (2 * 8.9 * const.epsilon_0)
    assert force == pytest.approx(gauss, rel=0.15)


def test_ionized_donors_near_the_gas_lower_the_mobility(undoped):
    clean = hall_mobility(undoped[load_parameter_set().name])
    near, far = (
        hall_mobility(solve(preset("gan-on-aln").with_donors(DonorSheet(5e12, depth, 0.4))))
        for depth in (12.7, 8.0)
    )
    assert near.hall_cm2_per_Vs < 0.7 * clean.hall_cm2_per_Vs
    background = near.mechanisms_cm2_per_Vs["background_impurities"]
    assert background < 0.1 * far.mechanisms_cm2_per_Vs["background_impurities"]
    assert far.hall_cm2_per_Vs > 0.9 * clean.hall_cm2_per_Vs
    # transport parameters can be overridden, checked by name
    dirty = hall_mobility(
        undoped[load_parameter_set().name],
        transport_parameters(undoped[load_parameter_set().name], dislocation_density_cm2=1e11),
    )
    assert dirty.hall_cm2_per_Vs < clean.hall_cm2_per_Vs
    with pytest.raises(ValueError, match="unknown transport parameter"):
        transport_parameters(undoped[load_parameter_set().name], dislocations=1e9)


# ----- API and CLI input checking --------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: Layer("GaN", -5.0),
            r"GaN layer thickness_nm=-5.0 is out of range; .*\(0, 100000\]",
        ),
        (
            lambda: DonorTail(-1e17, 50.0),
            r"donor tail density_cm3=.* allowed range is \[0, 1e\+22\]",
        ),
        (lambda: DonorTail(1e17, 0.0), r"decay_length_nm=0.0 is out of range; .*\(0, 100000\]"),
        (lambda: DonorTail(1e17, 50.0, -1.0), r"cap_decay_length_nm=-1.0 is out of range"),
        (lambda: BlockingLayer(20.0, transmission=2.0), r"IBL transmission=2.0 is out of range"),
        (lambda: preset("gan-on-sic"), "unknown preset 'gan-on-sic'; allowed: gan-on-aln"),
        (lambda: Stack((Layer("GaN", 13.0),)), "at least 2 layers"),
        (
            lambda: preset("gan-on-aln").with_blocking_layers(BlockingLayer(20.0, height_nm=400.0)),
            r"IBL height_nm \+ thickness_nm must fit inside the buffer",
        ),
        (lambda: solve(preset("gan-on-aln"), T=-3), r"T \(K\)=-3 is out of range; .*\[4, 1000\]"),
        (
            lambda: solve(preset("gan-on-aln"), bands=("hh", "xx")),
            "bands must be a non-empty subset",
        ),
        (lambda: solve(preset("gan-on-aln"), meshscale=1), "unknown solver option"),
        (
            lambda: solve(Stack(preset("gan-on-aln").layers, surface_barrier_eV=5.0)),
            r"surface_barrier_eV \(at most the cap's band gap\)=5.0 is out of range; .*\[0, 3.4",
        ),
        (
            lambda: hall_mobility(solve(preset("gan-on-aln")), mechanisms=("phonons",)),
            "mechanisms must be a non-empty subset",
        ),
    ],
)
def test_bad_input_names_the_parameter_and_range(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--preset", "nope"], "unknown preset 'nope'; allowed"),
        (["--donor-tail", "5e17;50nm"], "--donor-tail: expected DENSITY,LENGTH"),
        (["--donor-tail", "5e17,fifty"], "--donor-tail: expected DENSITY,LENGTH"),
        (["--donor-tail=-5e17,50nm"], r"density_cm3=-5e\+17 is out of range"),
        (["--cap=-5nm"], r"thickness_nm=-5.0 is out of range"),
        (["--ibl", "20parsecs"], "--ibl: expected THICKNESS"),
        (["--params", "nope"], "unknown parameter set 'nope'"),
        (["--sweep", "--sweep-densities", "1e20:1e17:5"], "--sweep-densities"),
        (["--cap-decay", "2nm"], "--cap-decay applies to a donor tail"),
        (["--roughness", "0.3nm"], "--roughness: expected DELTA,LAMBDA"),
        (["--dislocations", "-1"], r"--dislocations=-1.0 is out of range"),
        (["--sweep", "--ibl-map"], "at most one of --sweep, --ibl-map, --temperatures"),
    ],
)
def test_cli_rejects_bad_input_with_a_clear_message(argv, message, capsys, tmp_path):
    assert nitride.main([*argv, "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("qmatmul physics nitride: error: ")
    assert re.search(message, error), error
    with pytest.raises(SystemExit) as exit_info:  # argparse's own errors: exit code 2 too
        nitride.main(["--temperatures", "1:x:3"])
    assert exit_info.value.code == 2


def test_cli_solves_writes_the_band_diagram_and_json(tmp_path, capsys):
    code = nitride.main(
        [
            "--preset",
            "gan-on-aln",
            "--donor-tail",
            "5e17,50nm",
            "--ibl",
            "20nm",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "p_s = " in printed and "IBL: 20 nm" in printed and "Hall mobility" in printed
    assert (tmp_path / "band_diagram.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["p_s_cm2"] == pytest.approx(float(printed.split("p_s = ")[1].split()[0]), rel=1e-3)
    assert saved["convergence"]["converged"] is True
    mobility = saved["mobility"]
    assert f"Hall mobility {mobility['hall_cm2_per_Vs']:.3g} cm^2/Vs" in printed
    assert mobility["transport"]["roughness_height_nm"] == pytest.approx(0.26)


def test_cli_sweep_map_and_temperatures_write_their_studies(tmp_path, capsys):
    code = nitride.main(["--sweep", "--sweep-densities", "1e17:1e20:3", "--out", str(tmp_path)])
    assert code == 0
    assert "spread of p_s" in capsys.readouterr().out
    saved = json.loads((tmp_path / "sweep.json").read_text())
    assert saved["spread_with_ibl_cm2"] < saved["spread_without_ibl_cm2"]
    assert (tmp_path / "sweep_ps_vs_donors.png").stat().st_size > 10_000
    code = nitride.main(
        [
            "--ibl-map",
            "--map-heights",
            "20,250",
            "--map-transmissions",
            "0.01",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    saved = json.loads((tmp_path / "ibl_map.json").read_text())
    assert np.array(saved["recovery"]).shape == (2, 1)
    assert (tmp_path / "ibl_map.png").stat().st_size > 10_000
    code = nitride.main(["--temperatures", "77,300", "--out", str(tmp_path)])
    assert code == 0
    rows = json.loads((tmp_path / "mobility_vs_temperature.json").read_text())["rows"]
    assert [row["temperature_K"] for row in rows] == [77.0, 300.0]
    assert (tmp_path / "mobility_vs_temperature.png").stat().st_size > 10_000

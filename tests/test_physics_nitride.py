"""GaN/AlN 2D hole gas solver (sw.physics.nitride): the validations of issue 5.

Analytic limits (infinite and triangular wells, a finite well with a mass step), the
textbook polarization charge, the first-order electrostatic estimate, charge neutrality
with donor sheets, IBLs restoring p_s, mesh convergence, the sweep, and bad input.
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
from scipy.special import ai_zeros

from sw.physics import nitride
from sw.physics.nitride import (
    BlockingLayer,
    DonorSheet,
    DonorTail,
    Layer,
    Stack,
    UniformDonors,
    available_parameter_sets,
    estimate_hall_mobility,
    load_parameter_set,
    preset,
    solve,
    sweep,
)
from sw.physics.nitride.materials import DATA_FILE, interface_sheet_charge_C_per_m2
from sw.physics.nitride.mesh import graded_mesh_nm
from sw.physics.nitride.mobility import ionized_impurity_mobility_cm2_per_Vs
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
    leaky = solve(tail.with_blocking_layers(BlockingLayer(20.0, transmission=0.01))).p_s_cm2
    tight = solve(tail.with_blocking_layers(BlockingLayer(20.0, transmission=0.0))).p_s_cm2
    assert compensated < leaky < tight <= reference
    assert reference - leaky < 0.15 * (reference - compensated)
    assert tight == pytest.approx(reference, rel=0.05)


def test_donor_profile_shapes():
    stack = Stack(
        (Layer("GaN", 10.0), Layer("AlN", 200.0)),
        donors=(DonorTail(1e19, 40.0), UniformDonors(1e16)),
        blocking_layers=(BlockingLayer(10.0, height_nm=60.0, transmission=0.1),),
    )
    heights = np.array([0.0, 40.0, 59.0, 61.0, 100.0])
    profile = stack.donor_density_cm3(stack.total_thickness_nm - heights)
    tail = 1e19 * np.exp(-heights / 40.0)
    expected = np.where(heights >= 60.0, 0.1 * tail, tail) + 1e16
    np.testing.assert_allclose(profile, expected, rtol=1e-12)


def test_sweep_reproduces_the_ibl_comparison(tmp_path):
    result = sweep(tail_densities_cm3=np.logspace(17, 20.5, 5))
    assert result.all_converged
    assert result.spread_without_ibl_cm2 > 2e13
    assert result.spread_with_ibl_cm2 <= 1e13
    assert result.spread_with_ibl_cm2 < 0.2 * result.spread_without_ibl_cm2
    assert np.all(result.p_s_with_ibl_cm2 >= result.p_s_without_ibl_cm2)
    # The mobility model: blocking the donors never lowers the modeled Hall mobility.
    assert np.all(result.mobility_with_ibl_cm2_per_Vs >= result.mobility_without_ibl_cm2_per_Vs)
    assert result.mobility_without_ibl_cm2_per_Vs[-1] < result.mobility_without_ibl_cm2_per_Vs[0]
    figure = result.plot(tmp_path / "sweep.png")
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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


def test_remote_impurity_limit_of_the_mobility_model():
    """k_F d >> 1, strong screening: mu = 8 e (k_F d)^3 / (pi hbar n_imp) (Davies 1998)."""
    holes_cm2, impurities_cm2 = 4e13, 1e12
    fermi_k = math.sqrt(2 * math.pi * holes_cm2 * 1e4)
    for distance_nm in (30.0, 100.0):
        model = ionized_impurity_mobility_cm2_per_Vs(
            [impurities_cm2], [distance_nm], holes_cm2, 2.0, 8.9
        )
        closed_form = (
            8
            * Q
            * (fermi_k * distance_nm * 1e-9) ** 3
            / (math.pi * const.hbar * impurities_cm2 * 1e4)
        )
        assert model == pytest.approx(closed_form * 1e4, rel=0.02)


def test_mobility_model_is_matthiessen(undoped):
    clean = estimate_hall_mobility(undoped[load_parameter_set().name], intrinsic_cm2_per_Vs=30.0)
    assert clean.total_cm2_per_Vs == pytest.approx(30.0)
    near, far = (
        estimate_hall_mobility(
            solve(preset("gan-on-aln").with_donors(DonorSheet(5e12, depth, width_nm=0.4))),
            intrinsic_cm2_per_Vs=30.0,
        )
        for depth in (12.7, 10.0)
    )
    expected = 1 / (1 / 30.0 + 1 / near.ionized_impurity_cm2_per_Vs)
    assert near.total_cm2_per_Vs == pytest.approx(expected)
    assert near.total_cm2_per_Vs < 0.9 * clean.total_cm2_per_Vs
    # Donors inside the gas scatter far more than the same donors 2.7 nm away.
    assert near.ionized_impurity_cm2_per_Vs < 0.2 * far.ionized_impurity_cm2_per_Vs


# ----- API and CLI input checking --------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Layer("GaN", -5.0), r"GaN layer thickness_nm must be in \(0, 100000\]"),
        (lambda: DonorTail(-1e17, 50.0), r"donor tail density_cm3 must be in \[0, 1e\+22\]"),
        (lambda: DonorTail(1e17, 0.0), r"decay_length_nm must be in \(0, 100000\]"),
        (lambda: BlockingLayer(20.0, transmission=2.0), r"IBL transmission must be in \[0, 1\]"),
        (lambda: preset("gan-on-sic"), "unknown preset 'gan-on-sic'; allowed: gan-on-aln"),
        (lambda: Stack((Layer("GaN", 13.0),)), "at least 2 layers"),
        (
            lambda: preset("gan-on-aln").with_blocking_layers(BlockingLayer(20.0, height_nm=400.0)),
            r"IBL height_nm \+ thickness_nm must fit inside the buffer",
        ),
        (lambda: solve(preset("gan-on-aln"), T=-3), r"T must be in \[4, 1000\] K"),
        (
            lambda: solve(preset("gan-on-aln"), bands=("hh", "xx")),
            "bands must be a non-empty subset",
        ),
        (lambda: solve(preset("gan-on-aln"), meshscale=1), "unknown solver option"),
        (
            lambda: solve(Stack(preset("gan-on-aln").layers, surface_barrier_eV=5.0)),
            r"surface_barrier_eV must be in \[0, 3.4",
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
        (["--donor-tail=-5e17,50nm"], r"density_cm3 must be in \[0, 1e\+22\]"),
        (["--cap=-5nm"], r"thickness_nm must be in \(0, 100000\]"),
        (["--ibl", "20parsecs"], "--ibl: expected THICKNESS"),
        (["--params", "nope"], "unknown parameter set 'nope'"),
        (["--sweep", "--sweep-densities", "1e20:1e17:5"], "--sweep-densities"),
    ],
)
def test_cli_rejects_bad_input_with_a_clear_message(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        nitride.main([*argv, "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert re.search(message, error), error


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
    assert "p_s = " in printed and "IBL: 20 nm" in printed
    assert (tmp_path / "band_diagram.png").read_bytes()[:4] == b"\x89PNG"
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved["p_s_cm2"] == pytest.approx(float(printed.split("p_s = ")[1].split()[0]), rel=1e-3)
    assert saved["convergence"]["converged"] is True


def test_cli_sweep_writes_the_comparison(tmp_path, capsys):
    code = nitride.main(["--sweep", "--sweep-densities", "1e17:1e20:3", "--out", str(tmp_path)])
    assert code == 0
    assert "spread of p_s" in capsys.readouterr().out
    saved = json.loads((tmp_path / "sweep.json").read_text())
    assert saved["spread_with_ibl_cm2"] < saved["spread_without_ibl_cm2"]
    assert (tmp_path / "sweep_ps_vs_donors.png").stat().st_size > 10_000

"""Néel skyrmion spin-lattice solver and the Rashba-Edelstein calculation (issue 6).

Expected values are analytic (exact integers for Q, closed forms for the helix period,
continuum energies, Edelstein spin density and Rashba conductivity) or relations between
two computations (energy vs field, relax vs damped LLG, +D vs -D).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import constants

from sw.physics.skyrmion import (
    FCGT_CLASS,
    ONSAGER_TC,
    SpinSystem,
    add_noise,
    classify_state,
    helix_state,
    initial_state,
    langevin,
    lattice_helix_period,
    llg,
    main,
    monte_carlo,
    onsager_magnetization,
    phase_diagram,
    random_state,
    rashba_edelstein,
    relax,
    skyrmion_lattice_state,
    skyrmion_radii,
    skyrmion_state,
    thermal_phase_diagram,
    to_lattice,
    topological_charge,
    uniform_state,
)

BOUNDARIES = ["periodic", "open", ("open", "periodic")]


# -- the energy and its field ----------------------------------------------------------


@pytest.mark.parametrize("lattice", ["square", "triangular"])
@pytest.mark.parametrize("boundary", BOUNDARIES)
def test_field_is_minus_energy_gradient(lattice, boundary):
    system = SpinSystem((5, 6), lattice=lattice, D=0.7, K=0.3, B=0.2, boundary=boundary)
    m = random_state(system, seed=3)
    field = system.effective_field(m)
    rng = np.random.default_rng(0)
    eps = 1e-6
    for _ in range(12):
        i, j, c = rng.integers(5), rng.integers(6), rng.integers(3)
        plus, minus = m.copy(), m.copy()
        plus[i, j, c] += eps
        minus[i, j, c] -= eps
        derivative = (system.energy(plus) - system.energy(minus)) / (2 * eps)
        assert derivative == pytest.approx(-field[i, j, c], abs=1e-7)
    # The bond-by-bond terms add up to the energy computed from the field.
    assert sum(system.energy_terms(m).values()) == pytest.approx(system.energy(m), abs=1e-10)


@pytest.mark.parametrize("lattice", ["square", "triangular"])
def test_micromagnetic_units_reproduce_the_continuum_energy(lattice):
    # A long-period cycloid (q a ~ 0.04): per volume, the exchange energy above the
    # uniform state tends to A q^2 and the DMI energy to -|D| q, up to O((q a)^2).
    A, D, a = 1.5e-11, 2.5e-3, 0.25e-9
    if lattice == "square":
        shape, period, direction = (320, 8), 160.0, (1.0, 0.0)
    else:  # the wave vector must be normal to the short periodic side a2 of the rhombus
        shape, period, direction = (320, 6), 80 * math.sqrt(3), (math.sqrt(3) / 2, -0.5)
    system = SpinSystem.from_micromagnetic(shape, A=A, D=D, cell_size=a, lattice=lattice)
    m = helix_state(system, period=period, direction=direction)
    q = 2 * math.pi / (period * a)
    per_volume = system.units.energy / (system.area * a**2 * system.units.thickness)
    terms = system.energy_terms(m)
    uniform = system.energy_terms(uniform_state(system))
    exchange = (terms["exchange"] - uniform["exchange"]) * per_volume
    assert exchange == pytest.approx(A * q**2, rel=1e-3)
    assert terms["dmi"] * per_volume == pytest.approx(-D * q, rel=1e-3)


def test_lattice_helix_period_matches_the_square_lattice_closed_form_and_continuum():
    assert lattice_helix_period(1.0, 0.3) == pytest.approx(2 * math.pi / math.atan(0.3), rel=1e-6)
    # Both lattices tend to the continuum 4 pi A / D: square J = 2A, D_lat = D (a = t = 1).
    for lattice, factor in (("square", 1.0), ("triangular", math.sqrt(3))):
        J, D_lat = 2.0 / factor, 0.01 / factor  # A = 1, D = 0.01
        period = lattice_helix_period(J, D_lat, lattice)
        assert period == pytest.approx(4 * math.pi / 0.01, rel=1e-4)


# -- topological charge and radius -----------------------------------------------------


@pytest.mark.parametrize("lattice", ["square", "triangular"])
@pytest.mark.parametrize("boundary", ["periodic", "open"])
def test_uniform_state_has_zero_charge(lattice, boundary):
    system = SpinSystem(12, lattice=lattice, boundary=boundary)
    for direction in ((0, 0, 1), (1, 2, -3)):
        assert topological_charge(uniform_state(system, direction), lattice, boundary) == 0.0


@pytest.mark.parametrize("lattice", ["square", "triangular"])
def test_skyrmion_charge_sign_follows_polarity(lattice):
    system = SpinSystem(40, lattice=lattice)
    m = skyrmion_state(system, radius=6.0, helicity=0.3)  # any helicity: Q depends on polarity
    assert topological_charge(m, lattice) == pytest.approx(-1.0, abs=1e-12)
    flipped = m * np.array([1.0, 1.0, -1.0])  # core +z in a -z background
    assert topological_charge(flipped, lattice) == pytest.approx(1.0, abs=1e-12)
    # A 3 x 3 tiling holds nine skyrmions.
    assert topological_charge(np.tile(m, (3, 3, 1)), lattice) == pytest.approx(-9.0, abs=1e-9)


@pytest.mark.parametrize("lattice", ["square", "triangular"])
def test_skyrmion_radius_of_a_constructed_profile(lattice):
    system = SpinSystem(48, lattice=lattice)
    for radius in (4.0, 7.5):
        m = skyrmion_state(system, radius=radius, center=(17.3, 20.1))
        (measured,) = skyrmion_radii(m, lattice)
        assert measured == pytest.approx(radius, abs=0.1)
    # The same skyrmion across the periodic edge is still found once, whole.
    m = skyrmion_state(system, radius=6.0, center=(0.5, 0.5))
    np.testing.assert_allclose(skyrmion_radii(m, lattice), [6.0], atol=0.1)


# -- relaxation --------------------------------------------------------------------------


# Continuum reduced field h = B_area A / D_c^2 is B J / (2 D^2) on the square lattice and
# B J / (3 D^2) on the triangular one; both fields below give h = 0.56, above the
# skyrmion-lattice window (h < ~0.4), where a skyrmion is only metastable in the FM.
@pytest.mark.parametrize("lattice, size, B", [("square", 48, 0.1), ("triangular", 52, 0.15)])
def test_relaxed_isolated_skyrmion_has_unit_charge(lattice, size, B):
    system = SpinSystem(size, lattice=lattice, D=0.3, B=B)
    state = relax(system, skyrmion_state(system, radius=5.0))
    assert state.converged and state.max_torque < 1e-6
    assert abs(abs(state.topological_charge) - 1.0) < 0.02
    assert state.phase == "isolated skyrmions"
    (radius,) = state.skyrmion_radii
    assert 2.0 < radius < 8.0  # a few lattice constants at this field
    # It costs energy above the saturated state at this field (hence only metastable).
    assert state.energy > system.ferromagnet_energy()
    # Relaxing the uniform state leaves it uniform with Q = 0.
    uniform = relax(system, uniform_state(system))
    assert uniform.topological_charge == 0.0 and uniform.phase == "ferromagnet"


def test_open_boundaries_add_an_edge_twist_but_keep_the_skyrmion_charge():
    system = SpinSystem(48, D=0.3, B=0.1, boundary="open")
    skyrmion = relax(system, skyrmion_state(system, radius=5.0))
    background = relax(system, uniform_state(system))
    # The DMI cants the edge spins: a non-integer charge even without a skyrmion ...
    assert background.phase == "ferromagnet" and abs(background.topological_charge) > 0.05
    # ... which the skyrmion adds its -1 to.
    difference = skyrmion.topological_charge - background.topological_charge
    assert abs(difference + 1.0) < 0.02


def test_relaxed_helix_period_matches_continuum_on_a_fine_mesh():
    # Open along x (the period is free), 4 sites periodic along y.
    A, D = 1e-11, 3e-3  # J/m, J/m^2: L = 4 pi A / D = 41.9 nm
    analytic = 4 * math.pi * A / D
    errors = []
    for cell in (1e-9, 0.5e-9):
        system = SpinSystem.from_micromagnetic(
            (round(120e-9 / cell), 4), A=A, D=D, cell_size=cell, boundary=("open", "periodic")
        )
        # The twist is soft (energy scale D^2 / J ~ 0.01 J): converge well below it.
        state = relax(system, add_noise(uniform_state(system), 0.05, seed=1), torque_tol=1e-8)
        assert state.converged
        assert state.phase == "helix"
        phase = np.unwrap(np.arctan2(state.m[:, 0, 0], state.m[:, 0, 2]))
        slope = np.polyfit(np.arange(phase.size)[5:-5], phase[5:-5], 1)[0]
        errors.append(abs(2 * math.pi / abs(slope) * cell / analytic - 1))
    assert errors[1] < 0.005  # 0.5 nm mesh (D_lat = 0.075 J): within 0.5 %
    # The discretization error is O((D a / A)^2): halving the mesh divides it by ~4.
    assert 3.0 < errors[0] / errors[1] < 5.0


def test_skyrmion_lattice_window_and_unwinding_above_the_critical_field():
    # One hexagonal cell pair (2 skyrmions) fitted to the D = 0.3 helix period.
    def relaxed(B, kind):
        system = SpinSystem((25, 43), D=0.3, B=B)
        return system, relax(system, initial_state(system, kind))

    # In the window the lattice beats both the helix and the saturated state.
    system, lattice = relaxed(0.04, "skyrmion-lattice")
    _, helix = relaxed(0.04, "helix")
    assert lattice.topological_charge == pytest.approx(-2.0, abs=1e-9)
    assert lattice.phase == "skyrmion lattice"
    assert lattice.energy < helix.energy and lattice.energy < system.ferromagnet_energy()
    # At low field the helix wins.
    _, low_lattice = relaxed(0.005, "skyrmion-lattice")
    _, low_helix = relaxed(0.005, "helix")
    assert low_helix.phase == "helix" and low_helix.energy < low_lattice.energy
    # Above the thermodynamic critical field (~0.07) the lattice is only metastable ...
    system, above = relaxed(0.1, "skyrmion-lattice")
    assert abs(above.topological_charge) == pytest.approx(2.0) and above.energy > (
        system.ferromagnet_energy()
    )
    # ... and far above it unwinds into the ferromagnet.
    system, unwound = relaxed(0.25, "skyrmion-lattice")
    assert unwound.topological_charge == pytest.approx(0.0, abs=1e-9)
    assert unwound.phase == "ferromagnet"
    assert unwound.energy == pytest.approx(system.ferromagnet_energy(), rel=1e-12)


def test_phase_diagram_orders_helix_lattice_ferromagnet_with_field():
    diagram = phase_diagram([0.5], [0.0, 0.1, 0.4], box_scales=(1.0,), seed=1)
    assert list(diagram.phase[0]) == ["helix", "skyrmion lattice", "ferromagnet"]
    assert abs(diagram.topological_charge[0, 1]) == pytest.approx(2.0)
    assert diagram.energy_per_site[0, 2] == pytest.approx(-2.0 - 0.4)  # saturated: -2J - B


def test_reversing_D_reverses_chirality_not_energy():
    # From the same Bloch skyrmion, which neither Néel sense prefers, plus noise.
    results = []
    for D in (0.4, -0.4):
        system = SpinSystem(32, D=D, B=0.1)
        m0 = add_noise(skyrmion_state(system, radius=4.0, helicity=math.pi / 2), 0.05, seed=2)
        results.append(relax(system, m0, torque_tol=1e-8))
    plus, minus = results
    assert plus.energy == pytest.approx(minus.energy, rel=1e-10)
    assert plus.topological_charge == pytest.approx(minus.topological_charge)
    assert plus.chirality < -0.01 and minus.chirality == pytest.approx(-plus.chirality, rel=1e-6)
    np.testing.assert_allclose(plus.skyrmion_radii, minus.skyrmion_radii, rtol=1e-6)
    # The symmetry behind it: -D is +D with the in-plane spins reversed, so relaxing the
    # mirrored start under -D gives the mirrored result (outward vs inward Néel walls).
    flip = np.array([-1.0, -1.0, 1.0])
    system = SpinSystem(32, D=-0.4, B=0.1)
    mirrored = relax(system, plus.m * flip + 0.0, torque_tol=1e-8)
    np.testing.assert_allclose(mirrored.m, plus.m * flip, atol=1e-7)
    m0 = add_noise(skyrmion_state(system, radius=4.0, helicity=0.0), 0.05, seed=2)
    direct = relax(SpinSystem(32, D=0.4, B=0.1), m0, torque_tol=1e-8)
    reflected = relax(system, m0 * flip, torque_tol=1e-8)
    np.testing.assert_allclose(reflected.m, direct.m * flip, atol=1e-12)
    assert reflected.energy == pytest.approx(direct.energy, rel=1e-12)


# -- LLG ----------------------------------------------------------------------------------


def _excited_skyrmion():
    system = SpinSystem(12, D=0.5, K=0.1, B=0.1)
    return system, add_noise(skyrmion_state(system, radius=3.0), 0.1, seed=2)


def test_llg_without_damping_conserves_energy():
    system, m0 = _excited_skyrmion()
    # Implicit midpoint conserves the (quadratic) energy to the fixed-point tolerance.
    exact = llg(system, m0, 4.0, damping=0.0, dt=0.05, method="midpoint")
    assert np.max(np.abs(exact.energy - exact.energy[0])) < 1e-9 * abs(exact.energy[0])
    assert exact.max_norm_error < 1e-12
    # The semi-implicit scheme drifts, but its error falls at least as dt^2.
    drifts = []
    for dt in (0.05, 0.025):
        run = llg(system, m0, 4.0, damping=0.0, dt=dt, method="sib")
        assert run.max_norm_error < 1e-12
        drifts.append(np.max(np.abs(run.energy - run.energy[0])))
    order = math.log2(drifts[0] / drifts[1])
    assert order > 1.8


@pytest.mark.parametrize("method", ["midpoint", "sib"])
def test_llg_with_damping_decreases_energy_monotonically(method):
    system, m0 = _excited_skyrmion()
    run = llg(system, m0, 10.0, damping=0.3, dt=0.05, method=method)
    assert np.all(np.diff(run.energy) < 1e-12 * abs(run.energy[0]))
    assert run.energy[-1] < run.energy[0] - 1.0
    assert run.topological_charge[-1] == pytest.approx(-1.0)


def test_damped_llg_and_relax_reach_the_same_minimum():
    system = SpinSystem(16, D=0.5, B=0.15)
    m0 = add_noise(skyrmion_state(system, radius=3.0), 0.2, seed=3)
    minimum = relax(system, m0)
    run = llg(system, m0, 100.0, damping=0.5, dt=0.1, method="sib")
    assert run.energy[-1] == pytest.approx(minimum.energy, abs=1e-4)
    # The skyrmion may settle at another place (translation is almost free on the lattice),
    # so compare what does not depend on position.
    assert run.topological_charge[-1] == pytest.approx(minimum.topological_charge)
    final_radius = skyrmion_radii(run.m_final)
    np.testing.assert_allclose(final_radius, minimum.skyrmion_radii, rtol=1e-3)


def test_llg_output_times():
    system, m0 = _excited_skyrmion()
    run = llg(system, m0, [0.0, 0.3, 1.0], dt=0.1, record_states=True)
    np.testing.assert_allclose(run.times, [0.0, 0.3, 1.0])
    np.testing.assert_allclose(run.states[0], m0)
    assert run.states.shape == (3, 12, 12, 3) and run.magnetization.shape == (3, 3)


# -- classifier ----------------------------------------------------------------------------


def test_classifier_on_constructed_textures():
    system = SpinSystem((50, 86), D=0.3)
    assert classify_state(system, uniform_state(system)) == "ferromagnet"
    assert classify_state(system, helix_state(system)) == "helix"
    assert classify_state(system, skyrmion_lattice_state(system)) == "skyrmion lattice"
    big = SpinSystem(96, D=0.3)
    assert classify_state(big, skyrmion_state(big, radius=6)) == "isolated skyrmions"
    triangular = SpinSystem(50, lattice="triangular", D=0.3)
    assert classify_state(triangular, skyrmion_lattice_state(triangular)) == "skyrmion lattice"


# -- Rashba-Edelstein --------------------------------------------------------------------


@pytest.mark.parametrize(
    "alpha, m_eff, tau, E, fermi_energy, charge",
    [
        (1e-11, 1.0, 1e-14, 1e4, 0.1, -1.0),
        (-3e-11, 0.3, 1e-13, -2e3, 0.02, -1.0),
        (5e-11, 2.0, 5e-15, 1e5, 0.5, 1.0),
    ],
)
def test_edelstein_k_grid_matches_closed_form(alpha, m_eff, tau, E, fermi_energy, charge):
    result = rashba_edelstein(alpha, m_eff, tau, E, fermi_energy=fermi_energy, charge=charge)
    hbar, e = constants.hbar, constants.e
    mass, alpha_si = m_eff * constants.m_e, alpha * e
    closed = charge * e * E * tau * mass * alpha_si / (4 * math.pi * hbar**2)
    assert result.spin_density_closed_form == pytest.approx(closed, rel=1e-12)
    assert result.spin_density == pytest.approx(closed, rel=1e-4)
    assert result.relative_difference < 1e-4
    assert result.lambda_iree == pytest.approx(alpha_si * tau / hbar, rel=1e-12)
    # The same grid gives the Rashba gas's Boltzmann conductivity and density:
    # sigma = q^2 tau K^2 / (2 pi m), n = (K^2 + k_a^2) / (2 pi), K^2 = k_a^2 + 2 m E_F / hbar^2.
    k_alpha = mass * abs(alpha_si) / hbar**2
    K2 = k_alpha**2 + 2 * mass * fermi_energy * e / hbar**2
    q = charge * e
    assert result.current_density == pytest.approx(
        q**2 * tau * K2 / (2 * math.pi * mass) * E, rel=1e-4
    )
    assert result.carrier_density == pytest.approx((K2 + k_alpha**2) / (2 * math.pi), rel=1e-4)


def test_edelstein_grid_convergence():
    coarse = rashba_edelstein(1e-11, 1.0, 1e-14, 1e4, grid_points=100)
    fine = rashba_edelstein(1e-11, 1.0, 1e-14, 1e4, grid_points=300)
    assert fine.relative_difference < coarse.relative_difference
    assert fine.relative_difference < 1e-8


# -- input validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: SpinSystem(8, lattice="hexagonal"), "lattice='hexagonal' is not allowed"),
        (lambda: SpinSystem(8, J=-1.0), r"J \(ferromagnetic exchange\)=-1.0 is out of range"),
        (lambda: SpinSystem(2), r"shape\[0\] \(periodic axis\)=2 is out of range"),
        (lambda: SpinSystem(8, boundary="twisted"), "boundary='twisted' is not allowed"),
        (lambda: SpinSystem(8, D=math.nan), "D=nan is out of range"),
        (
            lambda: SpinSystem.from_micromagnetic(8, A=-1, D=1e-3, cell_size=1e-9),
            r"A \(J/m\)=-1 is out of range",
        ),
        (lambda: relax(SpinSystem(8), np.ones((7, 8, 3))), r"m0 must have shape \(8, 8, 3\)"),
        (lambda: relax(SpinSystem(8), np.ones((8, 8, 3)), torque_tol=0), "torque_tol=0"),
        (lambda: llg(SpinSystem(8), np.ones((8, 8, 3)), 1.0, method="rk4"), "method='rk4'"),
        (lambda: llg(SpinSystem(8), np.ones((8, 8, 3)), 1.0, damping=-1), "damping=-1"),
        (lambda: initial_state(SpinSystem(8), "vortex"), "initial state='vortex' is not allowed"),
        (lambda: phase_diagram([0.0], [0.1]), "D_values must be nonzero"),
        (lambda: rashba_edelstein(1e-11, 1, 1e-14, 1e4, fermi_energy=-0.1), "fermi_energy"),
        (lambda: rashba_edelstein(1e-11, 0, 1e-14, 1e4), r"m_eff \(electron masses\)=0"),
        (
            lambda: rashba_edelstein(1e-11, 1, 1e-14, 1e4, grid_points=301),
            "grid_points must be even",
        ),
        (lambda: topological_charge(np.ones((4, 4, 3)), lattice="kagome"), "lattice='kagome'"),
        (lambda: monte_carlo(SpinSystem(8), 0.0, np.ones((8, 8, 3))), "temperature=0.0"),
        (lambda: monte_carlo(SpinSystem(8), 1.0, np.ones((8, 8, 3)), sweeps=5), "sweeps=5"),
        (lambda: to_lattice(FCGT_CLASS, thickness=0.0), r"thickness \(m\)=0.0"),
    ],
)
def test_bad_input_names_the_parameter(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# -- command line ---------------------------------------------------------------------------


def test_cli_relaxes_and_writes_an_image(tmp_path, capsys):
    argv = ["--D", "0.3", "--B", "0.04", "--size", "25", "--size-y", "43"]
    assert main([*argv, "--init", "skyrmion-lattice", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Q = -2.0000" in out and "phase: skyrmion lattice" in out
    (image,) = tmp_path.glob("*.png")
    assert image.stat().st_size > 10_000
    (summary,) = tmp_path.glob("*.json")
    assert json.loads(summary.read_text())["topological_charge"] == pytest.approx(-2.0)


def test_cli_phase_diagram_and_edelstein(tmp_path, capsys):
    argv = ["--phase-diagram", "--D-values", "0.5", "--B-values", "0,0.4", "--box-scales", "1"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    assert (tmp_path / "phase_diagram.png").exists()
    data = json.loads((tmp_path / "phase_diagram.json").read_text())
    assert data["phase"] == [["helix", "ferromagnet"]]
    assert main(["--edelstein", "--out", str(tmp_path)]) == 0
    assert "relative difference" in capsys.readouterr().out
    # Bad input: one line on stderr naming the parameter, exit code 2.
    assert main(["--D", "0.3", "--J", "-1", "--out", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "qmatmul physics skyrmion: error: J (ferromagnetic exchange)=-1.0" in captured.err
    assert main(["--thermal", "--T-values", "0.5,-1", "--out", str(tmp_path)]) == 2
    assert "temperature=-1.0 is out of range" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--lattice", "kagome"])


# -- Monte Carlo ----------------------------------------------------------------------------


def test_monte_carlo_energy_kernel_matches_the_model_energy():
    from sw.physics.skyrmion.thermal import _kernels, neighbour_tables

    energy = _kernels()[2]
    for lattice in ("square", "triangular"):
        for boundary in ("periodic", ("open", "periodic")):
            system = SpinSystem((7, 6), lattice=lattice, D=0.7, K=0.3, B=0.2, boundary=boundary)
            m = random_state(system, seed=1)
            neighbours, dmi = neighbour_tables(system)
            spins = np.ascontiguousarray(m.reshape(-1, 3))
            assert energy(spins, neighbours, dmi, 1.0, 0.3, 0.2) == pytest.approx(
                system.energy(m), rel=1e-12
            )


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_monte_carlo_reproduces_the_exact_heisenberg_chain(temperature):
    # Classical Heisenberg chain (Fisher 1964): <m_i . m_i+1> = L(J / T), L the Langevin
    # function; a periodic ring of 256 spins differs by exp(-256 / xi), xi < 4 sites here.
    chain = SpinSystem((256, 1), D=0.0, boundary=("periodic", "open"))
    run = monte_carlo(chain, temperature, random_state(chain, 0), sweeps=3000, equilibration=500)
    correlation = -run.energy_per_site  # one bond per site
    exact = float(langevin(1.0 / temperature))
    assert abs(correlation - exact) < 4 * run.energy_error
    assert run.energy_error < 0.01 * exact


def test_monte_carlo_reaches_the_onsager_limit_of_strong_anisotropy():
    # K >> J, T: spins sit at +-z and the square lattice is the 2D Ising model (T_c = 2.269 J):
    # its magnetization must follow Onsager's exact one below T_c and vanish above. Transverse
    # fluctuations (theta^2 ~ T/K) weaken the effective Ising coupling by O(T/K), 0.4 % at
    # K = 1000. The z-flip move is what lets the Ising spins change at all.
    system = SpinSystem(24, D=0.0, K=1000.0)
    for temperature in (1.6, 2.0):
        run = monte_carlo(
            system, temperature, uniform_state(system), sweeps=1500, equilibration=500
        )
        expected = onsager_magnetization(temperature)
        assert abs(run.magnetization[2]) == pytest.approx(expected, abs=0.02), temperature
    above = monte_carlo(system, 3.2, random_state(system, 1), sweeps=1500, equilibration=500)
    assert abs(above.magnetization[2]) < 0.1 and 2.0 < ONSAGER_TC < 3.2


def test_monte_carlo_obeys_equipartition_at_low_temperature():
    # A saturated state (D = 0.3, B = 0.5 is far above the skyrmion window) has two harmonic
    # degrees of freedom per spin: E - E_0 = N T (1 + O(T)).
    system = SpinSystem(16, D=0.3, K=0.2, B=0.5)
    temperature = 0.01
    run = monte_carlo(system, temperature, uniform_state(system), sweeps=800, equilibration=300)
    excess = (run.energy_per_site - system.ferromagnet_energy() / system.n_sites) / temperature
    assert excess == pytest.approx(1.0, abs=0.05)
    assert run.phase == "ferromagnet" and run.magnetization[2] > 0.99


def test_skyrmion_lattice_survives_low_temperature_and_melts_at_high():
    # D = 0.5, B = 0.1 lies inside the T = 0 window (h = 0.4); two skyrmions fit the box.
    system = SpinSystem((16, 27), D=0.5, B=0.1)
    start = initial_state(system, "skyrmion-lattice")
    cold = monte_carlo(system, 0.05, start, sweeps=400, equilibration=200)
    assert cold.phase == "skyrmion lattice" and cold.charge == pytest.approx(-2.0, abs=0.05)
    hot = monte_carlo(system, 2.0, start, sweeps=400, equilibration=200, seed=1)
    assert hot.phase in ("paramagnet", "ferromagnet")
    assert hot.peak_structure_factor < 0.25 * cold.peak_structure_factor


def test_thermal_phase_diagram_orders_helix_skyrmion_lattice_and_saturation():
    system = SpinSystem((16, 27), D=0.5)
    diagram = thermal_phase_diagram(
        system, [0.0, 0.1, 0.4], [0.6, 0.1], sweeps=200, equilibration=200,
        start="skyrmion-lattice",
    )  # fmt: skip
    assert list(diagram.phase[:, -1]) == ["helix", "skyrmion lattice", "ferromagnet"]
    window = diagram.skyrmion_lattice_window()
    assert window[0.1] == (0.1, 0.1)


# -- material parameters and units ------------------------------------------------------------


def test_material_conversion_to_lattice_units():
    material = FCGT_CLASS
    thickness = 10 * material.layer_thickness
    mapping = to_lattice(material, thickness)
    a = material.lattice_constant
    exchange = 2 * material.A * thickness  # J = 2 A t on the square lattice
    assert mapping.exchange_joule == pytest.approx(exchange, rel=1e-12)
    assert mapping.D == pytest.approx(material.D * a / (2 * material.A), rel=1e-12)
    assert mapping.K == pytest.approx(material.K_eff * a**2 / (2 * material.A), rel=1e-12)
    assert mapping.field(1.0) == pytest.approx(material.Ms * a**2 * thickness / exchange, rel=1e-12)
    assert mapping.temperature(300.0) == pytest.approx(constants.k * 300 / exchange, rel=1e-12)
    # The reduced field and the continuum period do not depend on the cell size.
    coarse = to_lattice(material, thickness, cell_size=4 * a)
    h = mapping.field(0.1) / mapping.D**2
    assert coarse.field(0.1) / coarse.D**2 == pytest.approx(h, rel=1e-12)
    assert h == pytest.approx(2 * material.A * material.Ms * 0.1 / material.D**2, rel=1e-12)
    # The lattice helix period tends to the continuum 4 pi A / D as D a / (2 A) -> 0: within
    # 2 % on the atomic cell (D_lat / J = 0.2), off by 19 % on the 4a cell (D_lat / J = 0.8).
    period = 4 * math.pi * material.A / material.D * 1e9
    assert mapping.helix_period_nm == pytest.approx(period, rel=0.02)
    assert coarse.helix_period_nm > 1.1 * period


def test_cli_thermal_and_material_modes(tmp_path, capsys):
    argv = ["--thermal", "--D", "0.5", "--cells", "1", "--B-values", "0.1", "--T-values", "0.05",
            "--sweeps", "40", "--equilibration", "40", "--start", "skyrmion-lattice"]  # fmt: skip
    assert main([*argv, "--out", str(tmp_path)]) == 0
    assert "SkX(2)" in capsys.readouterr().out
    data = json.loads((tmp_path / "thermal_D0.5_K0.json").read_text())
    assert data["phase"] == [["skyrmion lattice"]]
    assert (tmp_path / "thermal_D0.5_K0.png").read_bytes().startswith(b"\x89PNG")
    assert main(["--material", "--layers", "1,10", "--out", str(tmp_path)]) == 0
    output = capsys.readouterr().out
    assert "T/J at 300 K" in output and "lambda_IREE" in output
    material = json.loads((tmp_path / "material.json").read_text())
    assert [row["layers"] for row in material["lattice"]] == [1, 10]
    assert material["edelstein"]["result"]["relative_difference"] < 1e-6

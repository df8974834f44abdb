"""Tests of sw.physics.magnon: the parametrically driven cavity-magnon system.

Reference values are analytic (closed forms derived in the module docstrings) or come from an
independent computation (root finder, time integration, QuTiP's own steady-state solver).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sw.physics.common import PhysicsInputError
from sw.physics.magnon import (
    Conventions,
    MagnonParams,
    Phase,
    branch_steady_state,
    critical_drive,
    effective_magnon,
    find_steady_states_numerically,
    fluctuations,
    hysteresis_sweep,
    integrate,
    kerr_scan,
    long_time_behaviour,
    main,
    phase,
    phase_diagram,
    quantum_steady_state,
    residual,
    saddle_node_drive,
    steady_states,
    suggested_cutoffs,
    transition,
    truncated_wigner,
    zero_state_instability,
)
from sw.physics.magnon.observables import (
    amplitude_grid,
    wigner_function,
    wigner_histogram,
    wigner_maxima,
)
from sw.physics.magnon.scaling import (
    GapPoint,
    fit_gap_closing,
    thermodynamic_family,
    wigner_snapshots,
)

DEFAULT = MagnonParams()  # first order: Delta_eff < 0 < K

# Cavity detuned the other way: Delta_eff > 0, same sign as K -> second order.
SECOND_ORDER = MagnonParams(delta_a=-6.0)
# Flipping the sign of K swaps the two cases.
FIRST_ORDER_NEGATIVE_KERR = MagnonParams(delta_a=-6.0, kerr=-0.05)
SECOND_ORDER_NEGATIVE_KERR = MagnonParams(kerr=-0.05)
# Cavity on resonance: the polaritons sit symmetrically around half the drive frequency and
# the zero state goes unstable by a Hopf bifurcation (self-oscillation) first.
HOPF = MagnonParams(delta_a=0.0)
OTHER_CONVENTIONS = MagnonParams(
    delta_a=4.0,
    delta_m=-0.5,
    kerr=0.1,
    g=2.0,
    kappa_a=1.5,
    kappa_m=0.7,
    conventions=Conventions(
        drive_factor=1.0, kerr_ordering="normal_ordered", loss="amplitude_rate"
    ),
)
ALL_PARAMS = [
    DEFAULT,
    SECOND_ORDER,
    FIRST_ORDER_NEGATIVE_KERR,
    SECOND_ORDER_NEGATIVE_KERR,
    OTHER_CONVENTIONS,
]


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """The matrices here are small: on a shared 2-core machine several BLAS threads only spin
    against each other (the dense eigenvalue check ran 5x slower with them)."""
    from sw.physics.magnon.quantum import single_threaded_blas

    with single_threaded_blas():
        yield


def _drives_around_transition(params: MagnonParams) -> list[float]:
    """Drives below, inside and above the interesting region (and the edges of the window)."""
    drive_c = critical_drive(params)
    lower = saddle_node_drive(params) or 0.5 * drive_c
    return [0.3 * lower, lower * (1 + 1e-6), 0.5 * (lower + drive_c), drive_c * 1.001, 3 * drive_c]


# --------------------------------------------------------------------------- input checks


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"kappa_a": 0.0}, "kappa_a"),
        ({"kappa_m": -1.0}, "kappa_m"),
        ({"kerr": 0.0}, "kerr"),
        ({"g": -0.1}, "g"),
        ({"delta_a": float("nan")}, "delta_a"),
        ({"delta_m": "abc"}, "delta_m"),
    ],
)
def test_bad_parameters_are_rejected_with_the_name(change, name):
    with pytest.raises(ValueError, match=name):
        MagnonParams(**change)


def test_bad_drive_conventions_and_sweep_names_are_rejected():
    with pytest.raises(
        PhysicsInputError, match=r"drive=-1.0 is out of range; allowed range is \[0, inf\)"
    ):
        steady_states(DEFAULT, -1.0)
    with pytest.raises(PhysicsInputError, match="drive_factor=0 is out of range"):
        Conventions(drive_factor=0)
    with pytest.raises(PhysicsInputError, match="kerr_ordering='weyl' is not allowed"):
        Conventions(kerr_ordering="weyl")
    with pytest.raises(PhysicsInputError, match="parameter='temperature' is not allowed"):
        phase_diagram("temperature", [1.0], [1.0])
    with pytest.raises(
        PhysicsInputError, match=r"n_max=0 is out of range; allowed range is \[1, inf\)"
    ):
        quantum_steady_state(DEFAULT, 1.0, 0)
    with pytest.raises(PhysicsInputError, match="method='lu' is not allowed"):
        quantum_steady_state(DEFAULT, 1.0, 4, 2, method="lu")
    with pytest.raises(PhysicsInputError, match="dt=0.5 is out of range"):
        truncated_wigner(DEFAULT, 1.0, 1.0, dt=0.5)


# --------------------------------------------------------------------------- steady states


@pytest.mark.parametrize("params", ALL_PARAMS)
def test_closed_form_steady_states_solve_the_full_equations(params):
    for drive in _drives_around_transition(params):
        branches = steady_states(params, drive)
        assert branches[0].name == "zero"
        for branch in branches:
            assert residual(params, drive, branch.cavity, branch.magnon) < 1e-10
        # Non-zero states come in parity pairs (beta, -beta) with the same stability.
        for first, second in zip(branches[1::2], branches[2::2], strict=True):
            assert second.magnon == -first.magnon and second.stable == first.stable


@pytest.mark.parametrize("params", [DEFAULT, SECOND_ORDER_NEGATIVE_KERR, OTHER_CONVENTIONS])
def test_closed_form_agrees_with_a_numerical_root_finder(params):
    drive_c = critical_drive(params)
    lower = saddle_node_drive(params) or 0.5 * drive_c
    for drive in (0.5 * (lower + drive_c), 2 * drive_c):
        closed = [b.magnon for b in steady_states(params, drive)]
        numerical = [magnon for _, magnon in find_steady_states_numerically(params, drive)]
        assert len(numerical) == len(closed)
        for value in closed:
            assert min(abs(value - other) for other in numerical) < 1e-8 * (1 + abs(value))


def test_steady_states_agree_with_time_integration_from_nearby_starts():
    rng = np.random.default_rng(7)
    drive = 1.2  # inside the bistable window of DEFAULT: zero, upper stable; lower unstable
    branches = steady_states(DEFAULT, drive)
    assert {(b.name, b.stable) for b in branches} == {
        ("zero", True),
        ("upper", True),
        ("lower", False),
    }
    for branch in branches:
        kick = 1e-3 * complex(*rng.standard_normal(2))
        slowest = -branch.growth_rate if branch.stable else abs(branch.growth_rate)
        duration = min(40 / slowest, 400.0)
        trajectory = integrate(
            DEFAULT, drive, branch.cavity, branch.magnon + kick, duration, n_samples=2
        )
        distance = abs(trajectory.magnon[-1] - branch.magnon)
        if branch.stable:
            assert distance < 1e-7
        else:
            assert distance > 0.1


# --------------------------------------------------------------------------- critical drive


@pytest.mark.parametrize("params", ALL_PARAMS)
def test_zero_state_loses_stability_exactly_at_the_closed_form_drive(params):
    drive_c = critical_drive(params)
    instability = zero_state_instability(params)
    assert instability.kind == "pitchfork"
    assert instability.drive == pytest.approx(drive_c, rel=1e-10)
    assert steady_states(params, drive_c * (1 - 1e-7))[0].stable
    assert not steady_states(params, drive_c * (1 + 1e-7))[0].stable


def test_critical_drive_closed_form_without_the_cavity_and_the_conventions():
    # g = 0: the bare magnon, Omega_c = sqrt((delta_m + K)^2 + (kappa_m/2)^2) / (2 * 1/2).
    bare = MagnonParams(g=0.0, delta_m=0.3, kerr=0.2, kappa_m=0.8)
    assert critical_drive(bare) == pytest.approx(math.hypot(0.5, 0.4), rel=1e-14)
    # Each convention changes it as its definition says.
    as_paper = Conventions(drive_factor=1.0)
    assert critical_drive(MagnonParams(g=0.0, delta_m=0.3, kerr=0.2, kappa_m=0.8,
                                       conventions=as_paper)) == pytest.approx(
        math.hypot(0.5, 0.4) / 2, rel=1e-14
    )  # fmt: skip
    normal = Conventions(kerr_ordering="normal_ordered")
    assert critical_drive(MagnonParams(g=0.0, delta_m=0.3, kerr=0.2, kappa_m=0.8,
                                       conventions=normal)) == pytest.approx(
        math.hypot(0.3, 0.4), rel=1e-14
    )  # fmt: skip
    amplitude = Conventions(loss="amplitude_rate")
    assert critical_drive(MagnonParams(g=0.0, delta_m=0.3, kerr=0.2, kappa_m=0.8,
                                       conventions=amplitude)) == pytest.approx(
        math.hypot(0.5, 0.8), rel=1e-14
    )  # fmt: skip


def test_effective_magnon_matches_the_elimination_formula():
    # DEFAULT: delta_a = 6, g = 3, gamma_a = 2 -> D = 37; delta_m' = 0 + K.
    effective = effective_magnon(DEFAULT)
    assert effective.detuning == pytest.approx(0.05 - 9 * 6 / 37, rel=1e-14)
    assert effective.damping == pytest.approx(0.5 + 9 * 1 / 37, rel=1e-14)


# --------------------------------------------------------------------------- order


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        (DEFAULT, "first"),
        (SECOND_ORDER, "second"),
        (FIRST_ORDER_NEGATIVE_KERR, "first"),
        (SECOND_ORDER_NEGATIVE_KERR, "second"),
    ],
)
def test_order_follows_the_relative_sign_of_effective_detuning_and_kerr(params, expected):
    effective = effective_magnon(params)
    assert (effective.detuning * params.kerr < 0) == (expected == "first")
    info = transition(params)
    assert info.predicted_order == expected
    assert info.order == expected  # measured from the jump of the order parameter
    if expected == "first":
        assert info.jump == pytest.approx(-effective.detuning / params.kerr, rel=1e-6)
        assert info.bistable_window == pytest.approx(
            (effective.damping / (2 * params.conventions.drive_factor), info.critical_drive)
        )
    else:
        assert info.bistable_window is None
        # Continuous: n grows linearly, n = G_c^2 / (2 |Delta_eff K|) * (drive/drive_c - 1)
        # to first order, with G_c^2 = Delta_eff^2 + Gamma_eff^2.
        above = steady_states(params, info.critical_drive * (1 + 1e-4))
        gain_c_squared = effective.detuning**2 + effective.damping**2
        slope = gain_c_squared / abs(2 * effective.detuning * params.kerr)
        assert max(b.magnon_number for b in above) == pytest.approx(slope * 1e-4, rel=1e-3)


def test_first_order_transition_shows_hysteresis_in_time_integration():
    low, high = transition(DEFAULT).bistable_window
    drives = [0.5 * low, low + 0.3 * (high - low), low + 0.7 * (high - low), 1.5 * high]
    sweep = hysteresis_sweep(DEFAULT, drives)
    upper = [max(b.magnon_number for b in steady_states(DEFAULT, d)) for d in drives]
    # Below the window both sweeps sit at zero, above it both on the broken branch...
    assert sweep.up[0] < 1e-8 and sweep.down[0] < 1e-8
    assert sweep.up[3] == pytest.approx(upper[3], rel=1e-5)
    assert sweep.down[3] == pytest.approx(upper[3], rel=1e-5)
    # ...inside it the way up stays at zero and the way down on the upper branch.
    for index in (1, 2):
        assert sweep.up[index] < 1e-8
        assert sweep.down[index] == pytest.approx(upper[index], rel=1e-5)


def test_second_order_transition_has_no_hysteresis():
    drive_c = critical_drive(SECOND_ORDER)
    sweep = hysteresis_sweep(SECOND_ORDER, [0.5 * drive_c, 1.3 * drive_c, 2 * drive_c])
    np.testing.assert_allclose(sweep.up, sweep.down, rtol=1e-5, atol=1e-8)
    assert sweep.up[0] < 1e-8 < sweep.up[1] < sweep.up[2]


# --------------------------------------------------------------------------- fluctuations


def test_lyapunov_fluctuations_match_the_parametric_amplifier_formula():
    # Without the cavity: <dm+ dm> = G^2 / (2 (Gamma^2 + Delta^2 - G^2)) below threshold.
    bare = MagnonParams(g=0.0, delta_m=0.7, kerr=0.01)
    detuning, damping = 0.71, 0.5
    for gain in (0.3, 0.6):
        expected = gain**2 / (2 * (damping**2 + detuning**2 - gain**2))
        assert fluctuations(bare, gain).magnon_excitations == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("params", [DEFAULT, SECOND_ORDER])
def test_fluctuations_diverge_like_the_inverse_distance_to_the_critical_drive(params):
    drive_c = critical_drive(params)
    distances = [1e-2, 1e-3, 1e-4, 1e-5]
    numbers = [fluctuations(params, drive_c * (1 - e)).magnon_excitations for e in distances]
    assert all(b > 5 * a for a, b in zip(numbers, numbers[1:], strict=False))
    scaled = [e * n for e, n in zip(distances, numbers, strict=True)]
    assert scaled[-1] == pytest.approx(scaled[-2], rel=1e-3)  # n ~ C / distance
    with pytest.raises(ValueError, match="stable state"):
        fluctuations(params, drive_c * 1.01)


# --------------------------------------------------------------------------- phases


def test_phases_follow_the_closed_form_boundaries():
    values = [-8.0, -5.0, 4.0, 8.0]  # cavity detunings without a Hopf instability
    diagram = phase_diagram("delta_a", values, np.linspace(0.05, 4.0, 40))
    assert diagram.counts()["unstable"] == 0
    for i, value in enumerate(values):
        params = DEFAULT.with_value("delta_a", value)
        drive_c, lower = critical_drive(params), saddle_node_drive(params)
        for j, drive in enumerate(diagram.drives):
            if lower is not None and lower < drive < drive_c:
                expected = Phase.BISTABLE
            elif drive < drive_c:
                expected = Phase.SYMMETRIC
            else:
                expected = Phase.BROKEN
            assert diagram.phase_at(i, j) is expected, (value, drive)


def test_unstable_phase_is_a_confirmed_limit_cycle():
    instability = zero_state_instability(HOPF)
    assert instability.kind == "hopf" and instability.frequency > 0.1
    assert instability.drive < 0.5 * critical_drive(HOPF)
    drive = 2 * instability.drive
    assert all(not b.stable for b in steady_states(HOPF, drive))
    behaviour = long_time_behaviour(HOPF, drive)
    assert behaviour.kind == "limit_cycle"
    assert behaviour.magnon_number_max - behaviour.magnon_number_min > 1.0
    assert phase(HOPF, drive) is Phase.UNSTABLE
    # Just below the Hopf point the zero state is still stable and attracts.
    assert phase(HOPF, 0.9 * instability.drive) is Phase.SYMMETRIC
    assert long_time_behaviour(HOPF, 0.9 * instability.drive).kind == "fixed_point"


# --------------------------------------------------------------------------- quantum


def test_parity_sector_solver_matches_qutip_steadystate():
    import qutip

    from sw.physics.magnon.quantum import build_model

    params, drive = DEFAULT.with_value("kerr", 1.0), 2.0
    state = quantum_steady_state(params, drive, n_max=5, n_cavity=2, liouvillian_gap=False)
    hamiltonian, collapse, _, _ = build_model(params, drive, 5, 2)
    reference = qutip.steadystate(hamiltonian, collapse).full()
    assert np.max(np.abs(state.density_matrix - reference)) < 1e-10
    assert state.residual < 1e-12


def test_quantum_steady_state_converges_with_the_fock_cutoff():
    params, drive = DEFAULT.with_value("kerr", 1.0), 2.0
    magnon_series = [
        quantum_steady_state(params, drive, n, 3, liouvillian_gap=False).magnon_number
        for n in (6, 8, 10)
    ]
    cavity_series = [
        quantum_steady_state(params, drive, 8, n, liouvillian_gap=False).magnon_number
        for n in (2, 3, 4)
    ]
    for series in (magnon_series, cavity_series):
        first_change, second_change = abs(series[1] - series[0]), abs(series[2] - series[1])
        assert second_change < first_change / 5  # geometric convergence
    assert abs(magnon_series[2] - magnon_series[1]) < 1e-3 * magnon_series[2]


def test_quantum_below_threshold_reduces_to_the_linearized_theory():
    # Tiny K, half the critical drive: the state is Gaussian around vacuum, so the Lyapunov
    # numbers and the Jacobian's slowest rate (one quantum: odd sector; two: even) must appear.
    params = DEFAULT.with_value("kerr", 1e-3)
    drive = 0.5 * critical_drive(params)
    state = quantum_steady_state(params, drive, n_max=8, n_cavity=4)
    linear = fluctuations(params, drive)
    slowest = -steady_states(params, drive)[0].growth_rate
    assert state.magnon_number == pytest.approx(linear.magnon_excitations, rel=0.02)
    assert state.cavity_number == pytest.approx(linear.cavity_excitations, rel=0.02)
    assert state.odd_gap == pytest.approx(slowest, rel=0.01)
    assert state.even_gap == pytest.approx(2 * slowest, rel=0.05)
    assert state.total_parity > 0.8  # close to the vacuum's +1


def test_quantum_broken_phase_is_a_parity_symmetric_mixture_with_slow_switching():
    params, drive = DEFAULT.with_value("kerr", 1.0), 2.0
    state = quantum_steady_state(params, drive, n_max=8, n_cavity=3)
    assert abs(state.total_parity) < 0.3  # far from the vacuum's +1
    assert state.odd_gap < 0.1 * state.even_gap  # switching between +-beta is the slow process
    # <m^2> is parity even, so the mixture keeps the mean-field beta^2 (to O(1) in K = 1).
    beta = next(b.magnon for b in steady_states(params, drive) if b.stable)
    assert abs(state.magnon_pair - beta**2) < 0.15 * abs(beta) ** 2


def test_quantum_approaches_mean_field_as_kerr_shrinks():
    drive = 2.0
    differences, fluctuation_gaps = [], []
    for kerr in (0.2, 0.05, 0.0125):
        params = DEFAULT.with_value("kerr", kerr)
        branch = max(steady_states(params, drive), key=lambda b: b.magnon_number)
        state = branch_steady_state(params, drive, n_max=6, n_cavity=3)
        assert state.magnon_tail < 1e-4 and state.cavity_tail < 1e-4
        differences.append(abs(kerr * state.magnon_number - kerr * branch.magnon_number))
        lyapunov = fluctuations(params, drive, branch).magnon_excitations
        fluctuation_gaps.append(abs(state.fluctuation_number / lyapunov - 1))
    # K <m+m> - K |beta|^2 = O(K): shrinks about 4x per 4x smaller K.
    assert differences[1] < 0.5 * differences[0] and differences[2] < 0.5 * differences[1]
    assert differences[2] < 1e-3
    # and the quantum fluctuations around the branch approach the Lyapunov (Gaussian) ones.
    assert fluctuation_gaps[2] < fluctuation_gaps[0] and fluctuation_gaps[2] < 0.05
    # Bigger cutoffs change the answer by less than the effect being measured.
    params = DEFAULT.with_value("kerr", 0.05)
    small = branch_steady_state(params, drive, 6, 3).magnon_number
    large = branch_steady_state(params, drive, 8, 4).magnon_number
    assert abs(large - small) * 0.05 < 0.1 * differences[1]


def test_kerr_scan_uses_the_full_space_when_small_and_agrees_better_at_small_kerr():
    points = kerr_scan(DEFAULT, 2.0, [1.0, 0.05], full_below=4000)
    assert [p.method for p in points] == ["full", "branch"]
    assert points[1].relative_difference < 0.1 * points[0].relative_difference
    for point in points:
        assert (
            point.cutoff_change
            < 0.1 * point.relative_difference * point.scaled_mean_field / point.kerr
        )


# --------------------------------------------------------------------------- command line


def test_cli_writes_both_plots_and_a_table(tmp_path, capsys):
    code = main(
        [
            "--sweep",
            "drive",
            "--out",
            str(tmp_path),
            "--values=-6:6:5",
            "--drives",
            "0.1:4:6",
            "--points",
            "21",
            "--quiet",
        ]
    )
    assert code == 0
    output = capsys.readouterr().out
    assert "critical drive (closed form)" in output and "bistable window" in output
    for name in ("order_parameter_vs_drive.png", "phase_diagram_delta_a.png"):
        assert (tmp_path / name).read_bytes().startswith(b"\x89PNG")
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["critical_drive"] == pytest.approx(critical_drive(DEFAULT), rel=1e-12)
    assert sum(summary["phase_counts"].values()) == 5 * 6


def test_cli_rejects_bad_input_on_stderr_with_exit_code_2(tmp_path, capsys):
    assert main(["--kappa-a", "-1", "--out", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "qmatmul physics magnon: error: kappa_a=-1.0 is out of range" in captured.err
    assert "error" not in captured.out
    assert main(["--gaps", "--gap-kerr", "0.5,0", "--out", str(tmp_path)]) == 2
    assert "kerr=0 is out of range" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--values", "1:2", "--out", str(tmp_path)])
    assert "--values must be 'x1,x2,...' or 'START:STOP:COUNT'" in capsys.readouterr().err


# --------------------------------------------------------------------------- large cutoffs


def test_iterative_solver_matches_the_direct_one_and_its_gaps():
    params, drive = DEFAULT.with_value("kerr", 1.0), 2.0
    direct = quantum_steady_state(params, drive, 8, 3, method="direct")
    iterative = quantum_steady_state(params, drive, 8, 3, method="iterative")
    assert iterative.method == "iterative" and iterative.solver_steps > 0
    assert np.max(np.abs(iterative.density_matrix - direct.density_matrix)) < 1e-10
    assert iterative.residual < 1e-12
    assert iterative.odd_gap == pytest.approx(direct.odd_gap, rel=1e-6)
    assert iterative.even_gap == pytest.approx(direct.even_gap, rel=1e-6)


def test_block_inverse_iteration_finds_a_slowest_complex_pair():
    # Symmetric phase, K = 0.6: the slowest odd modes are a complex pair -0.72 +- 1.12i and a
    # real -1.01 lies nearer to 0 in modulus; a single-vector iteration cannot converge here.
    import scipy.linalg as la

    from sw.physics.magnon.quantum import _liouvillian, _parity_sectors, build_model

    # The Ritz values stop at a relative residual of 1e-6, which for this non-normal L means
    # eigenvalues good to about 1e-5.
    params, drive = thermodynamic_family(DEFAULT, 0.6), 0.4
    state = quantum_steady_state(params, drive, 6, 3, method="iterative")
    hamiltonian, collapse, _, _ = build_model(params, drive, 6, 3)
    liouvillian = _liouvillian(hamiltonian, collapse)
    even, odd, _ = _parity_sectors(6, 3)
    for sector, rows, gap in (("odd", odd, state.odd_gap), ("even", even, state.even_gap)):
        spectrum = la.eigvals(liouvillian[rows][:, rows].toarray())
        spectrum = spectrum[np.abs(spectrum) > 1e-9]
        assert gap == pytest.approx(np.min(-spectrum.real), rel=1e-4), sector
    assert abs(state.odd_eigenvalues[0].imag) > 1.0  # the slowest odd mode is the pair


def test_first_order_even_gap_closes_inside_the_window_only():
    # Fixed mean field, growing size 1/K: the relaxation between the vacuum-like and the broken
    # attractors (even sector) slows down inside the bistable window (0.74 < drive < 1.59)...

    def even_gap(kerr, drive):
        params = thermodynamic_family(DEFAULT, kerr)
        return quantum_steady_state(params, drive, *suggested_cutoffs(params, drive)).even_gap

    inside = [even_gap(k, 1.2) for k in (0.8, 0.5)]
    assert inside[1] < 0.7 * inside[0]
    # ...but much less below it, where there is one attractor.
    outside = [even_gap(k, 0.45) for k in (0.8, 0.5)]
    assert outside[1] > 0.85 * outside[0]


def test_gap_fits_recover_synthetic_closing_laws():
    def points(law):
        return [
            GapPoint(k, 1.0, "bistable", 1, 1, "direct", 0.0, 0.0, [], law(k), law(k),
                     0.0, 0.0, 0.0, 0, 0.0)
            for k in (0.5, 0.3, 0.2, 0.1)
        ]  # fmt: skip

    exponential = fit_gap_closing(points(lambda k: 3.0 * math.exp(-0.7 / k)), 1.0, "even")
    assert exponential.exponential_action == pytest.approx(0.7, rel=1e-9)
    assert exponential.better_fit == "exponential" and exponential.exponential_rms < 1e-9
    power = fit_gap_closing(points(lambda k: 2.0 * k**1.5), 1.0, "odd")
    assert power.power_exponent == pytest.approx(1.5, rel=1e-9)
    assert power.better_fit == "power law"


def test_thermodynamic_family_keeps_the_mean_field_fixed():
    for k in (0.5, 0.05):
        scaled = thermodynamic_family(DEFAULT, k)
        assert effective_magnon(scaled).detuning == pytest.approx(
            effective_magnon(DEFAULT).detuning, rel=1e-12
        )
        assert critical_drive(scaled) == pytest.approx(critical_drive(DEFAULT), rel=1e-12)


# --------------------------------------------------------------------------- Wigner functions


def test_wigner_function_of_known_states():
    import qutip

    grid = amplitude_grid(4.0, 81)
    step = grid[1] - grid[0]
    x, y = np.meshgrid(grid, grid, indexing="ij")
    vacuum = wigner_function(qutip.fock_dm(30, 0).full(), grid)
    np.testing.assert_allclose(vacuum, 2 / np.pi * np.exp(-2 * (x**2 + y**2)), atol=1e-12)
    coherent = wigner_function(qutip.coherent_dm(30, 1.5 - 0.5j).full(), grid)
    expected = 2 / np.pi * np.exp(-2 * ((x - 1.5) ** 2 + (y + 0.5) ** 2))
    np.testing.assert_allclose(coherent, expected, atol=1e-9)
    assert coherent.sum() * step**2 == pytest.approx(1.0, abs=1e-6)
    # An equal mixture of |+-2> has two peaks, at +-2 (a cat state would have fringes too).
    mixture = (qutip.coherent_dm(30, 2.0) + qutip.coherent_dm(30, -2.0)).full() / 2
    peaks = wigner_maxima(wigner_function(mixture, grid), grid)
    assert sorted(round(p.amplitude.real, 6) for p in peaks) == [-2.0, 2.0]
    assert all(abs(p.amplitude.imag) < 1e-9 for p in peaks)
    # Truncated-Wigner samples of the vacuum histogram to the same function (cells of 0.2:
    # about 5000 samples at the peak, a 1.4 % counting error).
    rng = np.random.default_rng(1)
    samples = 0.5 * (rng.standard_normal(200_000) + 1j * rng.standard_normal(200_000))
    coarse = amplitude_grid(4.0, 41)
    histogram = wigner_histogram(samples, coarse)
    exact = wigner_function(qutip.fock_dm(30, 0).full(), coarse)
    assert np.max(np.abs(histogram - exact)) < 0.08 * exact.max()


def test_steady_state_wigner_function_has_three_peaks_in_the_bistable_window():
    params = thermodynamic_family(DEFAULT, 0.4)
    snapshots = wigner_snapshots(params, [0.45, 1.04, 2.07], points=81)
    assert [s.mean_field_phase for s in snapshots] == ["symmetric", "bistable", "broken"]
    assert [len(s.peaks) for s in snapshots] == [1, 3, 2]
    # The peaks sit near the stable mean-field states (vacuum, +-beta), within the O(1)
    # quantum shifts at this K.
    for snapshot in snapshots:
        for peak in snapshot.peaks:
            nearest = min(abs(peak.amplitude - b) for b in snapshot.mean_field_amplitudes)
            assert nearest < 0.7


# --------------------------------------------------------------------------- truncated Wigner


def test_truncated_wigner_is_exact_in_the_linear_limit():
    # K -> 0 below threshold: the Hamiltonian is quadratic and the Wigner equations are exact,
    # so the stationary moments must equal the Lyapunov ones within the sampling error.
    params = DEFAULT.with_value("kerr", 1e-6)
    drive = 0.5 * critical_drive(params)
    averages = truncated_wigner(params, drive, 20.0, trajectories=1500, samples=40).stationary(10)
    linear = fluctuations(params, drive)
    for name, expected in (("magnon_number", linear.magnon_excitations),
                           ("cavity_number", linear.cavity_excitations)):  # fmt: skip
        assert abs(averages[name] - expected) < 4 * averages[name + "_error"], name
        assert averages[name + "_error"] < 0.1 * expected


def test_truncated_wigner_approaches_the_exact_solution_as_kerr_shrinks():
    # Broken phase, drive 2: the dropped third-order terms are O(1/n) = O(K), so the
    # difference from the exact master equation must shrink as K does.
    differences = []
    for kerr in (0.5, 0.35):
        params = thermodynamic_family(DEFAULT, kerr)
        exact = quantum_steady_state(params, 2.0, *suggested_cutoffs(params, 2.0), False)
        run = truncated_wigner(params, 2.0, 30.0, trajectories=1200, samples=40, seed=3)
        averages = run.stationary(15.0)
        assert averages["magnon_number_error"] < 0.006 * exact.magnon_number
        differences.append(abs(averages["magnon_number"] / exact.magnon_number - 1))
    assert differences[1] < differences[0]
    assert differences[0] < 0.05 and differences[1] < 0.025


def test_cli_limit_modes_write_tables_figures_and_json(tmp_path, capsys):
    quick = ["--quiet", "--out", str(tmp_path)]
    assert main(["--wigner", "--wigner-kerr", "0.5", "--wigner-drives", "0.45,2.0", *quick]) == 0
    assert main(["--gaps", "--gap-kerr", "0.8,0.6", "--gap-drives", "1.2", *quick]) == 0
    limit = ["--limit", "--quick", "--limit-kerr", "0.6", "--tw-kerr", "0.3",
             "--tw-trajectories", "40", "--tw-time", "4"]  # fmt: skip
    assert main([*limit, *quick]) == 0
    output = capsys.readouterr().out
    assert "peak positions" in output and "even gap" in output and "K=0.3 trunc" in output
    for name in ("wigner", "gap_scaling", "order_parameter_limit"):
        assert (tmp_path / f"{name}.png").read_bytes().startswith(b"\x89PNG")
        assert json.loads((tmp_path / f"{name}.json").read_text())["params"]["delta_a"] == 6.0
    gaps = json.loads((tmp_path / "gap_scaling.json").read_text())["points"]
    assert [p["kerr"] for p in gaps] == [0.8, 0.6] and all(p["even_gap"] > 0 for p in gaps)

"""The PDE workload: parameters, solvers, stencils, the nodal model, baselines, the core step."""

import json

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from sw.workloads.pde import cli
from sw.workloads.pde.baselines import BaselineConfig, LinearStencil, PDEFind
from sw.workloads.pde.core import CoreConfig, assemble, compile_step, folded_correction
from sw.workloads.pde.data import DataConfig, generate
from sw.workloads.pde.equations import get_equation
from sw.workloads.pde.evaluate import curve, relative_l2
from sw.workloads.pde.grids import MIN_GAP, make_grid
from sw.workloads.pde.model import (
    LocalOperator,
    NodalFlowMap,
    TrainConfig,
    initial_model,
    rollout,
    scales,
    step_matrix,
    train_nodal,
)
from sw.workloads.pde.solvers import (
    FourierSeries,
    SpectralProblem,
    random_initial_conditions,
    reference_trajectories,
)

torch.set_num_threads(1)


def tiny_dataset(name, grid="uniform", boundary=None, width=2, test_steps=20, **params):
    equation = get_equation(name)
    values = equation.defaults() | params
    config = DataConfig(
        equation=name,
        boundary=boundary or equation.default_boundary,
        grid=grid,
        width=width,
        params=tuple(sorted(values.items())),
        train_samples=12,
        train_steps=10,
        test_samples=3,
        test_steps=test_steps,
    )
    return generate(equation, config, seed=0)


@pytest.fixture(scope="module")
def heat():
    return tiny_dataset("heat", nodes=32)


@pytest.fixture(scope="module")
def heat_model(heat):
    config = TrainConfig(hidden=16, one_step_epochs=3, rollout_epochs=1)
    return train_nodal(heat, config, seed=0)


@pytest.fixture(scope="module")
def burgers():
    return tiny_dataset("burgers", nodes=32)


@pytest.fixture(scope="module")
def burgers_model(burgers):
    config = TrainConfig(hidden=16, one_step_epochs=3, rollout_epochs=1)
    return train_nodal(burgers, config, seed=0)


# ---- parameters and the command line -----------------------------------------------------


def test_parameters_default_override_and_refuse():
    heat_equation = get_equation("heat")
    assert heat_equation.parse_params([])["nu"] == 0.1
    assert heat_equation.parse_params(["nu=0.05", "nodes=40"]) | {} == (
        heat_equation.defaults() | {"nu": 0.05, "nodes": 40}
    )
    for bad, words in [
        ("nu=abc", ["nu", "not a number", "[0.001, 2]"]),
        ("nu=5", ["nu=5", "out of range", "[0.001, 2]"]),
        ("nu=nan", ["nu", "out of range"]),
        ("mu=1", ["unknown parameter 'mu'", "nu, dt, nodes, modes"]),
        ("nodes=20.5", ["nodes", "integer"]),
        ("nu", ["name=value"]),
    ]:
        with pytest.raises(ValueError) as error:
            heat_equation.parse_params([bad])
        for word in words:
            assert word in str(error.value)
    with pytest.raises(ValueError, match="given twice"):
        heat_equation.parse_params(["nu=0.1", "nu=0.2"])
    with pytest.raises(ValueError, match="not supported by advection"):
        get_equation("advection").check_boundary("dirichlet")
    with pytest.raises(ValueError, match="unknown equation"):
        get_equation("wave")


def test_command_line_refuses_bad_values(tmp_path):
    base = ["--equation", "heat", "--out", str(tmp_path), "--no-cache"]
    with pytest.raises(ValueError, match=r"nu=-1 is out of range"):
        cli.main([*base, "--param", "nu=-1"])
    with pytest.raises(ValueError, match=r"--stencil 9 is out of range"):
        cli.main([*base, "--stencil", "9"])
    with pytest.raises(ValueError, match=r"--scheme 'int3'"):
        cli.main([*base, "--scheme", "int3"])
    with pytest.raises(SystemExit):  # argparse: --bits outside [2, 16]
        cli.main([*base, "--bits", "8,20"])
    with pytest.raises(ValueError, match="square number"):
        cli.main(["--equation", "advdiff2d", "--grid", "uniform", "--param", "nodes=99",
                  "--out", str(tmp_path), "--no-cache"])  # fmt: skip


# ---- reference solutions -----------------------------------------------------------------


def test_exact_linear_solutions_and_etdrk4_agree():
    rng = np.random.default_rng(3)
    series = random_initial_conditions(get_equation("heat"), "periodic", 6, 2, rng)
    x = np.linspace(0, 2 * np.pi, 50, endpoint=False)
    # advection is a translation
    moved = series.evolve_linear((0.7,), 0.0, 0.9).evaluate(x)
    np.testing.assert_allclose(moved, series.evaluate(x - 0.7 * 0.9), atol=1e-12)
    # heat: the exact mode decay against ETDRK4 time stepping on a fine grid
    nu = 0.3
    problem = SpectralProblem(64, (nu,), lambda u, k: np.zeros((u.shape[0], 1, 33), complex))
    u0 = series.evaluate(problem.grid).transpose(0, 2, 1)
    stepped = problem.interpolate(problem.solve(u0, 0.05, 10)[:, -1], x)  # (B, F, N)
    exact = series.evolve_linear((0.0,), nu, 0.5).evaluate(x)
    np.testing.assert_allclose(stepped.transpose(0, 2, 1), exact, atol=1e-9)


def test_burgers_reference_against_an_independent_finite_difference_solution():
    equation = get_equation("burgers")
    params = equation.defaults()
    series = random_initial_conditions(equation, "periodic", 4, 1, np.random.default_rng(1))
    m = 512
    x = np.arange(m) * 2 * np.pi / m
    ours = reference_trajectories(equation, params, series, x, 5)[0, :, :, 0]  # t = 0.1
    # method of lines: 4th-order central differences on the same points, adaptive RK45
    h = 2 * np.pi / m
    grid = np.arange(m) * h

    def rhs(_t, u):
        ux = (8 * (np.roll(u, -1) - np.roll(u, 1)) - (np.roll(u, -2) - np.roll(u, 2))) / (12 * h)
        uxx = (16 * (np.roll(u, -1) + np.roll(u, 1)) - (np.roll(u, -2) + np.roll(u, 2))
               - 30 * u) / (12 * h * h)  # fmt: skip
        return -u * ux + params["nu"] * uxx

    u0 = series.evaluate(grid)[0, :, 0]
    solution = solve_ivp(rhs, (0, 0.1), u0, rtol=1e-9, atol=1e-11, method="RK45")
    theirs = solution.y[:, -1]
    assert np.max(np.abs(ours[-1] - theirs)) < 5e-5 * np.max(np.abs(theirs))
    # the mean of a periodic Burgers solution is conserved
    assert np.ptp(ours.mean(axis=1)) < 1e-12


def test_dirichlet_solutions_vanish_at_the_walls():
    equation = get_equation("system")
    series = random_initial_conditions(equation, "dirichlet", 5, 2, np.random.default_rng(2))
    walls = reference_trajectories(equation, equation.defaults(), series, np.array([0, np.pi]), 4)
    assert np.max(np.abs(walls)) < 1e-12
    assert np.max(np.abs(series.cos)) == 0


# ---- grids and stencils -----------------------------------------------------------------


@pytest.mark.parametrize(
    "kind,boundary",
    [
        ("uniform", "periodic"),
        ("random", "periodic"),
        ("uniform", "dirichlet"),
        ("random", "dirichlet"),
    ],  # fmt: skip
)
def test_gathered_stencils_are_the_function_at_the_stencil_positions_1d(kind, boundary):
    grid = make_grid(kind, boundary, 1, 24, 3, np.random.default_rng(4))
    # an odd, 2 pi periodic function: it satisfies both boundary kinds
    k = np.arange(1, 4).reshape(-1, 1)
    series = FourierSeries(k, np.zeros((1, 1, 3)), np.array([[[1.0, -0.4, 0.3]]]))
    values = series.evaluate(grid.points)  # (1, N, 1)
    gathered = grid.stencil.gather(values)[0]  # (N, S)
    positions = grid.points + grid.offsets()[..., 0]  # (N, S)
    expected = series.evaluate(positions.reshape(-1, 1))[0, :, 0].reshape(positions.shape)
    np.testing.assert_allclose(gathered, expected, atol=1e-12)


def test_random_nodes_keep_their_minimum_gap():
    rng = np.random.default_rng(5)
    for boundary, length in (("periodic", 2 * np.pi), ("dirichlet", np.pi)):
        x = make_grid("random", boundary, 1, 64, 2, rng).points[:, 0]
        intervals = 64 if boundary == "periodic" else 65
        gaps = np.diff(np.concatenate([[0.0], x, [length]]))
        if boundary == "periodic":
            gaps = np.append(np.diff(x), x[0] + length - x[-1])
        assert np.all(np.diff(x) > 0) and 0 <= x.min() and x.max() < length
        assert gaps.min() >= MIN_GAP * length / intervals - 1e-12
    grid = make_grid("random", "periodic", 2, 64, 6, rng)
    delta = grid.points[:, None] - grid.points[None]
    delta -= 2 * np.pi * np.round(delta / (2 * np.pi))
    distance = np.hypot(delta[..., 0], delta[..., 1]) + np.eye(64) * 10
    assert distance.min() >= MIN_GAP * 2 * np.pi / 8 - 1e-12


def test_lattice_nodes_see_the_same_ordered_stencil():
    grid = make_grid("uniform", "periodic", 2, 36, 8, np.random.default_rng(0))
    offsets = grid.offsets()
    np.testing.assert_allclose(offsets, np.broadcast_to(offsets[:1], offsets.shape), atol=1e-12)
    assert np.allclose(np.hypot(*offsets[0, 1:5].T), 2 * np.pi / 6)  # the 4 nearest first


# ---- the nodal model ----------------------------------------------------------------------


def test_step_matrix_and_assembled_operator_are_the_linear_step():
    data = tiny_dataset("system", grid="random", nodes=20, modes=3, test_steps=2)
    sigma, tau = scales(data)
    rng = np.random.default_rng(6)
    size = data.grid.stencil.size * 2
    weight = rng.normal(size=(20, size, 2))
    u = data.test[:, 0]
    z = data.grid.stencil.gather(u / sigma)
    linear = np.einsum("bni,nio->bno", z, weight)
    matrix = step_matrix(weight, data.grid.stencil, sigma, tau)
    np.testing.assert_allclose(
        (matrix @ u.reshape(len(u), -1).T).T, (u + tau * linear).reshape(len(u), -1), atol=1e-10
    )
    local = LocalOperator(size, 2, 4, 1, nodes=20)
    model = NodalFlowMap(data.grid.stencil, sigma, tau, local)
    operator = assemble(weight, model)
    q = u / sigma
    np.testing.assert_allclose(q.reshape(len(u), -1) @ operator, linear.reshape(len(u), -1),
                               atol=1e-10)  # fmt: skip


def test_whitening_folds_into_the_first_layer():
    local = LocalOperator(5, 1, 8, 2)
    with torch.no_grad():
        local.mean.copy_(torch.randn(5))
        local.whitening.copy_(torch.randn(5, 5))
        for parameter in local.correction.parameters():
            parameter.copy_(torch.randn_like(parameter))
    z = torch.randn(4, 3, 5)
    expected = local.correction(local.whiten(z))
    torch.testing.assert_close(folded_correction(local)(z), expected, rtol=1e-4, atol=1e-4)


def test_nodal_model_predicts_heat_far_beyond_its_training_trajectories(heat, heat_model):
    model, report = heat_model
    assert report.linear_prior and report.noise == 0
    prediction = rollout(model, heat.test[:, 0], 20)  # trained on 10-step trajectories
    errors = relative_l2(prediction, heat.test)
    frozen = relative_l2(np.repeat(heat.test[:, :1], 21, axis=1), heat.test)
    assert errors[:, -1].mean() < 1e-3
    assert errors[:, -1].mean() < 0.01 * frozen[:, -1].mean()  # it learned the decay


def test_nonlinear_data_starts_from_zero_with_noise():
    burgers = tiny_dataset("burgers", nodes=48, test_steps=2)
    _, report = initial_model(burgers, TrainConfig(), seed=0)
    assert report.stencil_explained < 0.99
    assert not report.linear_prior and report.noise == TrainConfig().noise


# ---- baselines and evaluation -------------------------------------------------------------


def test_pde_find_identifies_the_heat_equation(heat):
    found = PDEFind(heat, BaselineConfig())
    names = found.term_names()
    coefficients = dict(zip(names, found.coefficients[:, 0], strict=True))
    assert coefficients["u_xx"] == pytest.approx(0.1, rel=0.01)
    assert all(abs(c) < 1e-3 for n, c in coefficients.items() if n != "u_xx")
    assert found.equation()[0].startswith("u_t = +0.1")
    errors = relative_l2(found.rollout(heat.test[:, 0], 20), heat.test)
    assert errors[:, -1].mean() < 0.01


def test_least_squares_stencil_is_exactly_linear_and_shared(heat):
    stencil = LinearStencil(heat)
    assert stencil.weight.shape == (5, 1) and stencil.explained > 0.9999
    u = torch.as_tensor(heat.test[:, 0])
    doubled = stencil(2 * u) - 2 * u - 2 * (stencil(u) - u)  # affine: only the bias remains
    torch.testing.assert_close(doubled, -(stencil(0 * u) - 0 * u))


def test_relative_l2_marks_divergence_and_curves_align():
    reference = np.ones((2, 4, 3, 1))
    prediction = reference.copy()
    prediction[1, 2:] = np.inf
    errors = relative_l2(prediction, reference)
    assert errors[0].tolist() == [0, 0, 0, 0] and np.isinf(errors[1, 2:]).all()
    entry = curve(errors)
    assert entry["horizon_steps"] == [1, 2, 3]
    assert len(entry["relative_l2"]) == len(entry["horizon_steps"])
    with pytest.raises(ValueError, match="shape"):
        relative_l2(prediction[:, :2], reference)


# ---- on the core ---------------------------------------------------------------------------


def _float_step(model, u):
    with torch.no_grad():
        return model(torch.as_tensor(u, dtype=torch.float32)).double().numpy()


def test_core_step_tracks_the_float_step_and_improves_with_input_bits(burgers, burgers_model, ref):
    model, report = burgers_model
    assert report.correction_kept  # nonlinear: the compiled MLP carries u u_x
    u = burgers.test[:, 5]
    expected = _float_step(model, u)
    increment = np.abs(expected - u).max()
    deviation = {}
    for bits in (8, 16):
        step = compile_step(model, burgers, bits, CoreConfig(qat_epochs=0, qat_samples=3000), 0)
        deviation[bits] = np.abs(step(ref, u) - expected).max()
        assert step.program is not None and step.program.core_layers
        assert step.cycles["stencil"] > 0 and step.cycles["hidden"] > 0
        assert all(v > 0 for v in step.cycles.values())
    assert deviation[16] < 0.1 * increment  # 4-bit MLP, 16-bit states: within 10%
    assert deviation[16] < deviation[8] / 2  # wider state inputs help


def test_a_dropped_mlp_leaves_the_exact_stencil_on_the_core(heat, heat_model, ref):
    model, report = heat_model
    assert not report.correction_kept  # heat is linear: the MLP did not help
    step = compile_step(model, heat, 16, CoreConfig(qat_samples=3000), 0)
    assert step.program is None
    u = heat.test[:, 5]
    expected = _float_step(model, u)
    assert np.abs(step(ref, u) - expected).max() < 0.01 * np.abs(expected - u).max()


def test_core_rollout_on_sim_is_bit_identical_to_ref(burgers, burgers_model, ref, sim):
    model, _ = burgers_model
    step = compile_step(model, burgers, 12, CoreConfig(qat_epochs=0, qat_samples=2000), 0)
    u = burgers.test[:1, 0]
    np.testing.assert_array_equal(step(sim, u), step(ref, u))


def test_quick_run_writes_results_for_every_model(tmp_path):
    out = tmp_path / "heat"
    arguments = ["--equation", "heat", "--quick", "--param", "nodes=24", "--bits", "16"]
    arguments += ["--baselines", "lstsq-stencil,pde-find", "--no-cache", "--out", str(out)]
    code = cli.main(arguments)
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["models"]) == {"float", "core-16", "lstsq-stencil", "pde-find"}
    for entry in results["models"].values():
        assert entry["horizon_steps"] == list(range(1, 101))
        assert len(entry["relative_l2"]) == 100
    assert results["targets"]["float_step100_below_2pct"]["met"]
    assert (out / "errors.png").stat().st_size > 0 and (out / "solutions.png").stat().st_size > 0

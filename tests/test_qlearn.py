"""`qmatmul run qlearn`: DQN mechanics on a short CartPole run, and the policy on the core."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from sw.kernel import decode
from sw.quant import WeightScheme
from sw.workloads.qlearn import cli
from sw.workloads.qlearn.policy import CorePolicy, QATConfig, quantize_agent
from sw.workloads.qlearn.training import (
    DQNConfig,
    ReplayBuffer,
    cache_path,
    epsilon_at,
    evaluate,
    float_policy,
    load_agent,
    save_agent,
    train_dqn,
)

SHORT = DQNConfig(
    total_steps=2_000,
    buffer_size=2_000,
    learning_starts=500,
    epsilon_decay_steps=1_000,
    target_update=250,
    eval_every=750,
    eval_episodes=2,
    policy_states=600,
)
SHORT_QAT = QATConfig(rounds=2, epochs=1)


@pytest.fixture(scope="module")
def agent():
    torch.set_num_threads(1)
    return train_dqn(SHORT, seed=0, progress=False)


def test_replay_buffer_is_a_ring():
    buffer = ReplayBuffer(3, 4)
    for i in range(5):
        buffer.add(np.full(4, i), i % 2, 1.0, np.full(4, i + 1), float(i == 4))
    assert buffer.size == 3
    assert sorted(buffer.states[:, 0].tolist()) == [2, 3, 4]  # the oldest two overwritten
    states, actions, rewards, next_states, terminal = buffer.sample(np.random.default_rng(0), 8)
    assert states.shape == (8, 4) and actions.dtype == torch.int64
    torch.testing.assert_close(next_states[:, 0], states[:, 0] + 1)


def test_epsilon_decays_linearly_then_holds():
    assert epsilon_at(0, SHORT) == SHORT.epsilon_start
    middle = epsilon_at(SHORT.epsilon_decay_steps // 2, SHORT)
    assert middle == pytest.approx((SHORT.epsilon_start + SHORT.epsilon_end) / 2)
    assert epsilon_at(10 * SHORT.epsilon_decay_steps, SHORT) == pytest.approx(SHORT.epsilon_end)


def test_short_training_run(agent):
    curve = agent.curve
    assert curve["episode_returns"] and len(curve["episode_steps"]) == len(curve["episode_returns"])
    assert sum(curve["episode_returns"]) <= SHORT.total_steps  # +1 per step
    assert curve["eval_steps"] == [750, 1500, 2000]  # every eval_every steps, and the last
    assert curve["selected_eval_return"] == max(curve["eval_returns"])
    assert agent.obs_scale[0] == pytest.approx(2.4) and np.all(agent.obs_scale > 0)
    assert agent.states.shape == (SHORT.policy_states, 4)
    assert np.abs(agent.states[:, [0, 2]]).max() <= 1.0 + 1e-9  # within the termination bounds


def test_evaluation_is_seeded(agent):
    policy = float_policy(agent)
    first, second = evaluate(policy, 3, seed=7), evaluate(policy, 3, seed=7)
    np.testing.assert_array_equal(first, second)
    assert np.all((first >= 1) & (first <= 500))


def test_quantized_policy_runs_on_the_core_and_matches_ref(agent, sim, ref):
    ptq, quantized, program = quantize_agent(
        agent, WeightScheme("sp2", 4), SHORT, SHORT_QAT, seed=0
    )
    assert [layer.spec.weight_mode for layer in program.core_layers] == ["spx"] * 3
    policy = CorePolicy(agent, program, sim, ref)
    returns = evaluate(policy, 2, seed=11)
    # Every decision went through the device, one product per layer and step, and the
    # same program on ref agreed row for row.
    assert policy.decisions == returns.sum() and policy.checked_rows == policy.decisions
    assert policy.products == 3 * policy.steps and policy.cycles > 0
    assert policy.mismatched_rows == 0
    # The core's Q-values are the QAT model's (what was trained is what runs), exactly.
    states = agent.states[:200]
    q_core = CorePolicy(agent, program, ref).q_values(states * agent.obs_scale)
    with torch.no_grad():
        q_trained = quantized(torch.as_tensor(states)).numpy()
    np.testing.assert_array_equal(q_core.astype(np.float32), q_trained)
    # PTQ's first layer: its codes hold the fitted weights and its requantization the
    # scale ratio s_in * s_w[n] / s_out to the device's 15 bits.
    layer = ptq.core_layers[0]
    np.testing.assert_array_equal(decode(layer.codes, layer.spec).T, layer.fit.ints)
    requant = layer.requant
    ratios = np.array(requant.multiplier) / 2.0 ** np.array(requant.shift)
    expected = layer.input_scale * layer.weight_scales / layer.output_scale
    np.testing.assert_allclose(ratios, expected, rtol=2**-14)


def test_agent_round_trips_through_the_cache(agent, tmp_path):
    path = cache_path(tmp_path, SHORT, 0)
    assert path != cache_path(tmp_path, SHORT, 1)
    assert path != cache_path(tmp_path, replace(SHORT, gamma=0.9), 0)  # any field counts
    save_agent(agent, path)
    loaded = load_agent(path, SHORT, 0)
    np.testing.assert_array_equal(loaded.obs_scale, agent.obs_scale)
    x = torch.as_tensor(agent.states[:5], dtype=torch.float32)
    torch.testing.assert_close(loaded.q_network(x), agent.q_network(x))


def test_command_on_ref(tmp_path):
    out = tmp_path / "out"
    argv = [
        "--backend", "ref", "--steps", "1500", "--episodes", "2", "--schemes", "sp2",
        "--qat-rounds", "0", "--out", str(out), "--cache", str(tmp_path / "cache"),
    ]  # fmt: skip
    assert cli.main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    float_row, sp2 = results["table"]
    assert float_row["scheme"] == "float" and sp2["scheme"] == "sp2-4"
    assert len(sp2["return"]["returns"]) == 2 and sp2["ref_agreement"] == 1.0
    assert (out / "qlearn_curve.png").stat().st_size > 10_000
    assert list((tmp_path / "cache").glob("qlearn-*.pt"))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--episodes", "0"], "--episodes must be at least 1"),
        (["--steps", "10"], "must exceed the 1000 warm-up steps"),
        (["--schemes", "sp1", "--bits", "6"], r"sp1 weights need bits in \[2, 4\]"),
        (["--qat-rounds", "-1"], "--qat-rounds must be at least 0"),
    ],
)
def test_bad_arguments_get_clear_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert message.replace("\\", "") in capsys.readouterr().err

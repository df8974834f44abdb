"""The quantized Q-network: PTQ, QAT as a distillation of the float one, and the core policy.

Every weight scheme (uniform, SP1, SP2, codebook; 8-bit activations) is post-training
quantized by `sw.nn.prepare_qat`, calibrated on states the float policy visits, then
fine-tuned as a distillation of the float network in DAgger-style rounds
(`quantize_agent`); `sw.nn.compile_model` gives the program. `CorePolicy` plays with
every Q-value computed on a device (all running episodes batched into one product per
layer and step) and checks the same products against ``ref``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from sw.nn import Program, compile_model, prepare_qat, train_qat

from .training import (
    SELECTION_SEED_OFFSET,
    TRAIN_SEED_OFFSET,
    Agent,
    DQNConfig,
    collect_states,
    episode_limit,
    evaluate,
    float_policy,
)


@dataclass(frozen=True)
class QATConfig:
    """Quantization-aware fine-tuning: rounds of distillation, each some epochs."""

    rounds: int = 5
    epochs: int = 5  # per round
    lr: float = 3e-4
    batch_size: int = 128
    gap_margin: float = 0.1  # in return units: the student's action gap must exceed it


def distillation_loss(margin: float, q_scale: float):
    """QAT loss against the float network's Q-values (the teacher).

    ``mean((Q - Q_teacher)**2) / q_scale`` keeps the outputs Q-values, and a hinge
    ``relu(margin - sign(gap_teacher) * gap) / margin`` on the action gap
    ``gap = Q[1] - Q[0]`` makes the student prefer the teacher's action by at least
    ``margin``. The hinge matters: the trained network's gaps are tiny next to its
    Q-values (a median of a few hundredths against tens), so a plain MSE leaves the
    quantized network's greedy action close to a coin toss.
    """

    def loss(outputs: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        gap = outputs[:, 1] - outputs[:, 0]
        teacher_sign = torch.sign(teacher[:, 1] - teacher[:, 0])
        mse = ((outputs - teacher) ** 2).mean() / q_scale
        return mse + torch.relu(margin - teacher_sign * gap).mean() / margin

    return loss


def quantize_agent(
    agent: Agent,
    scheme,
    config: DQNConfig,
    qat: QATConfig,
    seed: int,
    *,
    act_bits: int = 8,
    progress: str | None = None,
):
    """``(PTQ program, QAT model, QAT program)``.

    PTQ calibrates on the float policy's states. QAT distills the float Q-network into
    the fake-quant one in rounds, DAgger-style (Ross et al. 2011): each round trains on
    every state so far, labelled by the float network, then adds the states the
    *quantized* policy visits, so that it learns to recover from its own mistakes.
    After each round the fake-quant greedy policy is scored on the selection seeds and
    the best round is kept (ties: the later one); a round scoring the full episode
    length ends the rounds.
    """
    quantized = prepare_qat(
        agent.q_network,
        agent.states,
        scheme,
        act_bits=act_bits,
        calibration_inputs=agent.states,
    )
    ptq_program = compile_model(quantized, None)
    states = agent.states

    def teacher(x):
        with torch.no_grad():
            return agent.q_network(torch.as_tensor(x, dtype=torch.float32))

    targets = teacher(states)
    loss = distillation_loss(qat.gap_margin, float((targets**2).mean()))
    limit = episode_limit()
    best_score, best = -np.inf, quantized
    rounds = tqdm(range(qat.rounds), desc=progress, leave=False, disable=progress is None)
    for round_index in rounds:
        train_qat(
            quantized,
            states,
            targets,
            loss,
            epochs=qat.epochs,
            batch_size=qat.batch_size,
            lr=qat.lr,
            seed=seed + round_index,
            # Every round adds states the quantized policy visited: fit the quantizers
            # (activation ranges) to them before each epoch, as QuantMLP did.
            refit_every_epoch=True,
        )
        score = float(
            evaluate(
                float_policy(agent, quantized), config.eval_episodes, seed + SELECTION_SEED_OFFSET
            ).mean()
        )
        rounds.set_postfix(selection_return=f"{score:.0f}")
        if score >= best_score:
            best_score, best = score, copy.deepcopy(quantized)
        if score >= limit or round_index == qat.rounds - 1:
            break
        visited = collect_states(
            agent,
            quantized,
            config.policy_states,
            config.policy_epsilon,
            seed + TRAIN_SEED_OFFSET + 1000 * (round_index + 1),
        )
        states = np.concatenate([states, visited])
        targets = teacher(states)
    return ptq_program, best, compile_model(best, None)


class CorePolicy:
    """Greedy actions from Q-values computed by ``accelerator`` (through the driver).

    Every call quantizes the observations on the host and runs the program's layers
    on the device, one batched product per layer. With ``ref`` given (and not the same
    accelerator) the same program also runs on the reference and every row whose
    Q-values differ is counted.
    """

    def __init__(self, agent: Agent, program: Program, accelerator, ref=None):
        self.agent, self.program, self.accelerator = agent, program, accelerator
        self.ref = ref if ref is not accelerator else None
        self.decisions = 0
        self.steps = 0
        self.cycles = 0
        self.products = 0  # layers loaded on the device
        self.mismatched_rows = 0
        self.checked_rows = 0

    def q_values(self, observations) -> np.ndarray:
        """Q-values (dequantized from the core's 16-bit outputs) for a batch."""
        x = self.agent.features(observations)
        q, cycles = self.program.run(self.accelerator, x, measure_cycles=True)
        self.steps += 1
        self.decisions += len(x)
        self.cycles += sum(cycles.values())
        self.products += self.program.last_run.loads
        if self.ref is not None:
            expected, _ = self.program.run(self.ref, x, measure_cycles=False)
            self.mismatched_rows += int(np.sum(np.any(expected != q, axis=1)))
            self.checked_rows += len(x)
        return q

    def __call__(self, observations) -> np.ndarray:
        return self.q_values(observations).argmax(axis=1)

"""`qmatmul run qlearn`: a DQN on CartPole-v1 whose greedy policy runs on the core.

Training (torch, float): a Q-network ``4-64-64-2`` with a replay buffer, a target
network (hard copy every ``target_update`` steps), epsilon-greedy exploration with a
linear decay, Double-DQN targets and a Huber loss. Every ``eval_every`` steps the
greedy policy is evaluated on held-out seeds; the best checkpoint is kept (ties go to
the later one).

Observations are divided by fixed per-feature scales before the network: the cart
position and pole angle by the environment's own termination thresholds, the two
velocities by the largest magnitude seen during the random-action warm-up. Without
this, one per-tensor int8 scale would have to cover the velocities and leave the
pole angle only a handful of steps.

Quantization: every weight scheme (uniform, SP1, SP2, codebook at ``--bits``; 8-bit
activations) is post-training quantized, calibrated on states the float policy
visits, then fine-tuned by QAT as a distillation of the float network, in
DAgger-style rounds (see `quantize_agent`). Evaluation: ``--episodes`` greedy
episodes per policy on the same seeds; the quantized policies compute every Q-value
on the device through the driver (all running episodes are batched into one product
per layer and step), and the same products are checked against ``ref``.

Writes ``results.json`` and ``qlearn_curve.png`` under ``--out``.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from sw.nn import CoreProgram, QuantMLP, compile_mlp, make_mlp
from sw.quant import WeightScheme, parse_schemes

from .backends import open_with_ref

ENV_ID = "CartPole-v1"
SOLVED_RETURN = 475.0
DEFAULT_OUT = Path("build/qlearn")
DEFAULT_CACHE = Path("build/cache")
DEFAULT_SCHEMES = "uniform,sp1,sp2,codebook"
# Seeds of the environments: training, checkpoint selection and the final evaluation
# never share an episode.
TRAIN_SEED_OFFSET = 0
SELECTION_SEED_OFFSET = 100_000
EVALUATION_SEED_OFFSET = 200_000


@dataclass(frozen=True)
class DQNConfig:
    """Training and quantization settings (the defaults are the reported run)."""

    hidden: tuple[int, ...] = (64, 64)
    total_steps: int = 60_000
    buffer_size: int = 50_000
    batch_size: int = 64
    gamma: float = 0.99
    lr: float = 5e-4
    learning_starts: int = 1_000
    target_update: int = 500
    epsilon_start: float = 1.0
    epsilon_end: float = 0.02
    epsilon_decay_steps: int = 15_000
    max_grad_norm: float = 10.0
    eval_every: int = 5_000
    eval_episodes: int = 10
    # Quantization: calibration / distillation states and the QAT rounds.
    policy_states: int = 10_000  # states visited per collection (epsilon-greedy)
    policy_epsilon: float = 0.1
    qat_rounds: int = 5
    qat_epochs: int = 5  # per round
    qat_lr: float = 3e-4
    gap_margin: float = 0.1  # in return units: the student's action gap must exceed it


@dataclass
class Agent:
    """A trained Q-network and what it needs to act and to be quantized."""

    q_network: nn.Sequential
    obs_scale: np.ndarray  # divide an observation by this before the network
    states: np.ndarray  # states the trained policy visits (normalized): calibration data
    curve: dict = field(default_factory=dict)  # learning curve for the figure

    def features(self, observations) -> np.ndarray:
        return np.asarray(observations, dtype=np.float64) / self.obs_scale


class ReplayBuffer:
    """A ring buffer of transitions (state, action, reward, next state, terminal)."""

    def __init__(self, capacity: int, state_size: int):
        self.capacity = capacity
        self.states = np.zeros((capacity, state_size), dtype=np.float32)
        self.next_states = np.zeros((capacity, state_size), dtype=np.float32)
        self.actions = np.zeros(capacity, dtype=np.int64)
        self.rewards = np.zeros(capacity, dtype=np.float32)
        self.terminal = np.zeros(capacity, dtype=np.float32)
        self.size = 0
        self.position = 0

    def add(self, state, action, reward, next_state, terminal) -> None:
        i = self.position
        self.states[i], self.actions[i], self.rewards[i] = state, action, reward
        self.next_states[i], self.terminal[i] = next_state, terminal
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, rng: np.random.Generator, batch_size: int):
        index = rng.integers(0, self.size, size=batch_size)
        return (
            torch.from_numpy(self.states[index]),
            torch.from_numpy(self.actions[index]),
            torch.from_numpy(self.rewards[index]),
            torch.from_numpy(self.next_states[index]),
            torch.from_numpy(self.terminal[index]),
        )


def make_env():
    import gymnasium as gym

    return gym.make(ENV_ID)


def evaluate(policy, episodes: int, seed: int, progress: str | None = None) -> np.ndarray:
    """Returns of ``episodes`` greedy episodes, run in lockstep.

    ``policy(observations (M, 4)) -> actions (M,)`` is called once per step with the
    observations of every episode still running, so a core-backed policy computes one
    batched product per layer and step. Episode ``i`` starts from ``reset(seed + i)``.
    """
    envs = [make_env() for _ in range(episodes)]
    observations = np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(envs)])
    returns = np.zeros(episodes)
    done = np.zeros(episodes, dtype=bool)
    limit = envs[0].spec.max_episode_steps
    with tqdm(total=limit, desc=progress, leave=False, disable=progress is None) as bar:
        while not done.all():
            active = np.flatnonzero(~done)
            actions = np.asarray(policy(observations[active]))
            for action, i in zip(actions, active, strict=True):
                observation, reward, terminated, truncated, _ = envs[i].step(int(action))
                observations[i] = observation
                returns[i] += reward
                done[i] = terminated or truncated
            bar.update()
    for env in envs:
        env.close()
    return returns


def float_policy(agent: Agent, network: nn.Module | None = None):
    network = agent.q_network if network is None else network

    @torch.no_grad()
    def act(observations):
        x = torch.as_tensor(agent.features(observations), dtype=torch.float32)
        return network(x).argmax(dim=1).numpy()

    return act


def epsilon_at(step: int, config: DQNConfig) -> float:
    fraction = min(1.0, step / max(1, config.epsilon_decay_steps))
    return config.epsilon_start + fraction * (config.epsilon_end - config.epsilon_start)


def observation_scale(env, warmup_observations) -> np.ndarray:
    """Per-feature divisors: the termination thresholds for position and angle, and the
    largest speed seen during the random-action warm-up for the two velocities."""
    peak = np.abs(np.asarray(warmup_observations, dtype=np.float64)).max(axis=0)
    return np.array(
        [
            env.unwrapped.x_threshold,
            max(peak[1], 1e-6),
            env.unwrapped.theta_threshold_radians,
            max(peak[3], 1e-6),
        ]
    )


def train_dqn(config: DQNConfig, seed: int, *, progress: bool = True) -> Agent:
    """Train the DQN; return the best checkpoint by greedy return on selection seeds."""
    if config.learning_starts < 1 or config.total_steps <= config.learning_starts:
        raise ValueError(
            f"total_steps={config.total_steps} must exceed learning_starts="
            f"{config.learning_starts} >= 1"
        )
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    env = make_env()
    q_network = make_mlp([4, *config.hidden, 2], seed=seed)
    target = copy.deepcopy(q_network)
    optimizer = torch.optim.Adam(q_network.parameters(), lr=config.lr)
    buffer = ReplayBuffer(config.buffer_size, 4)
    curve = {"episode_steps": [], "episode_returns": [], "eval_steps": [], "eval_returns": []}
    agent = Agent(q_network, np.ones(4), np.zeros((0, 4)), curve)
    warmup = []  # raw transitions of the random-action warm-up, until the scale is known
    best_return, best_state = -np.inf, None

    episodes = 0
    episode_return = 0.0
    observation, _ = env.reset(seed=seed + TRAIN_SEED_OFFSET)
    bar = tqdm(range(config.total_steps), desc="DQN training", unit="step", disable=not progress)
    for step in bar:
        learning = step >= config.learning_starts
        epsilon = epsilon_at(step - config.learning_starts, config) if learning else 1.0
        if rng.random() < epsilon:
            action = int(rng.integers(2))
        else:
            with torch.no_grad():
                x = torch.as_tensor(agent.features(observation[None]), dtype=torch.float32)
                action = int(q_network(x).argmax())
        next_observation, reward, terminated, truncated, _ = env.step(action)
        transition = (observation, action, reward, next_observation, float(terminated))
        if learning:
            buffer.add(*_normalized(agent, transition))
        else:
            warmup.append(transition)
        episode_return += reward
        observation = next_observation
        if terminated or truncated:
            curve["episode_steps"].append(step + 1)
            curve["episode_returns"].append(episode_return)
            episodes += 1
            episode_return = 0.0
            observation, _ = env.reset(seed=seed + TRAIN_SEED_OFFSET + episodes)

        if step == config.learning_starts - 1:
            agent.obs_scale = observation_scale(env, [t[0] for t in warmup])
            for item in warmup:
                buffer.add(*_normalized(agent, item))
        if learning:
            _dqn_update(q_network, target, optimizer, buffer, rng, config)
            if (step + 1) % config.target_update == 0:
                target.load_state_dict(q_network.state_dict())
            if (step + 1) % config.eval_every == 0 or step + 1 == config.total_steps:
                mean = float(
                    evaluate(
                        float_policy(agent), config.eval_episodes, seed + SELECTION_SEED_OFFSET
                    ).mean()
                )
                curve["eval_steps"].append(step + 1)
                curve["eval_returns"].append(mean)
                if mean >= best_return:
                    best_return, best_state = mean, copy.deepcopy(q_network.state_dict())
        if episodes and step % 200 == 0:
            bar.set_postfix(
                episodes=episodes,
                last10=f"{np.mean(curve['episode_returns'][-10:]):.0f}",
                eps=f"{epsilon:.2f}",
                best_eval=f"{best_return:.0f}",
            )
    env.close()
    q_network.load_state_dict(best_state)
    q_network.eval()
    curve["selected_step"] = curve["eval_steps"][
        len(curve["eval_returns"]) - 1 - curve["eval_returns"][::-1].index(best_return)
    ]
    curve["selected_eval_return"] = best_return
    agent.states = collect_states(
        agent, q_network, config.policy_states, config.policy_epsilon, seed + TRAIN_SEED_OFFSET
    )
    return agent


def collect_states(agent: Agent, network, steps: int, epsilon: float, seed: int) -> np.ndarray:
    """``steps`` normalized states visited by ``network``'s epsilon-greedy policy."""
    env = make_env()
    rng = np.random.default_rng(seed)
    act = float_policy(agent, network)
    states = np.zeros((steps, 4))
    observation, _ = env.reset(seed=seed)
    episodes = 0
    for step in range(steps):
        states[step] = agent.features(observation)
        if rng.random() < epsilon:
            action = int(rng.integers(2))
        else:
            action = int(act(observation[None])[0])
        observation, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            episodes += 1
            observation, _ = env.reset(seed=seed + episodes)
    env.close()
    return states


def _normalized(agent: Agent, transition):
    state, action, reward, next_state, terminal = transition
    return agent.features(state), action, reward, agent.features(next_state), terminal


def _dqn_update(q_network, target, optimizer, buffer, rng, config: DQNConfig) -> None:
    states, actions, rewards, next_states, terminal = buffer.sample(rng, config.batch_size)
    with torch.no_grad():
        # Double DQN: the online network picks the next action, the target network values it.
        next_actions = q_network(next_states).argmax(dim=1, keepdim=True)
        next_values = target(next_states).gather(1, next_actions).squeeze(1)
        targets = rewards + config.gamma * (1.0 - terminal) * next_values
    values = q_network(states).gather(1, actions[:, None]).squeeze(1)
    loss = nn.functional.smooth_l1_loss(values, targets)
    optimizer.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(q_network.parameters(), config.max_grad_norm)
    optimizer.step()


# ---- the agent on disk -----------------------------------------------------------------------


# What the trained agent depends on: the cache key covers these functions' code.
TRAINING_CODE = ("train_dqn", "_dqn_update", "collect_states", "observation_scale", "evaluate")
TRAINING_FIELDS = (
    "hidden total_steps buffer_size batch_size gamma lr learning_starts target_update "
    "epsilon_start epsilon_end epsilon_decay_steps max_grad_norm eval_every eval_episodes "
    "policy_states policy_epsilon"
).split()


def cache_path(cache_dir: Path, config: DQNConfig, seed: int) -> Path:
    """A file name that changes with the training settings, the seed and the training code."""
    import inspect

    settings = {name: getattr(config, name) for name in TRAINING_FIELDS}
    digest = hashlib.sha256(json.dumps({"settings": settings, "seed": seed}).encode())
    for name in TRAINING_CODE:
        digest.update(inspect.getsource(globals()[name]).encode())
    return Path(cache_dir) / f"qlearn-{digest.hexdigest()[:16]}.pt"


def save_agent(agent: Agent, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "state_dict": agent.q_network.state_dict(),
            "obs_scale": agent.obs_scale.tolist(),
            "states": torch.as_tensor(agent.states),
            "curve": agent.curve,
        },
        path,
    )


def load_agent(path: Path, config: DQNConfig, seed: int) -> Agent:
    saved = torch.load(path, weights_only=True)
    q_network = make_mlp([4, *config.hidden, 2], seed=seed)
    q_network.load_state_dict(saved["state_dict"])
    q_network.eval()
    return Agent(q_network, np.array(saved["obs_scale"]), saved["states"].numpy(), saved["curve"])


# ---- quantized policies on the core ----------------------------------------------------------


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
    scheme: WeightScheme,
    config: DQNConfig,
    seed: int,
    *,
    act_bits: int = 8,
    progress: str | None = None,
) -> tuple[CoreProgram, QuantMLP, CoreProgram]:
    """PTQ program, then the QAT model and its program.

    PTQ calibrates on the float policy's states. QAT distills the float Q-network
    into the fake-quant one in rounds, DAgger-style (Ross et al. 2011): each round
    trains on every state so far, labelled by the float network, then adds the states
    the *quantized* policy visits, so that it learns to recover from its own
    mistakes. After each round the fake-quant greedy policy is scored on the
    selection seeds and the best round is kept (ties: the later one); a round scoring
    the full episode length ends the rounds.
    """
    quantized = QuantMLP.from_float(agent.q_network, scheme, agent.states, act_bits=act_bits)
    ptq_program = compile_mlp(quantized)
    states = agent.states

    def teacher(x):
        with torch.no_grad():
            return agent.q_network(torch.as_tensor(x, dtype=torch.float32))

    targets = teacher(states)
    loss = distillation_loss(config.gap_margin, float((targets**2).mean()))
    limit = make_env().spec.max_episode_steps
    best_score, best = -np.inf, quantized
    rounds = tqdm(range(config.qat_rounds), desc=progress, leave=False, disable=progress is None)
    for round_index in rounds:
        quantized.qat(
            states,
            targets,
            loss,
            epochs=config.qat_epochs,
            batch_size=128,
            lr=config.qat_lr,
            seed=seed + round_index,
        )
        score = float(
            evaluate(
                float_policy(agent, quantized), config.eval_episodes, seed + SELECTION_SEED_OFFSET
            ).mean()
        )
        rounds.set_postfix(selection_return=f"{score:.0f}")
        if score >= best_score:
            best_score, best = score, copy.deepcopy(quantized)
        if score >= limit or round_index == config.qat_rounds - 1:
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
    return ptq_program, best, compile_mlp(best)


class CorePolicy:
    """Greedy actions from Q-values computed by ``accelerator`` (through the driver).

    Every call quantizes the observations on the host and runs the program's layers
    on the device, one batched product per layer. With ``ref`` given (and not the same
    accelerator) the same integer products also run on the reference and any
    difference is counted.
    """

    def __init__(self, agent: Agent, program: CoreProgram, accelerator, ref=None):
        self.agent, self.program, self.accelerator = agent, program, accelerator
        self.ref = ref if ref is not accelerator else None
        self.decisions = 0
        self.steps = 0
        self.cycles = 0
        self.products = 0
        self.mismatched_rows = 0
        self.checked_rows = 0

    def q_values(self, observations) -> np.ndarray:
        """Integer Q-values (in units of the program's output scale) for a batch."""
        from sw.nn import execute

        x = self.program.quantize_input(self.agent.features(observations))
        run = execute(self.program, self.accelerator, x, measure_cycles=True)
        self.steps += 1
        self.decisions += len(x)
        self.cycles += run.cycles
        self.products += run.products
        if self.ref is not None:
            expected = execute(self.program, self.ref, x, measure_cycles=False).outputs
            self.mismatched_rows += int(np.sum(np.any(expected != run.outputs, axis=1)))
            self.checked_rows += len(x)
        return run.outputs

    def __call__(self, observations) -> np.ndarray:
        return self.q_values(observations).argmax(axis=1)


# ---- report ----------------------------------------------------------------------------------


def _stats(returns: np.ndarray) -> dict:
    return {
        "mean": float(np.mean(returns)),
        "std": float(np.std(returns)),
        "min": float(np.min(returns)),
        "returns": [float(r) for r in returns],
    }


def plot_curve(curve: dict, rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (learning, bars) = plt.subplots(1, 2, figsize=(12, 4.5), width_ratios=(3, 2))
    steps = np.array(curve["episode_steps"])
    returns = np.array(curve["episode_returns"])
    learning.plot(steps, returns, ".", markersize=2, alpha=0.4, label="training episode")
    if len(returns) >= 20:
        window = 20
        smooth = np.convolve(returns, np.ones(window) / window, mode="valid")
        learning.plot(steps[window - 1 :], smooth, label=f"mean of last {window}")
    learning.plot(
        curve["eval_steps"], curve["eval_returns"], "o-", label="greedy (selection seeds)"
    )
    if curve.get("selected_step") is not None:
        learning.axvline(
            curve["selected_step"], color="gray", linestyle=":", label="kept checkpoint"
        )
    learning.axhline(
        SOLVED_RETURN, color="red", linestyle="--", linewidth=0.8, label="solved (475)"
    )
    learning.set_xlabel("environment steps")
    learning.set_ylabel("return")
    learning.set_title(f"DQN on {ENV_ID}")
    learning.legend(fontsize=8, loc="upper right")
    labels = [r["label"] for r in rows]
    means = [r["return"]["mean"] for r in rows]
    stds = [r["return"]["std"] for r in rows]
    bars.bar(range(len(rows)), means, yerr=stds, capsize=3, color="#3182bd")
    bars.axhline(SOLVED_RETURN, color="red", linestyle="--", linewidth=0.8)
    bars.set_xticks(range(len(rows)), labels, rotation=20)
    bars.set_ylabel("greedy return (mean ± std)")
    bars.set_title(f"evaluation, {len(rows[0]['return']['returns'])} episodes")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def format_table(rows: list[dict], backend: str) -> str:
    head = (
        f"{'policy':<16} {'PTQ (ref)':>15} {'return':>15} {'% float':>8} "
        f"{'ref=' + backend:>12} {'cycles/Q':>9}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        ret = f"{r['return']['mean']:.1f} ± {r['return']['std']:.1f}"
        if r["scheme"] == "float":
            lines.append(f"{r['label']:<16} {'':>15} {ret:>15} {'100.0':>8} {'-':>12} {'-':>9}")
            continue
        ptq = f"{r['ptq_return']['mean']:.1f} ± {r['ptq_return']['std']:.1f}"
        lines.append(
            f"{r['label']:<16} {ptq:>15} {ret:>15} {r['percent_of_float']:>8.1f} "
            f"{100 * r['ref_agreement']:>11.1f}% {r['cycles_per_decision']:>9.1f}"
        )
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qmatmul run qlearn",
        description=f"DQN on {ENV_ID}; the greedy policy's Q-values computed on the core.",
    )
    parser.add_argument(
        "--backend", default="sim", help="ref, sim or serial:PORT[,BAUD] (default sim)"
    )
    parser.add_argument("--episodes", type=int, default=20, help="evaluation episodes (>= 1)")
    parser.add_argument("--steps", type=int, default=DQNConfig.total_steps, help="training steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bits", type=int, default=4, help="weight bits")
    parser.add_argument("--schemes", default=DEFAULT_SCHEMES, help="comma-separated schemes")
    parser.add_argument("--act-bits", type=int, default=8, help="activation bits (2..8)")
    parser.add_argument(
        "--qat-rounds",
        type=int,
        default=DQNConfig.qat_rounds,
        help="distillation rounds of QAT (0: PTQ only)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="trained-agent cache")
    parser.add_argument("--retrain", action="store_true", help="ignore a cached agent")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.episodes < 1:
        parser.error("--episodes must be at least 1")
    if args.qat_rounds < 0:
        parser.error("--qat-rounds must be at least 0")
    if not 2 <= args.act_bits <= 8:
        parser.error(f"--act-bits={args.act_bits} is out of range; allowed range is [2, 8]")
    warmup = DQNConfig.learning_starts
    if args.steps <= warmup:
        parser.error(f"--steps must exceed the {warmup} warm-up steps")
    config = DQNConfig(
        total_steps=args.steps,
        qat_rounds=args.qat_rounds,
        eval_every=min(DQNConfig.eval_every, args.steps - warmup),
    )
    try:
        schemes = parse_schemes(args.schemes, args.bits)
    except ValueError as error:
        parser.error(str(error))
    torch.set_num_threads(1)  # small matrices: threads only add overhead on a shared machine
    return run(args, config, schemes)


def trained_agent(args, config: DQNConfig) -> Agent:
    """The agent from the cache, or trained now (and cached)."""
    cached = cache_path(args.cache, config, args.seed)
    start = time.perf_counter()
    if cached.exists() and not args.retrain:
        agent = load_agent(cached, config, args.seed)
        print(f"loaded the trained agent from {cached}")
    else:
        agent = train_dqn(config, args.seed)
        save_agent(agent, cached)
        print(f"trained in {time.perf_counter() - start:.0f} s; cached in {cached}")
    print(
        f"kept the checkpoint at step {agent.curve['selected_step']} "
        f"(greedy return {agent.curve['selected_eval_return']:.1f} on selection seeds)"
    )
    return agent


def scheme_row(agent, scheme, config, args, ref, backend, float_returns) -> dict:
    """Quantize for one scheme; play the PTQ policy on ref and the QAT one on the backend."""
    seed = args.seed + EVALUATION_SEED_OFFSET
    ptq, _, program = quantize_agent(
        agent, scheme, config, args.seed, act_bits=args.act_bits, progress=f"QAT {scheme.label}"
    )
    ptq_returns = evaluate(
        CorePolicy(agent, ptq, ref), args.episodes, seed, progress=f"{scheme.label} PTQ"
    )
    policy = CorePolicy(agent, program, backend, ref)
    returns = evaluate(policy, args.episodes, seed, progress=f"{scheme.label} on {args.backend}")
    checked = policy.checked_rows
    return {
        "scheme": scheme.name,
        "label": scheme.label,
        "ptq_return": _stats(ptq_returns),
        "return": _stats(returns),
        "percent_of_float": 100 * float(np.mean(returns)) / float(np.mean(float_returns)),
        "decisions_on_backend": policy.decisions,
        "ref_checked_decisions": checked,
        "ref_agreement": 1.0 - policy.mismatched_rows / checked if checked else 1.0,
        "cycles_per_step": policy.cycles / policy.steps,
        "cycles_per_decision": policy.cycles / policy.decisions,
        "weight_memory_bits": program.weight_memory_bits,
    }


def run(args, config: DQNConfig, schemes: list[WeightScheme]) -> int:
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        ref, backend = open_with_ref(stack, args.backend)  # fail early on a bad backend
        agent = trained_agent(args, config)
        seed = args.seed + EVALUATION_SEED_OFFSET
        float_returns = evaluate(float_policy(agent), args.episodes, seed, progress="eval float")
        rows = [{"scheme": "float", "label": "float", "return": _stats(float_returns)}]
        for scheme in schemes:
            rows.append(scheme_row(agent, scheme, config, args, ref, backend, float_returns))
    float_mean = float(np.mean(float_returns))

    figure = out / "qlearn_curve.png"
    plot_curve(agent.curve, rows, figure)
    results = {
        "env": ENV_ID,
        "backend": args.backend,
        "seed": args.seed,
        "episodes": args.episodes,
        "evaluation_seeds": [seed, seed + args.episodes - 1],
        "config": asdict(config),
        "obs_scale": agent.obs_scale.tolist(),
        "table": rows,
        "curve": agent.curve,
        "figure": str(figure),
    }
    path = out / "results.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(format_table(rows, args.backend))
    solved = "solves" if float_mean >= SOLVED_RETURN else "does NOT solve"
    print(f"float policy {solved} CartPole (mean {float_mean:.1f}, target >= {SOLVED_RETURN:.0f})")
    sp2 = next((r for r in rows if r["scheme"] == f"sp2-{args.bits}"), None)
    if sp2 is not None:
        met = "meets" if sp2["percent_of_float"] >= 95 else "does NOT meet"
        print(f"SP2 {args.bits}-bit keeps {sp2['percent_of_float']:.1f}% of float ({met} >= 95%)")
    print(
        "cycles/Q: device cycles per state's Q-values, the running episodes batched into one "
        "product per layer and step"
    )
    print(f"wrote {path}")
    print(f"wrote {figure}")
    mismatched = [r["scheme"] for r in rows[1:] if r["ref_agreement"] < 1]
    if mismatched:
        print(f"ERROR: {args.backend} and ref disagree for {mismatched}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The DQN on CartPole-v1: training, greedy evaluation, and the trained agent on disk.

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
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from sw.nn import make_mlp

from ..common import cache_key

ENV_ID = "CartPole-v1"
SOLVED_RETURN = 475.0
# Seeds of the environments: training, checkpoint selection and the final evaluation
# never share an episode.
TRAIN_SEED_OFFSET = 0
SELECTION_SEED_OFFSET = 100_000
EVALUATION_SEED_OFFSET = 200_000
# What the trained agent depends on besides its config and seed (the cache key covers it).
TRAINING_SOURCES = ("sw/workloads/qlearn/training.py", "sw/nn/mlp.py")


@dataclass(frozen=True)
class DQNConfig:
    """Training settings (the defaults are the reported run); the cache key is this."""

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
    # States visited by the trained policy (epsilon-greedy): calibration and distillation data.
    policy_states: int = 10_000
    policy_epsilon: float = 0.1


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


def episode_limit() -> int:
    env = make_env()
    limit = env.spec.max_episode_steps
    env.close()
    return limit


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
    """Greedy actions of ``network`` (default the agent's float Q-network) in torch."""
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


def cache_path(cache_dir: Path, config: DQNConfig, seed: int) -> Path:
    """A file name that changes with the training config, the seed and the training code."""
    key = cache_key(config, seed=seed, sources=TRAINING_SOURCES)
    return Path(cache_dir) / f"qlearn-{key}.pt"


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

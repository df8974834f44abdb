"""Straggling for real: injected delays, slowed workers and workers killed mid-task.

Delays follow the shifted exponential model of coded-computing papers (e.g. Lee et
al., "Speeding up distributed machine learning using codes", 2018): each worker draws,
once per run, its time per unit of work

    T_s = shift + Exponential(mean = scale)          (seconds per whole product)

and a subtask that is a share ``load`` of the whole product then sleeps ``load * T_s``
seconds on top of its real computation. A *slow* straggler's T_s is multiplied by
``slow_factor``; a *killed* one exits its process part way through one of its
subtasks (chosen at random), losing that subtask and every later one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STRAGGLER_MODES = ("slow", "kill", "mixed")


@dataclass(frozen=True)
class DelayModel:
    """Seconds per whole product: ``shift + Exponential(scale)``; stragglers ``x slow_factor``."""

    shift: float = 1.0
    scale: float = 1.0
    slow_factor: float = 10.0

    def __post_init__(self) -> None:
        for name in ("shift", "scale"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"delay {name}={getattr(self, name)} must be >= 0 seconds")
        if not self.slow_factor >= 1:
            raise ValueError(f"slow_factor={self.slow_factor} must be >= 1")


@dataclass(frozen=True)
class Straggling:
    """What happens to each worker in one run."""

    seconds_per_product: tuple[float, ...]  # T_s per worker, slowdown included
    slow: frozenset[int]
    killed: dict[int, tuple[int, float]]  # worker -> (subtask it dies in, fraction done)

    def delay(self, worker: int, load: float) -> float:
        return load * self.seconds_per_product[worker]

    def death(self, worker: int, subtask: int, load: float) -> float | None:
        """Seconds into this subtask at which the worker dies, or None."""
        if worker in self.killed and self.killed[worker][0] == subtask:
            return self.killed[worker][1] * self.delay(worker, load)
        return None


def plan_straggling(
    rng: np.random.Generator,
    workers: int,
    stragglers: int,
    *,
    mode: str = "slow",
    delays: DelayModel = DelayModel(),
    subtasks: int = 1,
) -> Straggling:
    """Draw each worker's speed and pick ``stragglers`` of them to slow down or kill.

    ``mode``: ``slow`` (all slowed), ``kill`` (all killed mid-task) or ``mixed`` (half
    killed, rounding down, the rest slowed).
    """
    if mode not in STRAGGLER_MODES:
        raise ValueError(f"straggler mode {mode!r} is not one of {STRAGGLER_MODES}")
    if isinstance(stragglers, bool) or not isinstance(stragglers, int):
        raise ValueError(f"stragglers must be an integer, got {stragglers!r}")
    if not 0 <= stragglers <= workers:
        raise ValueError(
            f"stragglers={stragglers} is out of range; allowed range is [0, {workers}]"
        )
    speeds = delays.shift + rng.exponential(delays.scale, size=workers) if delays.scale else None
    if speeds is None:
        speeds = np.full(workers, delays.shift)
    chosen = [int(s) for s in rng.permutation(workers)[:stragglers]]
    kills = {"slow": 0, "kill": stragglers, "mixed": stragglers // 2}[mode]
    killed = {
        s: (int(rng.integers(0, subtasks)), float(rng.uniform(0.05, 0.95))) for s in chosen[:kills]
    }
    slow = frozenset(chosen[kills:])
    seconds = tuple(
        float(speeds[s] * (delays.slow_factor if s in slow else 1.0)) for s in range(workers)
    )
    return Straggling(seconds, slow, killed)

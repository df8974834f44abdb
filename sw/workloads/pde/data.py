"""Trajectory data: training trajectories and held-out test trajectories, cached on disk.

A `Dataset` holds one grid (nodes and stencils) and two sets of reference trajectories
``(samples, steps + 1, nodes, fields)`` sampled every ``dt``: ``train`` (short
trajectories whose consecutive pairs train every model) and ``test`` (held-out initial
conditions, `HORIZON` steps, only for evaluation). Training and test initial conditions
come from independent random streams of the same seed.

`load_dataset` caches the arrays in ``build/cache/pde-data-<key>.npz``; the key covers the
settings, the seed and the source of the solvers, so a change to either regenerates.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from sw.workloads.common import cache_key

from .equations import Equation
from .grids import Grid, Stencil, make_grid
from .solvers import random_initial_conditions, reference_trajectories

HORIZON = 100  # test rollouts run 100 training steps
SOURCES = (
    "sw/workloads/pde/equations.py",
    "sw/workloads/pde/grids.py",
    "sw/workloads/pde/solvers.py",
    "sw/workloads/pde/data.py",
)


@dataclass(frozen=True)
class DataConfig:
    """What the data depends on besides the equation's parameters."""

    equation: str
    boundary: str
    grid: str  # "uniform" or "random"
    width: int  # 1D stencil half-width, or 2D neighbour count
    params: tuple[tuple[str, float], ...]  # sorted (name, value) pairs
    train_samples: int = 100
    train_steps: int = 20
    test_samples: int = 20
    test_steps: int = HORIZON

    @property
    def parameters(self) -> dict[str, float]:
        return dict(self.params)


@dataclass
class Dataset:
    config: DataConfig
    grid: Grid
    train: np.ndarray  # (samples, train_steps + 1, N, F)
    test: np.ndarray  # (samples, test_steps + 1, N, F)

    @property
    def dt(self) -> float:
        return self.config.parameters["dt"]

    @property
    def fields(self) -> int:
        return self.train.shape[-1]

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """All consecutive training snapshots: ``(u_n, u_{n+1})``, each ``(P, N, F)``."""
        fields = self.train.shape[-2:]
        return (
            self.train[:, :-1].reshape(-1, *fields),
            self.train[:, 1:].reshape(-1, *fields),
        )


def generate(equation: Equation, config: DataConfig, seed: int) -> Dataset:
    params = config.parameters
    grid_rng, train_rng, test_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    grid = make_grid(
        config.grid, config.boundary, equation.dim, int(params["nodes"]), config.width, grid_rng
    )
    points = grid.points[:, 0] if grid.dim == 1 else grid.points
    modes = int(params["modes"])
    trajectories = []
    for samples, steps, rng in (
        (config.train_samples, config.train_steps, train_rng),
        (config.test_samples, config.test_steps, test_rng),
    ):
        initial = random_initial_conditions(equation, config.boundary, modes, samples, rng)
        trajectories.append(reference_trajectories(equation, params, initial, points, steps))
    return Dataset(config, grid, *trajectories)


def data_key(config: DataConfig, seed: int) -> str:
    """The cache key of a dataset: its configuration, seed and the code that makes it."""
    return cache_key(asdict(config), seed=seed, sources=SOURCES)


def load_dataset(equation: Equation, config: DataConfig, seed: int, cache_dir: Path | None):
    """The dataset from ``cache_dir`` if there, else generated (and cached)."""
    if cache_dir is None:
        return generate(equation, config, seed)
    key = data_key(config, seed)
    path = Path(cache_dir) / f"pde-data-{config.equation}-{key}.npz"
    if path.exists():
        saved = np.load(path)
        stencil = Stencil(saved["index"], saved["sign"])
        grid = Grid(config.grid, config.boundary, saved["points"], stencil)
        return Dataset(config, grid, saved["train"], saved["test"])
    dataset = generate(equation, config, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        points=dataset.grid.points,
        index=dataset.grid.stencil.index,
        sign=dataset.grid.stencil.sign,
        train=dataset.train,
        test=dataset.test,
    )
    return dataset

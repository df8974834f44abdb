"""Node sets and stencils: where the data lives and which neighbours each node sees.

The nodal network never sees coordinates. Geometry enters once, here, when each node's
stencil is chosen (the paper's "disassembly"): a `Stencil` is an index table into the
nodal values plus a sign per entry, so that gathering a node's neighbourhood is one
fancy-indexing step on the host:

    neighbourhood[b, j, i] = sign[j, i] * padded[b, index[j, i]],   padded = [u, 0]

- 1D (uniform or random nodes): the ``2 * half_width + 1`` nodes nearest in index order
  (left to right). Periodic domains wrap around. With Dirichlet ends (``u = 0`` at 0 and
  pi) a missing neighbour is a ghost: the boundary itself (the appended zero) or the
  mirror image of an interior node with the opposite sign (the odd extension that a
  Dirichlet solution satisfies).
- 2D: the node itself and its ``neighbours`` nearest nodes (periodic distance), ordered
  by distance and then by angle, so that every node of a uniform lattice sees the same
  ordered stencil.

Random 1D nodes are i.i.d. uniform with a minimum gap of `MIN_GAP` times the mean
spacing (re-drawn until it holds); random 2D nodes are a Poisson-disc-like sample
(uniform proposals, rejected closer than `MIN_GAP` times the mean spacing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .equations import DIRICHLET, PERIODIC

GRIDS = ("uniform", "random")
MIN_GAP = 0.3  # of the mean spacing: random nodes never (nearly) coincide
LENGTH = {PERIODIC: 2 * np.pi, DIRICHLET: np.pi}


@dataclass(frozen=True)
class Stencil:
    """Each node's neighbourhood: ``index`` ``(N, S)`` into ``[u, 0]`` and ``sign`` ``(N, S)``."""

    index: np.ndarray
    sign: np.ndarray

    @property
    def nodes(self) -> int:
        return self.index.shape[0]

    @property
    def size(self) -> int:
        return self.index.shape[1]

    def gather(self, values: np.ndarray) -> np.ndarray:
        """``(..., N, F)`` nodal values -> ``(..., N, S * F)`` neighbourhoods (field-minor)."""
        values = np.asarray(values)
        padded = np.concatenate([values, np.zeros_like(values[..., :1, :])], axis=-2)
        picked = padded[..., self.index, :] * self.sign[..., None]  # (..., N, S, F)
        return picked.reshape(*picked.shape[:-2], -1)


@dataclass(frozen=True)
class Grid:
    """Nodes of one domain: coordinates ``(N, dim)``, the boundary kind and the stencil."""

    kind: str  # "uniform" or "random"
    boundary: str
    points: np.ndarray  # (N, dim)
    stencil: Stencil

    @property
    def nodes(self) -> int:
        return self.points.shape[0]

    @property
    def dim(self) -> int:
        return self.points.shape[1]

    def offsets(self) -> np.ndarray:
        """``(N, S, dim)``: where each stencil entry sits relative to its node.

        Only the geometry-aware baselines (PDE-FIND) use this; the nodal network never
        does. Periodic entries take the nearest image; Dirichlet ghosts sit at the mirror
        image of their node (left of 0 or right of pi) or on the boundary itself.
        """
        index, nodes = self.stencil.index, self.nodes
        length = LENGTH[self.boundary]
        centre = self.points[:, None, :]
        if self.boundary == PERIODIC:
            delta = self.points[np.minimum(index, nodes - 1)] - centre
            return delta - length * np.round(delta / length)
        x = self.points[:, 0]
        column = np.arange(self.stencil.size)[None, :]
        left = column < (self.stencil.size - 1) // 2  # entries left of the node
        source = x[np.minimum(index, nodes - 1)]
        mirror = np.where(left, -source, 2 * length - source)
        wall = np.where(left, 0.0, length)
        position = np.where(index == nodes, wall, np.where(self.stencil.sign < 0, mirror, source))
        return (position - x[:, None])[..., None]


def _random_1d(count: int, length: float, boundary: str, rng: np.random.Generator):
    """Uniform random nodes conditioned on every gap being at least ``MIN_GAP`` times the
    mean spacing: the gaps of uniform points are normalized exponentials, so the
    conditioned gaps are that minimum plus normalized exponentials of the remainder."""
    intervals = count + (1 if boundary == DIRICHLET else 0)  # gaps around the nodes
    gap = MIN_GAP * length / intervals
    excess = rng.exponential(size=intervals)
    gaps = gap + (length - intervals * gap) * excess / excess.sum()
    if boundary == PERIODIC:  # count gaps around the circle, from a random start
        x = rng.uniform(0.0, length) + np.concatenate([[0.0], np.cumsum(gaps)[:-1]])
        return np.sort(np.mod(x, length))
    return np.cumsum(gaps)[:-1]  # count + 1 gaps from 0 to the far end


def nodes_1d(kind: str, boundary: str, count: int, rng: np.random.Generator) -> np.ndarray:
    length = LENGTH[boundary]
    if kind == "uniform":
        if boundary == PERIODIC:
            return np.arange(count) * length / count
        return np.arange(1, count + 1) * length / (count + 1)
    return _random_1d(count, length, boundary, rng)


def stencil_1d(count: int, boundary: str, half_width: int) -> Stencil:
    """Index-order neighbours ``j - half_width .. j + half_width`` (see the module doc)."""
    offsets = np.arange(-half_width, half_width + 1)
    raw = np.arange(count)[:, None] + offsets[None, :]
    if boundary == PERIODIC:
        return Stencil(raw % count, np.ones(raw.shape))
    # Dirichlet: index -1 is the left boundary (zero), -1 - m mirrors node m - 1 with a
    # minus sign; count is the right boundary, count + m mirrors node count - m.
    zero = count  # the appended 0 of `Stencil.gather`
    index = raw.copy()
    sign = np.ones(raw.shape)
    left = raw < 0
    index[left] = -raw[left] - 2
    sign[left] = -1.0
    right = raw >= count
    index[right] = 2 * count - raw[right]
    sign[right] = -1.0
    boundary_hit = (index == -1) | (index == count)
    index[boundary_hit] = zero
    sign[boundary_hit] = 1.0
    if np.any(index < 0) or np.any(index > count):
        raise ValueError(f"a stencil of half-width {half_width} needs more than {count} nodes")
    return Stencil(index, sign)


def nodes_2d(kind: str, count: int, rng: np.random.Generator) -> np.ndarray:
    length = LENGTH[PERIODIC]
    if kind == "uniform":
        side = round(np.sqrt(count))
        if side * side != count:
            raise ValueError(
                f"--param nodes={count}: a uniform 2D grid needs a square number of nodes"
            )
        axis = np.arange(side) * length / side
        xx, yy = np.meshgrid(axis, axis, indexing="ij")
        return np.stack([xx.ravel(), yy.ravel()], axis=1)
    gap = MIN_GAP * length / np.sqrt(count)
    points: list[np.ndarray] = []
    for _ in range(200 * count):
        candidate = rng.uniform(0.0, length, 2)
        if points:
            delta = np.abs(np.asarray(points) - candidate)
            delta = np.minimum(delta, length - delta)
            if np.min(np.hypot(delta[:, 0], delta[:, 1])) < gap:
                continue
        points.append(candidate)
        if len(points) == count:
            return np.asarray(points)
    raise RuntimeError(f"could not place {count} random nodes {gap:.3g} apart")


def stencil_2d(points: np.ndarray, neighbours: int) -> Stencil:
    """The node and its ``neighbours`` nearest nodes, by periodic distance, then angle."""
    length = LENGTH[PERIODIC]
    count = len(points)
    if not 1 <= neighbours < count:
        raise ValueError(f"neighbours={neighbours} must be in [1, {count - 1}]")
    delta = points[None, :, :] - points[:, None, :]
    delta -= length * np.round(delta / length)  # minimum image
    distance = np.hypot(delta[..., 0], delta[..., 1])
    angle = np.mod(np.arctan2(delta[..., 1], delta[..., 0]), 2 * np.pi)
    # Distances rounded so that a lattice's equal distances tie and the angle decides.
    order = np.lexsort((angle, np.round(distance / length, 9)), axis=-1)[:, : neighbours + 1]
    if not np.all(order[:, 0] == np.arange(count)):
        raise ValueError("two nodes coincide; every node must be its own nearest node")
    return Stencil(order, np.ones(order.shape))


def make_grid(
    kind: str, boundary: str, dim: int, count: int, width: int, rng: np.random.Generator
) -> Grid:
    """``width``: the 1D stencil half-width, or the number of 2D neighbours."""
    if kind not in GRIDS:
        raise ValueError(f"--grid {kind!r} is not one of {GRIDS}")
    if dim == 1:
        points = nodes_1d(kind, boundary, count, rng)
        stencil = stencil_1d(count, boundary, width)
        return Grid(kind, boundary, points.reshape(-1, 1), stencil)
    points = nodes_2d(kind, count, rng)
    return Grid(kind, boundary, points, stencil_2d(points, width))

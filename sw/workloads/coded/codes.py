"""The codes: how ``C = A @ B`` over GF(q) is cut into subtasks for N servers and decoded.

Every code splits ``A`` (M x K) into ``m`` row blocks and ``p`` column blocks and ``B``
(K x N) into ``p`` row blocks and ``n`` column blocks (zero padding makes them even),
so that ``C[i, k] = sum_j A[i, j] @ B[j, k]``. Server ``s`` owns the evaluation point
``x_s = s`` and gets, for each of its subtasks, one coded block of A and one of B;
the subtask is their product (one block product, ``1 / (p m n)`` of the whole work).

- `EntangledCode` (Yu, Maddah-Ali, Avestimehr): ``A~(x) = sum A[i,j] x^(j + p i)``,
  ``B~(x) = sum B[j,k] x^(p-1-j + p m k)``; ``A~ B~`` has degree ``p m n + p - 2`` and
  carries ``C[i, k]`` at ``x^(p-1 + p i + p m k)``: any ``p m n + p - 1`` servers decode.
  Polynomial codes are ``p = 1``, MatDot codes ``m = n = 1``.
- `FlexibleCode`: the entangled code split into subtasks (docs/coded.md has the
  construction and its proofs): B's column blocks are grouped in a tree, each server
  evaluates the groups' codes in order, and the product decodes from many servers
  that finished few subtasks or from few servers that finished many.
- `ReplicatedCode`: ``r`` copies of each of ``N // r`` row blocks of A (``r = 1``:
  uncoded).

A code is field-agnostic: `encode` and `decode` take the prime ``q``. `decodable`
says, from which subtasks have arrived alone, whether `decode` will succeed; `decode`
refuses (`DecodingError`) otherwise and never returns a wrong matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product as cartesian

import numpy as np

from .field import evaluate, interpolate, matmul_mod
from .span import SpanTracker

SCHEMES = ("flexible-ep", "ep", "polynomial", "matdot", "uncoded", "replication")
Done = frozenset  # of (server, subtask) pairs that arrived


class DecodingError(RuntimeError):
    """Too few results to decode; says how many arrived and how many were needed."""

    def __init__(self, message: str, *, arrived: int, needed: int):
        super().__init__(message)
        self.arrived = arrived
        self.needed = needed


@dataclass(frozen=True)
class Partition:
    """``p`` inner blocks, ``m`` row blocks of A, ``n`` column blocks of B."""

    p: int
    m: int
    n: int

    def __post_init__(self) -> None:
        for name in ("p", "m", "n"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"partition {name}={value!r} must be an integer >= 1")

    def split(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A -> (m, p, M/m, K/p) blocks, B -> (p, n, K/p, N/n) blocks, zero padded."""
        (rows, depth), cols = a.shape, b.shape[1]
        br, bk, bc = -(-rows // self.m), -(-depth // self.p), -(-cols // self.n)
        a_pad = np.zeros((br * self.m, bk * self.p), dtype=np.int64)
        a_pad[:rows, :depth] = a
        b_pad = np.zeros((bk * self.p, bc * self.n), dtype=np.int64)
        b_pad[:depth, :cols] = b
        a_blocks = a_pad.reshape(self.m, br, self.p, bk).transpose(0, 2, 1, 3)
        b_blocks = b_pad.reshape(self.p, bk, self.n, bc).transpose(0, 2, 1, 3)
        return a_blocks, b_blocks

    def assemble(self, c_blocks: np.ndarray, rows: int, cols: int) -> np.ndarray:
        """(m, n, M/m, N/n) blocks -> the (rows, cols) product, padding dropped."""
        m, n, br, bc = c_blocks.shape
        return c_blocks.transpose(0, 2, 1, 3).reshape(m * br, n * bc)[:rows, :cols]


def combine(blocks: np.ndarray, weights, q: int) -> np.ndarray:
    """``sum_i weights[i] * blocks[i] mod q`` for (count, r, c) blocks in [0, q)."""
    count = blocks.shape[0]
    weights = np.asarray(weights, dtype=np.int64).reshape(1, count)
    return matmul_mod(weights, blocks.reshape(count, -1), q).reshape(blocks.shape[1:])


@dataclass
class Code:
    """What every code has; see the module docstring."""

    name: str
    servers: int
    partition: Partition

    subtasks_per_server: int = 1

    @property
    def min_field(self) -> int:
        """The fewest field elements the code needs (distinct evaluation points)."""
        return self.servers

    @property
    def load(self) -> float:
        """One subtask's share of the whole product's multiply-accumulates."""
        return 1.0 / (self.partition.p * self.partition.m * self.partition.n)

    @property
    def work_per_server(self) -> float:
        return self.subtasks_per_server * self.load

    @property
    def threshold(self) -> int:
        """Servers needed when each finishes all its subtasks (worst case over which)."""
        raise NotImplementedError

    def check_field(self, q: int) -> None:
        if q < self.min_field:
            raise ValueError(
                f"GF({q}) has fewer than the {self.min_field} elements the {self.name} code "
                f"needs for {self.servers} servers; use a prime >= {self.min_field}"
            )

    def encode(self, a_blocks, b_blocks, q: int) -> list[list[tuple[np.ndarray, np.ndarray]]]:
        raise NotImplementedError

    def decodable(self, done: Done, q: int) -> bool:
        raise NotImplementedError

    def tracker(self, q: int) -> Tracker:
        """Follows arrivals one at a time: ``add((server, subtask))``, then ``complete``."""
        return Tracker(self, q)

    def decode(self, results: dict, q: int) -> np.ndarray:
        raise NotImplementedError

    def shortfall(self, done: Done) -> DecodingError:
        raise NotImplementedError

    def describe(self) -> dict:
        p = self.partition
        return {
            "scheme": self.name,
            "partition": {"p": p.p, "m": p.m, "n": p.n},
            "servers": self.servers,
            "subtasks_per_server": self.subtasks_per_server,
            "threshold": self.threshold,
            "work_per_server": self.work_per_server,
            "min_field": self.min_field,
        }


class Tracker:
    """Arrivals so far and whether they decode (the general, non-incremental way)."""

    def __init__(self, code: Code, q: int):
        self.code, self.q = code, q
        self.done: set[tuple[int, int]] = set()

    def add(self, key: tuple[int, int]) -> None:
        self.done.add(key)

    @property
    def complete(self) -> bool:
        return self.code.decodable(Done(self.done), self.q)


def _servers_done(done: Done, subtask: int = 0) -> list[int]:
    return sorted(s for s, t in done if t == subtask)


@dataclass
class EntangledCode(Code):
    """Entangled polynomial code with partition (p, m, n); one subtask per server."""

    def __post_init__(self) -> None:
        p, m = self.partition.p, self.partition.m
        self.a_exponents = [j + p * i for i in range(m) for j in range(p)]
        self.b_exponents = [
            p - 1 - j + p * m * k for j in range(p) for k in range(self.partition.n)
        ]

    @property
    def threshold(self) -> int:
        p, m, n = self.partition.p, self.partition.m, self.partition.n
        return p * m * n + p - 1

    def encode(self, a_blocks, b_blocks, q):
        self.check_field(q)
        p, m, n = self.partition.p, self.partition.m, self.partition.n
        flat_a = a_blocks.reshape(m * p, *a_blocks.shape[2:])
        flat_b = b_blocks.reshape(p * n, *b_blocks.shape[2:])
        tasks = []
        for s in range(self.servers):
            wa = [pow(s, e, q) for e in self.a_exponents]
            wb = [pow(s, e, q) for e in self.b_exponents]
            tasks.append([(combine(flat_a, wa, q), combine(flat_b, wb, q))])
        return tasks

    def decodable(self, done, q=None):
        return len(_servers_done(done)) >= self.threshold

    def shortfall(self, done):
        arrived = len(_servers_done(done))
        return DecodingError(
            f"{arrived} of {self.servers} servers returned; the {self.name} code with "
            f"(p, m, n) = ({self.partition.p}, {self.partition.m}, {self.partition.n}) "
            f"needs any {self.threshold}",
            arrived=arrived,
            needed=self.threshold,
        )

    def decode(self, results, q):
        done = Done(results)
        if not self.decodable(done, q):
            raise self.shortfall(done)
        p, m, n = self.partition.p, self.partition.m, self.partition.n
        servers = _servers_done(done)[: self.threshold]
        values = np.stack([results[(s, 0)] for s in servers])
        coefficients = interpolate(servers, values, q)
        c = np.empty((m, n, *values.shape[1:]), dtype=np.int64)
        for i, k in cartesian(range(m), range(n)):
            c[i, k] = coefficients[p - 1 + p * i + p * m * k]
        return c


def level_table(partition: Partition, branching: tuple[int, ...]) -> list[dict]:
    """The flexible code's levels: after ``subtasks`` subtasks each, ``servers`` suffice.

    Level j's groups have ``g = n / prod(branching[:j])`` column blocks, so their
    product polynomials have ``p m g + p - 1`` coefficients.
    """
    p, m, n = partition.p, partition.m, partition.n
    rows, subtasks = [], 1
    for factor in (*branching, None):
        rows.append({"subtasks": subtasks, "servers": p * m * (n // subtasks) + p - 1})
        if factor is not None:
            subtasks *= factor
    return rows


@dataclass
class Group:
    """A node of the flexible code's tree: column blocks ``start .. start + size - 1``."""

    index: int
    start: int
    size: int
    parent: int | None
    level: int
    children: list[int] = field(default_factory=list)
    subtask: int | None = None  # its place in every server's order; None: a first child


@dataclass
class FlexibleCode(Code):
    """The flexible entangled code: subtasks over a tree of B's column-block groups.

    ``branching[j]`` splits every group of level j into that many equal groups; a
    server's subtasks are the root and then, level by level, every group that is not
    the first child of its parent. Finishing the first ``prod(branching[:j])`` subtasks
    completes level j, whose groups of ``g`` column blocks need ``p m g + p - 1``
    servers each (`levels`).
    """

    branching: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        self.branching = tuple(int(b) for b in self.branching)
        if any(b < 2 for b in self.branching):
            raise ValueError(f"every branching factor must be >= 2, got {self.branching}")
        leaves = int(np.prod(self.branching)) if self.branching else 1
        if self.partition.n % leaves:
            raise ValueError(
                f"n={self.partition.n} column blocks cannot be split into {leaves} equal "
                f"groups (branching {self.branching}); n must be a multiple of {leaves}"
            )
        self.groups = [Group(0, 0, self.partition.n, None, 0, subtask=0)]
        frontier, next_subtask = [0], 1
        for level, factor in enumerate(self.branching, start=1):
            new_frontier = []
            for parent_index in frontier:
                parent = self.groups[parent_index]
                size = parent.size // factor
                for c in range(factor):
                    child = Group(
                        len(self.groups), parent.start + c * size, size, parent_index, level
                    )
                    if c > 0:
                        child.subtask, next_subtask = next_subtask, next_subtask + 1
                    self.groups.append(child)
                    parent.children.append(child.index)
                    new_frontier.append(child.index)
            frontier = new_frontier
        self.subtasks_per_server = next_subtask
        self.by_subtask = {g.subtask: g for g in self.groups if g.subtask is not None}
        self._functionals: dict[tuple[int, int, int], np.ndarray] = {}

    def group_threshold(self, group: Group) -> int:
        """Coefficients of the group's product polynomial (its recovery threshold)."""
        p, m = self.partition.p, self.partition.m
        return p * m * group.size + p - 1

    @property
    def levels(self) -> list[dict]:
        """Per level: subtasks each server must finish, and how many such servers suffice."""
        return level_table(self.partition, self.branching)

    @property
    def threshold(self) -> int:
        return self.levels[-1]["servers"]

    def _b_weights(self, group: Group, x: int, q: int) -> list[int]:
        p, m = self.partition.p, self.partition.m
        return [
            pow(x, p - 1 - j + p * m * (k - group.start), q)
            for j in range(p)
            for k in range(group.start, group.start + group.size)
        ]

    def encode(self, a_blocks, b_blocks, q):
        self.check_field(q)
        p, m = self.partition.p, self.partition.m
        flat_a = a_blocks.reshape(m * p, *a_blocks.shape[2:])
        a_exponents = [j + p * i for i in range(m) for j in range(p)]
        tasks = []
        for s in range(self.servers):
            coded_a = combine(flat_a, [pow(s, e, q) for e in a_exponents], q)
            server = []
            for t in range(self.subtasks_per_server):
                group = self.by_subtask[t]
                cols = b_blocks[:, group.start : group.start + group.size]
                flat_b = cols.reshape(p * group.size, *b_blocks.shape[2:])
                server.append((coded_a, combine(flat_b, self._b_weights(group, s, q), q)))
            tasks.append(server)
        return tasks

    # ---- the recovery condition: peeling the tree ------------------------------------

    def _available(self, group: Group, done: Done, known: dict) -> set[int]:
        """Servers at whose point the group's product polynomial can be had."""
        if group.subtask is not None:
            return {s for s in range(self.servers) if (s, group.subtask) in done}
        parent = self.groups[group.parent]
        siblings = [self.groups[c] for c in parent.children if c != group.index]
        sibling_sets = [
            None if c.index in known else self._available(c, done, known) for c in siblings
        ]
        return {
            s
            for s in self._available(parent, done, known)
            if all(found is None or s in found for found in sibling_sets)
        }

    def plan(self, done: Done) -> list[tuple[int, tuple[int, ...] | None]] | None:
        """How to decode from ``done``: (group, servers to interpolate from, or None to
        compose it from its children) in order; None if the root cannot be recovered."""
        known: dict[int, tuple[int, ...] | None] = {}
        steps = []
        changed = True
        while changed and 0 not in known:
            changed = False
            for group in reversed(self.groups):  # deepest first
                if group.index in known:
                    continue
                servers = self._available(group, done, known)
                if len(servers) >= self.group_threshold(group):
                    known[group.index] = tuple(sorted(servers)[: self.group_threshold(group)])
                elif group.children and all(c in known for c in group.children):
                    known[group.index] = None
                else:
                    continue
                steps.append((group.index, known[group.index]))
                changed = True
        return steps if 0 in known else None

    # ---- the exact condition: C in the span of the results' functionals --------------

    def functional(self, server: int, subtask: int, q: int) -> np.ndarray:
        """The subtask's result as a combination of the block products A[i,j] @ B[j',k]
        (flattened over (i, j, j', k)), at ``server``'s point (read-only, cached)."""
        key = (server, subtask, q)
        if key not in self._functionals:
            self._functionals[key] = self._functional(server, subtask, q)
            self._functionals[key].flags.writeable = False
        return self._functionals[key]

    def _functional(self, server: int, subtask: int, q: int) -> np.ndarray:
        p, m, n = self.partition.p, self.partition.m, self.partition.n
        group = self.by_subtask[subtask]
        wa = np.array([pow(server, j + p * i, q) for i in range(m) for j in range(p)])
        wb = np.zeros((p, n), dtype=np.int64)
        for j in range(p):
            for k in range(group.start, group.start + group.size):
                wb[j, k] = pow(server, p - 1 - j + p * m * (k - group.start), q)
        return np.mod(np.outer(wa, wb.ravel()), q).ravel()

    def targets(self) -> np.ndarray:
        """C[i, k] = sum_j A[i,j] @ B[j,k] as combinations of the block products."""
        p, m, n = self.partition.p, self.partition.m, self.partition.n
        rows = np.zeros((m, n, m, p, p, n), dtype=np.int64)
        for i, k, j in cartesian(range(m), range(n), range(p)):
            rows[i, k, i, j, j, k] = 1
        return rows.reshape(m * n, -1)

    def slot(self, key: tuple[int, int]) -> int:
        return key[0] * self.subtasks_per_server + key[1]

    def tracker(self, q: int) -> _FlexibleTracker:
        return _FlexibleTracker(self, q)

    def decodable(self, done, q):
        tracker = self.tracker(q)
        for key in sorted(done):
            tracker.add(key)
        return tracker.complete

    def shortfall(self, done):
        servers = len({s for s, _ in done})
        levels = "; ".join(f"{lv['servers']} servers x {lv['subtasks']}" for lv in self.levels)
        needed = min(lv["servers"] * lv["subtasks"] for lv in self.levels)
        return DecodingError(
            f"{len(done)} subtask results from {servers} servers arrived, not enough for the "
            f"flexible code (it decodes from any of: {levels} subtasks each, or patterns "
            f"that peel the same way; at least {needed} results)",
            arrived=len(done),
            needed=needed,
        )

    def decode(self, results, q):
        done = Done(results)
        steps = self.plan(done)
        p, m, n = self.partition.p, self.partition.m, self.partition.n
        if steps is None:
            return self._decode_linear(results, q)
        known: dict[int, np.ndarray] = {}  # group -> its product polynomial's coefficients

        def value(group: Group, s: int) -> np.ndarray:
            if group.subtask is not None:
                return results[(s, group.subtask)]
            parent = self.groups[group.parent]
            total = value(parent, s)
            for c in parent.children:
                if c == group.index:
                    continue
                sibling = self.groups[c]
                observed = sibling.subtask is not None and (s, sibling.subtask) in results
                part = value(sibling, s) if observed or c not in known else evaluate(known[c], s, q)
                shift = pow(s, p * m * (sibling.start - parent.start), q)
                total = (total - part * shift) % q
            return total

        for index, servers in steps:
            group = self.groups[index]
            if servers is not None:
                values = np.stack([value(group, s) for s in servers])
                known[index] = interpolate(servers, values, q)
            else:
                coefficients = np.zeros(
                    (self.group_threshold(group), *next(iter(results.values())).shape),
                    dtype=np.int64,
                )
                for c in group.children:
                    child = self.groups[c]
                    offset = p * m * (child.start - group.start)
                    coefficients[offset : offset + self.group_threshold(child)] += known[c]
                known[index] = coefficients % q
        root = known[0]
        c = np.empty((m, n, *root.shape[1:]), dtype=np.int64)
        for i, k in cartesian(range(m), range(n)):
            c[i, k] = root[p - 1 + p * i + p * m * k]
        return c

    def _decode_linear(self, results: dict, q: int) -> np.ndarray:
        """C from any results whose functionals span it: C = coefficients @ results."""
        tracker = self.tracker(q)
        for key in sorted(results):
            tracker.add(key)
        if not tracker.complete:
            raise self.shortfall(Done(results))
        weights = tracker.span.coefficients()
        keys = sorted(results, key=self.slot)
        values = np.stack([results[k] for k in keys])
        used = weights[:, [self.slot(k) for k in keys]]
        c = matmul_mod(used, values.reshape(len(keys), -1), q)
        m, n = self.partition.m, self.partition.n
        return c.reshape(m, n, *values.shape[1:])


class _FlexibleTracker:
    """Arrivals of a flexible code's subtasks, with the span test kept up to date."""

    def __init__(self, code: FlexibleCode, q: int):
        self.code, self.q = code, q
        self.span = SpanTracker(code.targets(), q, code.servers * code.subtasks_per_server)

    def add(self, key: tuple[int, int]) -> None:
        self.span.add(self.code.slot(key), self.code.functional(*key, self.q))

    @property
    def complete(self) -> bool:
        return self.span.complete


@dataclass
class ReplicatedCode(Code):
    """``replicas`` copies of each of ``servers // replicas`` row blocks of A (p = n = 1)."""

    replicas: int = 1

    def __post_init__(self) -> None:
        blocks = self.partition.m
        self.owner_block = [s % blocks for s in range(self.servers)]

    @property
    def min_field(self) -> int:
        return 2  # no evaluation points: any prime field

    @property
    def threshold(self) -> int:
        copies = np.bincount(self.owner_block, minlength=self.partition.m)
        return self.servers - int(copies.min()) + 1

    def encode(self, a_blocks, b_blocks, q):
        return [[(a_blocks[self.owner_block[s], 0], b_blocks[0, 0])] for s in range(self.servers)]

    def _covered(self, done) -> set[int]:
        return {self.owner_block[s] for s in _servers_done(done)}

    def decodable(self, done, q=None):
        return len(self._covered(done)) == self.partition.m

    def shortfall(self, done):
        covered = len(self._covered(done))
        return DecodingError(
            f"{len(_servers_done(done))} of {self.servers} servers returned, covering "
            f"{covered} of the {self.partition.m} row blocks ({self.name}, {self.replicas} "
            f"cop{'y' if self.replicas == 1 else 'ies'} each); every block is needed",
            arrived=len(_servers_done(done)),
            needed=self.partition.m,
        )

    def decode(self, results, q):
        done = Done(results)
        if not self.decodable(done, q):
            raise self.shortfall(done)
        first = {}
        for s in _servers_done(done):
            first.setdefault(self.owner_block[s], results[(s, 0)])
        return np.stack([first[i] for i in range(self.partition.m)])[:, None]

"""Choosing each code's parameters for N servers that must tolerate ``tolerance`` stragglers.

Every scheme gets the finest partition (the least work per server) whose recovery
threshold still fits ``R = N - tolerance`` servers:

- ``uncoded``: N row blocks of A, no redundancy (tolerates nothing);
- ``replication``: ``tolerance + 1`` copies of ``N // (tolerance + 1)`` row blocks;
- ``polynomial``: the largest ``m n <= R`` (p = 1);
- ``matdot``: ``p = (R + 1) // 2`` (threshold ``2p - 1``);
- ``ep``: ``p = 2`` (an entangled code proper), the largest ``m n`` with ``2 m n + 1 <= R``;
- ``flexible-ep``: the same ``p``, and the (m, n, branching) whose expected work per
  server, over every number of available servers from R to N equally likely, is
  least, among those whose last level decodes from R servers.

``partition`` (and ``branching`` for the flexible code) override the choice.
"""

from __future__ import annotations

import itertools
import math

from .codes import (
    SCHEMES,
    Code,
    EntangledCode,
    FlexibleCode,
    Partition,
    ReplicatedCode,
    level_table,
)

MAX_SUBTASKS = 16  # the flexible search considers up to this many subtasks per server


def _check(servers: int, tolerance: int) -> None:
    if isinstance(servers, bool) or not isinstance(servers, int) or servers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {servers!r}")
    if isinstance(tolerance, bool) or not isinstance(tolerance, int):
        raise ValueError(f"tolerance must be an integer, got {tolerance!r}")
    if not 0 <= tolerance < servers:
        raise ValueError(
            f"tolerance={tolerance} is out of range; allowed range is [0, {servers - 1}] "
            f"for {servers} workers"
        )


def _best_pair(limit: int, rows: int, cols: int) -> tuple[int, int]:
    """(m, n) with the largest m * n <= limit, m <= rows, n <= cols; most balanced on ties."""
    best = (1, 1)
    for m in range(1, min(limit, rows) + 1):
        n = min(limit // m, cols)
        if n < 1:
            continue
        if (m * n, -abs(m - n)) > (best[0] * best[1], -abs(best[0] - best[1])):
            best = (m, n)
    return best


def _branchings(leaves_limit: int):
    """Every tuple of factors 2 and 3 (in any order) whose product is <= leaves_limit."""
    yield ()
    for length in range(1, int(math.log2(max(leaves_limit, 1))) + 1):
        for factors in itertools.product((2, 3), repeat=length):
            if math.prod(factors) <= leaves_limit:
                yield factors


def expected_work(levels: list[dict], load: float, servers: int, tolerance: int) -> float:
    """Mean work per server (share of the product) over R..N available servers equally
    likely, finishing the fewest subtasks a level allows (inf if R servers cannot decode)."""
    total = 0.0
    for available in range(servers - tolerance, servers + 1):
        fits = [lv["subtasks"] for lv in levels if lv["servers"] <= available]
        if not fits:
            return math.inf
        total += min(fits) * load
    return total / (tolerance + 1)


def flexible_design(servers, tolerance, shape, p, branching) -> FlexibleCode:
    rows, depth, cols = shape
    best, best_key = None, None
    for m in range(1, min(rows, MAX_SUBTASKS * servers) + 1):
        for n in range(1, min(cols, MAX_SUBTASKS * servers) + 1):
            if p * m * n > MAX_SUBTASKS * servers:
                break
            options = [branching] if branching is not None else _branchings(min(n, MAX_SUBTASKS))
            for factors in options:
                if n % math.prod(factors):
                    continue
                partition = Partition(p, m, n)
                levels = level_table(partition, factors)
                work = expected_work(levels, 1 / (p * m * n), servers, tolerance)
                key = (work, math.prod(factors), -m * n)
                if work < math.inf and (best_key is None or key < best_key):
                    best, best_key = (partition, factors), key
    if best is None:
        raise ValueError(
            f"no flexible code with p={p} fits {servers} workers tolerating {tolerance} "
            f"stragglers for a {rows}x{depth} @ {depth}x{cols} product"
        )
    partition, factors = best
    return FlexibleCode("flexible-ep", servers, partition, branching=factors)


def _inner(inner: int | None, depth: int, budget: int) -> int:
    """The entangled codes' p: ``inner``, else 2 when K and the budget allow it."""
    if inner is None:
        return 2 if depth >= 2 and budget >= 3 else 1
    if isinstance(inner, bool) or not isinstance(inner, int) or not 1 <= inner <= depth:
        raise ValueError(f"inner={inner!r} is out of range; allowed range is [1, {depth}] (K)")
    if 2 * inner - 1 > budget:
        raise ValueError(
            f"inner={inner} needs at least {2 * inner - 1} servers left after stragglers, "
            f"only {budget} are"
        )
    return inner


def make_code(
    scheme: str,
    servers: int,
    tolerance: int,
    shape: tuple[int, int, int],
    *,
    partition: tuple[int, int, int] | None = None,
    branching: tuple[int, ...] | None = None,
    inner: int | None = None,
) -> Code:
    """The code for ``scheme`` (one of `SCHEMES`); ``shape`` is (M, K, N) of A @ B.

    ``inner``: the entangled codes' p (default 2; 1 makes ``ep`` a polynomial code and
    ``flexible-ep`` a flexible polynomial code)."""
    if scheme not in SCHEMES:
        raise ValueError(f"scheme={scheme!r} is not one of {SCHEMES}")
    _check(servers, tolerance)
    rows, depth, cols = shape
    budget = servers - tolerance
    if partition is not None:
        partition = Partition(*partition)
    if scheme in ("uncoded", "replication"):
        replicas = 1 if scheme == "uncoded" else tolerance + 1
        blocks = partition.m if partition is not None else servers // replicas
        if partition is not None and (partition.p, partition.n) != (1, 1):
            raise ValueError(f"{scheme} splits only A's rows: partition must be (1, m, 1)")
        return ReplicatedCode(scheme, servers, Partition(1, blocks, 1), replicas=replicas)
    if scheme == "flexible-ep":
        if partition is not None:
            code = FlexibleCode(scheme, servers, partition, branching=tuple(branching or ()))
        else:
            code = flexible_design(
                servers, tolerance, shape, _inner(inner, depth, budget), branching
            )
    else:
        if partition is None:
            if scheme == "polynomial":
                partition = Partition(1, *_best_pair(budget, rows, cols))
            elif scheme == "matdot":
                partition = Partition(max(1, min(depth, (budget + 1) // 2)), 1, 1)
            else:
                p = _inner(inner, depth, budget)
                partition = Partition(p, *_best_pair((budget - p + 1) // p, rows, cols))
        code = EntangledCode(scheme, servers, partition)
    if code.threshold > budget:
        raise ValueError(
            f"the {scheme} code {code.partition} needs {code.threshold} servers, more than the "
            f"{budget} left when {tolerance} of {servers} straggle"
        )
    return code

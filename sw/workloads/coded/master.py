"""`multiply`: ``A @ B`` on Ray workers under a coded scheme, exact despite stragglers.

The master encodes, sends every subtask to its worker at once (each worker runs its
own in order), decodes as soon as the results that arrived suffice (`ray.wait`, one
result at a time, each checked with the code's tracker), and cancels the rest. Fewer
results than the code needs raise `DecodingError` saying how many arrived and how
many were needed; a wrong matrix is never returned.

Two kinds of arithmetic:

- ``field=q`` (a prime): ``A @ B mod q`` over GF(q), operands reduced into [0, q);
- ``field=None`` or a sequence of primes: the exact integer product, by running the
  code over several primes at once (each subtask computes its product mod every
  prime) and combining them by the Chinese remainder theorem, with enough primes that
  their product exceeds twice the largest possible ``|C|``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .codes import DecodingError, Done
from .design import make_code
from .field import check_prime, crt_primes, crt_signed, to_field
from .straggle import DelayModel, plan_straggling


@dataclass(frozen=True)
class FieldPlan:
    """The primes a run uses, and whether the result is exact integers (by CRT)."""

    primes: tuple[int, ...]
    integer: bool

    @property
    def report(self):
        return list(self.primes) if self.integer else self.primes[0]


def _as_matrix(name: str, values) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {array.shape}")
    if array.dtype != object and not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, got dtype {array.dtype}")
    return array


def _magnitude(array: np.ndarray) -> int:
    return max((abs(int(v)) for v in array.ravel()), default=0)


def field_plan(a: np.ndarray, b: np.ndarray, field, min_field: int) -> FieldPlan:
    """Check ``field`` (a prime, primes, or None for exact integers) against the code."""
    if field is None or not isinstance(field, int | np.integer):
        bound = a.shape[1] * _magnitude(a) * _magnitude(b)
        if field is None:
            primes = crt_primes(bound, smallest=max(min_field, 2))
        else:
            primes = [check_prime("every field prime", q) for q in field]
            if len(set(primes)) != len(primes):
                raise ValueError(f"the CRT primes must be distinct, got {primes}")
            product = int(np.prod([int(q) for q in primes], dtype=object))
            if product <= 2 * bound:
                raise ValueError(
                    f"the primes {primes} multiply to {product}, not above 2 x {bound} (the "
                    f"largest |C| these operands allow): the integer product would wrap"
                )
        plan = FieldPlan(tuple(primes), integer=True)
    else:
        plan = FieldPlan((check_prime("field", field),), integer=False)
    small = [q for q in plan.primes if q < min_field]
    if small:
        raise ValueError(
            f"field prime(s) {small} have fewer elements than the {min_field} distinct "
            f"evaluation points this code needs; use primes >= {min_field}"
        )
    return plan


def multiply(
    A,
    B,
    *,
    workers: int,
    scheme: str,
    field=None,
    stragglers: int | None = None,
    target: str = "ref",
    tolerance: int | None = None,
    mode: str = "slow",
    delays: DelayModel | None = None,
    seed: int = 0,
    partition: tuple[int, int, int] | None = None,
    branching: tuple[int, ...] | None = None,
    inner: int | None = None,
    address: str | None = None,
    pool=None,
    timeout: float = 120.0,
) -> tuple[np.ndarray, dict]:
    """``A @ B`` computed by ``workers`` Ray actors under ``scheme``; returns ``(C, report)``.

    ``A``: (M, K), ``B``: (K, N) integers. ``field``: a prime q (result mod q, in
    [0, q)), a sequence of primes or None (the exact integer product by CRT; None
    picks the primes). ``stragglers``: how many workers are slowed (``mode="slow"``),
    killed mid-task (``"kill"``) or half of each (``"mixed"``), chosen at random under
    ``seed``; ``tolerance``: how many stragglers the code is designed for (default:
    ``stragglers``). ``delays``: the shifted exponential delay model. ``target``: the
    device each worker opens (``ref``, ``sim``, ``serial:PORT``). ``pool``: a running
    `WorkerPool` to use (else one is started, on ``address`` or a private local Ray
    session, and closed afterwards). ``partition``/``branching``/``inner`` (the entangled
    codes' p): override the design (`make_code`).

    ``report`` has at least ``field``, ``threshold``, ``subtasks_used``, ``latency_s``
    (dispatch to decoded product) and ``decode_s``.
    """
    from .workers import WorkerPool

    a, b = _as_matrix("A", A), _as_matrix("B", B)
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"A has K={a.shape[1]} columns but B has K={b.shape[0]} rows")
    stragglers = 0 if stragglers is None else stragglers
    tolerance = stragglers if tolerance is None else tolerance
    delays = delays or DelayModel()
    # The flexible code nests B's column blocks: give it the longer side.
    transposed = scheme == "flexible-ep" and a.shape[0] > b.shape[1]
    if transposed:
        a, b = b.T, a.T
    (rows, depth), cols = a.shape, b.shape[1]
    code = make_code(
        scheme,
        workers,
        tolerance,
        (rows, depth, cols),
        partition=partition,
        branching=branching,
        inner=inner,
    )
    plan = field_plan(a, b, field, code.min_field)
    rng = np.random.default_rng(seed)
    straggling = plan_straggling(
        rng, workers, stragglers, mode=mode, delays=delays, subtasks=code.subtasks_per_server
    )

    started = time.perf_counter()
    encoded = []
    for q in plan.primes:
        a_blocks, b_blocks = code.partition.split(to_field(a, q), to_field(b, q))
        encoded.append(code.encode(a_blocks, b_blocks, q))
    encode_s = time.perf_counter() - started

    own_pool = pool is None
    if own_pool:
        pool = WorkerPool(workers, target, address=address)
    elif pool.workers != workers or pool.target != target:
        raise ValueError(
            f"the pool has {pool.workers} workers on {pool.target!r}, not {workers} on {target!r}"
        )
    try:
        collected = _dispatch_and_collect(code, plan, encoded, straggling, pool, timeout)
        decode_start = time.perf_counter()
        residues = [
            code.decode({key: v[i] for key, v in collected.values.items()}, q)
            for i, q in enumerate(plan.primes)
        ]
        c_blocks = crt_signed(residues, list(plan.primes)) if plan.integer else residues[0]
        c = code.partition.assemble(c_blocks, rows, cols)
        decoded_at = time.perf_counter()
    finally:
        if own_pool:
            pool.close()
        elif straggling.killed:
            pool.replace(straggling.killed)  # fresh actors for the next run, not timed
    if transposed:
        c = c.T

    used = Done(collected.values)
    report = {
        "scheme": scheme,
        "field": plan.report,
        "exact_integers": plan.integer,
        "threshold": code.threshold,
        "subtasks_used": len(used),
        "subtasks_dispatched": collected.dispatched,
        "servers_used": len({s for s, _ in used}),
        "latency_s": decoded_at - collected.dispatched_at,
        "wait_s": collected.decodable_at - collected.dispatched_at,
        "decode_s": decoded_at - decode_start,
        "encode_s": encode_s,
        "workers": workers,
        "tolerance": tolerance,
        "stragglers": stragglers,
        "straggler_mode": mode,
        "slowed": sorted(straggling.slow),
        "killed": sorted(straggling.killed),
        "failed_subtasks": collected.failures,
        "work_per_server": code.work_per_server,
        "work_used": len(used) * code.load,
        "device_cycles": collected.cycles,
        "worker_compute_s": collected.compute_s,
        "transposed": transposed,
        **{k: v for k, v in code.describe().items() if k not in ("scheme", "threshold")},
    }
    if hasattr(code, "levels"):
        report["levels"] = code.levels
    return c, report


@dataclass
class Collected:
    """What the master gathered: values per (server, subtask), one per prime."""

    values: dict
    cycles: int  # device cycles the used subtasks took on their workers' cores
    compute_s: float  # the used subtasks' real computation time (injected delays excluded)
    dispatched_at: float
    decodable_at: float
    failures: int
    dispatched: int


def _dispatch_and_collect(code, plan, encoded, straggling, pool, timeout) -> Collected:
    """Send every subtask, gather results until they decode, cancel the rest.

    Raises `DecodingError` when every subtask has answered or failed (or ``timeout``
    passed) and what arrived does not decode.
    """
    import ray

    failed_errors = (
        ray.exceptions.RayActorError,
        ray.exceptions.RayTaskError,
        ray.exceptions.TaskCancelledError,
    )
    trackers = [code.tracker(q) for q in plan.primes]
    keys = {}
    dispatched_at = time.perf_counter()
    for s in range(code.servers):
        for t in range(code.subtasks_per_server):
            operands = [
                (task[s][t][0], task[s][t][1], q)
                for task, q in zip(encoded, plan.primes, strict=True)
            ]
            delay = straggling.delay(s, code.load)
            ref = pool.actors[s].compute.remote(operands, delay, straggling.death(s, t, code.load))
            keys[ref] = (s, t)
    pending = list(keys)
    values, cycles, compute_s, failures = {}, 0, 0.0, 0
    deadline = dispatched_at + timeout
    timed_out = False
    while pending and not all(tracker.complete for tracker in trackers):
        left = max(0.0, deadline - time.perf_counter())
        ready, pending = ray.wait(pending, num_returns=1, timeout=left)
        if not ready:
            # Said by the wait itself: Ray may return a hair before the deadline, so
            # reading the clock again afterwards can miss that the wait timed out.
            timed_out = True
            break
        try:
            answer = ray.get(ready[0])
        except failed_errors:
            failures += 1  # a killed worker's subtask: it never arrives
            continue
        key = keys[ready[0]]
        values[key] = answer["values"]
        cycles += answer["cycles"]
        compute_s += answer["compute_s"]
        for tracker in trackers:
            tracker.add(key)
    decodable_at = time.perf_counter()
    for ref in pending:
        ray.cancel(ref)
    if not all(tracker.complete for tracker in trackers):
        error = code.shortfall(Done(values))
        if timed_out:
            error = DecodingError(
                f"timed out after {timeout:.1f} s: {error}",
                arrived=error.arrived,
                needed=error.needed,
            )
        raise error
    return Collected(values, cycles, compute_s, dispatched_at, decodable_at, failures, len(keys))

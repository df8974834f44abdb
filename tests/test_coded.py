"""Coded distributed matmul: the codes over GF(q), their recovery conditions, and the
distributed system on Ray (a cluster started with `ray start --head`, as a user would).

The flexible code's recovery condition is checked over every completion pattern of
small configurations, against an independent rank computation.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import time

import numpy as np
import pytest

from sw.workloads.coded import DecodingError, DelayModel, make_code, multiply
from sw.workloads.coded.codes import SCHEMES, Done, FlexibleCode, Partition
from sw.workloads.coded.design import expected_work
from sw.workloads.coded.field import (
    crt_primes,
    crt_signed,
    interpolate,
    inverse_vandermonde,
    is_prime,
    matmul_mod,
    next_prime,
    powers,
)
from sw.workloads.coded.master import field_plan
from sw.workloads.coded.straggle import plan_straggling

# ---- GF(q) arithmetic ---------------------------------------------------------------


def test_primes_and_field_arithmetic():
    small = [v for v in range(2, 400) if all(v % d for d in range(2, int(v**0.5) + 1))]
    assert [v for v in range(400) if is_prime(v)] == small
    assert is_prime(2**61 - 1) and not is_prime(2**61 + 1)
    for n in range(2, 200):
        assert n <= next_prime(n) < 2 * n  # Bertrand: the field the flexible code needs
    rng = np.random.default_rng(0)
    for q in (13, 65537, 2**31 - 1):
        points = rng.choice(min(q, 1000), size=9, replace=False)
        v = powers(points, 9, q)
        np.testing.assert_array_equal(matmul_mod(inverse_vandermonde(points, q), v, q), np.eye(9))
        coefficients = rng.integers(0, q, size=(9, 2, 3))
        values = np.stack([np.mod(np.tensordot(v[i], coefficients, 1), q) for i in range(9)])
        if q < 2**20:
            np.testing.assert_array_equal(interpolate(points, values, q), coefficients)
    with pytest.raises(ValueError, match="distinct"):
        inverse_vandermonde([1, 14], 13)


def test_crt_reconstructs_signed_integers():
    rng = np.random.default_rng(1)
    for bound in (10, 10**6, 10**30):
        primes = crt_primes(bound, smallest=5)
        assert all(is_prime(q) and q >= 5 for q in primes) and len(set(primes)) == len(primes)
        assert int(np.prod(primes, dtype=object)) > 2 * bound
        values = np.array([int(v) for v in rng.integers(-(10**6), 10**6, 20)], dtype=object)
        values = values * (bound // 10**6 or 1)
        values = np.clip(values, -bound, bound)
        got = crt_signed([np.mod(values, q).astype(np.int64) for q in primes], primes)
        np.testing.assert_array_equal(got.astype(object), values)


# ---- the codes ------------------------------------------------------------------------


def _products(code, q, rng, shape=(5, 7, 9)):
    m, k, n = shape
    a, b = rng.integers(0, q, size=(m, k)), rng.integers(0, q, size=(k, n))
    tasks = code.encode(*code.partition.split(a, b), q)
    results = {
        (s, t): matmul_mod(x, y, q) for s, task in enumerate(tasks) for t, (x, y) in enumerate(task)
    }
    return a, b, results


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_scheme_decodes_from_any_threshold_set(scheme):
    rng = np.random.default_rng(2)
    servers, tolerance = 9, 3
    code = make_code(scheme, servers, tolerance, (5, 7, 9))
    q = next_prime(code.min_field)
    a, b, results = _products(code, q, rng)
    expected = (a @ b) % q
    for _ in range(6):  # random sets of servers finishing everything
        everyone = scheme == "uncoded"  # no redundancy: it needs every server
        keep = rng.permutation(servers)[: servers if everyone else servers - tolerance]
        chosen = {key: v for key, v in results.items() if key[0] in keep}
        c = code.partition.assemble(code.decode(chosen, q), 5, 9)
        np.testing.assert_array_equal(c, expected)
    if scheme != "replication":  # replication may decode from fewer: it is not MDS
        starved = {key: v for key, v in results.items() if key[0] < code.threshold - 1}
        with pytest.raises(DecodingError, match="needs|not enough|needed") as error:
            code.decode(starved, q)
        assert error.value.arrived < error.value.needed


def _rank(matrix: np.ndarray, q: int) -> int:
    """Rank over GF(q) by plain Gaussian elimination (independent of the code's tracker)."""
    m = np.mod(matrix, q)
    rank = 0
    for col in range(m.shape[1]):
        rows = [i for i in range(rank, m.shape[0]) if m[i, col]]
        if not rows:
            continue
        m[[rank, rows[0]]] = m[[rows[0], rank]]
        m[rank] = m[rank] * pow(int(m[rank, col]), q - 2, q) % q
        for i in range(m.shape[0]):
            if i != rank and m[i, col]:
                m[i] = (m[i] - m[i, col] * m[rank]) % q
        rank += 1
    return rank


def _encoded_functionals(code, q: int) -> tuple[dict, np.ndarray]:
    """Each subtask's result as a combination of the block products A[i,j] B[j',k], read
    off what `encode` actually sends (1 x 1 blocks, one unit block of A and one of B at a
    time; results are bilinear), and C's blocks as combinations of the same products.
    Independent of the code's own `functional` and `targets`."""
    p, m, n = code.partition.p, code.partition.m, code.partition.n

    def column(i, j, j2, k):
        return ((i * p + j) * p + j2) * n + k

    unknowns = m * p * p * n
    functionals: dict = {}
    for i, j, j2, k in itertools.product(range(m), range(p), range(p), range(n)):
        a, b = np.zeros((m, p), dtype=np.int64), np.zeros((p, n), dtype=np.int64)
        a[i, j], b[j2, k] = 1, 1
        for s, task in enumerate(code.encode(*code.partition.split(a, b), q)):
            for t, (x, y) in enumerate(task):
                row = functionals.setdefault((s, t), np.zeros(unknowns, dtype=np.int64))
                row[column(i, j, j2, k)] = matmul_mod(x, y, q)[0, 0]
    targets = np.zeros((m * n, unknowns), dtype=np.int64)
    for i, k, j in itertools.product(range(m), range(n), range(p)):
        targets[i * n + k, column(i, j, j, k)] = 1
    return functionals, targets


@pytest.mark.parametrize(
    "servers, partition, branching",
    [(6, (2, 1, 2), (2,)), (4, (1, 1, 4), (2, 2)), (5, (2, 1, 3), (3,))],
)
def test_flexible_recovery_condition_over_every_completion_pattern(servers, partition, branching):
    """Servers finish their subtasks in order, so a pattern is how many each finished.

    For every pattern: the code decodes exactly when C lies in the span of the arrived
    subtasks (computed independently here: functionals read off `encode`, rank by plain
    elimination), returns the right product then and a `DecodingError` otherwise; and
    the level guarantee holds (any `servers` servers that finished `subtasks` each
    decode by peeling alone)."""
    code = FlexibleCode("flexible-ep", servers, Partition(*partition), branching=branching)
    q = next_prime(servers)
    rng = np.random.default_rng(3)
    a, b, results = _products(code, q, rng, (4, 6, 6))
    expected = (a @ b) % q
    functionals, targets = _encoded_functionals(code, q)
    assert functionals.keys() == results.keys()
    counts = {"admitted": 0, "refused": 0}
    for pattern in itertools.product(range(code.subtasks_per_server + 1), repeat=servers):
        done = Done((s, t) for s in range(servers) for t in range(pattern[s]))
        rows = np.array([functionals[key] for key in sorted(done)]).reshape(-1, targets.shape[1])
        spans = _rank(np.vstack([rows, targets]), q) == _rank(rows, q) if len(done) else False
        admitted = code.decodable(done, q)
        assert admitted == spans, pattern
        chosen = {key: results[key] for key in done}
        if admitted:
            counts["admitted"] += 1
            c = code.partition.assemble(code.decode(chosen, q), 4, 6)
            np.testing.assert_array_equal(c, expected, err_msg=str(pattern))
        else:
            counts["refused"] += 1
            with pytest.raises(DecodingError):
                code.decode(chosen, q)
        for level in code.levels:
            finished = [s for s in range(servers) if pattern[s] >= level["subtasks"]]
            if len(finished) >= level["servers"]:
                assert code.plan(done) is not None, (pattern, level)
    assert counts["admitted"] and counts["refused"]


def test_flexible_levels_trade_servers_for_subtasks():
    code = FlexibleCode("flexible-ep", 20, Partition(2, 1, 8), branching=(2, 2))
    assert code.levels == [
        {"subtasks": 1, "servers": 17},
        {"subtasks": 2, "servers": 9},
        {"subtasks": 4, "servers": 5},
    ]
    assert code.subtasks_per_server == 4 and code.min_field == 20
    with pytest.raises(ValueError, match="multiple of 4"):
        FlexibleCode("flexible-ep", 20, Partition(2, 1, 6), branching=(2, 2))


def test_designs_fit_the_tolerance_and_flexible_is_never_worse_than_ep():
    for servers, tolerance in [(4, 1), (8, 2), (12, 6), (16, 8), (20, 5)]:
        for scheme in SCHEMES:
            code = make_code(scheme, servers, tolerance, (64, 64, 64))
            if scheme != "uncoded":
                assert code.threshold <= servers - tolerance, (scheme, servers, tolerance)
        flexible = make_code("flexible-ep", servers, tolerance, (64, 64, 64))
        ep = make_code("ep", servers, tolerance, (64, 64, 64))
        ep_work = expected_work(
            [{"subtasks": 1, "servers": ep.threshold}], ep.load, servers, tolerance
        )
        assert expected_work(flexible.levels, flexible.load, servers, tolerance) <= ep_work
    with pytest.raises(ValueError, match="tolerance=8 is out of range"):
        make_code("ep", 8, 8, (8, 8, 8))
    with pytest.raises(ValueError, match="scheme='lt'"):
        make_code("lt", 8, 1, (8, 8, 8))


def test_field_choices_are_checked():
    a, b = np.ones((2, 3), dtype=np.int64) * 100, np.ones((3, 2), dtype=np.int64) * 100
    assert field_plan(a, b, 13, 8).primes == (13,)
    with pytest.raises(ValueError, match="must be a prime"):
        field_plan(a, b, 12, 8)
    with pytest.raises(ValueError, match="fewer elements than the 8"):
        field_plan(a, b, 7, 8)
    with pytest.raises(ValueError, match="not above 2 x 30000"):
        field_plan(a, b, (11, 13), 8)
    plan = field_plan(a, b, None, 8)
    assert plan.integer and int(np.prod(plan.primes)) > 2 * 30000


def test_straggler_plans():
    rng = np.random.default_rng(4)
    plan = plan_straggling(rng, 10, 4, mode="mixed", delays=DelayModel(1, 1, 10), subtasks=3)
    assert len(plan.killed) == 2 and len(plan.slow) == 2 and not set(plan.killed) & plan.slow
    for s in plan.slow:
        assert plan.seconds_per_product[s] >= 10  # (shift 1 + exponential) x 10
    assert all(0 <= subtask < 3 for subtask, _ in plan.killed.values())
    with pytest.raises(ValueError, match="stragglers=11 is out of range"):
        plan_straggling(rng, 10, 11)
    with pytest.raises(ValueError, match="straggler mode 'late'"):
        plan_straggling(rng, 10, 1, mode="late")


# ---- on Ray: a cluster started from the command line -----------------------------------

WORKERS = 5


@pytest.fixture(scope="module")
def pool():
    """One Ray cluster for every test here, started as a user would (`ray start --head
    --num-cpus 2`) and stopped by ending exactly its own processes (`ray stop` would
    end every Ray session on the machine)."""
    ray = pytest.importorskip("ray")
    from sw.workloads.coded.workers import LocalCluster, WorkerPool

    cluster = LocalCluster(num_cpus=2)
    cluster.start()
    try:
        ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
        with WorkerPool(WORKERS, "ref", spares=2) as workers:
            yield workers
        ray.shutdown()
    finally:
        cluster.stop()
        assert cluster.processes() == []


FAST = DelayModel(shift=0.2, scale=0.1, slow_factor=50)


def test_every_scheme_on_ray_workers(pool):
    rng = np.random.default_rng(5)
    q = 11
    a, b = rng.integers(0, q, size=(6, 8)), rng.integers(0, q, size=(8, 10))
    for scheme in SCHEMES:
        c, report = multiply(a, b, workers=WORKERS, scheme=scheme, field=q, pool=pool, delays=FAST)
        np.testing.assert_array_equal(c, (a @ b) % q)
        for key in ("field", "threshold", "subtasks_used", "latency_s", "decode_s"):
            assert key in report
        assert report["field"] == q and report["device_cycles"] > 0


def test_slow_and_killed_workers_are_not_waited_for(pool):
    rng = np.random.default_rng(6)
    a, b = rng.integers(-50, 50, size=(9, 12)), rng.integers(-50, 50, size=(12, 8))
    # Two slowed workers (50x): the code decodes from the others, then cancels them.
    c, report = multiply(
        a,
        b,
        workers=WORKERS,
        scheme="flexible-ep",
        stragglers=2,
        mode="slow",
        delays=FAST,
        seed=1,
        pool=pool,
    )
    np.testing.assert_array_equal(c, a @ b)  # exact integers, by CRT
    assert report["exact_integers"] and len(report["slowed"]) == 2
    slow_delay = 50 * 0.2 * report["work_per_server"] / report["subtasks_per_server"]
    assert report["latency_s"] < slow_delay
    # Their cancelled subtasks do not hold up the next product.
    started = time.perf_counter()
    c, _ = multiply(a, b, workers=WORKERS, scheme="ep", delays=FAST, pool=pool)
    np.testing.assert_array_equal(c, a @ b)
    assert time.perf_counter() - started < slow_delay
    # Two workers killed mid-task: their processes exit; the rest decode.
    pids_before = list(pool.pids)
    c, report = multiply(
        a,
        b,
        workers=WORKERS,
        scheme="ep",
        field=13,
        stragglers=2,
        mode="kill",
        delays=FAST,
        seed=2,
        pool=pool,
    )
    np.testing.assert_array_equal(c, (a @ b) % 13)
    assert len(report["killed"]) == 2
    # The killed workers, and only they, run in fresh actors now.
    replaced = {i for i in range(WORKERS) if pool.pids[i] != pids_before[i]}
    assert replaced == set(report["killed"])


def test_too_few_results_is_an_error_not_a_wrong_matrix(pool):
    rng = np.random.default_rng(7)
    a, b = rng.integers(0, 7, size=(5, 5)), rng.integers(0, 7, size=(5, 5))
    with pytest.raises(DecodingError, match=r"4 of 5 servers returned.*every block") as error:
        multiply(
            a,
            b,
            workers=WORKERS,
            scheme="uncoded",
            field=7,
            stragglers=1,
            mode="kill",
            delays=FAST,
            seed=3,
            pool=pool,
        )
    assert (error.value.arrived, error.value.needed) == (4, 5)
    # Three slowed workers (50x) against a code that tolerates two: the wait times out.
    with pytest.raises(DecodingError, match=r"timed out after 1.0 s: 2 of 5 .* needs any 3"):
        multiply(
            a,
            b,
            workers=WORKERS,
            scheme="ep",
            field=7,
            stragglers=3,
            tolerance=2,
            mode="slow",
            delays=FAST,
            seed=4,
            pool=pool,
            timeout=1.0,
        )
    c, _ = multiply(a, b, workers=WORKERS, scheme="polynomial", field=7, pool=pool, delays=FAST)
    np.testing.assert_array_equal(c, (a @ b) % 7)  # the killed worker was replaced


def test_quantized_layer_is_bit_identical_to_the_kernel(pool):
    """Integer (quantized) operands: 8-bit activations, SP2 weights, by CRT primes."""
    from sw.kernel import LayerSpec, decode, matmul

    rng = np.random.default_rng(8)
    spec = LayerSpec(weight_mode="spx")
    x = rng.integers(-128, 128, size=(20, 64))
    codes = rng.integers(0, 16, size=(64, 6))
    c, report = multiply(
        x,
        decode(codes, spec),
        workers=WORKERS,
        scheme="flexible-ep",
        stragglers=1,
        delays=FAST,
        seed=5,
        pool=pool,
    )
    np.testing.assert_array_equal(c, matmul(x, codes, spec))
    assert len(report["field"]) >= 2 and max(report["field"]) < 256


def test_cli_against_the_cluster(pool, tmp_path):
    """`qmatmul run coded --address ...` from the command line, on the same cluster."""
    import ray

    address = ray.get_runtime_context().gcs_address
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sw.cli",
            "run",
            "coded",
            "--address",
            address,
            "--workers",
            "4",
            "--scheme",
            "flexible-ep,uncoded",
            "--stragglers",
            "0,1",
            "--trials",
            "1",
            "--delay-shift",
            "0.2",
            "--delay-scale",
            "0.1",
            "--no-mlp",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "flexible-ep" in done.stdout and (tmp_path / "latency.png").exists()
    import json

    results = json.loads((tmp_path / "results.json").read_text())
    assert results["summary"]["flexible-ep"]["1"]["failures"] == 0

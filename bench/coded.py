"""Coded distributed matmul: decoding cost against N, the designs' work per server, the
flexible code's recovery over every completion pattern, and a latency sweep on Ray.

    .venv/bin/python bench/coded.py [--no-sweep]

Writes bench/results/coded.json:

- ``decode_cost``: seconds to decode against the number of servers N (4 .. 64), for
  the polynomial/EP decoder (one interpolation through R = N points) and the flexible
  decoder at each of its levels and by its general (span) decoder, with fixed
  32 x 32 blocks, and the fitted growth exponent in R;
- ``designs``: threshold and expected work per server of every scheme for N servers
  tolerating N/4 and N/2 stragglers (the number available uniform over R..N);
- ``recovery``: for small flexible codes, how many completion patterns decode (by
  peeling alone, and in all), against how many there are;
- ``sweep``: `qmatmul run coded` with 12 workers (latency p50/p95/p99 per scheme and
  straggler count), and one product per scheme with every worker on ``sim``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sw.workloads.coded.codes import (  # noqa: E402
    SCHEMES,
    Done,
    EntangledCode,
    FlexibleCode,
    Partition,
)
from sw.workloads.coded.design import expected_work, flexible_design, make_code  # noqa: E402
from sw.workloads.coded.field import matmul_mod, next_prime  # noqa: E402
from sw.workloads.common import write_json  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "coded.json"
BLOCK = 32  # rows and columns of every block product in the decode-cost runs


def _results(code, q, rng):
    """Every subtask's product for random operands with BLOCK x BLOCK block results."""
    p, m, n = code.partition.p, code.partition.m, code.partition.n
    a = rng.integers(0, q, size=(BLOCK * m, 8 * p))
    b = rng.integers(0, q, size=(8 * p, BLOCK * n))
    tasks = code.encode(*code.partition.split(a, b), q)
    values = {
        (s, t): matmul_mod(x, y, q) for s, task in enumerate(tasks) for t, (x, y) in enumerate(task)
    }
    return a, b, values


def _time(function, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def decode_cost(servers_list=(4, 8, 16, 32, 48, 64)) -> dict:
    rng = np.random.default_rng(0)
    rows = []
    for servers in servers_list:
        q = next_prime(servers)
        # Polynomial code with R = N: one interpolation through N points.
        poly = EntangledCode("polynomial", servers, Partition(1, 1, servers))
        a, b, values = _results(poly, q, rng)
        keep = {k: v for k, v in values.items() if k[0] < poly.threshold}
        assert np.array_equal(
            poly.partition.assemble(poly.decode(keep, q), *a.shape[:1], b.shape[1]), (a @ b) % q
        )
        row = {
            "servers": servers,
            "field": q,
            "polynomial_R": poly.threshold,
            "polynomial_decode_s": _time(lambda code=poly, d=keep, q=q: code.decode(d, q)),
        }
        # Flexible code (p = 2) with levels at 1, 2 and 4 subtasks.
        n = 4 * max(1, (servers - 1) // 8)
        flexible = FlexibleCode("flexible-ep", servers, Partition(2, 1, n), branching=(2, 2))
        a, b, values = _results(flexible, q, rng)
        for level in flexible.levels:
            if level["servers"] > servers:
                continue
            done = {
                k: v
                for k, v in values.items()
                if k[0] < level["servers"] and k[1] < level["subtasks"]
            }
            assert flexible.plan(Done(done)) is not None
            row[f"flexible_level{level['subtasks']}_R"] = level["servers"]
            row[f"flexible_level{level['subtasks']}_decode_s"] = _time(
                lambda code=flexible, d=done, q=q: code.decode(d, q)
            )
        # A pattern only the general decoder takes: every server a random number of subtasks.
        for _ in range(2000):
            pattern = rng.integers(0, flexible.subtasks_per_server + 1, size=servers)
            done = Done((s, t) for s in range(servers) for t in range(pattern[s]))
            if flexible.plan(done) is None and flexible.decodable(done, q):
                chosen = {k: values[k] for k in done}
                c = flexible.partition.assemble(flexible.decode(chosen, q), a.shape[0], b.shape[1])
                assert np.array_equal(c, (a @ b) % q)
                row["flexible_span_results"] = len(done)
                row["flexible_span_decode_s"] = _time(
                    lambda code=flexible, d=chosen, q=q: code.decode(d, q), 3
                )
                break
        row["flexible_partition"] = [2, 1, n]
        rows.append(row)
        print(
            f"N={servers:3d}: polynomial decode {1000 * row['polynomial_decode_s']:.2f} ms "
            f"(R={servers}); flexible span decode "
            f"{1000 * row.get('flexible_span_decode_s', float('nan')):.1f} ms"
        )
    r = np.array([row["polynomial_R"] for row in rows], dtype=float)
    t = np.array([row["polynomial_decode_s"] for row in rows])
    slope = float(np.polyfit(np.log(r[r >= 16]), np.log(t[r >= 16]), 1)[0])
    return {
        "block": [BLOCK, BLOCK],
        "rows": rows,
        "polynomial_growth_exponent_in_R": slope,
        "complexity": (
            "interpolation: O(R^2) for the inverse Vandermonde (Lagrange) plus O(R^2 b) to "
            "apply it to R blocks of b entries (only the m n useful coefficients are needed, "
            "but all R are formed); flexible peeling: the sum of that over the groups it "
            "interpolates; flexible span decoder: O(r U (r + L N)) to track the span of r "
            "results over U = p^2 m n block products, then O(m n r b) to combine them"
        ),
    }


def designs() -> list[dict]:
    rows = []
    for servers in (8, 12, 16, 24, 32):
        for tolerance in (servers // 4, servers // 2):
            row = {"servers": servers, "tolerance": tolerance}
            for scheme in SCHEMES:
                code = make_code(scheme, servers, tolerance, (256, 256, 256))
                levels = getattr(code, "levels", [{"subtasks": 1, "servers": code.threshold}])
                work = expected_work(levels, code.load, servers, tolerance)
                if scheme == "uncoded":
                    work = code.load  # only with every server available
                row[scheme] = {
                    "threshold": code.threshold,
                    "expected_work": work,
                    "partition": [code.partition.p, code.partition.m, code.partition.n],
                }
                if scheme == "flexible-ep":
                    row[scheme]["levels"] = code.levels
            # The flexible code with p = 1 (a flexible polynomial code), for comparison.
            code = flexible_design(servers, tolerance, (256, 256, 256), 1, None)
            row["flexible-ep p=1"] = {
                "threshold": code.threshold,
                "expected_work": expected_work(code.levels, code.load, servers, tolerance),
                "partition": [1, code.partition.m, code.partition.n],
                "levels": code.levels,
            }
            rows.append(row)
            print(
                f"N={servers:2d} tolerate {tolerance:2d}: expected work per server "
                + ", ".join(
                    f"{s} {row[s]['expected_work']:.3f}" for s in (*SCHEMES, "flexible-ep p=1")
                )
            )
    return rows


def recovery() -> list[dict]:
    rows = []
    for servers, partition, branching in [
        (6, (2, 1, 2), (2,)),
        (5, (1, 1, 4), (2, 2)),
        (5, (2, 1, 3), (3,)),
        (7, (2, 1, 4), (2, 2)),
    ]:
        code = FlexibleCode("flexible-ep", servers, Partition(*partition), branching=branching)
        q = next_prime(servers)
        counts = {"patterns": 0, "decodable": 0, "by_peeling": 0}
        for pattern in itertools.product(range(code.subtasks_per_server + 1), repeat=servers):
            done = Done((s, t) for s in range(servers) for t in range(pattern[s]))
            counts["patterns"] += 1
            counts["decodable"] += code.decodable(done, q)
            counts["by_peeling"] += code.plan(done) is not None
        rows.append(
            {
                "servers": servers,
                "partition": list(partition),
                "branching": list(branching),
                "levels": code.levels,
                "field": q,
                **counts,
            }
        )
        print(f"flexible N={servers} {partition} {branching}: {counts}")
    return rows


def sweep(out: Path) -> dict:
    from sw.workloads.coded import cli, multiply
    from sw.workloads.coded.straggle import DelayModel
    from sw.workloads.coded.workers import WorkerPool

    cli.main(["--workers", "12", "--stragglers", "0,3,6", "--trials", "10", "--out", str(out)])
    results = json.loads((out / "results.json").read_text())
    # Every worker on the Verilator-simulated device.
    rng = np.random.default_rng(1)
    a, b = rng.integers(-100, 100, size=(8, 16)), rng.integers(-100, 100, size=(16, 8))
    on_sim = {}
    with WorkerPool(4, "sim") as pool:
        for scheme in SCHEMES:
            c, report = multiply(
                a,
                b,
                workers=4,
                scheme=scheme,
                tolerance=1,
                target="sim",
                pool=pool,
                delays=DelayModel(0.1, 0.1),
            )
            on_sim[scheme] = {
                "exact": bool(np.array_equal(c, a @ b)),
                "device_cycles": report["device_cycles"],
                "field": report["field"],
            }
    return {
        "cli": {
            k: results[k]
            for k in ("summary", "paired_latency", "mlp_layer", "note", "config", "field")
        },
        "sim_workers": on_sim,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-sweep", action="store_true", help="skip the Ray runs")
    parser.add_argument("--out", type=Path, default=Path("build/coded-bench"))
    args = parser.parse_args()
    start = time.monotonic()
    report = {
        "benchmark": "coded",
        "decode_cost": decode_cost(),
        "designs": designs(),
        "recovery": recovery(),
    }
    if not args.no_sweep:
        report["sweep"] = sweep(args.out)
    report["seconds"] = round(time.monotonic() - start, 1)
    write_json(RESULTS, report)
    print(f"wrote {RESULTS} in {report['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

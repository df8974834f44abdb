"""`qmatmul run coded`: every scheme over trials and straggler counts, on Ray workers.

    qmatmul run coded --workers 12 --scheme all --stragglers 0,2,4,6 --trials 20 --out DIR

Per scheme and straggler count: latency (dispatch to decoded product) p50/p95/p99,
failures, recovery threshold, work per server, decode time and field size, into
``results.json``, ``latency.png`` and a table. Then the integer case: the digits MLP's
first layer multiplied under the flexible code over CRT primes, checked bit for bit
against the kernel. Latency here comes from the injected delays (the workers share
two cores), not from parallel speed-up; the report gives the real compute time too.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..common import int_list

SCHEME_ORDER = ("flexible-ep", "ep", "polynomial", "matdot", "replication", "uncoded")


@dataclass(frozen=True)
class SweepConfig:
    workers: int = 12
    schemes: tuple[str, ...] = SCHEME_ORDER
    stragglers: tuple[int, ...] = (0, 2, 4, 6)
    tolerance: int | None = None  # default: the largest straggler count
    mode: str = "slow"
    trials: int = 20
    size: tuple[int, int, int] = (48, 64, 48)
    field: int | None = None  # default: the smallest prime >= workers (below 2N)
    inner: int | None = None  # the entangled codes' p (default 2)
    delay_shift: float = 1.0
    delay_scale: float = 1.0
    slow_factor: float = 10.0
    target: str = "ref"
    address: str | None = None
    seed: int = 0
    mlp: bool = True

    @property
    def design_tolerance(self) -> int:
        return max(self.stragglers) if self.tolerance is None else self.tolerance


def build_parser() -> argparse.ArgumentParser:
    from .codes import SCHEMES
    from .straggle import STRAGGLER_MODES

    parser = argparse.ArgumentParser(
        prog="qmatmul run coded",
        description="Straggler-resilient coded matrix multiplication on Ray workers, each "
        "computing its block products exactly on the core.",
    )
    parser.add_argument("--workers", type=int, default=12, help="Ray actors (servers)")
    parser.add_argument(
        "--scheme",
        default="all",
        help=f"'all' or a comma-separated list of {', '.join(SCHEMES)}",
    )
    parser.add_argument(
        "--stragglers",
        type=int_list,
        default=(0, 2, 4, 6),
        help="straggler counts to sweep, e.g. 0,2,4",
    )
    parser.add_argument(
        "--tolerance",
        type=int,
        default=None,
        help="stragglers every code is designed for (default: the largest count)",
    )
    parser.add_argument(
        "--mode",
        choices=STRAGGLER_MODES,
        default="slow",
        help="stragglers are slowed, killed mid-task, or half of each",
    )
    parser.add_argument("--trials", type=int, default=20, help="runs per scheme and count")
    parser.add_argument(
        "--quick", action="store_true", help="4 trials, counts 0,3,6 (a minute or two on 2 cores)"
    )
    parser.add_argument("--size", type=int_list, default=(48, 64, 48), help="M,K,N of A @ B")
    parser.add_argument(
        "--field",
        type=int,
        default=None,
        help="the prime q (default: the smallest prime >= workers)",
    )
    parser.add_argument(
        "--inner",
        type=int,
        default=None,
        help="p of the ep and flexible-ep codes (default 2; 1: polynomial-code variants)",
    )
    parser.add_argument(
        "--delay-shift",
        type=float,
        default=1.0,
        help="shifted exponential: seconds per whole product, fixed part",
    )
    parser.add_argument(
        "--delay-scale",
        type=float,
        default=1.0,
        help="shifted exponential: mean of the exponential part (s/product)",
    )
    parser.add_argument(
        "--slow-factor", type=float, default=10.0, help="how much slower a slowed straggler is"
    )
    parser.add_argument("--target", default="ref", help="device every worker opens: ref, sim, ...")
    parser.add_argument(
        "--address",
        default=None,
        help="an existing Ray cluster (from `ray start --head`); default: local",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-mlp", action="store_true", help="skip the digits MLP layer")
    parser.add_argument("--out", type=Path, default=Path("build/coded"))
    return parser


def config_from_args(args) -> SweepConfig:
    from .codes import SCHEMES

    schemes = SCHEME_ORDER if args.scheme == "all" else tuple(args.scheme.split(","))
    for scheme in schemes:
        if scheme not in SCHEMES:
            raise ValueError(f"--scheme {scheme!r} is not one of {', '.join(SCHEMES)} or 'all'")
    if len(args.size) != 3 or min(args.size) < 1:
        raise ValueError(f"--size must be three positive integers M,K,N, got {args.size}")
    stragglers, trials = args.stragglers, args.trials
    if args.quick:
        stragglers = tuple(sorted({0, args.workers // 4, args.workers // 2}))
        trials = 4
    if trials < 1:
        raise ValueError(f"--trials must be >= 1, got {trials}")
    if min(stragglers) < 0 or max(stragglers) >= args.workers:
        raise ValueError(
            f"--stragglers must lie in [0, {args.workers - 1}] for {args.workers} workers, "
            f"got {stragglers}"
        )
    return SweepConfig(
        workers=args.workers,
        schemes=schemes,
        stragglers=tuple(stragglers),
        tolerance=args.tolerance,
        mode=args.mode,
        trials=trials,
        size=tuple(args.size),
        field=args.field,
        inner=args.inner,
        delay_shift=args.delay_shift,
        delay_scale=args.delay_scale,
        slow_factor=args.slow_factor,
        target=args.target,
        address=args.address,
        seed=args.seed,
        mlp=not args.no_mlp,
    )


def _percentile(values, q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def summarize(runs: list[dict]) -> dict:
    ok = [r for r in runs if r["ok"]]
    latencies = [r["latency_s"] for r in ok]
    first = ok[0] if ok else {}
    return {
        "trials": len(runs),
        "failures": len(runs) - len(ok),
        "latency_p50_s": _percentile(latencies, 50),
        "latency_p95_s": _percentile(latencies, 95),
        "latency_p99_s": _percentile(latencies, 99),
        "decode_mean_s": float(np.mean([r["decode_s"] for r in ok])) if ok else None,
        "subtasks_used_mean": float(np.mean([r["subtasks_used"] for r in ok])) if ok else None,
        "work_used_mean": float(np.mean([r["work_used"] for r in ok])) if ok else None,
        "worker_compute_mean_s": float(np.mean([r["worker_compute_s"] for r in ok]))
        if ok
        else None,
        "threshold": first.get("threshold"),
        "work_per_server": first.get("work_per_server"),
        "field": first.get("field"),
        "partition": first.get("partition"),
        "levels": first.get("levels"),
        "errors": sorted({r["error"] for r in runs if not r["ok"]}),
    }


def run_sweep(config: SweepConfig, pool) -> dict:
    """Every (scheme, straggler count, trial); trial t uses seed + t for every scheme, so
    the same workers straggle at the same speeds whichever scheme runs (paired)."""
    from tqdm.auto import tqdm

    from sw.workloads.common import paired_test

    from .codes import DecodingError
    from .field import next_prime
    from .master import multiply
    from .straggle import DelayModel

    q = config.field or next_prime(config.workers)
    rng = np.random.default_rng(config.seed)
    m, k, n = config.size
    a = rng.integers(0, q, size=(m, k))
    b = rng.integers(0, q, size=(k, n))
    expected = (a.astype(object) @ b.astype(object)) % q
    delays = DelayModel(config.delay_shift, config.delay_scale, config.slow_factor)
    runs = []
    cells = [
        (s, c, t) for s in config.schemes for c in config.stragglers for t in range(config.trials)
    ]
    for scheme, count, trial in tqdm(cells, desc="coded runs", unit="run"):
        record = {"scheme": scheme, "stragglers": count, "trial": trial}
        try:
            c, report = multiply(
                a,
                b,
                workers=config.workers,
                scheme=scheme,
                field=q,
                stragglers=count,
                tolerance=config.design_tolerance,
                mode=config.mode,
                delays=delays,
                seed=config.seed + trial,
                pool=pool,
                target=config.target,
                inner=config.inner if scheme in ("ep", "flexible-ep") else None,
            )
        except DecodingError as error:
            runs.append({**record, "ok": False, "error": str(error).split(";")[0]})
            continue
        if not np.array_equal(c.astype(object), expected):
            raise AssertionError(f"{scheme} returned a wrong product (trial {trial})")  # never
        keep = (
            "latency_s",
            "decode_s",
            "encode_s",
            "threshold",
            "subtasks_used",
            "work_used",
            "work_per_server",
            "field",
            "partition",
            "levels",
            "servers_used",
            "worker_compute_s",
        )
        runs.append({**record, "ok": True, **{key: report.get(key) for key in keep}})

    summary = {}
    for scheme in config.schemes:
        summary[scheme] = {
            str(count): summarize(
                [r for r in runs if r["scheme"] == scheme and r["stragglers"] == count]
            )
            for count in config.stragglers
        }
    comparisons = {}
    for other in config.schemes:
        if other == "flexible-ep" or "flexible-ep" not in config.schemes:
            continue
        for count in config.stragglers:
            pairs = {}
            for r in runs:
                if r["stragglers"] == count and r["ok"] and r["scheme"] in ("flexible-ep", other):
                    pairs.setdefault(r["trial"], {})[r["scheme"]] = r["latency_s"]
            both = [p for p in pairs.values() if len(p) == 2]
            if len(both) >= 2:
                # Negated latencies: "flexible-ep better" means lower latency, and the mean
                # difference is (baseline - flexible) seconds.
                comparisons[f"flexible-ep vs {other} @ {count}"] = paired_test(
                    [-p["flexible-ep"] for p in both],
                    [-p[other] for p in both],
                    names=("flexible-ep", other),
                )
    return {"field": q, "runs": runs, "summary": summary, "paired_latency": comparisons}


def run_mlp_layer(config: SweepConfig, pool) -> dict:
    """The digits MLP's first layer under the flexible code over CRT primes, vs the kernel."""
    from sw.driver import Accelerator
    from sw.kernel import run_product

    from .digits_layer import quantized_digits_layer
    from .master import multiply
    from .straggle import DelayModel

    layer = quantized_digits_layer(seed=config.seed)
    stragglers = max(config.stragglers)
    c, report = multiply(
        layer.x,
        layer.weights,
        workers=config.workers,
        scheme="flexible-ep",
        field=None,
        stragglers=stragglers,
        tolerance=config.design_tolerance,
        mode=config.mode,
        delays=DelayModel(config.delay_shift, config.delay_scale, config.slow_factor),
        seed=config.seed,
        pool=pool,
        target=config.target,
        inner=config.inner,
    )
    reference = layer.raw()
    with Accelerator.open(config.target) as accelerator:
        on_core, _ = run_product(accelerator, layer.spec.with_requant(None), layer.codes, layer.x)
    return {
        "shape": [*layer.x.shape, layer.codes.shape[1]],
        "weight_mode": layer.spec.weight_mode,
        "crt_primes": report["field"],
        "stragglers": stragglers,
        "bit_identical_to_reference": bool(np.array_equal(c, reference)),
        "bit_identical_to_core": bool(np.array_equal(c, on_core)),
        "max_abs_accumulator": int(np.abs(reference).max()),
        "accuracy_float": layer.float_accuracy,
        "accuracy_coded_layer": layer.accuracy(c),
        "accuracy_kernel_layer": layer.accuracy(reference),
        "latency_s": report["latency_s"],
        "subtasks_used": report["subtasks_used"],
        "levels": report.get("levels"),
        "partition": report["partition"],
    }


def plot(results: dict, config: SweepConfig, path: Path) -> Path:
    from sw.workloads.common import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for scheme in config.schemes:
        cells = results["summary"][scheme]
        counts = [c for c in config.stragglers if cells[str(c)]["latency_p50_s"] is not None]
        p50 = [cells[str(c)]["latency_p50_s"] for c in counts]
        p95 = [cells[str(c)]["latency_p95_s"] for c in counts]
        (line,) = ax.plot(counts, p50, marker="o", label=scheme)
        ax.plot(counts, p95, linestyle=":", color=line.get_color())
        failed = [c for c in config.stragglers if cells[str(c)]["failures"]]
        if failed:
            ax.plot(failed, [ax.get_ylim()[1]] * len(failed), "x", color=line.get_color())
    ax.set_xlabel("stragglers")
    ax.set_ylabel("time to decoded product (s): p50 solid, p95 dotted")
    ax.set_yscale("log")
    ax.set_title(
        f"{config.workers} Ray workers, GF({results['field']}), {config.mode} stragglers "
        "(x = a failed run)\n"
        "latency from injected shifted-exponential delays, not parallel speed-up",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _ms(value) -> str:
    return "-" if value is None else f"{1000 * value:.0f}"


def table(results: dict, config: SweepConfig) -> str:
    from sw.workloads.common import format_table

    rows = []
    for scheme in config.schemes:
        for count in config.stragglers:
            cell = results["summary"][scheme][str(count)]
            rows.append(
                [
                    scheme,
                    count,
                    _ms(cell["latency_p50_s"]),
                    _ms(cell["latency_p95_s"]),
                    _ms(cell["latency_p99_s"]),
                    f"{cell['failures']}/{cell['trials']}",
                    cell["threshold"] if cell["threshold"] is not None else "-",
                    f"{cell['work_per_server']:.3f}" if cell["work_per_server"] else "-",
                    f"{cell['work_used_mean']:.2f}" if cell["work_used_mean"] else "-",
                    f"{1000 * cell['decode_mean_s']:.2f}" if cell["decode_mean_s"] else "-",
                    cell["field"] if cell["field"] is not None else "-",
                ]
            )
    headers = [
        "scheme",
        "stragglers",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "failed",
        "threshold",
        "work/server",
        "work used",
        "decode ms",
        "field",
    ]
    return format_table(headers, rows)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    from sw.workloads.common import write_json

    from .workers import WorkerPool

    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    spares = 2 if config.mode != "slow" else 0
    with WorkerPool(config.workers, config.target, address=config.address, spares=spares) as pool:
        results = run_sweep(config, pool)
        results["mlp_layer"] = run_mlp_layer(config, pool) if config.mlp else None
    results["config"] = asdict(config)
    results["wall_s"] = time.perf_counter() - started
    compute = [r["worker_compute_s"] for r in results["runs"] if r["ok"]]
    results["note"] = (
        "Latency comes from the injected shifted-exponential delays: the workers share "
        f"{_cpu_count()} CPU cores, so there is no real parallel speed-up. Their real "
        f"computation (exact_matmul on '{config.target}') took {1000 * np.mean(compute):.1f} ms "
        "per decoded run on average, summed over the subtasks used."
        if compute
        else "no run decoded"
    )
    write_json(args.out / "results.json", results)
    figure = plot(results, config, args.out / "latency.png")
    print(table(results, config))
    for name, test in results["paired_latency"].items():
        print(
            f"{name} stragglers: baseline - flexible latency "
            f"{1000 * test['mean_difference']:+.0f} ms "
            f"(wins {test['wins']}/{test['pairs']}, t-test p={test['t_test_p']:.3g}): "
            f"{test['verdict']}"
        )
    layer = results["mlp_layer"]
    if layer:
        print(
            f"digits MLP layer {layer['shape'][0]}x{layer['shape'][1]} @ {layer['shape'][1]}x"
            f"{layer['shape'][2]} ({layer['weight_mode']}) over CRT primes {layer['crt_primes']} "
            f"with {layer['stragglers']} stragglers: bit-identical to the kernel "
            f"{layer['bit_identical_to_reference'] and layer['bit_identical_to_core']}; "
            f"accuracy {100 * layer['accuracy_coded_layer']:.1f}% "
            f"(float {100 * layer['accuracy_float']:.1f}%)"
        )
    print(results["note"])
    print(f"wrote {args.out / 'results.json'} and {figure} in {results['wall_s']:.0f} s")
    return 0


def _cpu_count() -> int:
    import os

    return os.cpu_count() or 1

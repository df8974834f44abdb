"""`qmatmul run prrfl`: PRR-FL against FedAvg, FedProx, FedBN and ablations, on Flower.

For every seed and method, one Flower simulation (Ray engine) of ``--clients`` clients
with feature shift (each its own imaging "device") and label skew, ``--rounds`` rounds
of ``--local-epochs`` local epochs. After the last round each client compiles its
personalized model (its own BatchNorm folded) and runs its test images on the core
(``--backend``; ``ref`` is the bit-exact device model, ``sim`` also runs the Verilator
model of the board and checks it bit for bit).

Writes ``results.json`` (every run's per-client, per-round numbers, the summaries and
the paired tests), ``prrfl_retrogress.png``, ``prrfl_scores.png``, ``prrfl_curves.png``
and each run's final personalized models (``models/<method>_seed<k>.npz``) under
``--out``, and prints a table. ``--quick``: one seed, 4 rounds (a smoke run; the
claims need the full run, ``bench/prrfl.py``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

DEFAULT_OUT = Path("build/prrfl")
ALL_METHODS = ("prr", "fedavg", "fedprox", "fedbn", "local", "pfa", "det")
QUICK_ROUNDS = 4
QUICK_SEEDS = 1


def build_parser() -> argparse.ArgumentParser:
    from .config import FederationConfig

    defaults = FederationConfig()
    parser = argparse.ArgumentParser(
        prog="qmatmul run prrfl",
        description="PRR-FL (progressive Fourier aggregation + deputy-enhanced transfer) "
        "against FedAvg, FedProx, FedBN, local training, PFA alone and DET alone, "
        "in Flower's simulation engine; personalized models evaluated on the core.",
    )
    parser.add_argument("--clients", type=int, default=defaults.clients, help="federated clients")
    parser.add_argument(
        "--rounds",
        type=int,
        default=None,
        help=f"rounds (default {defaults.rounds}; --quick {QUICK_ROUNDS})",
    )
    parser.add_argument(
        "--method",
        action="append",
        default=None,
        help="method(s) to run, repeatable or comma-separated: "
        + ", ".join(ALL_METHODS)
        + " (default: all)",
    )
    parser.add_argument(
        "--seeds", type=int, default=None, help="seeds 0..N-1 (default 3; --quick 1)"
    )
    parser.add_argument("--first-seed", type=int, default=0, help="first seed")
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_SEEDS} seed, {QUICK_ROUNDS} rounds"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--data", choices=("digits", "mnist1d", "medmnist"), default=defaults.data)
    parser.add_argument("--path", default="", help="MedMNIST .npz file for --data medmnist")
    parser.add_argument(
        "--alpha",
        type=float,
        default=defaults.alpha,
        help="Dirichlet label skew (smaller: stronger)",
    )
    parser.add_argument(
        "--devices", default=defaults.devices, help="client devices, cycled: blur,gamma,noise,shear"
    )
    parser.add_argument("--local-epochs", type=int, default=defaults.local_epochs)
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument(
        "--proximal-mu", type=float, default=defaults.proximal_mu, help="FedProx mu"
    )
    parser.add_argument(
        "--backend",
        default="ref",
        help="core target for the personalized models: ref, sim, serial:PORT, or none",
    )
    parser.add_argument(
        "--scheme",
        default=defaults.core_scheme,
        help="weight scheme on the core (sp2, uniform, ...)",
    )
    parser.add_argument(
        "--qat-epochs",
        type=int,
        default=defaults.core_qat_epochs,
        help="local QAT epochs before a personalized model is compiled (0: PTQ only)",
    )
    parser.add_argument(
        "--cpus", type=int, default=None, help="CPUs for Ray (default: all, at most 2)"
    )
    return parser


def parse_methods(values) -> list[str]:
    if not values:
        return list(ALL_METHODS)
    methods = []
    for value in values:
        for name in value.split(","):
            name = name.strip()
            if name not in ALL_METHODS:
                raise ValueError(f"--method {name!r} is not one of {', '.join(ALL_METHODS)}")
            if name not in methods:
                methods.append(name)
    return methods


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    methods = parse_methods(args.method)
    rounds = args.rounds if args.rounds is not None else (QUICK_ROUNDS if args.quick else None)
    seeds = args.seeds if args.seeds is not None else (QUICK_SEEDS if args.quick else 3)
    if seeds < 1:
        raise ValueError(f"--seeds={seeds} must be at least 1")
    run(args, methods, rounds, seeds)
    return 0


def base_config(args, rounds: int | None):
    from .config import FederationConfig

    settings = {
        "clients": args.clients,
        "data": args.data,
        "data_path": str(args.path),
        "alpha": args.alpha,
        "devices": args.devices,
        "local_epochs": args.local_epochs,
        "lr": args.lr,
        "proximal_mu": args.proximal_mu,
        "core_target": "" if args.backend == "none" else args.backend,
        "core_scheme": args.scheme,
        "core_qat_epochs": args.qat_epochs,
    }
    if rounds is not None:
        settings["rounds"] = rounds
    return FederationConfig(**settings)


def run(args, methods: list[str], rounds: int | None, seeds: int) -> dict:
    """The experiment (see the module docstring); returns the results dict."""
    import numpy as np
    from tqdm.auto import tqdm

    from sw.workloads.common import format_table, write_json

    from .data import make_client_shards
    from .experiment import analyse, plot_curves, plot_retrogress, plot_scores, summarize_run
    from .federation import RAY_CPUS

    config = base_config(args, rounds)
    if config.core_target:
        from sw.quant import parse_schemes

        parse_schemes(config.core_scheme, config.core_weight_bits)  # a bad name fails now
    # Build (and check) the clients once here: bad data fails before Ray starts.
    shards = make_client_shards(
        config.data,
        clients=config.clients,
        alpha=config.alpha,
        devices=config.device_list,
        seed=args.first_seed,
        path=config.data_path or None,
    )
    out = Path(args.out)
    (out / "models").mkdir(parents=True, exist_ok=True)
    print(
        f"{config.clients} clients on {config.data}: "
        + ", ".join(f"{s.device} ({len(s.y_train)}/{len(s.y_val)}/{len(s.y_test)})" for s in shards)
        + f"; {config.rounds} rounds x {config.local_epochs} local epochs; "
        f"methods {', '.join(methods)}; seeds {args.first_seed}..{args.first_seed + seeds - 1}"
    )
    runs, started = [], time.perf_counter()
    cells = [(seed, m) for seed in range(args.first_seed, args.first_seed + seeds) for m in methods]
    results = {}
    for seed, method in tqdm(cells, desc="federations", unit="run"):
        result = run_with_retry(config.with_(method=method, seed=seed), args.cpus or RAY_CPUS)
        np.savez_compressed(
            out / "models" / f"{method}_seed{seed}.npz",
            **{
                f"client{client}/{key}": np.asarray(value, dtype=np.float32)
                for client, arrays in result["final_models"].items()
                for key, value in arrays.items()
            },
        )
        runs.append(summarize_run(result))
        results = {
            "config": {
                **config.to_record(),
                "methods": methods,
                "seeds": sorted({r["seed"] for r in runs}),
            },
            "devices": [s.device for s in shards],
            "seconds": time.perf_counter() - started,
            **analyse(runs, methods),
            "runs": runs,
        }
        write_json(out / "results.json", results)  # after every run: a crash keeps the rest
    figures = [
        plot_retrogress(results, out / "prrfl_retrogress.png"),
        plot_scores(results, out / "prrfl_scores.png"),
        plot_curves(runs, out / "prrfl_curves.png"),
    ]
    print_tables(results, format_table)
    print(
        f"{len(runs)} federations in {results['seconds']:.0f} s; wrote {out / 'results.json'}, "
        + ", ".join(str(f) for f in figures)
    )
    return results


def run_with_retry(config, cpus: int, attempts: int = 2) -> dict:
    """`run_federation`, run again (up to ``attempts`` times) when a client failed: on a
    shared machine a client can fail for reasons outside the method (an import while a
    source file is being rewritten, a killed worker). Every attempt's failures are kept
    in the result (``failed_attempts``) so that none goes unreported."""
    from .federation import run_federation

    failed = []
    for attempt in range(1, attempts + 1):
        result = run_federation(config, cpus=cpus)
        if not result["failures"] or config.crash or attempt == attempts:
            result["failed_attempts"] = failed
            return result
        reasons = {f["reason"].strip().splitlines()[-1][-160:] for f in result["failures"]}
        print(
            f"warning: {config.method} seed {config.seed}: {len(result['failures'])} client "
            f"failures ({'; '.join(sorted(reasons))}); running it again"
        )
        failed.append(result["failures"])
    raise AssertionError("unreachable")


def _pm(entry) -> str:
    return f"{entry['mean']:.1f} ± {entry['std']:.1f}"


def print_tables(results: dict, format_table) -> None:
    rows = []
    for method, entry in results["summary"].items():
        core = entry.get("core", {})
        rows.append(
            [
                method,
                _pm(entry["test_f1"]),
                _pm(entry["test_auc"]),
                _pm(entry["retrogress_total"]),
                _pm(entry["receiver_retrogress_total"]),
                _pm(core["core_test_f1"]) if core else "-",
                f"{core['core_cycles_per_image']['mean']:.0f}" if core else "-",
                f"{entry['seconds']['mean']:.0f}",
            ]
        )
    print(
        format_table(
            [
                "method",
                "test F1 %",
                "test AUC %",
                "retrogress",
                "deputy retro.",
                "core F1 %",
                "cycles/img",
                "s/run",
            ],
            rows,
        )
    )
    rows = []
    for name, comparison in results["comparisons"].items():
        for key in ("test_f1", "test_auc", "retrogress_total", "receiver_retrogress_total"):
            test = comparison[key]["by_seed_and_client"]
            by_seed = comparison[key]["by_seed"]
            rows.append(
                [
                    name,
                    key,
                    f"{test['mean_difference']:+.2f}",
                    f"{test['wins']}/{test['ties']}/{test['losses']}",
                    f"{test['t_test_p']:.3g}",
                    f"{by_seed['t_test_p']:.3g}",
                    test["verdict"],
                ]
            )
    if rows:
        print(
            format_table(
                [
                    "comparison",
                    "metric",
                    "diff (+: prr better)",
                    "W/T/L",
                    "p (cells)",
                    "p (seeds)",
                    "verdict",
                ],
                rows,
            )
        )

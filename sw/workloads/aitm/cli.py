"""`qmatmul run aitm`: AITM against the multi-task baselines, and AITM on the core.

    qmatmul run aitm [--steps 2|4] [--data synthetic|aliccp --path DIR] [--quick] --out DIR

1. For each seed (a fresh synthetic sample and split, or the Ali-CCP files with a
   seeded validation split), train every model of the comparison (`models.MODELS`:
   AITM, its ablations, torch-rechub's AITM, ESMM, MMoE, PLE, SharedBottom) on the same
   split and evaluate the test part: AUC per step, end-to-end AUC, funnel violations.
2. Summaries over seeds and paired tests of AITM against every other model
   (`experiment.summarize`).
3. The first seed's AITM compiled onto the core (`core.core_report`): SP2 and uniform
   4-bit weights, 8-bit activations; test AUC float vs fake-quant vs core, device
   cycles per sample; on ``--backend`` other than ref, a bit-identity check.

Writes ``results.json``, ``aitm_comparison.png`` and ``aitm_core.png`` under ``--out``
and prints the tables.
"""

from __future__ import annotations

import argparse
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_OUT = Path("build/aitm")
QUICK_SAMPLES = {"train_samples": 10_000, "val_samples": 5_000, "test_samples": 30_000}
QUICK_EPOCHS = 5
QUICK_ALICCP_SAMPLES = 20_000
QUICK_CORE_SAMPLES = 10_000


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qmatmul run aitm",
        description="AITM multi-step conversion modelling: baselines side by side, then "
        "AITM's dense layers on the core.",
    )
    parser.add_argument(
        "--steps", type=int, choices=(2, 4), help="funnel steps (default 4; 2 for aliccp)"
    )
    parser.add_argument("--data", choices=("synthetic", "aliccp"), default="synthetic")
    parser.add_argument("--path", type=Path, help="aliccp: directory with the Ali-CCP files")
    parser.add_argument("--max-samples", type=_positive, help="aliccp: at most N samples per file")
    parser.add_argument(
        "--min-count", type=_positive, default=10, help="aliccp raw: id frequency floor"
    )
    for part, default in (("train", 10_000), ("val", 10_000), ("test", 100_000)):
        parser.add_argument(
            f"--{part}-samples",
            type=_positive,
            help=f"synthetic: {part} impressions per seed (default {default})",
        )
    parser.add_argument("--dependence", type=float, default=0.9, help="synthetic: rho in [0, 1]")
    parser.add_argument(
        "--seeds", type=_positive, default=5, help="seeds (paired cells), >= 5 for the tests"
    )
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--models", help="comma-separated subset of the models (default: all)")
    parser.add_argument(
        "--epochs", type=_positive, help="maximum epochs (early stopping on validation)"
    )
    parser.add_argument("--batch-size", type=_positive)
    parser.add_argument("--alpha", type=float, default=0.6, help="calibrator weight")
    parser.add_argument(
        "--backend", default="ref", help="ref, sim or serial:PORT for the core check"
    )
    parser.add_argument("--schemes", default="sp2,uniform", help="weight schemes on the core")
    parser.add_argument("--weight-bits", type=int, default=4)
    parser.add_argument("--act-bits", type=int, default=8)
    parser.add_argument(
        "--check-samples", type=_positive, default=256, help="samples run on --backend"
    )
    parser.add_argument(
        "--core-samples", type=_positive, help="test samples run on the core (default: all)"
    )
    parser.add_argument("--no-core", action="store_true", help="skip the on-core part")
    parser.add_argument(
        "--quick", action="store_true", help="smaller data and fewer epochs (minutes)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    return parser


@dataclass(frozen=True)
class Settings:
    """What the arguments ask for."""

    data: object  # experiment.DataConfig
    train: object  # train.TrainConfig
    model: object  # models.ModelConfig
    models: list[str] | None  # None: every model that supports the steps
    schemes: list[str]


def configure(args) -> Settings:
    """The data, training and model configurations the arguments ask for."""
    from .experiment import DataConfig
    from .models import ModelConfig
    from .train import TrainConfig

    steps = args.steps or (2 if args.data == "aliccp" else 4)
    if args.data == "synthetic" and (args.path or args.max_samples):
        raise ValueError("--path and --max-samples are for --data aliccp")
    sizes = {}
    for name in QUICK_SAMPLES:
        value = getattr(args, name) or (QUICK_SAMPLES[name] if args.quick else None)
        if value is not None:
            sizes[name] = value
    quick_cap = QUICK_ALICCP_SAMPLES if args.quick and args.data == "aliccp" else None
    max_samples = args.max_samples or quick_cap
    data = DataConfig(
        name=args.data,
        steps=steps,
        dependence=args.dependence,
        path=args.path,
        max_samples=max_samples,
        min_count=args.min_count,
        **sizes,
    )
    train_settings = {"alpha": args.alpha}
    if args.epochs or args.quick:
        train_settings["max_epochs"] = args.epochs or QUICK_EPOCHS
    if args.batch_size:
        train_settings["batch_size"] = args.batch_size
    models = (
        None if args.models is None else [m.strip() for m in args.models.split(",") if m.strip()]
    )
    schemes = [s.strip() for s in args.schemes.split(",") if s.strip()]
    return Settings(data, TrainConfig(**train_settings), ModelConfig(), models, schemes)


def run(args) -> dict:
    """Train and compare every model over the seeds, then put AITM on the core."""
    import torch

    from sw.workloads.backends import open_with_ref

    settings = configure(args)
    torch.set_num_threads(1)
    start = time.perf_counter()
    with ExitStack() as stack:
        # Open the backends first: a wrong --backend fails now, not after the training.
        backends = None if args.no_core else open_with_ref(stack, args.backend)
        return _run(args, settings, backends, start)


def _run(args, settings: Settings, backends, start: float) -> dict:
    from tqdm.auto import tqdm

    from .core import core_report
    from .experiment import SplitSource, model_names, oracle_metrics, run_cell, summarize
    from .models import MODELS
    from .train import model_inputs

    data_config, train_config, model_config = settings.data, settings.train, settings.model
    source = SplitSource(data_config)
    names = model_names(settings.models, data_config.steps)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    runs, oracle_runs, first = [], [], {}
    with tqdm(total=len(seeds) * len(names), desc="aitm comparison", unit="model") as bar:
        for seed in seeds:
            split = source.split(seed)
            oracle = oracle_metrics(split)
            if oracle is not None:
                oracle_runs.append(oracle)
            for name in names:
                bar.set_postfix(seed=seed, model=name)
                run_record, model = run_cell(name, split, seed, train_config, model_config)
                runs.append(run_record)
                if seed == seeds[0] and name == "aitm":
                    first = {"model": model, "split": split}
                bar.update()
    summary = summarize(runs, names, data_config.steps, oracle_runs)
    split = first["split"]
    result = {
        "workload": "aitm",
        "paper": "Xi et al., KDD 2021, arXiv 2105.08489",
        "config": {
            "data": {
                k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(data_config).items()
            },
            "train": asdict(train_config),
            "model": asdict(model_config),
            "seeds": seeds,
            "models": names,
            "not_run": {
                name: f"supports {MODELS[name].steps} steps only"
                for name in MODELS
                if not MODELS[name].supports(data_config.steps)
            },
            "quick": bool(args.quick),
        },
        "data": source.describe(split),
        **summary,
    }
    aitm = first["model"]
    ids, numeric = model_inputs(split.test)
    weights = aitm.transfer_weights(ids, numeric).numpy()
    result["transfer_weight"] = {
        "meaning": "mean AIT weight of the transferred p_(t-1) at steps 2..T (seed "
        f"{seeds[0]}, test samples); the tower's own q_t gets 1 minus it",
        "steps": list(split.test.step_names[1:]),
        "mean": weights.mean(axis=0).tolist(),
        "std": weights.std(axis=0).tolist(),
    }
    if backends is not None:
        ref, backend = backends
        result["core"] = core_report(
            aitm,
            split.train,
            split.test,
            ref=ref,
            backend=backend,
            schemes=settings.schemes,
            weight_bits=args.weight_bits,
            act_bits=args.act_bits,
            check_samples=args.check_samples,
            core_samples=args.core_samples or (QUICK_CORE_SAMPLES if args.quick else None),
        )
        result["core"] |= {"backend": args.backend, "seed": seeds[0]}
    result["runs"] = runs
    result["seconds"] = time.perf_counter() - start
    return result


def write_outputs(result: dict, out: Path) -> list[Path]:
    from sw.workloads.common import write_json

    from .report import plot_comparison, plot_core

    out.mkdir(parents=True, exist_ok=True)
    steps = result["data"]["step_names"]
    data = result["data"]
    title = f"AITM on {data['name']} ({len(steps)} steps"
    if "dependence" in data:
        title += f", dependence {data['dependence']}"
    title += f"), {len(result['config']['seeds'])} seeds"
    paths = [write_json(out / "results.json", result)]
    paths.append(plot_comparison(result, result["runs"], steps, out / "aitm_comparison.png", title))
    if "core" in result:
        paths.append(plot_core(result["core"], steps, out / "aitm_core.png"))
    return paths


def print_summary(result: dict) -> None:
    from .experiment import beats
    from .report import comparison_table, core_table

    steps = result["data"]["step_names"]
    print(comparison_table(result, steps))
    print()
    for name in result["paired_tests"]:
        print(beats(result, name))
    if "calibrator" in result:
        cal = result["calibrator"]
        print(
            f"calibrator: violations {100 * cal['violation_share_with']['mean']:.2f}% with vs "
            f"{100 * cal['violation_share_without']['mean']:.2f}% without "
            f"(t-test p={cal['violation_share_paired']['t_test_p']:.3g}): {cal['finding']}"
        )
    weight = result["transfer_weight"]
    print(
        "AIT weight of the transferred information: "
        + ", ".join(f"{s} {m:.2f}" for s, m in zip(weight["steps"], weight["mean"], strict=True))
    )
    if "core" in result:
        print()
        print(core_table(result["core"], steps))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from threadpoolctl import threadpool_limits

    # One BLAS thread (torch is set to one thread in `run`): on a shared machine extra
    # threads only wait for each other.
    with threadpool_limits(limits=1, user_api="blas"):
        result = run(args)
    print_summary(result)
    paths = write_outputs(result, args.out)
    print(f"\nwrote {', '.join(str(p) for p in paths)} ({result['seconds']:.0f} s)")
    return 0

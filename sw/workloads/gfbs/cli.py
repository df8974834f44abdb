"""`qmatmul run gfbs`: GFBS channel pruning against seven baselines, pruned networks on the core.

    qmatmul run gfbs [--task digits|mnist1d|denoise|cifar10] [--quick] [--backend sim] --out DIR

Trains the task's networks (BatchNorm everywhere), prunes each with every criterion to
25/50/70% fewer MACs (torch-pruning does the surgery), fine-tunes, compiles every
network for the core (SP2 4-bit weights, 8-bit activations) and runs the test set on
``ref`` (device cycles from its counters), then checks a subset of the networks on
``--backend`` (bit-identical outputs and equal cycles). Writes ``results.json`` and
PNGs under ``--out`` and prints a table, GFBS's paired comparisons against every
baseline, and the hardware-aware option's effect. See ``docs/gfbs.md``.
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import ExitStack
from dataclasses import asdict, replace
from pathlib import Path

DEFAULT_OUT = Path("build/gfbs")
TASK_CHOICES = ("digits", "mnist1d", "denoise", "cifar10")
BACKEND_KINDS = ("ref", "sim", "serial")
NETWORKS_FILE = "networks.pt"  # the first seed's networks, for --check-only


def _names(text: str) -> tuple[str, ...]:
    values = tuple(v.strip() for v in text.split(",") if v.strip())
    if not values:
        raise argparse.ArgumentTypeError("the list is empty")
    return values


def _fractions(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in _names(text))
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of numbers"
        ) from error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qmatmul run gfbs",
        description="GFBS channel pruning vs baselines, with the pruned networks on the core.",
    )
    parser.add_argument("--task", choices=TASK_CHOICES, default="digits")
    parser.add_argument("--path", type=Path, help="CIFAR-10 directory (--task cifar10)")
    parser.add_argument(
        "--backend",
        default="sim",
        help="backend of the final check: sim (default), ref, serial:PORT",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument(
        "--quick", action="store_true", help="one network, the 50%% budget, short training"
    )
    parser.add_argument("--archs", type=_names, help="networks, e.g. vgg,resnet (default: all)")
    parser.add_argument("--criteria", type=_names, help="criteria (default: all eight)")
    parser.add_argument(
        "--budgets", type=_fractions, help="fractions of MACs removed, e.g. 0.25,0.5,0.7"
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (default 3)")
    parser.add_argument(
        "--rounded",
        default=None,
        help="criteria also pruned hardware-aware (channels rounded to the array width); "
        "'none' to skip (default gfbs,l1; gfbs with --quick)",
    )
    parser.add_argument("--scheme", default="sp2", help="weight scheme on the core (default sp2)")
    parser.add_argument("--weight-bits", type=int, default=4)
    parser.add_argument("--act-bits", type=int, default=8)
    parser.add_argument(
        "--qat-epochs", type=int, default=0, help="QAT epochs before compiling (default 0: PTQ)"
    )
    parser.add_argument("--test-images", type=int, help="test inputs run on the core (default all)")
    parser.add_argument(
        "--check-images", type=int, default=16, help="inputs per network in the backend check"
    )
    parser.add_argument("--train-limit", type=int, help="use only this many training samples")
    parser.add_argument("--epochs", type=int, help="training epochs (default: the task's)")
    parser.add_argument(
        "--finetune-epochs", type=int, help="fine-tuning epochs after pruning (default: the task's)"
    )
    parser.add_argument("--no-cache", action="store_true", help="recompute every network and cell")
    parser.add_argument(
        "--check-only",
        action="store_true",
        help="skip the sweep: run the networks a sweep saved in --out on --backend and compare",
    )
    return parser


def make_config(args):
    """The `SweepConfig` the arguments ask for (ValueError naming a bad one)."""
    from .core import QuantConfig
    from .experiment import SweepConfig
    from .tasks import ARCHITECTURES

    if args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {args.seeds}")
    overrides = {"seeds": tuple(range(args.seeds))}
    if args.quick:
        overrides.update(archs=(next(iter(ARCHITECTURES[args.task])),), budgets=(0.5,))
        overrides["rounded_criteria"] = ("gfbs",)
    if args.archs:
        overrides["archs"] = args.archs
    if args.criteria:
        overrides["criteria"] = args.criteria
    if args.budgets:
        overrides["budgets"] = args.budgets
    if args.rounded is not None:
        overrides["rounded_criteria"] = () if args.rounded == "none" else _names(args.rounded)
    if args.qat_epochs < 0:
        raise ValueError(f"--qat-epochs must be at least 0, got {args.qat_epochs}")
    overrides["quant"] = QuantConfig(
        args.scheme, args.weight_bits, args.act_bits, qat_epochs=args.qat_epochs
    )
    overrides["test_images"] = args.test_images
    overrides["train_limit"] = args.train_limit
    config = SweepConfig.for_task(args.task, quick=args.quick, **overrides)
    for name in ("epochs", "finetune_epochs"):
        value = getattr(args, name)
        if value is not None:
            if value < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 0, got {value}")
            config = replace(config, train=replace(config.train, **{name: value}))
    return config


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.task == "cifar10" and args.path is None and not args.check_only:
        parser.error("--task cifar10 needs --path DIR (the CIFAR-10 python batches)")
    if args.backend.partition(":")[0] not in BACKEND_KINDS:
        # checked now, not after an hour of sweep on ref
        parser.error(f"--backend {args.backend!r}: use ref, sim[:DEVICE] or serial:PORT[,BAUD]")
    if args.check_images < 1:
        raise ValueError(f"--check-images must be at least 1, got {args.check_images}")
    import torch

    torch.set_num_threads(1)  # small tensors; the machine is shared
    if args.check_only:
        return check_only(args)
    return run(args, make_config(args))


def run(args, config) -> int:
    """The sweep on ref, its analysis, figures and results.json, then the backend check."""
    from sw.workloads.backends import open_backend, reference_target
    from sw.workloads.common import write_json

    from . import analysis, report
    from .experiment import DEFAULT_CACHE, run_sweep, save_networks

    start = time.perf_counter()
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"gfbs: task {config.task}, networks {','.join(config.archs)}, "
        f"{len(config.criteria)} criteria, budgets {list(config.budgets)}, "
        f"seeds {list(config.seeds)}, rounded {list(config.rounded_criteria) or 'none'}; "
        f"sweep on ref, check on {args.backend}"
    )
    with open_backend(reference_target(args.backend)) as ref:  # the device's own limits
        info = ref.identify()
        result = run_sweep(
            config, ref, path=args.path, cache=None if args.no_cache else DEFAULT_CACHE
        )
    summary = analysis.summarize(result.runs, result.baselines)
    comparison = analysis.compare_criteria(result.runs)
    figures = {}
    for net, entry in summary.items():
        name = net.replace("/", "_")
        figures[net] = str(report.plot_network(net, entry, out / f"gfbs_{name}.png"))
    rounding_png = report.plot_rounding(result.runs, out / "gfbs_rounding.png")
    if rounding_png is not None:
        figures["rounding"] = str(rounding_png)
    results = {
        "task": config.task,
        "config": asdict(config),
        "device": {
            key: getattr(info, key)
            for key in ("rows", "cols", "k_max", "m_max", "channels", "clock_hz")
        },
        "metric": result.runs[0]["metric"],
        "baselines": result.baselines,
        "runs": result.runs,
        "summary": summary,
        "gfbs_vs_baselines": comparison,
        "hardware_aware": analysis.compare_rounding(result.runs),
        "verdict": {
            key: analysis.verdict(comparison, result.runs, key) for key in analysis.COMPARED_SCORES
        },
        "backend_check": None,
        "figures": figures,
        "networks_file": str(save_networks(result, out / NETWORKS_FILE, data_path=args.path)),
        "sweep_seconds": result.seconds,
    }
    results_path = write_json(out / "results.json", results)  # written before the check
    print()
    print(report.results_text(results))
    status = 0
    if args.backend != "ref":
        status = check_only(args)
        results = json.loads(results_path.read_text())
    results["seconds"] = time.perf_counter() - start
    write_json(results_path, results)
    print(f"wrote {results_path} ({results['seconds']:.0f} s)")
    for name, path in figures.items():
        print(f"wrote {path} ({name})")
    return status


def check_only(args) -> int:
    """Run the networks a sweep saved in ``--out`` on ``--backend`` and on ref; compare;
    record the check in ``--out``/results.json."""
    from sw.workloads.backends import open_with_ref
    from sw.workloads.common import write_json

    from . import report
    from .experiment import check_backend, load_networks

    results_path = args.out / "results.json"
    if not results_path.is_file():
        raise FileNotFoundError(f"{results_path} does not exist: run the sweep first")
    config, data_path, networks = load_networks(args.out / NETWORKS_FILE)
    with ExitStack() as stack:
        ref, backend = open_with_ref(stack, args.backend)
        check = check_backend(
            config, networks, ref, backend, images=args.check_images, data_path=data_path
        )
    results = json.loads(results_path.read_text())
    results["backend_check"] = check
    write_json(results_path, results)
    print()
    print("\n".join(report.check_lines(check)))
    if not check["outputs_identical"]:
        print(f"ERROR: {args.backend} and ref computed different outputs")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

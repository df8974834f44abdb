"""`qmatmul run cnn [--data digits|mnist1d] [--backend ...] [--quick] --out DIR`.

Trains the data set's CNN in float (or loads it from ``--cache``), then per weight
scheme (SP2 and uniform at ``--bits``): PTQ, QAT, compilation, the whole test set on
``--backend`` and on ``ref``. Prints the accuracy table (float, PTQ, fake-quant and
core; the 1-point targets), whether every image is bit-identical to ``ref``, cycles per
image, and each core layer's cycles and array utilization. Writes ``results.json`` and
``cnn_<data>.png`` under ``--out``. torch is imported only after the arguments parse.
"""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from ..backends import open_with_ref
from ..common import format_table, mean_std, paired_test, pyplot, write_json

DEFAULT_OUT = Path("build/cnn")
DEFAULT_CACHE = Path("build/cache")
DEFAULT_SCHEMES = "sp2,uniform"
TARGET_POINTS = 1.0  # float vs fake-quant vs core, in accuracy points


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qmatmul run cnn",
        description="Small CNNs compiled from their torch graphs onto the core.",
    )
    parser.add_argument("--data", choices=("digits", "mnist1d"), default="digits")
    parser.add_argument(
        "--backend", default="sim", help="ref, sim or serial:PORT[,BAUD] (default sim)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="trained-model cache")
    parser.add_argument("--retrain", action="store_true", help="ignore a cached float model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bits", type=int, default=4, help="weight bits")
    parser.add_argument("--schemes", default=DEFAULT_SCHEMES, help="comma-separated schemes")
    parser.add_argument("--epochs", type=int, help="float training epochs (default 40; quick 12)")
    parser.add_argument("--qat-epochs", type=int, help="QAT epochs (default 8; quick 2)")
    parser.add_argument("--qat-lr", type=float, help="QAT learning rate (default 1e-4)")
    parser.add_argument("--quick", action="store_true", help="short training (a few minutes)")
    parser.add_argument(
        "--seeds",
        type=int,
        default=1,
        help="networks trained per scheme for the statistics (seeds --seed.., on ref)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    for name in ("epochs", "qat_epochs"):
        value = getattr(args, name)
        if value is not None and value < (1 if name == "epochs" else 0):
            parser.error(
                f"--{name.replace('_', '-')} must be at least {1 if name == 'epochs' else 0}"
            )
    import torch

    from sw.quant import parse_schemes

    from .experiment import QUICK_QAT, QUICK_TRAIN, QATConfig, TrainConfig

    try:
        schemes = parse_schemes(args.schemes, args.bits)
    except ValueError as error:
        parser.error(str(error))
    train, qat = (QUICK_TRAIN, QUICK_QAT) if args.quick else (TrainConfig(), QATConfig())
    if args.epochs is not None:
        train = replace(train, epochs=args.epochs)
    if args.qat_epochs is not None:
        qat = replace(qat, epochs=args.qat_epochs)
    if args.qat_lr is not None:
        if not args.qat_lr > 0:
            parser.error(f"--qat-lr must be positive, got {args.qat_lr}")
        qat = replace(qat, lr=args.qat_lr)
    torch.set_num_threads(1)  # small tensors: threads only add overhead on a shared machine
    return run(args, train, qat, schemes)


def scheme_table(rows: list[dict], float_accuracy: float, backend: str) -> str:
    headers = ["scheme", "float", "PTQ", "fake-quant", f"core ({backend})"]
    headers += ["= ref images", "cycles/img"]
    lines = [
        [
            r["label"],
            f"{100 * float_accuracy:.2f}%",
            f"{100 * r['ptq_accuracy']:.2f}%",
            f"{100 * r['fake_quant_accuracy']:.2f}%",
            f"{100 * r['core_accuracy']:.2f}%",
            f"{100 * r['ref_identical_images']:.1f}%",
            f"{r['cycles_per_image']:.1f}",
        ]
        for r in rows
    ]
    return format_table(headers, lines)


def layer_table(row: dict) -> str:
    headers = ["layer", "kind", "K", "N", "rows/img", "MACs/img", "cycles/img", "ideal/img"]
    headers += ["utilization", "out bits"]
    lines = [
        [
            layer["name"],
            layer["kind"],
            layer["k"],
            layer["n"],
            f"{layer['rows_per_image']:g}",
            layer["macs"] // round(layer["rows"] / layer["rows_per_image"]),
            f"{layer['cycles_per_image']:.1f}",
            f"{layer['ideal_cycles'] / layer['rows'] * layer['rows_per_image']:.1f}",
            f"{100 * layer['utilization']:.1f}%",
            layer["output_bits"],
        ]
        for layer in row["layers"]
    ]
    return format_table(headers, lines)


def targets(rows: list[dict], float_accuracy: float) -> list[dict]:
    """Per scheme: the three 1-point comparisons (in points) and whether each holds."""
    checks = []
    for r in rows:
        gaps = {
            "float_vs_fake_quant": 100 * (float_accuracy - r["fake_quant_accuracy"]),
            "fake_quant_vs_core": 100 * (r["fake_quant_accuracy"] - r["core_accuracy"]),
            "float_vs_core": 100 * (float_accuracy - r["core_accuracy"]),
        }
        checks.append(
            {
                "scheme": r["scheme"],
                **{name: round(gap, 3) for name, gap in gaps.items()},
                "within_1_point": all(abs(g) <= TARGET_POINTS for g in gaps.values()),
                "every_image_identical_to_ref": r["ref_identical_images"] == 1.0,
            }
        )
    return checks


def summarize_repeats(runs: list[dict]) -> dict:
    """Per scheme over the seeds: float and QAT accuracy (mean ± std), the gap in points,
    how many runs are within 1 point, and a paired test float vs QAT."""
    summary = {}
    for scheme in dict.fromkeys(r["scheme"] for r in runs):
        chosen = [r for r in runs if r["scheme"] == scheme]
        summary[scheme] = {
            "float_accuracy": mean_std(r["float_accuracy"] for r in chosen),
            "accuracy": mean_std(r["accuracy"] for r in chosen),
            "gap_points": mean_std(r["gap_points"] for r in chosen),
            "within_1_point": sum(abs(r["gap_points"]) <= TARGET_POINTS for r in chosen),
            "runs": len(chosen),
            "paired_float_vs_qat": paired_test(
                [r["float_accuracy"] for r in chosen],
                [r["accuracy"] for r in chosen],
                names=("float", scheme),
            ),
        }
    return summary


def format_repeats(summary: dict) -> str:
    lines = []
    for scheme, entry in summary.items():
        gap, test = entry["gap_points"], entry["paired_float_vs_qat"]
        lines.append(
            f"{scheme}: float {100 * entry['float_accuracy']['mean']:.2f} ± "
            f"{100 * entry['float_accuracy']['std']:.2f}%, QAT on ref "
            f"{100 * entry['accuracy']['mean']:.2f} ± {100 * entry['accuracy']['std']:.2f}%, "
            f"float - QAT {gap['mean']:+.2f} ± {gap['std']:.2f} points, "
            f"{entry['within_1_point']}/{entry['runs']} runs within 1 point; "
            f"paired t p={test['t_test_p']:.3f}: {test['verdict']}"
        )
    return "\n".join(lines)


def plot(data: str, rows: list[dict], float_accuracy: float, confusion, path: Path) -> None:
    from ..digits import plot_confusion

    plt = pyplot()
    fig, (bars, usage, matrix) = plt.subplots(1, 3, figsize=(17, 4.8))
    width = 0.25
    positions = np.arange(len(rows))
    for offset, (key, name, color) in enumerate(
        (
            ("ptq_accuracy", "PTQ", "#c6dbef"),
            ("fake_quant_accuracy", "QAT fake-quant", "#6baed6"),
            ("core_accuracy", "QAT on the core", "#08519c"),
        )
    ):
        values = [100 * r[key] for r in rows]
        bars.bar(positions + (offset - 1) * width, values, width, label=name, color=color)
    bars.axhline(100 * float_accuracy, color="gray", linestyle="--", label="float")
    bars.axhspan(
        100 * float_accuracy - TARGET_POINTS, 100 * float_accuracy, color="gray", alpha=0.15
    )
    low = min(
        [100 * float_accuracy]
        + [100 * r[k] for r in rows for k in ("ptq_accuracy", "core_accuracy")]
    )
    bars.set_ylim(max(0, low - 3), 100)
    bars.set_xticks(positions, [r["label"] for r in rows])
    bars.set_ylabel("test accuracy (%)")
    bars.set_title(f"{data}: accuracy (band: within 1 point of float)")
    bars.legend(loc="lower right", fontsize=8)
    names = [layer["name"] for layer in rows[0]["layers"]]
    step = 0.8 / len(rows)
    for index, r in enumerate(rows):
        values = [100 * layer["utilization"] for layer in r["layers"]]
        usage.bar(
            np.arange(len(names)) + index * step - 0.4 + step / 2, values, step, label=r["label"]
        )
    usage.axhline(90, color="red", linestyle="--", linewidth=0.8, label="90% goal")
    usage.set_xticks(range(len(names)), names, rotation=20)
    usage.set_ylim(0, 105)
    usage.set_ylabel("array utilization (%)")
    usage.set_title("per core layer: ideal MACs/(R*C) over device cycles")
    usage.legend(fontsize=8)
    best = max(rows, key=lambda r: r["core_accuracy"])
    plot_confusion(
        matrix, confusion, f"{best['label']} on the core: {100 * best['core_accuracy']:.2f}%"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(args, train, qat, schemes) -> int:
    from sklearn.metrics import confusion_matrix

    from .experiment import (
        accuracy,
        evaluate_scheme,
        float_outputs,
        images,
        load_data,
        repeated_runs,
        trained_float,
    )

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    dataset = load_data(args.data)
    print(
        f"{args.data}: {len(dataset.y_train)} training / {len(dataset.y_test)} test samples of "
        f"{dataset.image_shape}, {qat.act_bits}-bit activations, backend {args.backend}"
    )
    with ExitStack() as stack:
        ref, backend = open_with_ref(stack, args.backend)  # fail early on a bad backend
        info = backend.identify()
        model = trained_float(
            args.data,
            dataset,
            train,
            args.seed,
            args.cache,
            retrain=args.retrain,
            progress="float training",
        )
        float_accuracy = accuracy(
            float_outputs(model, images(dataset, dataset.x_test)), dataset.y_test
        )
        rows, predictions = [], {}
        for scheme in schemes:
            row, predictions[scheme.name] = evaluate_scheme(
                scheme, model, dataset, qat, args.seed, ref, backend
            )
            rows.append(row)
        repeats = None
        if args.seeds > 1:
            # The main table is the first seed's run (its core accuracy equals ref's).
            runs = [
                {
                    "seed": args.seed,
                    "scheme": row["scheme"],
                    "float_accuracy": float_accuracy,
                    "accuracy": row["core_accuracy"],
                    "gap_points": 100 * (float_accuracy - row["core_accuracy"]),
                }
                for row in rows
            ]
            runs += repeated_runs(
                args.data,
                dataset,
                train,
                qat,
                schemes,
                range(args.seed + 1, args.seed + args.seeds),
                ref,
                args.cache,
                progress="float training",
            )
            repeats = {"runs": runs, "summary": summarize_repeats(runs)}
    best = max(rows, key=lambda r: r["core_accuracy"])
    confusion = confusion_matrix(
        dataset.y_test, predictions[best["scheme"]], labels=range(dataset.classes)
    )
    checks = targets(rows, float_accuracy)
    figure = out / f"cnn_{args.data}.png"
    plot(args.data, rows, float_accuracy, confusion, figure)
    conv_layers = [layer for r in rows for layer in r["layers"] if layer["kind"] != "linear"]
    path = write_json(
        out / "results.json",
        {
            "data": args.data,
            "train_samples": len(dataset.y_train),
            "test_samples": len(dataset.y_test),
            "backend": args.backend,
            "device": {"rows": info.rows, "cols": info.cols, "clock_hz": info.clock_hz},
            "seed": args.seed,
            "train": asdict(train),
            "qat": asdict(qat),
            "float_accuracy": float_accuracy,
            "table": rows,
            "targets": checks,
            "repeats": repeats,
            "confusion_matrix": confusion.tolist(),
            "figure": str(figure),
        },
    )
    print()
    print(scheme_table(rows, float_accuracy, args.backend))
    for check in checks:
        verdict = "within" if check["within_1_point"] else "NOT within"
        print(
            f"{check['scheme']}: float - fake-quant {check['float_vs_fake_quant']:+.2f}, "
            f"fake-quant - core {check['fake_quant_vs_core']:+.2f}, float - core "
            f"{check['float_vs_core']:+.2f} points ({verdict} the 1-point target)"
        )
    for r in rows:
        print()
        print(
            f"{r['label']} per core layer ({info.rows}x{info.cols} array, "
            f"{len(dataset.y_test)} images):"
        )
        print(layer_table(r))
    if conv_layers:
        usage = [layer["utilization"] for layer in conv_layers]
        print(
            f"conv layers: utilization {100 * min(usage):.1f}% to {100 * max(usage):.1f}% "
            f"(goal: 90% where the shape fills the array)"
        )
    if repeats is not None:
        print()
        print(f"over {args.seeds} seeds (each network trained afresh; QAT programs on ref):")
        print(format_repeats(repeats["summary"]))
    print()
    print(f"wrote {path}")
    print(f"wrote {figure}")
    mismatched = [c["scheme"] for c in checks if not c["every_image_identical_to_ref"]]
    if mismatched:
        print(f"ERROR: {args.backend} and ref disagree for {mismatched}")
        return 1
    return 0

"""`qmatmul run digits`: a handwritten-digit MLP with quantized weights, run on the core.

1. Train a float MLP (64-64-10 on the 8x8 digits) on a fixed stratified split.
2. For each weight scheme at ``--bits`` (uniform, SP1, SP2, codebook; 8-bit
   activations): post-training quantization, then QAT with the straight-through
   estimator (`sw.nn.prepare_qat`, `train_qat`); compile (`sw.nn.compile_model`); run
   the whole test set through the driver on ``ref`` and on ``--backend``. Report
   accuracy (PTQ and QAT), bit-exact agreement between the two backends, agreement
   with the fake-quant forward (`Program.fake_quant`), device cycles per image (from
   the counters), weight memory and the PE multipliers the mode needs.
3. The sweep: the 360-image test set cannot separate schemes that differ by an image
   or two, so every scheme is trained again at each of ``--sweep-bits`` over
   ``--splits`` stratified re-splits x ``--seeds`` training seeds, on ``ref``; mean,
   std, and a paired SP2-vs-uniform comparison per width (paired t-test and Wilcoxon
   signed-rank over the same split/seed pairs, `common.paired_comparison`).

Writes ``results.json``, ``digits_report.png`` (accuracy per scheme, confusion matrix
of the best quantized scheme) and ``digits_sweep.png`` under ``--out``. torch is
imported only once the arguments are parsed, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .backends import open_backend, open_with_ref
from .common import format_table, int_list, mean_std, paired_comparison, pyplot, write_json

DEFAULT_OUT = Path("build/digits")
DEFAULT_SCHEMES = "uniform,sp1,sp2,codebook"


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters (the same for every scheme, width, split and seed)."""

    hidden: tuple[int, ...] = (64,)
    epochs: int = 100
    batch_size: int = 128
    lr: float = 5e-3
    weight_decay: float = 1e-4
    qat_epochs: int = 20
    qat_lr: float = 5e-4
    act_bits: int = 8


def train_float(dataset, config: TrainConfig, seed: int, progress=None):
    """The float MLP ``features-hidden...-classes`` trained under ``seed``."""
    from sw.nn import make_mlp, train_classifier

    model = make_mlp([dataset.features, *config.hidden, dataset.classes], seed=seed)
    train_classifier(
        model,
        dataset.x_train,
        dataset.y_train,
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        weight_decay=config.weight_decay,
        seed=seed,
        progress=progress,
    )
    return model


def quantize_model(model, dataset, scheme, config: TrainConfig, seed: int, progress=None):
    """``(PTQ program, QAT model, QAT program)``, calibrated on the training set."""
    import torch

    from sw.nn import compile_model, prepare_qat, train_qat

    quantized = prepare_qat(
        model,
        dataset.x_train,
        scheme,
        act_bits=config.act_bits,
        calibration_inputs=dataset.x_train,
    )
    ptq_program = compile_model(quantized, None)
    train_qat(
        quantized,
        dataset.x_train,
        dataset.y_train,
        torch.nn.functional.cross_entropy,
        epochs=config.qat_epochs,
        batch_size=config.batch_size,
        lr=config.qat_lr,
        seed=seed,
        progress=progress,
    )
    return ptq_program, quantized, compile_model(quantized, None)


def program_accuracy(program, accelerator, dataset) -> float:
    outputs, _ = program.run(accelerator, dataset.x_test, measure_cycles=False)
    return float(np.mean(outputs.argmax(axis=1) == dataset.y_test))


# ---- the report at one width ---------------------------------------------------------------


def scheme_report(scheme, model, dataset, config: TrainConfig, seed: int, ref, backend):
    """One row of the table (a dict) and the test-set predictions on the backend."""
    ptq_program, _, program = quantize_model(
        model, dataset, scheme, config, seed, progress=f"QAT {scheme.label}"
    )
    start = time.perf_counter()
    outputs, cycles = program.run(backend, dataset.x_test, measure_cycles=True)
    seconds = time.perf_counter() - start
    if backend is ref:
        ref_outputs = outputs
    else:
        ref_outputs, _ = program.run(ref, dataset.x_test, measure_cycles=False)
    predictions = outputs.argmax(axis=1)
    fake = program.fake_quant(dataset.x_test)
    fake_predictions = fake.argmax(axis=1)
    info = backend.identify()
    images = len(dataset.y_test)
    row = {
        "scheme": scheme.name,
        "label": scheme.label,
        "weight_mode": scheme.weight_mode,
        "bits": scheme.bits,
        "ptq_accuracy": program_accuracy(ptq_program, ref, dataset),
        "accuracy": float(np.mean(predictions == dataset.y_test)),
        "ref_agreement": float(np.mean(np.all(outputs == ref_outputs, axis=1))),
        "fake_quant_agreement": float(np.mean(fake_predictions == predictions)),
        "fake_quant_disagreements": int(np.sum(fake_predictions != predictions)),
        "fake_quant_output_match": float(np.mean(fake == outputs)),
        "cycles_per_inference": sum(cycles.values()) / images,
        "layer_cycles_per_inference": [
            cycles[layer.name] / images for layer in program.core_layers
        ],
        "weight_memory_bits": program.weight_memory_bits,
        "pe_multipliers": scheme.pe_multipliers(info.rows, info.cols),
        "macs_per_inference": program.macs_per_sample,
        "backend_seconds": seconds,
        "codebook": [list(layer.spec.codebook) for layer in program.core_layers]
        if scheme.kind == "codebook"
        else None,
    }
    return row, predictions


def float_row(model, dataset) -> tuple[dict, np.ndarray]:
    from sw.nn import predict

    predictions = predict(model, dataset.x_test)
    weights = sum(p.numel() for name, p in model.named_parameters() if name.endswith("weight"))
    return {
        "scheme": "float",
        "label": "float",
        "bits": 32,
        "accuracy": float(np.mean(predictions == dataset.y_test)),
        "weight_memory_bits": 32 * weights,
        "macs_per_inference": weights,
    }, predictions


# ---- the sweep -----------------------------------------------------------------------------


def run_sweep(dataset, config: TrainConfig, schemes, bits_list, splits: int, seeds: int, ref):
    """Accuracy of every scheme at every width over ``splits`` x ``seeds`` runs, on ``ref``."""
    from sw.nn import predict
    from sw.quant import WeightScheme

    runs = []
    total = splits * seeds * (1 + len(bits_list) * len(schemes))
    with tqdm(total=total, desc="sweep", unit="model") as bar:
        for split in range(splits):
            data = dataset.resplit(split)
            for seed in range(seeds):
                bar.set_postfix(split=split, seed=seed, scheme="float")
                model = train_float(data, config, seed)
                float_accuracy = float(np.mean(predict(model, data.x_test) == data.y_test))
                bar.update()
                for bits in bits_list:
                    for kind in schemes:
                        scheme = WeightScheme(kind, bits)
                        bar.set_postfix(split=split, seed=seed, scheme=scheme.name)
                        ptq, _, qat = quantize_model(model, data, scheme, config, seed)
                        runs.append(
                            {
                                "split": split,
                                "seed": seed,
                                "scheme": kind,
                                "bits": bits,
                                "float_accuracy": float_accuracy,
                                "ptq_accuracy": program_accuracy(ptq, ref, data),
                                "accuracy": program_accuracy(qat, ref, data),
                            }
                        )
                        bar.update()
    return {
        "splits": splits,
        "seeds": seeds,
        "bits": bits_list,
        "schemes": schemes,
        "runs": runs,
        "summary": summarize_sweep(runs),
        "paired_sp2_vs_uniform": compare_schemes(runs, "sp2", "uniform"),
    }


def summarize_sweep(runs: list[dict]) -> dict:
    """Mean and std (over split x seed) of PTQ and QAT accuracy per scheme and width."""
    floats = {(r["split"], r["seed"]): r["float_accuracy"] for r in runs}
    summary: dict = {"float": mean_std(floats.values())}
    for kind in sorted({r["scheme"] for r in runs}):
        for bits in sorted({r["bits"] for r in runs}):
            chosen = [r for r in runs if r["scheme"] == kind and r["bits"] == bits]
            if chosen:
                summary[f"{kind}-{bits}"] = {
                    "accuracy": mean_std(r["accuracy"] for r in chosen),
                    "ptq_accuracy": mean_std(r["ptq_accuracy"] for r in chosen),
                }
    return summary


def _same_levels(first: str, second: str, bits: int) -> bool:
    """Whether two fixed-level schemes have the same levels at ``bits`` (e.g. ternary at 2)."""
    from sw.quant import WeightScheme

    a, b = WeightScheme(first, bits).fixed_levels(), WeightScheme(second, bits).fixed_levels()
    return a is not None and b is not None and np.array_equal(a, b)


def compare_schemes(runs: list[dict], first: str, second: str) -> dict:
    """Per width: ``first - second`` accuracy (QAT and PTQ) over the same (split, seed)."""
    result = {}
    for bits in sorted({r["bits"] for r in runs}):
        for key in ("accuracy", "ptq_accuracy"):
            entry = paired_comparison(
                runs,
                key=key,
                pair_by=lambda r: (r["split"], r["seed"]),
                first=lambda r, b=bits: (r["scheme"], r["bits"]) == (first, b),
                second=lambda r, b=bits: (r["scheme"], r["bits"]) == (second, b),
                names=(first, second),
            )
            if entry is None:
                continue
            if _same_levels(first, second, bits):
                entry["verdict"] += " (identical level sets)"
            result.setdefault(str(bits), {})[key] = entry
    return result


# ---- figures and the terminal table --------------------------------------------------------


def plot_report(rows: list[dict], best: dict, confusion: np.ndarray, path: Path) -> None:
    plt = pyplot()
    fig, (bars, matrix) = plt.subplots(1, 2, figsize=(12, 4.8))
    labels = [r["label"] for r in rows]
    quantized = [r for r in rows if r["scheme"] != "float"]
    positions = np.arange(1, len(quantized) + 1)
    qat = [100 * r["accuracy"] for r in quantized]
    ptq = [100 * r["ptq_accuracy"] for r in quantized]
    float_accuracy = 100 * rows[0]["accuracy"]
    bars.bar([0], [float_accuracy], 0.5, label="float", color="#969696")
    bars.bar(positions - 0.2, ptq, 0.4, label="PTQ", color="#9ecae1")
    bars.bar(positions + 0.2, qat, 0.4, label="QAT", color="#3182bd")
    low = min([*ptq, *qat, float_accuracy])
    bars.set_ylim(max(0, low - 5), 100)
    bars.set_xticks(range(len(rows)), labels, rotation=20)
    bars.set_ylabel("test accuracy (%)")
    bars.set_title("accuracy per scheme (integer pipeline on the core)")
    bars.legend(loc="lower right")
    for x, value in zip([0, *(positions + 0.2)], [float_accuracy, *qat], strict=True):
        bars.text(x, value + 0.1, f"{value:.1f}", ha="center", va="bottom", fontsize=8)
    plot_confusion(
        matrix, confusion, f"confusion matrix: {best['label']} ({100 * best['accuracy']:.1f}%)"
    )
    fig.colorbar(matrix.images[0], ax=matrix)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_confusion(axis, confusion: np.ndarray, title: str) -> None:
    """A confusion matrix with its counts written in (shared with `qmatmul run cnn`)."""
    axis.imshow(confusion, cmap="Blues")
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_xticks(range(confusion.shape[0]))
    axis.set_yticks(range(confusion.shape[0]))
    axis.set_title(title)
    for (i, j), count in np.ndenumerate(confusion):
        if count:
            color = "white" if count > confusion.max() / 2 else "black"
            axis.text(j, i, str(count), ha="center", va="center", fontsize=7, color=color)


def _paired_differences(runs, first: str, second: str, bits: int) -> list[float]:
    a = {
        (r["split"], r["seed"]): r["accuracy"]
        for r in runs
        if (r["scheme"], r["bits"]) == (first, bits)
    }
    b = {
        (r["split"], r["seed"]): r["accuracy"]
        for r in runs
        if (r["scheme"], r["bits"]) == (second, bits)
    }
    return [100 * (a[k] - b[k]) for k in sorted(set(a) & set(b))]


def plot_sweep(sweep: dict, path: Path) -> None:
    plt = pyplot()
    summary = sweep["summary"]
    fig, (curves, diffs) = plt.subplots(1, 2, figsize=(12, 4.5))
    bits = sweep["bits"]
    for offset, kind in enumerate(sweep["schemes"]):
        means = [100 * summary[f"{kind}-{b}"]["accuracy"]["mean"] for b in bits]
        stds = [100 * summary[f"{kind}-{b}"]["accuracy"]["std"] for b in bits]
        x = np.array(bits) + 0.06 * (offset - 1.5)
        curves.errorbar(x, means, yerr=stds, marker="o", capsize=3, label=kind)
    flt = summary["float"]
    curves.axhline(100 * flt["mean"], color="gray", linestyle="--", label="float")
    curves.axhspan(
        100 * (flt["mean"] - flt["std"]), 100 * (flt["mean"] + flt["std"]), color="gray", alpha=0.15
    )
    curves.set_xticks(bits)
    curves.set_xlabel("weight bits")
    curves.set_ylabel("test accuracy after QAT (%)")
    n = sweep["splits"] * sweep["seeds"]
    curves.set_title(f"mean ± std over {sweep['splits']} splits x {sweep['seeds']} seeds")
    curves.legend()
    for b in bits:
        diff = _paired_differences(sweep["runs"], "sp2", "uniform", b)
        jitter = np.linspace(-0.15, 0.15, len(diff)) if len(diff) > 1 else [0.0]
        diffs.scatter(np.full(len(diff), b) + jitter, diff, alpha=0.6)
        if diff:
            diffs.errorbar(b + 0.3, np.mean(diff), yerr=np.std(diff), fmt="ks", capsize=3)
    diffs.axhline(0, color="gray", linewidth=0.8)
    diffs.set_xticks(bits)
    diffs.set_xlabel("weight bits")
    diffs.set_ylabel("SP2 - uniform accuracy (points)")
    diffs.set_title(f"paired difference per split/seed (n={n}); square: mean ± std")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def scheme_table(rows: list[dict], backend: str) -> str:
    headers = ["scheme", "PTQ acc", "QAT acc", f"ref={backend}", "fq agree", "cycles/img"]
    headers += ["weight bits", "PE mults"]
    lines = []
    for r in rows:
        if r["scheme"] == "float":
            lines.append(
                [
                    r["label"],
                    "",
                    f"{100 * r['accuracy']:.2f}%",
                    "-",
                    "-",
                    "-",
                    r["weight_memory_bits"],
                    "-",
                ]
            )
            continue
        lines.append(
            [
                r["label"],
                f"{100 * r['ptq_accuracy']:.2f}%",
                f"{100 * r['accuracy']:.2f}%",
                f"{100 * r['ref_agreement']:.1f}%",
                f"{100 * r['fake_quant_agreement']:.1f}%",
                f"{r['cycles_per_inference']:.1f}",
                r["weight_memory_bits"],
                r["pe_multipliers"],
            ]
        )
    return format_table(headers, lines)


def format_sweep(sweep: dict) -> str:
    summary = sweep["summary"]
    flt = summary["float"]
    n = sweep["splits"] * sweep["seeds"]
    lines = [
        f"sweep: {sweep['splits']} splits x {sweep['seeds']} seeds (n={n}), QAT accuracy "
        f"mean ± std (PTQ in brackets); float {100 * flt['mean']:.2f} ± {100 * flt['std']:.2f}%",
        f"{'bits':>4} " + " ".join(f"{kind:>24}" for kind in sweep["schemes"]),
    ]
    for b in sweep["bits"]:
        cells = []
        for kind in sweep["schemes"]:
            s = summary[f"{kind}-{b}"]
            cells.append(
                f"{100 * s['accuracy']['mean']:6.2f} ± {100 * s['accuracy']['std']:4.2f} "
                f"[{100 * s['ptq_accuracy']['mean']:5.1f}]"
            )
        lines.append(f"{b:>4} " + " ".join(f"{c:>24}" for c in cells))
    paired = sweep["paired_sp2_vs_uniform"]
    if paired:
        lines.append(
            "paired SP2 - uniform (accuracy points): mean ± std, SP2 wins/ties/losses, "
            "p (paired t, Wilcoxon)"
        )
        for b, entry in paired.items():
            for key, name in (("accuracy", "QAT"), ("ptq_accuracy", "PTQ")):
                e = entry[key]
                lines.append(
                    f"{b:>4} {name}: {100 * e['mean_difference']:+.2f} ± "
                    f"{100 * e['std_difference']:.2f}  {e['wins']}/{e['ties']}/{e['losses']}  "
                    f"p={e['t_test_p']:.3f}, {e['wilcoxon_p']:.3f}  -> {e['verdict']}"
                )
    return "\n".join(lines)


# ---- the command ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qmatmul run digits",
        description="Handwritten-digit MLP with quantized weights on the core.",
    )
    parser.add_argument("--data", choices=("digits", "mnist"), default="digits")
    parser.add_argument("--path", type=Path, help="directory with the MNIST IDX files")
    parser.add_argument(
        "--backend", default="sim", help="ref, sim or serial:PORT[,BAUD] (default sim)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--seed", type=int, default=0, help="training seed of the main table")
    parser.add_argument("--bits", type=int, default=4, help="weight bits of the main table")
    parser.add_argument("--schemes", default=DEFAULT_SCHEMES, help="comma-separated schemes")
    parser.add_argument("--act-bits", type=int, default=8, help="activation bits (2..8)")
    parser.add_argument("--hidden", type=int_list, default=[64], help="hidden sizes, e.g. 64")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--qat-epochs", type=int, default=TrainConfig.qat_epochs)
    parser.add_argument("--sweep-bits", type=int_list, default=[2, 3, 4])
    parser.add_argument("--splits", type=int, default=5, help="stratified re-splits in the sweep")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per split")
    parser.add_argument("--quick", action="store_true", help="sweep with one split and one seed")
    parser.add_argument("--no-sweep", action="store_true", help="skip the sweep")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quick:
        args.splits = args.seeds = 1
    for name in ("splits", "seeds", "epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.qat_epochs < 0:
        parser.error("--qat-epochs must be at least 0")
    if not 2 <= args.act_bits <= 8:
        parser.error(f"--act-bits={args.act_bits} is out of range; allowed range is [2, 8]")
    # Heavy imports (torch, scikit-learn) only now: `--help` and bad arguments answer at once.
    import torch

    from sw.data import DataFormatError, load_dataset
    from sw.quant import parse_schemes

    try:
        schemes = parse_schemes(args.schemes, args.bits)
        for bits in args.sweep_bits:
            parse_schemes(args.schemes, bits)
        dataset = load_dataset(args.data, args.path)
    except (DataFormatError, ValueError) as error:
        parser.error(str(error))
    config = TrainConfig(
        hidden=tuple(args.hidden),
        epochs=args.epochs,
        qat_epochs=args.qat_epochs,
        act_bits=args.act_bits,
    )
    torch.set_num_threads(1)  # small matrices: threads only add overhead on a shared machine
    return run(args, dataset, schemes, config)


def why_not_decoded(scheme, core_params, act_bits: int) -> str | None:
    """Why a core with ``core_params`` cannot decode ``scheme``'s codes, or None if it can."""
    codebook = [0] * (1 << scheme.bits) if scheme.weight_mode == "codebook" else None
    try:
        core_params.check_weights(scheme.layer_spec(act_bits=act_bits, codebook=codebook))
    except ValueError as error:
        return str(error)
    return None


def schemes_on_device(schemes, info, act_bits: int, *, asked: bool) -> list:
    """The schemes whose codes the device decodes (a fixed-SPx iCEBreaker design has only
    SP2). A scheme asked for by name that it cannot run is an error; of the default list,
    the others are left out with a note."""
    params = info.core_params()
    runnable = []
    for scheme in schemes:
        problem = why_not_decoded(scheme, params, act_bits)
        if problem is not None:
            if asked:
                raise ValueError(f"{scheme.label} cannot run on this device: {problem}")
            print(f"note: {scheme.label} left out: {problem}")
            continue
        runnable.append(scheme)
    if not runnable:
        raise ValueError("none of the weight schemes runs on this device")
    return runnable


def run(args, dataset, schemes, config: TrainConfig) -> int:
    from sklearn.metrics import confusion_matrix

    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    print(
        f"{dataset.name}: {len(dataset.y_train)} training / {len(dataset.y_test)} test images, "
        f"MLP {'-'.join(str(s) for s in (dataset.features, *config.hidden, dataset.classes))}, "
        f"{config.act_bits}-bit activations, backend {args.backend}"
    )
    with ExitStack() as stack:
        ref, backend = open_with_ref(stack, args.backend)  # fail early on a bad backend
        info = backend.identify()
        sweep_kinds = [s.kind for s in schemes]  # the sweep runs on ref: every scheme asked for
        schemes = schemes_on_device(
            schemes, info, config.act_bits, asked=args.schemes != DEFAULT_SCHEMES
        )
        model = train_float(dataset, config, args.seed, progress="float training")
        rows = []
        flt, _ = float_row(model, dataset)
        rows.append(flt)
        predictions = {}
        for scheme in tqdm(schemes, desc="schemes", unit="scheme"):
            row, predictions[scheme.name] = scheme_report(
                scheme, model, dataset, config, args.seed, ref, backend
            )
            rows.append(row)
        quantized = [r for r in rows if r["scheme"] != "float"]
        best = max(quantized, key=lambda r: r["accuracy"])
        confusion = confusion_matrix(
            dataset.y_test, predictions[best["scheme"]], labels=range(dataset.classes)
        )
    sweep = None
    if not args.no_sweep:
        with open_backend("ref") as ref:
            sweep = run_sweep(
                dataset, config, sweep_kinds, args.sweep_bits, args.splits,
                args.seeds, ref,
            )  # fmt: skip

    figures = {"report": str(out / "digits_report.png")}
    plot_report(rows, best, confusion, Path(figures["report"]))
    if sweep is not None and "sp2" in sweep["schemes"] and "uniform" in sweep["schemes"]:
        figures["sweep"] = str(out / "digits_sweep.png")
        plot_sweep(sweep, Path(figures["sweep"]))

    results_path = write_json(
        out / "results.json",
        {
            "data": dataset.name,
            "train_images": len(dataset.y_train),
            "test_images": len(dataset.y_test),
            "backend": args.backend,
            "device": {"rows": info.rows, "cols": info.cols, "clock_hz": info.clock_hz},
            "seed": args.seed,
            "config": asdict(config),
            "table": rows,
            "best_quantized": best["scheme"],
            "confusion_matrix": confusion.tolist(),
            "sweep": sweep,
            "figures": figures,
        },
    )

    print()
    print(scheme_table(rows, args.backend))
    print(
        f"PE mults: multipliers in the {info.rows}x{info.cols} PE array of a core built for the "
        f"mode alone (SPx shifts and adds); every mode also uses the one requantizer multiplier."
    )
    sp2 = next((r for r in quantized if r["scheme"] == f"sp2-{args.bits}"), None)
    if sp2 is not None:
        gap = 100 * (flt["accuracy"] - sp2["accuracy"])
        side = "below" if gap >= 0 else "above"
        print(
            f"SP2 {args.bits}-bit is {abs(gap):.2f} points {side} float "
            f"({'within' if gap <= 1 else 'NOT within'} the 1-point target)"
        )
    if sweep is not None:
        print()
        print(format_sweep(sweep))
    print()
    print(f"wrote {results_path}")
    for name, path in figures.items():
        print(f"wrote {path} ({name})")
    disagreeing = [r for r in quantized if r["ref_agreement"] < 1]
    if disagreeing:
        print(f"ERROR: {args.backend} and ref disagree for {[r['scheme'] for r in disagreeing]}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`make demo` / `qmatmul demo`: the SP2 4-bit digits MLP on the Verilator-simulated core.

Trains (or loads from ``build/cache``) a 64-64-10 MLP on scikit-learn's 8x8 digits with
SP2 4-bit weights (QAT) and 8-bit activations, compiles it to core layers, runs the
whole test set through the ``sim`` backend (the RTL in Verilator, reached through the
driver over a pseudo-terminal), runs it again on ``ref`` and checks every integer
output matches. Prints accuracy, agreement, device cycles per image and where the
figure and results went.
"""

from __future__ import annotations

import argparse
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from .backends import open_with_ref
from .common import cache_key, pyplot, write_json

SEED = 0
DEFAULT_OUT = Path("build/demo")
DEFAULT_CACHE = Path("build/cache")
# The cached model is rebuilt when any of these sources (or the configuration) changes.
SOURCES = ("sw/quant", "sw/nn", "sw/kernel", "sw/workloads/digits.py", "sw/data")


def trained_program(config, dataset, scheme, cache_dir: Path, retrain: bool):
    """The compiled QAT program and the float accuracy, from the cache or trained now.

    The cache holds the float model's and the QAT model's ``state_dict`` (weights and
    every quantizer's levels and scales), so a cached program is the trained one.
    """
    import torch

    from sw.data import DIGITS_SPLIT_SEED
    from sw.nn import compile_model, make_mlp, predict, prepare_qat

    from .digits import quantize_model, train_float

    key = cache_key(config, seed=SEED, sources=SOURCES, extra=[scheme.name, DIGITS_SPLIT_SEED])
    path = Path(cache_dir) / f"digits-{scheme.name}-{key}.pt"
    if path.exists() and not retrain:
        saved = torch.load(path, weights_only=True)
        model = make_mlp([dataset.features, *config.hidden, dataset.classes], seed=SEED)
        model.load_state_dict(saved["float"])
        quantized = prepare_qat(model.eval(), dataset.x_train[:8], scheme, act_bits=config.act_bits)
        quantized.load_state_dict(saved["quantized"])
        print(f"loaded the trained {scheme.label} model from {path}")
        return compile_model(quantized, None), saved["float_accuracy"]
    start = time.perf_counter()
    model = train_float(dataset, config, SEED, progress="float training")
    float_accuracy = float(np.mean(predict(model, dataset.x_test) == dataset.y_test))
    _, quantized, program = quantize_model(
        model, dataset, scheme, config, SEED, progress=f"QAT {scheme.label}"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "float": model.state_dict(),
            "quantized": quantized.state_dict(),
            "float_accuracy": float_accuracy,
        },
        path,
    )
    print(f"trained in {time.perf_counter() - start:.1f} s; cached in {path}")
    return program, float_accuracy


def plot(dataset, predictions, accuracy: float, label: str, path: Path) -> None:
    from sklearn.metrics import confusion_matrix

    plt = pyplot()

    confusion = confusion_matrix(dataset.y_test, predictions, labels=range(dataset.classes))
    wrong = np.flatnonzero(predictions != dataset.y_test)[:8]
    fig = plt.figure(figsize=(12, 5))
    matrix = fig.add_axes((0.05, 0.1, 0.45, 0.8))
    image = matrix.imshow(confusion, cmap="Blues")
    fig.colorbar(image, ax=matrix)
    for (i, j), count in np.ndenumerate(confusion):
        if count:
            color = "white" if count > confusion.max() / 2 else "black"
            matrix.text(j, i, str(count), ha="center", va="center", fontsize=7, color=color)
    matrix.set_xticks(range(10))
    matrix.set_yticks(range(10))
    matrix.set_xlabel("predicted (on the simulated core)")
    matrix.set_ylabel("true")
    matrix.set_title(f"{label} MLP on sim: {100 * accuracy:.2f}% of {len(predictions)}")
    for slot, index in enumerate(wrong):
        axis = fig.add_axes((0.58 + 0.1 * (slot % 4), 0.52 - 0.42 * (slot // 4), 0.08, 0.35))
        axis.imshow(dataset.x_test[index].reshape(dataset.image_shape), cmap="gray_r")
        axis.set_title(f"{dataset.y_test[index]} -> {predictions[index]}", fontsize=9)
        axis.axis("off")
    if len(wrong):
        fig.text(0.58, 0.93, "misclassified test images (true -> predicted)", fontsize=10)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qmatmul demo", description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="sim", help="the device to run on (default sim)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="trained-model cache")
    parser.add_argument("--retrain", action="store_true", help="ignore a cached model")
    args = parser.parse_args(argv)
    import torch

    from sw.data import load_digits_dataset
    from sw.quant import WeightScheme

    from .digits import TrainConfig

    torch.set_num_threads(1)
    begin = time.perf_counter()
    scheme = WeightScheme("sp2", 4)
    config = TrainConfig()
    dataset = load_digits_dataset()
    program, float_accuracy = trained_program(config, dataset, scheme, args.cache, args.retrain)
    print(f"opening the {args.backend} backend (the first use builds the Verilator model)...")
    with ExitStack() as stack:
        ref, device = open_with_ref(stack, args.backend)
        info = device.identify()
        start = time.perf_counter()
        outputs, cycles = program.run(device, dataset.x_test, measure_cycles=True)
        seconds = time.perf_counter() - start
        expected, _ = program.run(ref, dataset.x_test, measure_cycles=False)
    images = len(dataset.y_test)
    predictions = outputs.argmax(axis=1)
    accuracy = float(np.mean(predictions == dataset.y_test))
    agreement = float(np.mean(np.all(outputs == expected, axis=1)))
    total_cycles = sum(cycles.values())

    args.out.mkdir(parents=True, exist_ok=True)
    figure = args.out / "demo_confusion.png"
    plot(dataset, predictions, accuracy, scheme.label, figure)
    results_path = write_json(
        args.out / "results.json",
        {
            "scheme": scheme.name,
            "backend": args.backend,
            "device": {"rows": info.rows, "cols": info.cols, "clock_hz": info.clock_hz},
            "test_images": images,
            "accuracy": accuracy,
            "float_accuracy": float_accuracy,
            "ref_agreement": agreement,
            "cycles_per_image": total_cycles / images,
            "layer_cycles_per_image": [
                cycles[layer.name] / images for layer in program.core_layers
            ],
            "backend_seconds": seconds,
            "images_per_second": images / seconds,
            "figure": str(figure),
        },
    )

    layers = program.core_layers
    sizes = " -> ".join(str(n) for n in [layers[0].k] + [layer.n for layer in layers])
    device_time = total_cycles / images / info.clock_hz
    print()
    print(f"model        {sizes} MLP, {scheme.label} weights, {program.act_bits}-bit activations")
    mhz = info.clock_hz / 1e6
    print(f"backend      {args.backend} ({info.rows}x{info.cols} array at {mhz:g} MHz)")
    print(f"test images  {images} (scikit-learn 8x8 digits, fixed split)")
    print(
        f"accuracy     {100 * accuracy:.2f}% on {args.backend} "
        f"(float model: {100 * float_accuracy:.2f}%)"
    )
    print(f"agreement    {100 * agreement:.1f}% of images bit-identical to ref")
    print(
        f"cycles/image {total_cycles / images:.1f} device cycles "
        f"({1e6 * device_time:.2f} us at {mhz:g} MHz; batches of {info.m_max})"
    )
    print(f"host speed   {images / seconds:.0f} images/s through the driver ({seconds:.2f} s)")
    print(f"figure       {figure}")
    print(f"results      {results_path}")
    print(f"total time   {time.perf_counter() - begin:.0f} s")
    if agreement < 1:
        wrong = images - round(agreement * images)
        print(f"ERROR: {args.backend} disagrees with ref on {wrong} images")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`make demo` / `qmatmul demo`: the SP2 4-bit digits MLP on the Verilator-simulated core.

Trains (or loads from ``build/cache``) a 64-64-10 MLP on scikit-learn's 8x8 digits with
SP2 4-bit weights (QAT) and 8-bit activations, compiles it to core layers, runs the
whole test set through the ``sim`` backend (the RTL in Verilator, reached through the
driver over a pseudo-terminal), runs it again on ``ref`` and checks every integer
output matches. Its two layers run as one network on the device (RUN_NETWORK: the
hidden layer never crosses the link); the demo runs them layer by layer too and
compares the bytes each way moves. Prints accuracy, agreement, device cycles per
image, the link's share of the time at the board's UART rate, and where the figure
and results went.
"""

from __future__ import annotations

import argparse
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from sw.device.configs import DEFAULT_BAUD, uart_link

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


def end_to_end(program, device, x, link, *, whole_network: bool) -> dict:
    """One pass of ``x`` through ``program`` on ``device``, costed as a board would run
    it: the bytes the driver moved (counted on ``device``'s link; COUNTERS reads left
    out) over ``link``, plus the device's cycles at its clock. The link and the device
    take turns, so the time is their sum (a lower bound: no host latency)."""
    link_bytes = None
    if hasattr(device.backend, "link"):
        serial = device.backend.link
        before = serial.bytes_written + serial.bytes_read
        program.run(device, x, measure_cycles=False, whole_network=whole_network)
        link_bytes = serial.bytes_written + serial.bytes_read - before
    _, cycles = program.run(device, x, measure_cycles=True, whole_network=whole_network)
    images = len(x)
    total_cycles = sum(cycles.values())
    compute = total_cycles / device.info.clock_hz
    wire = None if link_bytes is None else link.wire_seconds(link_bytes)
    return {
        "whole_network": whole_network,
        "on_chip": all(program.last_run.whole.values()) and bool(program.last_run.whole),
        "cycles_per_image": total_cycles / images,
        "link_bytes_per_image": None if link_bytes is None else link_bytes / images,
        "compute_seconds": compute,
        "link_seconds": wire,
        "link_share": None if wire is None else wire / (wire + compute),
        "images_per_second": None if wire is None else images / (wire + compute),
    }


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
        on_chip = program.last_run.whole
        expected, _ = program.run(ref, dataset.x_test, measure_cycles=False)
        link = uart_link(DEFAULT_BAUD)
        paths = {
            label: end_to_end(program, device, dataset.x_test, link, whole_network=whole)
            for label, whole in (("whole network", True), ("layer by layer", False))
        }
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
            # A chain run as one network: each layer's share of the measured cycles.
            "layer_cycles_per_image": [
                cycles[layer.name] / images for layer in program.core_layers
            ],
            "network_on_chip": on_chip,
            "link": {"kind": link.kind, "bits_per_second": link.bits_per_second},
            "paths": paths,
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
    where = "one network on chip" if on_chip and all(on_chip.values()) else "layer by layer"
    print(f"layers       {where} (RUN_NETWORK: the hidden layer stays on the device)")
    if paths["whole network"]["link_bytes_per_image"] is not None:
        rate = f"{link.bits_per_second / 1e6:g} Mbaud"
        for label, path in paths.items():
            share = 100 * path["link_share"]
            print(
                f"{label:<14} {path['link_bytes_per_image']:.0f} link bytes/image, "
                f"{path['cycles_per_image']:.0f} cycles/image: at {rate} "
                f"{path['images_per_second']:.0f} images/s, the link {share:.1f}% of the time"
            )
        gain = (
            paths["whole network"]["images_per_second"]
            / paths["layer by layer"]["images_per_second"]
        )
        print(f"whole vs layer by layer: {gain:.2f}x the images per second at {rate}")
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

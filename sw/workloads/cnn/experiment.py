"""Train, quantize, compile and evaluate one CNN: what `qmatmul run cnn` and the bench share.

1. `trained_float`: the float network trained with Adam on the data set's training
   split (cached in ``build/cache``, keyed by `TrainConfig`, the seed and the code).
2. `quantize`: for one weight scheme, post-training quantization calibrated on the
   training set (`sw.nn.prepare_qat`), then QAT (`train_qat`, the quantizers fixed at
   their PTQ fit), each compiled (`sw.nn.compile_model`).
3. `evaluate_scheme`: the whole test set through the QAT program on a backend and on
   ``ref`` (every image's outputs compared), the fake-quant accuracy, the device cycles
   and each core layer's array utilization (`sw.nn.layer_sizing`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sw.nn import compile_model, layer_sizing, prepare_qat, train_classifier, train_qat

from ..common import cache_key
from .models import build_model

DATA_SETS = ("digits", "mnist1d")
# What a trained float network depends on besides its config, seed and data set.
TRAINING_SOURCES = ("sw/workloads/cnn/models.py", "sw/nn/mlp.py")


@dataclass(frozen=True)
class TrainConfig:
    """Float training (the defaults are the reported runs); the model cache's key is this."""

    width: int = 16
    epochs: int = 40
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4


@dataclass(frozen=True)
class QATConfig:
    """Quantization: activation width and QAT fine-tuning (the quantizers stay fixed)."""

    act_bits: int = 8
    epochs: int = 8
    batch_size: int = 64
    # QAT fine-tunes the BatchNorm-folded weights (0.05 to 1 in size) with Adam, which
    # moves every weight by about lr per step; at 5e-4 the mnist1d net's weights
    # oscillated across rounding levels and its training accuracy fell by several
    # points; 1e-4 keeps it at ~100% (chosen on the training set).
    lr: float = 1e-4


QUICK_TRAIN = TrainConfig(epochs=12)
QUICK_QAT = QATConfig(epochs=2)


def load_data(name: str):
    if name == "digits":
        from sw.data import load_digits_dataset

        return load_digits_dataset()
    if name == "mnist1d":
        from sw.data.mnist1d import load_mnist1d

        return load_mnist1d()
    raise ValueError(f"unknown data set {name!r}; use one of {DATA_SETS}")


def images(dataset, x: np.ndarray) -> np.ndarray:
    """Flat features as (n, 1, *image_shape): one input channel."""
    return np.asarray(x, dtype=np.float64).reshape(-1, 1, *dataset.image_shape)


def accuracy(outputs: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.asarray(outputs).argmax(axis=1) == labels))


def float_outputs(model: nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model.eval()(torch.as_tensor(x, dtype=torch.float32)).double().numpy()


def trained_float(
    data: str,
    dataset,
    config: TrainConfig,
    seed: int,
    cache_dir: Path | None,
    *,
    retrain: bool = False,
    progress=None,
) -> nn.Module:
    """The float network, from ``cache_dir`` when it was trained before (None: no cache;
    ``retrain``: train again and replace the cached one)."""
    model = build_model(data, config.width, seed)
    path = None
    if cache_dir is not None:
        key = cache_key(config, seed=seed, sources=TRAINING_SOURCES, extra=data)
        path = Path(cache_dir) / f"cnn-{data}-{key}.pt"
        if path.exists() and not retrain:
            model.load_state_dict(torch.load(path, weights_only=True))
            return model.eval()
    train_classifier(
        model,
        images(dataset, dataset.x_train),
        dataset.y_train,
        epochs=config.epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        weight_decay=config.weight_decay,
        seed=seed,
        progress=progress,
    )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), path)
    return model.eval()


def quantize(model, dataset, scheme, qat: QATConfig, seed: int, *, progress=None):
    """``(PTQ program, QAT model, QAT program)`` for one weight scheme."""
    x_train = images(dataset, dataset.x_train)
    quantized = prepare_qat(
        model, x_train, scheme, act_bits=qat.act_bits, calibration_inputs=x_train
    )
    ptq = compile_model(quantized, None)
    if qat.epochs:
        train_qat(
            quantized,
            x_train,
            dataset.y_train,
            nn.functional.cross_entropy,
            epochs=qat.epochs,
            batch_size=qat.batch_size,
            lr=qat.lr,
            seed=seed,
            progress=progress,
        )
    return ptq, quantized, compile_model(quantized, None)


def evaluate_scheme(scheme, model, dataset, qat: QATConfig, seed: int, ref, backend):
    """One scheme's row: accuracies (float, PTQ, fake-quant, core), agreement with ref,
    cycles per image and every core layer's sizing."""
    x_test = images(dataset, dataset.x_test)
    labels = dataset.y_test
    ptq, _, program = quantize(model, dataset, scheme, qat, seed, progress=f"QAT {scheme.label}")
    start = time.perf_counter()
    on_backend, cycles = program.run(backend, x_test, measure_cycles=True)
    seconds = time.perf_counter() - start
    sizes = layer_sizing(program, backend.identify())
    on_ref = on_backend if backend is ref else program.run(ref, x_test, measure_cycles=False)[0]
    fake = program.fake_quant(x_test)
    count = len(labels)
    row = {
        "scheme": scheme.name,
        "label": scheme.label,
        "ptq_accuracy": accuracy(ptq.fake_quant(x_test), labels),
        "fake_quant_accuracy": accuracy(fake, labels),
        "core_accuracy": accuracy(on_backend, labels),
        "ref_identical_images": float(np.mean(np.all(on_backend == on_ref, axis=1))),
        "fake_quant_identical_images": float(np.mean(np.all(on_backend == fake, axis=1))),
        "cycles_per_image": sum(cycles.values()) / count,
        "macs_per_image": program.macs_per_sample,
        "weight_memory_bits": program.weight_memory_bits,
        "backend_seconds": seconds,
        "layers": [
            {
                **size.as_dict(),
                "rows_per_image": size.rows / count,
                "cycles_per_image": size.cycles / count,
                "output_bits": layer.output_bits,
            }
            for size, layer in zip(sizes, program.core_layers, strict=True)
        ],
    }
    return row, on_backend.argmax(axis=1)


def repeated_runs(
    data: str,
    dataset,
    train: TrainConfig,
    qat: QATConfig,
    schemes,
    seeds,
    ref,
    cache_dir,
    progress=None,
):
    """Float and QAT accuracy on ``ref`` for every seed (network trained afresh per seed).

    Returns one dict per (seed, scheme): float accuracy, QAT accuracy (the core's, which
    equals the fake-quant's) and their difference in points.
    """
    x_test = images(dataset, dataset.x_test)
    runs = []
    for seed in seeds:
        model = trained_float(data, dataset, train, seed, cache_dir, progress=progress)
        float_accuracy = accuracy(float_outputs(model, x_test), dataset.y_test)
        for scheme in schemes:
            _, _, program = quantize(model, dataset, scheme, qat, seed)
            outputs, _ = program.run(ref, x_test, measure_cycles=False)
            quantized = accuracy(outputs, dataset.y_test)
            runs.append(
                {
                    "seed": seed,
                    "scheme": scheme.name,
                    "float_accuracy": float_accuracy,
                    "accuracy": quantized,
                    "gap_points": 100 * (float_accuracy - quantized),
                }
            )
    return runs

"""Running a (pruned) network on the core: compile with `sw.nn.compile_model`, run, count cycles.

Every product goes through the driver (`program.run`): the score on the core is what
the device computes, and the device cycles are its counters (on ``ref``, the cycle
model the RTL matches exactly). Cycles depend only on the layer shapes, not on the
pixel values, so they are the same for every image of a batch of the same size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .tasks import TaskData


@dataclass(frozen=True)
class QuantConfig:
    """How a network is quantized for the core: calibrated per layer (post-training
    quantization), then optionally ``qat_epochs`` of quantization-aware training."""

    scheme: str = "sp2"  # weight scheme: sums of two powers of two, shifts and adds on the PEs
    weight_bits: int = 4
    act_bits: int = 8
    calibration_samples: int = 256  # training samples the activation scales are fitted on
    qat_epochs: int = 0
    qat_lr: float = 2e-4


@dataclass(frozen=True)
class CoreRun:
    """A network compiled and run on one backend."""

    score: float  # accuracy or PSNR (dB) of the core's outputs
    outputs: np.ndarray  # dequantized outputs, float64
    images: int
    cycles_per_image: float  # device cycles, summed over the core layers
    layer_cycles_per_image: dict[str, float]
    core_macs_per_image: int  # multiply-accumulates the core layers perform per image
    layer_shapes: dict[str, tuple[int, int]]  # core layer -> (K, N)
    layer_utilization: dict[str, float]  # core layer -> ideal MACs/(R*C) over its cycles


def compile_network(model: nn.Module, data: TaskData, quant: QuantConfig, *, seed: int = 0):
    """`sw.nn.compile_model` of ``model`` (eval mode) calibrated on ``data``'s training set;
    with ``quant.qat_epochs``, after that much QAT (`sw.nn.train_qat`, batches under ``seed``)."""
    from sw.nn import compile_model, prepare_qat, train_qat

    model.eval()
    calibration = data.x_train[: quant.calibration_samples]
    settings = {"weight_bits": quant.weight_bits, "act_bits": quant.act_bits}
    if quant.qat_epochs == 0:
        return compile_model(
            model, data.x_test[:1], quant.scheme, calibration_inputs=calibration, **settings
        )
    quantized = prepare_qat(
        model, data.x_test[:1], quant.scheme, calibration_inputs=calibration, **settings
    )
    train_qat(
        quantized,
        data.x_train,
        data.y_train,
        data.loss_fn,
        epochs=quant.qat_epochs,
        lr=quant.qat_lr,
        seed=seed,
        calibration_inputs=calibration,
    )
    return compile_model(quantized, data.x_test[:1])


def run_on_core(program, accelerator, data: TaskData, *, images: int | None = None) -> CoreRun:
    """Run the first ``images`` test inputs (all when None) through ``program`` on
    ``accelerator`` and score them."""
    from sw.nn import layer_sizing

    count = len(data.x_test) if images is None else min(images, len(data.x_test))
    inputs = data.x_test[:count]
    with torch.no_grad():
        outputs, cycles = program.run(accelerator, inputs)
    outputs = np.asarray(outputs, dtype=np.float64)
    subset = TaskData(
        data.name, data.task, data.metric, data.x_train, data.y_train, inputs, data.y_test[:count]
    )
    return CoreRun(
        score=subset.score(outputs),
        outputs=outputs,
        images=count,
        cycles_per_image=float(sum(cycles.values())) / count,
        layer_cycles_per_image={name: float(c) / count for name, c in cycles.items()},
        core_macs_per_image=int(program.macs_per_sample),
        layer_shapes={layer.name: (int(layer.k), int(layer.n)) for layer in program.core_layers},
        layer_utilization={
            size.name: size.utilization for size in layer_sizing(program, accelerator.identify())
        },
    )

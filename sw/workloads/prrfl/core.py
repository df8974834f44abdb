"""A client's personalized model on the core.

The client quantizes its own float model (``core_scheme`` weights of
``core_weight_bits`` bits, ``core_act_bits``-bit activations, calibrated on its own
training images; `sw.nn.prepare_qat`), fine-tunes it for ``core_qat_epochs`` epochs of
quantization-aware training on those images (`sw.nn.train_qat`; 0: post-training
quantization only), and compiles it (`sw.nn.compile_model`: its BatchNorm statistics
folded into the convolution and linear layers, each ReLU into the requantization). It
runs its test images through the program on the `ref` backend (the
bit-exact model of the device) and, when ``core_target`` names another backend
(``sim``: the Verilator model of the board's RTL; ``serial:PORT``: a board), on that
one too, which must agree bit for bit. Every process opens its own accelerator from the
target string (an open link cannot be shipped to a Flower client).
"""

from __future__ import annotations

import numpy as np
import torch

from .config import FederationConfig
from .data import ClientShard
from .training import scores

QAT_BATCH = 32
QAT_LR = 1e-3  # Adam (sw.nn.train), small: the float model is already trained


def core_scores(model: torch.nn.Module, shard: ClientShard, config: FederationConfig) -> dict:
    """Test scores of the personalized model compiled onto the core, device cycles per
    image, agreement with the torch fake-quant forward and (for a non-ref target) with
    ``ref``; every value a float for Flower's MetricRecord."""
    import torch.nn.functional as F

    from sw.driver import Accelerator
    from sw.nn import compile_model, prepare_qat, train_qat
    from sw.workloads.backends import reference_target

    torch.set_num_threads(1)
    x_train = torch.from_numpy(shard.x_train)
    quantized = prepare_qat(
        model.eval(),
        x_train[:2],
        config.core_scheme,
        weight_bits=config.core_weight_bits,
        act_bits=config.core_act_bits,
        calibration_inputs=x_train,
    )
    images = shard.x_test
    target = config.core_target or "ref"
    # post-training quantization alone, for reference (scored on ref)
    # the bit-exact reference of the target's own device: it splits and refuses layers alike
    with Accelerator.open(reference_target(target)) as ref:
        ptq_program = compile_model(quantized, x_train[:2])
        ptq_logits, _ = ptq_program.run(ref, images, measure_cycles=False)
        if config.core_qat_epochs:
            train_qat(
                quantized,
                shard.x_train,
                shard.y_train,
                F.cross_entropy,
                epochs=config.core_qat_epochs,
                batch_size=QAT_BATCH,
                lr=QAT_LR,
                seed=config.seed * 1000 + shard.client,
            )
        program = compile_model(quantized, x_train[:2])
        logits, cycles = program.run(ref, images, measure_cycles=True)
        info = ref.info
    fake_quant = program.fake_quant(images)
    target_identical = 1.0
    if not target.startswith("ref"):
        with Accelerator.open(target) as device:
            device_logits, cycles = program.run(device, images, measure_cycles=True)
            info = device.info
        target_identical = float(np.array_equal(device_logits, logits))
    cycles_per_image = sum(cycles.values()) / len(images)
    core = scores(shard.y_test, torch.softmax(torch.from_numpy(logits), dim=1).numpy())
    ptq = scores(shard.y_test, torch.softmax(torch.from_numpy(ptq_logits), dim=1).numpy())
    return {
        "core_ptq_test_f1": ptq["f1"],
        "core_test_f1": core["f1"],
        "core_test_auc": core["auc"],
        "core_test_accuracy": core["accuracy"],
        "core_fake_quant_identical": float(np.array_equal(logits, fake_quant)),
        "core_target_identical": target_identical,
        "core_cycles_per_image": cycles_per_image,
        "core_macs_per_image": float(program.macs_per_sample),
        # the share of the R x C array's multiply-accumulates doing useful work
        "core_utilization": program.macs_per_sample / (cycles_per_image * info.rows * info.cols),
    }

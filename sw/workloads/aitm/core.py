"""AITM's inference on the core, through the graph compiler (`sw.nn.compile_model`).

The trained float `AITM` is compiled as it is: the towers' Linear layers (BatchNorm
folded, ReLU folded into the requantization), the transfer networks, the AIT
projections h1, h2, h3 (two rows per sample: q_t and p_{t-1}) and the output heads
run as core layers; the embedding gather, the concatenations, the attention scores
and softmax, the weighted sum and the sigmoids run on the host (the compiler's host
steps: integer-exact data movement, float64 after 16-bit requantized values).
Quantization: post-training, ``weight_bits``-bit weights of a scheme (SP2, uniform)
with per-channel scales, ``act_bits``-bit activations calibrated on training samples.

`core_report` compares, on the whole test set, the float model, the program evaluated
in torch (fake quantization) and the program with every core product on ``ref``; on
another backend (``sim``, a board) it runs ``check_samples`` test samples on both and
reports whether every output is bit-identical. Device cycles come from the device's
counters (on ``ref``, the cycle model the RTL matches).
"""

from __future__ import annotations

import time

import numpy as np

from .data import FunnelData
from .train import funnel_metrics, model_inputs, predict

DEFAULT_SCHEMES = ("sp2", "uniform")
CALIBRATION_SAMPLES = 4096
# Core layer name prefix (the module path in `AITM`) -> the part of the model it is.
LAYER_GROUPS = {
    "towers": "towers",
    "transfers": "transfer",
    "aits": "AIT h1/h2/h3",
    "heads": "heads",
}


def compile_aitm(model, calibration: FunnelData, scheme: str, *, weight_bits: int, act_bits: int):
    """The `Program` of a trained float AITM, calibrated on ``calibration``'s samples."""
    from sw.nn import compile_model

    ids, numeric = model_inputs(calibration)
    return compile_model(
        model.eval(),
        (ids[:64], numeric[:64]),
        scheme,
        weight_bits=weight_bits,
        act_bits=act_bits,
        calibration_inputs=(ids, numeric),
    )


def _group(layer_name: str) -> str:
    return LAYER_GROUPS.get(layer_name.split(".")[0], "other")


def _cycles_by_group(program, cycles: dict[str, int], batch: int) -> dict[str, float]:
    groups: dict[str, float] = {}
    for layer in program.core_layers:
        group = _group(layer.name)
        groups[group] = groups.get(group, 0.0) + cycles[layer.name] / batch
    return groups


def core_report(
    model,
    train: FunnelData,
    test: FunnelData,
    *,
    ref,
    backend=None,
    schemes=DEFAULT_SCHEMES,
    weight_bits: int = 4,
    act_bits: int = 8,
    check_samples: int = 256,
    core_samples: int | None = None,
    calibration_samples: int = CALIBRATION_SAMPLES,
    rng_seed: int = 0,
) -> dict:
    """Float vs fake-quant vs core metrics per scheme, cycles, ref-vs-backend identity.

    ``core_samples``: evaluate on this many test samples drawn at random (None: all);
    ``calibration_samples``: training samples that calibrate the activation scales.
    """
    from tqdm.auto import tqdm

    from sw.nn import layer_sizing

    rng = np.random.default_rng(rng_seed)
    calibration = train.subset(np.sort(rng.permutation(train.samples)[:calibration_samples]))
    if core_samples is not None and core_samples < test.samples:
        test = test.subset(np.sort(rng.permutation(test.samples)[:core_samples]))
    ids, numeric = model_inputs(test)
    float_metrics = funnel_metrics(predict(model, test), test.labels)
    report = {
        "weight_bits": weight_bits,
        "act_bits": act_bits,
        "calibration_samples": calibration.samples,
        "test_samples": test.samples,
        "float": float_metrics,
        "schemes": {},
    }
    for scheme in tqdm(schemes, desc="on the core", leave=False):
        program = compile_aitm(
            model, calibration, scheme, weight_bits=weight_bits, act_bits=act_bits
        )
        fake_outputs = program.fake_quant((ids, numeric))
        start = time.perf_counter()
        outputs, cycles = program.run(ref, (ids, numeric))
        ref_seconds = time.perf_counter() - start
        sizing = layer_sizing(program, ref.info)
        core = funnel_metrics(outputs, test.labels)
        batch = test.samples
        entry = {
            "fake_quant": funnel_metrics(fake_outputs, test.labels),
            "core": core,
            "auc_change": [c - f for c, f in zip(core["auc"], float_metrics["auc"], strict=True)],
            "end_to_end_auc_change": core["end_to_end_auc"] - float_metrics["end_to_end_auc"],
            "core_equals_fake_quant": bool(np.array_equal(outputs, fake_outputs)),
            "cycles_per_sample": sum(cycles.values()) / batch,
            "cycles_per_sample_by_part": _cycles_by_group(program, cycles, batch),
            "macs_per_sample": int(program.macs_per_sample),
            # Busy share of the R x C array over the whole program (ideal = MACs / (R*C)).
            "array_utilization": program.macs_per_sample
            / (sum(cycles.values()) / batch)
            / (ref.info.rows * ref.info.cols),
            "core_layers": len(program.core_layers),
            "ref_seconds": ref_seconds,
            "array": f"{ref.info.rows}x{ref.info.cols}",
            "layers": [
                {
                    "name": size.name,
                    "part": _group(size.name),
                    "k": size.k,
                    "n": size.n,
                    "rows_per_sample": size.rows // batch,
                    "cycles_per_sample": size.cycles / batch,
                    "utilization": size.utilization,
                }
                for size in sizing
            ],
        }
        if backend is not None and backend is not ref:
            count = min(check_samples, test.samples)
            sub = (ids[:count], numeric[:count])
            on_backend, backend_cycles = program.run(backend, sub)
            on_ref, ref_cycles = program.run(ref, sub)
            entry["backend_check"] = {
                "samples": count,
                "bit_identical": bool(np.array_equal(on_backend, on_ref)),
                "max_abs_difference": float(np.max(np.abs(on_backend - on_ref))),
                "cycles_per_sample": sum(backend_cycles.values()) / count,
                "ref_cycles_per_sample": sum(ref_cycles.values()) / count,
            }
        report["schemes"][scheme] = entry
    return report

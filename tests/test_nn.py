"""MLPs through the general compiler: PTQ, QAT, the integer program against fake-quant."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sw.data import load_digits_dataset
from sw.kernel import decode, matmul
from sw.nn import (
    QuantizedModel,
    compile_model,
    make_mlp,
    predict,
    prepare_qat,
    train_classifier,
    train_qat,
)
from sw.quant import WeightScheme, quantize

SCHEMES_4BIT = [WeightScheme(kind, 4) for kind in ("uniform", "sp1", "sp2", "codebook")]


@pytest.fixture(scope="module")
def digits():
    return load_digits_dataset()


@pytest.fixture(scope="module")
def float_model(digits):
    torch.set_num_threads(1)
    model = make_mlp([64, 64, 10], seed=0)
    train_classifier(model, digits.x_train, digits.y_train, epochs=40, batch_size=128, lr=5e-3)
    return model


def chained_kernel(program, x: np.ndarray) -> np.ndarray:
    """The program's layers one after the other on `sw.kernel.matmul`, no driver, no torch:
    an independent statement of what an MLP program computes (integer outputs)."""
    h = quantize(x, program.input_scales[0], program.act_bits)
    for layer in program.core_layers:
        h = matmul(h, layer.codes, layer.spec)
    return h


def program_loss(program, digits) -> float:
    """Cross-entropy of the program's (fake-quant) logits on the training set."""
    logits = torch.as_tensor(program.fake_quant(digits.x_train))
    return float(nn.functional.cross_entropy(logits, torch.as_tensor(digits.y_train)))


def test_make_mlp_is_seeded_and_validated():
    a, b = make_mlp([4, 8, 2], seed=3), make_mlp([4, 8, 2], seed=3)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    assert [type(m).__name__ for m in a] == ["Linear", "ReLU", "Linear"]
    with pytest.raises(ValueError, match="at least two positive layer sizes"):
        make_mlp([4], seed=0)


@pytest.mark.parametrize("scheme", SCHEMES_4BIT, ids=lambda s: s.name)
def test_program_is_the_chained_kernel_and_its_fake_quant(scheme, digits, float_model, ref):
    program = compile_model(float_model, digits.x_train, scheme, calibration_inputs=digits.x_train)
    assert [layer.spec.weight_mode for layer in program.core_layers] == [scheme.weight_mode] * 2
    assert [layer.spec.requant.relu for layer in program.core_layers] == [True, False]
    assert [layer.output_bits for layer in program.core_layers] == [8, 16]
    outputs, cycles = program.run(ref, digits.x_test)
    integers = chained_kernel(program, digits.x_test)
    np.testing.assert_array_equal(outputs, integers * program.output_scales)
    # The fake-quant forward is the same integer program evaluated in torch: equal, not close.
    np.testing.assert_array_equal(program.fake_quant(digits.x_test), outputs)
    assert set(cycles) == {"0", "2"} and all(c > 0 for c in cycles.values())
    for layer in program.core_layers:  # the codes hold exactly the fitted integer weights
        np.testing.assert_array_equal(decode(layer.codes, layer.spec).T, layer.fit.ints)
    # PTQ at 4 bits keeps the float model's predictions on most images.
    agreement = np.mean(outputs.argmax(axis=1) == predict(float_model, digits.x_test))
    assert agreement > 0.9


@pytest.mark.parametrize("act_bits", [3, 4, 6])
def test_narrow_activations(act_bits, digits, float_model, ref):
    # At 4 bits a pixel of 8/16 lands exactly on a tie (7 * 0.5 = 3.5): the host and the
    # fake-quant forward must quantize the input the same way (float64, half away).
    program = compile_model(
        float_model, digits.x_train, "sp2", act_bits=act_bits, calibration_inputs=digits.x_train
    )
    assert [layer.spec.act_bits for layer in program.core_layers] == [act_bits] * 2
    outputs, _ = program.run(ref, digits.x_test, measure_cycles=False)
    np.testing.assert_array_equal(outputs, program.fake_quant(digits.x_test))
    np.testing.assert_array_equal(
        outputs, chained_kernel(program, digits.x_test) * program.output_scales
    )


def test_qat_trains_and_compiles_to_what_it_trained(digits, float_model, ref):
    quantized = prepare_qat(
        float_model, digits.x_train, "sp2", weight_bits=2, calibration_inputs=digits.x_train
    )
    assert isinstance(quantized, QuantizedModel) and not quantized.training
    quantized.train()
    x = torch.as_tensor(digits.x_train[:64])
    y = torch.as_tensor(digits.y_train[:64])
    nn.functional.cross_entropy(quantized(x), y).backward()
    for layer in quantized.core.values():
        assert torch.count_nonzero(layer.weight.grad) > 0.5 * layer.weight.numel()
        assert torch.count_nonzero(layer.bias.grad) > 0
    quantized.zero_grad()
    ptq_loss = program_loss(compile_model(quantized, None), digits)
    before = [layer.weight.detach().clone() for layer in quantized.core.values()]
    scales = [layer.weight_scales.clone() for layer in quantized.core.values()]
    history = train_qat(
        quantized,
        digits.x_train,
        digits.y_train,
        nn.functional.cross_entropy,
        epochs=4,
        batch_size=128,
    )
    assert history[-1] < history[0]
    # Without calibration data the quantizers stay as PTQ fitted them.
    layers = quantized.core.values()
    assert all(torch.equal(a, l.weight_scales) for a, l in zip(scales, layers, strict=True))
    assert all(
        not torch.equal(b, l.weight) for b, l in zip(before, quantized.core.values(), strict=True)
    )
    program = compile_model(quantized, None)
    outputs, _ = program.run(ref, digits.x_test, measure_cycles=False)
    # The QAT model's eval forward, the program's fake-quant and the core: one function.
    with torch.no_grad():
        forward = quantized(torch.as_tensor(digits.x_test)).double().numpy()
    np.testing.assert_array_equal(forward, outputs.astype(np.float32))
    np.testing.assert_array_equal(program.fake_quant(digits.x_test).argmax(1), outputs.argmax(1))
    # What QAT minimizes, measured on the compiled program: lower than after PTQ.
    assert program_loss(program, digits) < 0.95 * ptq_loss


def test_train_qat_refits_on_calibration_data(digits, float_model):
    quantized = prepare_qat(float_model, digits.x_train, "sp2", calibration_inputs=digits.x_train)
    first = next(iter(quantized.core.values()))
    scales, output_scale = first.weight_scales.clone(), first.output.scale
    train_qat(
        quantized,
        digits.x_train[:256],
        digits.y_train[:256],
        nn.functional.cross_entropy,
        epochs=1,
        lr=1e-2,
        calibration_inputs=digits.x_train[:256],
    )
    # Re-fitted on the moved weights and on the calibration subset.
    assert not torch.equal(scales, first.weight_scales)
    assert first.output.scale != output_scale


def test_quantized_model_round_trips_through_its_state_dict(digits, float_model, ref):
    quantized = prepare_qat(float_model, digits.x_train, "codebook", weight_bits=3)
    saved = quantized.state_dict()
    assert any(key.endswith("codebook") for key in saved)
    assert any(key.endswith("scale_value") for key in saved)
    fresh = prepare_qat(float_model, digits.x_train[:5], "codebook", weight_bits=3)
    fresh.load_state_dict(saved)
    x = digits.x_test[:20]
    np.testing.assert_array_equal(
        compile_model(fresh, None).run(ref, x)[0], compile_model(quantized, None).run(ref, x)[0]
    )


def test_settings_are_checked(digits, float_model):
    quantized = prepare_qat(float_model, digits.x_train[:10], "sp2")
    with pytest.raises(ValueError, match="differs from the QAT model's"):
        compile_model(quantized, None, "uniform")
    with pytest.raises(ValueError, match=r"act_bits=9 is out of range; allowed range is \[2, 8\]"):
        compile_model(float_model, digits.x_train[:10], act_bits=9)
    with pytest.raises(ValueError, match=r"sp1 weights need bits in \[2, 4\]"):
        compile_model(float_model, digits.x_train[:10], "sp1", weight_bits=6)
    with pytest.raises(ValueError, match="takes 1 inputs, got 2"):
        compile_model(float_model, digits.x_train[:10]).fake_quant((digits.x_test, digits.x_test))

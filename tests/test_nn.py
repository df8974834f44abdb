"""Torch MLP -> core program: the integer pipeline against fake-quant, sim against ref."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from sw.data import load_digits_dataset
from sw.kernel import matmul
from sw.nn import (
    CoreProgram,
    QuantMLP,
    compile_mlp,
    execute,
    linear_layers,
    make_mlp,
    predict,
    train_classifier,
)
from sw.quant import WeightScheme

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


def reference_forward(program: CoreProgram, x_int: np.ndarray) -> np.ndarray:
    """The program layer by layer on the kernel's reference, without the driver."""
    h = x_int
    for layer in program.layers:
        h = matmul(h, layer.codes, layer.spec)
    return h


def test_make_mlp_is_seeded_and_validated():
    a, b = make_mlp([4, 8, 2], seed=3), make_mlp([4, 8, 2], seed=3)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(p, q)
    assert [relu for _, relu in linear_layers(a)] == [True, False]
    with pytest.raises(ValueError, match="at least two positive layer sizes"):
        make_mlp([4], seed=0)


@pytest.mark.parametrize(
    "model, message",
    [
        (nn.Sequential(nn.Linear(4, 4), nn.Sigmoid()), "module Sigmoid at position 1"),
        (nn.Sequential(nn.ReLU(), nn.Linear(4, 4)), "ReLU at position 0 does not follow"),
        (nn.Sequential(nn.Linear(4, 5), nn.Linear(4, 2)), "5 outputs feed 4 inputs"),
        (nn.Linear(4, 2), "expected an nn.Sequential"),
        (nn.Sequential(), "no Linear layer"),
    ],
)
def test_unsupported_models_are_refused(model, message):
    with pytest.raises(ValueError, match=message):
        linear_layers(model)


@pytest.mark.parametrize("scheme", SCHEMES_4BIT, ids=lambda s: s.name)
def test_integer_pipeline_agrees_with_fake_quant(scheme, digits, float_model, ref):
    quantized = QuantMLP.from_float(float_model, scheme, digits.x_train)
    program = compile_mlp(quantized)
    run = program.run(ref, digits.x_test)
    np.testing.assert_array_equal(
        run.outputs, reference_forward(program, program.quantize_input(digits.x_test))
    )
    fake = quantized.outputs(digits.x_test)
    agreement = np.mean(fake.argmax(axis=1) == run.outputs.argmax(axis=1))
    assert agreement >= 0.995
    # The 16-bit logits themselves: a rounding step here and there (the fixed-point
    # multiplier's 2**-15 relative error moves values near a tie), nothing more.
    fake_int = np.rint(fake / program.output_scale)
    assert np.all(np.abs(fake_int - run.outputs) <= 0.01 * np.abs(run.outputs).max())
    chance = 1 / digits.classes
    assert np.mean(run.outputs.argmax(axis=1) == digits.y_test) > 5 * chance


@pytest.mark.parametrize("act_bits", [3, 4, 6])
def test_narrow_activations_agree_too(act_bits, digits, float_model, ref):
    # At 4 bits a pixel of 8/16 lands exactly on a tie (7 * 0.5 = 3.5): the host and the
    # fake-quant forward must quantize the input the same way (float64, half away).
    quantized = QuantMLP.from_float(
        float_model, WeightScheme("sp2", 4), digits.x_train, act_bits=act_bits
    )
    program = compile_mlp(quantized)
    assert [layer.spec.act_bits for layer in program.layers] == [act_bits] * 2
    integer = program.run(ref, digits.x_test, measure_cycles=False).outputs.argmax(axis=1)
    assert np.mean(quantized.predict(digits.x_test) == integer) >= 0.995


def test_program_runs_bit_exact_on_sim(digits, float_model, sim, ref):
    x = digits.x_test[:24]
    for scheme in (WeightScheme("sp2", 4), WeightScheme("codebook", 4), WeightScheme("uniform", 3)):
        program = compile_mlp(QuantMLP.from_float(float_model, scheme, digits.x_train))
        on_sim = program.run(sim, x)
        on_ref = program.run(ref, x)
        np.testing.assert_array_equal(on_sim.outputs, on_ref.outputs)
        assert len(on_sim.layer_cycles) == len(program.layers) == on_sim.products
        # The device's counters against ref's cycle model: equal but for the odd cycle the
        # 16-bit logits wait on the result link (the model assumes results always taken).
        for sim_cycles, ref_cycles in zip(on_sim.layer_cycles, on_ref.layer_cycles, strict=True):
            assert ref_cycles > 0 and abs(sim_cycles - ref_cycles) <= 0.01 * ref_cycles


def test_qat_gradients_reach_every_layer(digits, float_model):
    quantized = QuantMLP.from_float(float_model, WeightScheme("sp2", 2), digits.x_train)
    quantized.train()
    x = torch.as_tensor(digits.x_train[:64], dtype=torch.float32)
    y = torch.as_tensor(digits.y_train[:64])
    nn.functional.cross_entropy(quantized(x), y).backward()
    for linear in quantized.linears:
        assert torch.count_nonzero(linear.weight.grad) > 0.5 * linear.weight.numel()
        assert torch.count_nonzero(linear.bias.grad) > 0
    quantized.zero_grad()
    before = [linear.weight.detach().clone() for linear in quantized.linears]
    history = quantized.qat_classifier(digits.x_train, digits.y_train, epochs=3, batch_size=128)
    assert history[-1] < history[0]
    assert all(not torch.equal(b, l.weight) for b, l in zip(before, quantized.linears, strict=True))
    # Frozen after QAT: what the compiler sees is what the fake-quant forward uses.
    program = compile_mlp(quantized)
    fake = quantized.predict(digits.x_test)
    integer = reference_forward(program, program.quantize_input(digits.x_test)).argmax(axis=1)
    assert np.mean(fake == integer) >= 0.995


def test_layers_larger_than_the_device_are_split(sim, ref):
    # 300 inputs > k_max = 256 (summed raw partials) and 300 outputs > 256 channels.
    rng = np.random.default_rng(0)
    model = make_mlp([300, 20, 300], seed=1)
    x = rng.uniform(0, 1, size=(40, 300))
    quantized = QuantMLP.from_float(model, WeightScheme("sp2", 4), x)
    program = compile_mlp(quantized)
    x_int = program.quantize_input(x[:5])
    expected = reference_forward(program, x_int)
    on_ref = execute(program, ref, x_int)
    np.testing.assert_array_equal(on_ref.outputs, expected)
    assert on_ref.products == 2 + 2  # two K blocks, then two column blocks
    np.testing.assert_array_equal(execute(program, sim, x_int).outputs, expected)


def test_program_round_trips_through_json(tmp_path, digits, float_model, ref):
    program = compile_mlp(
        QuantMLP.from_float(float_model, WeightScheme("codebook", 3), digits.x_train)
    )
    program.save(tmp_path / "program.json")
    loaded = CoreProgram.load(tmp_path / "program.json")
    x = digits.x_test[:10]
    np.testing.assert_array_equal(loaded.run(ref, x).outputs, program.run(ref, x).outputs)
    assert loaded.weight_memory_bits == program.weight_memory_bits


def test_clear_errors(digits, float_model):
    quantized = QuantMLP(float_model, WeightScheme("sp2", 4))
    with pytest.raises(RuntimeError, match="not calibrated"):
        quantized(torch.zeros(1, 64))
    with pytest.raises(ValueError, match="not calibrated"):
        compile_mlp(quantized)
    quantized.freeze(digits.x_train)
    program = compile_mlp(quantized)
    with pytest.raises(ValueError, match=r"inputs must be \(M, 64\)"):
        program.quantize_input(np.zeros((2, 63)))
    assert np.mean(predict(float_model, digits.x_test) == digits.y_test) > 0.5

"""The graph compiler: every supported op on the core and the host, refusals, QAT, sim."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from sw.kernel import AccumulatorOverflowError
from sw.nn import CompileError, compile_model, layer_sizing, prepare_qat, round_channels
from sw.nn.im2col import ConvGeometry
from sw.nn.steps import divide_round
from sw.quant import common_shift_multipliers

torch.set_num_threads(1)


def seeded(module: nn.Module, seed: int = 0) -> nn.Module:
    """Deterministic weights, BatchNorm statistics far from the identity, eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
        for norm in module.modules():
            if isinstance(norm, (nn.BatchNorm1d, nn.BatchNorm2d)):
                norm.running_mean.copy_(torch.randn(norm.num_features, generator=generator) * 0.2)
                norm.running_var.copy_(torch.rand(norm.num_features, generator=generator) + 0.5)
                norm.weight.add_(1.0)
    return module.eval()


def random(*shape, seed: int = 0, scale: float = 1.0, uniform: bool = False) -> torch.Tensor:
    """Reproducible test inputs (independent of the order tests run in)."""
    generator = torch.Generator().manual_seed(seed)
    draw = torch.rand if uniform else torch.randn
    return draw(*shape, generator=generator) * scale


def compiled_and_compared(model, inputs, ref, scheme="sp2", **options):
    """Compile; the core's outputs equal the fake-quant ones exactly; return the program,
    the outputs and the float model's outputs."""
    program = compile_model(model, inputs, scheme, **options)
    outputs, cycles = program.run(ref, inputs)
    fake = program.fake_quant(inputs)
    for got, expected in zip(_tuple(outputs), _tuple(fake), strict=True):
        np.testing.assert_array_equal(got, expected)
    assert set(cycles) == {layer.name for layer in program.core_layers}
    with torch.no_grad():
        reference = model(*_tuple(inputs))
    return program, outputs, reference


def float_gap(model, inputs) -> list[float]:
    """Per output, the relative error of the program at 8-bit weights (fake-quant: the
    device holds 4-bit codes) against the float model: the compiler's own precision."""
    program = compile_model(model, inputs, "uniform", weight_bits=8)
    with torch.no_grad():
        reference = model(*_tuple(inputs))
    return [
        relative_error(got, expected)
        for got, expected in zip(_tuple(program.fake_quant(inputs)), _tuple(reference), strict=True)
    ]


def _tuple(value):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def relative_error(got, expected) -> float:
    expected = np.asarray(expected.detach() if torch.is_tensor(expected) else expected)
    return float(np.abs(got - expected).max() / np.abs(expected).max())


# ---- pieces --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "conv",
    [
        nn.Conv2d(3, 5, 3, padding=1),
        nn.Conv2d(3, 5, (2, 3), stride=(2, 1), padding=(1, 0), dilation=(1, 2)),
        nn.Conv2d(3, 5, 4, padding="same"),
        nn.Conv1d(3, 5, 5, stride=2, padding=3, dilation=2),
        nn.Conv1d(3, 5, 4, padding="same"),
    ],
    ids=["2d-same-3", "2d-stride-dilation", "2d-same-even", "1d-stride-dilation", "1d-same-even"],
)
def test_im2col_product_is_torch_convolution(conv):
    """im2col @ W (what the core computes) equals torch's convolution, exactly on integers."""
    geometry = ConvGeometry.from_module(conv)
    generator = torch.Generator().manual_seed(1)
    shape = (2, 3, 9, 11) if geometry.dims == 2 else (2, 3, 17)
    x = torch.randint(-128, 128, shape, generator=generator).double()
    weights = torch.randint(-8, 8, (5, geometry.depth), generator=generator).double()
    patches, spatial = geometry.im2col(x)
    product = geometry.fold_output(patches @ weights.T, 2, spatial)
    direct = nn.functional.conv2d if geometry.dims == 2 else nn.functional.conv1d
    expected = direct(
        x,
        weights.reshape(conv.weight.shape),
        stride=conv.stride,
        padding=conv.padding,
        dilation=conv.dilation,
    )
    assert torch.equal(product, expected)
    assert torch.equal(geometry.convolve(x, weights), expected)


def test_exact_rounding_helpers():
    sums = torch.tensor([-7.0, -6.0, -5.0, 5.0, 6.0, 7.0, 2**40 + 3.0])
    expected = [np.sign(s) * math.floor(abs(s) / 4 + 0.5) for s in sums.tolist()]
    assert divide_round(sums, 4).tolist() == expected  # ties (-6/4, 6/4) away from zero
    multipliers, shift = common_shift_multipliers([1.0, 1 / 3, -2.5e-4])
    for ratio, multiplier in zip([1.0, 1 / 3, -2.5e-4], multipliers, strict=True):
        assert abs(multiplier / 2**shift - ratio) <= abs(ratio) * 2**-15
    with pytest.raises(ValueError, match="finite"):
        common_shift_multipliers([math.inf])


# ---- graphs --------------------------------------------------------------------------------


class ResidualCNN(nn.Module):
    """Two conv-BN-ReLU blocks, a residual add with a folded ReLU, pooling, Linear."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Linear(8 * 4, 10)

    def forward(self, x):
        a = nn.functional.relu(self.bn1(self.conv1(x)))
        b = self.bn2(self.conv2(a))
        y = self.pool(torch.relu(a + b))
        y = nn.functional.avg_pool2d(y, 2)
        return self.head(y.flatten(1))


def test_residual_cnn_folds_and_matches_float(ref):
    model = seeded(ResidualCNN())
    x = random(12, 1, 8, 8, uniform=True)
    program, outputs, _ = compiled_and_compared(model, x, ref)
    kinds = [type(step).__name__ for step in program.model.steps]
    assert kinds == [
        "InputStep",
        "CoreStep",
        "CoreStep",
        "RescaleStep",
        "DirectStep",
        "AverageStep",
        "DirectStep",
        "CoreStep",
    ]  # fmt: skip  (BN and both ReLUs folded away: no step of their own)
    conv1, conv2, head = program.core_layers
    assert (conv1.k, conv1.n, conv1.rows_per_sample) == (9, 8, 64)
    assert (conv2.k, head.k, head.n) == (72, 32, 10)
    assert conv1.requant.relu and not conv2.requant.relu and head.output_bits == 16
    assert program.macs_per_sample == 64 * 9 * 8 + 64 * 72 * 8 + 32 * 10
    assert float_gap(model, x) < [0.03]  # 8-bit weights and activations


def test_batch_norm_is_folded_exactly():
    """The folded float weights reproduce Conv + BatchNorm (the quantizer starts from them)."""
    model = seeded(nn.Sequential(nn.Conv1d(2, 4, 3), nn.BatchNorm1d(4), nn.ReLU()))
    quantized = prepare_qat(model, random(3, 2, 10), "uniform", weight_bits=8)
    (layer,) = quantized.core.values()
    x = random(3, 2, 10, seed=1).double()
    folded = nn.functional.conv1d(x, layer.weight, layer.bias)
    with torch.no_grad():
        torch.testing.assert_close(folded.relu(), model.double()(x))
    assert layer.relu


class TowerAttention(nn.Module):
    """AITM's ops: embeddings, a real input, cat, Linear+BN+ReLU+Dropout towers, stack, an
    attention over two vectors (act x act, sum, scalar division, softmax), sigmoid, and two
    outputs (one of them a Linear on a 3-D tensor)."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(20, 4)
        self.tower_a = nn.Sequential(
            nn.Linear(14, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2)
        )
        self.tower_b = nn.Sequential(
            nn.Linear(14, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2)
        )
        self.query, self.key, self.value = (nn.Linear(16, 16, bias=False) for _ in range(3))
        self.head = nn.Linear(16, 1)

    def forward(self, ids, numeric):
        v = torch.cat([torch.flatten(self.embedding(ids), 1), numeric], dim=1)
        towers = torch.stack([self.tower_a(v), self.tower_b(v)], dim=1)
        scores = torch.sum(self.query(towers) * self.key(towers), dim=2, keepdim=True) / 4.0
        weights = torch.softmax(scores, dim=1)
        z = torch.sum(weights * self.value(towers), dim=1)
        return torch.sigmoid(self.head(z)), self.value(towers).mean(dim=1) * -0.5


def test_attention_towers_with_two_inputs_and_two_outputs(ref):
    model = seeded(TowerAttention())
    generator = torch.Generator().manual_seed(2)
    inputs = (
        torch.randint(0, 20, (32, 3), generator=generator),
        torch.randn(32, 2, generator=generator),
    )
    program, outputs, _ = compiled_and_compared(model, inputs, ref)
    probabilities, values = outputs
    assert probabilities.shape == (32, 1) and values.shape == (32, 16)
    assert max(float_gap(model, inputs)) < 0.03
    widths = {layer.name: layer.output_bits for layer in program.core_layers}
    # Values that feed float steps (act x act, softmax, sigmoid) leave the core as 16 bits.
    assert widths["query"] == widths["key"] == widths["head"] == 16
    assert widths["tower_a.0"] == 8
    assert program.input_scales[0] is None  # indices are not quantized


class HostOps(nn.Module):
    """Host integer ops: stride-2 Conv1d, concat of different scales, scalar add/subtract,
    negation, sum over a dimension, adaptive average pooling, view/permute/getitem."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(2, 4, 3, stride=2, padding=1)
        self.other = nn.Conv1d(2, 4, 1)
        self.head = nn.Linear(4 * 4 + 4, 3)

    def forward(self, x):
        a = torch.relu(self.conv(x))  # (B, 4, 8)
        b = self.other(x)[:, :, ::2]  # (B, 4, 8), another scale
        joined = torch.cat([a, -b], dim=1)  # (B, 8, 8)
        pooled = nn.functional.adaptive_avg_pool1d(joined, 4)  # (B, 8, 4)
        total = pooled.sum(dim=2) - 0.25  # (B, 8)
        mixed = pooled[:, :4].permute(0, 2, 1).reshape(x.shape[0], -1)
        return self.head(torch.cat([mixed, total[:, 4:] * 3.0], dim=1))


def test_host_integer_ops(ref):
    model = seeded(HostOps())
    x = random(10, 2, 16)
    compiled_and_compared(model, x, ref, "uniform")
    # Seven 8-bit values in a row (each alone within 0.5% of float): a few percent in all;
    # a wrong scale or sign anywhere would be tens of percent.
    assert float_gap(model, x) < [0.05]


def test_wide_inputs_run_one_product_per_digit(ref):
    """16-bit inputs (PDE states): the first layer runs per balanced base-256 digit."""
    model = seeded(nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2)))
    x = random(50, 6, scale=1000)
    program, _, _ = compiled_and_compared(model, x, ref, "uniform", input_bits=16)
    first, second = program.core_layers
    assert (first.input_bits, first.wide, first.spec.act_bits) == (16, True, 8)
    assert first.spec.requant is None and not second.wide  # raw digit products
    narrow = compile_model(model, x, "uniform")
    narrow.run(ref, x)
    runs = {p: p.last_run.layers[p.core_layers[0].name].runs for p in (program, narrow)}
    assert runs[program] >= 2 * runs[narrow]  # one raw product per activation digit


def test_wide_inputs_keep_what_eight_bits_lose():
    # One outlier sets the per-tensor input scale: at 8 bits every ordinary input rounds
    # to zero, at 16 bits it keeps about 7 bits. (8-bit weights, fake-quant: the device
    # holds 4-bit codes.)
    model = seeded(nn.Linear(6, 2))
    x = random(40, 6)
    x[0, 0] = 400.0
    with torch.no_grad():
        expected = model(x[1:])
    gaps = {}
    for bits in (8, 16):
        program = compile_model(model, x, "uniform", weight_bits=8, input_bits=bits)
        gaps[bits] = relative_error(program.fake_quant(x)[1:], expected)
    assert gaps[8] > 0.5 and gaps[16] < 0.05


# ---- refusals ------------------------------------------------------------------------------


class Exp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return torch.exp(self.fc(x))


class LoneNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm, self.fc = nn.BatchNorm1d(4), nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.norm(x))


@pytest.mark.parametrize(
    "model, shape, message",
    [
        (Exp(), (3, 4), r"node 'exp' \(function torch.exp\): this op is not supported"),
        (
            nn.Sequential(nn.Conv1d(4, 4, 3, groups=2), nn.Flatten(), nn.Linear(8, 2)),
            (3, 4, 4),
            r"node '_0' \(Conv1d module '0'\): groups=2: a grouped convolution",
        ),
        (
            nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4)),
            (3, 4),
            r"node '_1' \(LayerNorm module '1'\): this module is not supported",
        ),
        (LoneNorm(), (3, 4), r"node 'norm' \(BatchNorm1d module 'norm'\): a BatchNorm is folded"),
    ],
    ids=["unsupported-op", "grouped-conv", "unsupported-module", "lone-batchnorm"],
)
def test_refusals_name_the_node(model, shape, message):
    with pytest.raises(CompileError, match=message):
        compile_model(model.eval(), random(*shape))


def test_accumulator_overflow_is_refused_naming_the_node():
    # 8-bit inputs x 4-bit weights: a 16-bit accumulator holds at most K = 31 products.
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 2))
    x = random(4, 8)
    with pytest.raises(
        CompileError, match=r"node '_4' \(Linear module '4'\): K=64 could overflow acc_bits=16"
    ) as info:
        compile_model(model.eval(), x, "uniform", acc_bits=16)
    assert isinstance(info.value.__cause__, AccumulatorOverflowError)
    compile_model(model.eval(), x, "uniform", acc_bits=32)  # the same model fits 32 bits


def test_errors_at_run_time_name_the_node(ref):
    model = nn.Sequential(nn.Embedding(5, 3), nn.Flatten(), nn.Linear(6, 2)).eval()
    program = compile_model(model, torch.tensor([[0, 1]]))
    with pytest.raises(
        ValueError, match=r"node '_0' \(Embedding module '0'\).*indices must be in \[0, 4\]"
    ):
        program.run(ref, torch.tensor([[0, 7]]))


# ---- QAT on a CNN --------------------------------------------------------------------------


def test_qat_on_a_cnn_trains_through_every_step(ref):
    model = seeded(ResidualCNN())
    generator = torch.Generator().manual_seed(3)
    x = torch.rand(64, 1, 8, 8, generator=generator)
    y = torch.randint(0, 10, (64,), generator=generator)
    quantized = prepare_qat(model, x, "sp2").train()
    loss = nn.functional.cross_entropy(quantized(x), y)
    loss.backward()
    before = loss.item()
    for layer in quantized.core.values():  # gradients cross the add, the pools, the requants
        assert torch.count_nonzero(layer.weight.grad) > 0.3 * layer.weight.numel()
    optimizer = torch.optim.Adam(quantized.parameters(), lr=3e-3)
    for _ in range(15):
        optimizer.zero_grad()
        step_loss = nn.functional.cross_entropy(quantized(x), y)
        step_loss.backward()
        optimizer.step()
    quantized.freeze(x)
    quantized.eval()
    program = compile_model(quantized, None)
    outputs, _ = program.run(ref, x)
    after = nn.functional.cross_entropy(torch.as_tensor(outputs), y)
    assert after.item() < 0.8 * before
    with torch.no_grad():
        np.testing.assert_array_equal(quantized(x).numpy(), outputs.astype(np.float32))


# ---- sizing --------------------------------------------------------------------------------


def test_round_channels_follows_the_array_width(ref):
    assert [round_channels(n, 4) for n in (1, 12, 13, 16)] == [4, 12, 16, 16]
    assert [round_channels(n, 4, direction="down") for n in (3, 13, 16)] == [3, 12, 16]
    with pytest.raises(ValueError, match="array_width must be a positive int"):
        round_channels(8, 0)
    cycles = {}
    x = random(8, 4, 8, 8, uniform=True)
    for width in (16, 13, 12):
        model = seeded(nn.Sequential(nn.Conv2d(4, width, 3, padding=1), nn.ReLU()))
        program = compile_model(model, x, "sp2")
        program.run(ref, x)
        (sizing,) = layer_sizing(program, ref.identify())
        cycles[width] = sizing.cycles
        assert sizing.rows == 8 * 64 and sizing.macs == 8 * 64 * 36 * width
        assert sizing.ideal_cycles == sizing.macs / 16 and 0 < sizing.utilization <= 1
    runs = sizing.runs
    # 13 channels take the same four column tiles as 16 (the last tile drains 3 cycles sooner)
    assert cycles[16] - 3 * runs <= cycles[13] <= cycles[16]
    assert cycles[12] < 0.8 * cycles[16]  # 12 channels: three tiles


# ---- the simulated device ------------------------------------------------------------------


def test_cnn_program_is_bit_identical_on_sim(sim, ref):
    model = seeded(ResidualCNN())
    x = random(6, 1, 8, 8, uniform=True)
    program = compile_model(model, x, "sp2")
    on_sim, sim_cycles = program.run(sim, x)
    on_ref, ref_cycles = program.run(ref, x)
    np.testing.assert_array_equal(on_sim, on_ref)
    for name, expected in ref_cycles.items():  # the cycle model, up to result-link waits
        assert expected > 0 and abs(sim_cycles[name] - expected) <= 0.02 * expected

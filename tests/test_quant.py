"""Quantizers: level sets, exact encoding, scale search, codebooks, requantization, STE."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sw.kernel import LayerSpec, decode, levels, requantize
from sw.quant import (
    WeightScheme,
    build_requant,
    calibrate_scale,
    fake_quant,
    fake_quant_weights,
    fit_codebook,
    fixed_point_multiplier,
    parse_schemes,
    quantize,
    quantize_bias,
    quantize_weights,
    round_half_away,
    search_scales,
)
from sw.quant.weights import CLIP_GRID, nearest_level_index

SCHEMES = [
    WeightScheme(kind, bits) for kind in ("uniform", "sp1", "sp2", "codebook") for bits in (2, 3, 4)
]


def random_weights(seed: int, n: int = 12, k: int = 40) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.3, size=(n, k))
    w[0, 0] = 2.0  # an outlier, as trained layers have
    w[1] = 0.0  # a dead channel
    return w


# ---- level sets -------------------------------------------------------------------------------


def test_level_sets_come_from_the_kernel():
    assert WeightScheme("uniform", 4).fixed_levels().tolist() == list(range(-7, 8))
    assert WeightScheme("uniform", 2).fixed_levels().tolist() == [-1, 0, 1]
    sp2 = LayerSpec(weight_bits=4, weight_mode="spx", spx_terms=2)
    assert WeightScheme("sp2", 4).fixed_levels().tolist() == levels(sp2).tolist()
    assert WeightScheme("sp2", 4).fixed_levels().tolist() == [
        -8,
        -6,
        -5,
        -4,
        -2,
        -1,
        0,
        1,
        2,
        4,
        5,
        6,
        8,
    ]
    sp1 = WeightScheme("sp1", 4).fixed_levels()
    assert sp1.tolist() == sorted([0] + [s * 2**e for s in (-1, 1) for e in range(7)])
    assert WeightScheme("codebook", 4).fixed_levels() is None


def test_scheme_names_and_bad_input():
    assert WeightScheme.parse("SP2-4") == WeightScheme("sp2", 4)
    assert WeightScheme.parse("codebook", 3) == WeightScheme("codebook", 3)
    assert [s.name for s in parse_schemes("uniform, sp1", 2)] == ["uniform-2", "sp1-2"]
    with pytest.raises(ValueError, match="not one of"):
        WeightScheme("sp3", 4)
    with pytest.raises(ValueError, match=r"sp1 weights need bits in \[2, 4\], got bits=5"):
        WeightScheme("sp1", 5)
    with pytest.raises(ValueError, match="needs a width"):
        WeightScheme.parse("sp2")
    with pytest.raises(ValueError, match="empty"):
        parse_schemes(" , ", 4)


def test_pe_multipliers_by_mode():
    assert WeightScheme("uniform", 4).pe_multipliers(4, 4) == 16
    assert WeightScheme("codebook", 4).pe_multipliers(4, 4) == 16
    assert WeightScheme("sp1", 4).pe_multipliers(4, 4) == 0
    assert WeightScheme("sp2", 4).pe_multipliers(4, 4) == 0


# ---- weight quantization ----------------------------------------------------------------------


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.name)
def test_encoding_is_exact(scheme):
    fit = quantize_weights(random_weights(1), scheme)
    spec = fit.layer_spec()
    codes = fit.codes()
    assert codes.shape == fit.ints.T.shape
    assert codes.min() >= 0 and codes.max() < 1 << scheme.bits
    np.testing.assert_array_equal(decode(codes, spec), fit.ints.T)  # encode(decode) exact
    assert set(np.unique(fit.ints)) <= set(fit.levels.tolist())
    assert set(fit.levels.tolist()) <= set(levels(spec).tolist())
    assert np.all(fit.scales > 0)


@pytest.mark.parametrize("scheme", SCHEMES, ids=lambda s: s.name)
def test_each_weight_takes_its_nearest_level(scheme):
    w = random_weights(2)
    fit = quantize_weights(w, scheme)
    scaled = w / fit.scales[:, None]
    chosen = np.abs(scaled - fit.ints)
    for level in fit.levels:
        assert np.all(chosen <= np.abs(scaled - level) + 1e-9)


def squared_error(w, lv, scales):
    q = lv[nearest_level_index(w / scales[:, None], lv)] * scales[:, None]
    return ((q - w) ** 2).sum(dim=1)


def test_scale_search_never_loses_to_plain_max_scaling():
    w = torch.as_tensor(random_weights(3))
    for scheme in SCHEMES:
        if scheme.kind == "codebook":
            continue
        lv = torch.as_tensor(scheme.fixed_levels(), dtype=torch.float64)
        best = search_scales(w, lv)
        plain = w.abs().amax(dim=1) / lv.abs().max()
        plain = torch.where(plain > 0, plain, torch.ones_like(plain))

        assert torch.all(squared_error(w, lv, best) <= squared_error(w, lv, plain) + 1e-12)
        assert CLIP_GRID[-1] == 1.0  # plain max scaling is one of the candidates


def test_dead_channel_quantizes_to_zero():
    fit = quantize_weights(random_weights(4), WeightScheme("sp2", 4))
    assert np.all(fit.ints[1] == 0)


def test_codebook_finds_clustered_levels():
    rng = np.random.default_rng(5)
    centers = np.array([-1.0, -0.25, 0.25, 1.0])
    w = rng.choice(centers, size=(8, 200)) + rng.normal(0, 0.01, size=(8, 200))
    w[:, 0] = 1.03  # each channel's largest |w| near 1: normalization keeps the clusters
    table = np.array(fit_codebook(torch.as_tensor(w), 2))
    assert len(table) == 4 and np.all(np.abs(table) <= 127)
    np.testing.assert_allclose(table / 127, centers / np.abs(centers).max(), atol=0.05)
    fit = quantize_weights(w, WeightScheme("codebook", 2))
    assert fit.codebook == tuple(table.tolist())
    rel = np.abs(fit.dequantized() - w).max() / np.abs(w).max()
    assert rel < 0.1


def test_weight_memory_counts_codes_and_table():
    w = random_weights(6)
    assert quantize_weights(w, WeightScheme("sp2", 4)).memory_bits() == w.size * 4
    assert quantize_weights(w, WeightScheme("codebook", 3)).memory_bits() == w.size * 3 + 8 * 8


def test_bad_weights_are_refused():
    with pytest.raises(ValueError, match="2-D"):
        quantize_weights(np.zeros(5), WeightScheme("sp2", 4))
    with pytest.raises(ValueError, match="finite"):
        quantize_weights(np.array([[np.nan, 1.0]]), WeightScheme("sp2", 4))


# ---- activations --------------------------------------------------------------------------------


def test_activation_calibration_and_rounding():
    values = np.array([-3.0, 0.5, 2.0])
    scale = calibrate_scale(values, 8)
    assert scale == pytest.approx(3.0 / 127)
    q = quantize(np.array([0.5, -0.5, 1.5, -2.5, 1000.0, -1000.0]), 1.0, 8)
    assert q.tolist() == [1, -1, 2, -3, 127, -127]  # halves away from zero; saturation
    assert round_half_away(np.array([2.5, -2.5, 0.49])).tolist() == [3, -3, 0]
    assert calibrate_scale(np.zeros(4), 8) == 1.0
    assert calibrate_scale(np.arange(101.0), 4, percentile=50) == pytest.approx(50 / 7)
    with pytest.raises(ValueError, match="percentile"):
        calibrate_scale(values, 8, percentile=0)
    with pytest.raises(ValueError, match=r"bits=1 is out of range"):
        quantize(values, 1.0, 1)
    with pytest.raises(ValueError, match="positive"):
        quantize(values, 0.0, 8)


def test_fake_quant_matches_integer_quantization_and_passes_gradients():
    x = torch.tensor([-2.0, -0.26, 0.0, 0.74, 5.0], requires_grad=True)
    y = fake_quant(x, 0.5, 3)  # qmax = 3: range [-1.5, 1.5]
    expected = quantize(x.detach().numpy(), 0.5, 3) * 0.5
    np.testing.assert_allclose(y.detach().numpy(), expected)
    y.sum().backward()
    # Straight-through inside the range, zero where it saturates.
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


# ---- requantization -----------------------------------------------------------------------------


def test_fixed_point_multiplier_precision():
    rng = np.random.default_rng(7)
    for real in np.exp(rng.uniform(np.log(1e-9), np.log(3e4), size=500)):
        multiplier, shift = fixed_point_multiplier(real)
        assert 0 <= shift <= 63 and 0 <= multiplier <= 32767
        assert 2**14 <= multiplier  # full precision over this range
        assert abs(multiplier / 2**shift - real) <= real * 2**-15
    assert fixed_point_multiplier(0.0) == (0, 0)
    assert fixed_point_multiplier(1.0) == (16384, 14)
    tiny = fixed_point_multiplier(1e-30)
    assert tiny[1] == 63  # below the shift range: as close as 63 bits allow
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="finite and >= 0"):
            fixed_point_multiplier(bad)
    with pytest.raises(ValueError, match="multiplier above 32767"):
        fixed_point_multiplier(40000.0)


def test_derived_requant_matches_real_arithmetic_on_the_kernel():
    rng = np.random.default_rng(8)
    in_scale, out_scale = 0.01, 0.05
    weight_scales = rng.uniform(0.001, 0.1, size=6)
    bias = rng.normal(0, 0.5, size=6)
    requant = build_requant(
        in_scale=in_scale,
        weight_scales=weight_scales,
        out_scale=out_scale,
        bias=bias,
        relu=False,
        out_bits=16,
    )
    acc = rng.integers(-20000, 20000, size=(50, 6))
    q = requantize(acc, requant)
    bias_int = quantize_bias(bias, in_scale, weight_scales)
    real = (acc + bias_int) * in_scale * weight_scales / out_scale
    # The fixed-point multiplier is within 2**-15 (relative) of the real ratio.
    assert np.all(np.abs(q - real) <= 0.5 + np.abs(real) * 2**-15 + 1e-9)
    with pytest.raises(ValueError, match="does not fit acc_bits=8"):
        quantize_bias([1e6], 0.01, [0.01], acc_bits=8)
    with pytest.raises(ValueError, match="positive"):
        build_requant(in_scale=0, weight_scales=[1], out_scale=1, relu=True, out_bits=8)


# ---- straight-through weights --------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["uniform", "sp2"])
def test_ste_weight_gradient_is_the_identity(kind):
    w = torch.tensor(random_weights(9), dtype=torch.float32, requires_grad=True)
    lv = torch.as_tensor(WeightScheme(kind, 4).fixed_levels(), dtype=torch.float64)
    wq, scales = fake_quant_weights(w, lv)
    fit = quantize_weights(w.detach().numpy(), WeightScheme(kind, 4))
    np.testing.assert_allclose(wq.detach().numpy(), fit.dequantized(), rtol=1e-6, atol=1e-7)
    upstream = torch.randn_like(w)
    (wq * upstream).sum().backward()
    torch.testing.assert_close(w.grad, upstream)
    assert torch.count_nonzero(w.grad) == w.numel()

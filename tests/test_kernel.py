"""The kernel contract: spec validation, codes, the reference, overflow refusal, tiling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from sw.device.params import CoreParams
from sw.kernel import (
    AccumulatorOverflowError,
    LayerSpec,
    Requant,
    decode,
    decode_table,
    encode,
    levels,
    matmul,
    max_depth,
    result_order,
    tiles,
)
from sw.kernel.cycles import core_cycles, drain_cycles, ideal_cycles
from sw.kernel.spec import signed_range


@st.composite
def specs(draw, requant=None):
    mode = draw(st.sampled_from(["uniform", "spx", "codebook"]))
    weight_bits = draw(st.integers(2, 8))
    spx_terms = draw(st.integers(1, 2))
    if mode == "spx" and spx_terms == 1:
        weight_bits = min(weight_bits, 4)  # SP1 needs exponents up to 2**(bits-1) - 2 <= 14
    codebook = None
    if mode == "codebook":
        codebook = draw(
            st.lists(st.integers(-128, 127), min_size=1 << weight_bits, max_size=1 << weight_bits)
        )
    fields = dict(
        act_bits=draw(st.integers(2, 8)),
        weight_bits=weight_bits,
        weight_mode=mode,
        spx_terms=spx_terms,
        codebook=codebook,
        acc_bits=draw(st.integers(16, 40)),
    )
    try:
        return LayerSpec(**fields)
    except ValueError as error:  # too narrow an accumulator for even one product
        assert "cannot hold even one product" in str(error)
        reject()


def naive_matmul(x, w):
    """Python-int triple loop: the slow, obviously right product."""
    m, k = len(x), len(x[0]) if len(x) else 0
    n = len(w[0])
    return [
        [sum(int(x[i][j]) * int(w[j][c]) for j in range(k)) for c in range(n)] for i in range(m)
    ]


def naive_requant(acc, rq: Requant):
    out = []
    for row in acc:
        out_row = []
        for n, a in enumerate(row):
            p = (a + (rq.bias[n] if rq.bias else 0)) * rq.multiplier[n]
            s = rq.shift[n]
            q = p if s == 0 else (1 if p >= 0 else -1) * ((abs(p) + (1 << (s - 1))) >> s)
            if rq.relu:
                q = max(q, 0)
            lo, hi = signed_range(rq.out_bits)
            out_row.append(min(max(q, lo), hi))
        out.append(out_row)
    return out


# ---- LayerSpec validation --------------------------------------------------------


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"act_bits": 9}, r"act_bits=9 is out of range; allowed range is \[2, 8\]"),
        ({"act_bits": 1}, r"act_bits=1 .*\[2, 8\]"),
        ({"weight_bits": 0}, r"weight_bits=0 .*\[2, 8\]"),
        ({"acc_bits": 64}, r"acc_bits=64 .*\[8, 40\]"),
        ({"weight_mode": "ternary"}, r"weight_mode='ternary' is not one of"),
        ({"weight_mode": "spx", "spx_terms": 3}, r"spx_terms=3 .*\[1, 2\]"),
        ({"weight_mode": "spx", "spx_terms": 1, "weight_bits": 6}, r"needs exponents up to 30"),
        ({"weight_mode": "spx", "spx_max_exp": 20}, r"spx_max_exp=20 .*\[2, 14\]"),
        ({"weight_mode": "codebook"}, r"needs a codebook of 2\*\*weight_bits entries"),
        ({"weight_mode": "codebook", "codebook": [0] * 3}, r"codebook has 3 entries"),
        (
            {"weight_mode": "codebook", "weight_bits": 2, "codebook": [0, 1, 2, 200]},
            r"codebook\[3\]=200 .*\[-128, 127\]",
        ),
        ({"codebook": [0] * 16}, r"codebook only applies to weight_mode='codebook'"),
        ({"spx_max_exp": 3}, r"spx_max_exp only applies"),
    ],
)
def test_invalid_specs_name_the_field(fields, message):
    with pytest.raises(ValueError, match=message):
        LayerSpec(**fields)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"multiplier": [1, 2], "shift": [1]}, r"requant.shift has 1 entries"),
        ({"multiplier": [1 << 15], "shift": [0]}, r"requant.multiplier\[0\]=32768 .*\[0, 32767\]"),
        ({"multiplier": [1], "shift": [64]}, r"requant.shift\[0\]=64 .*\[0, 63\]"),
        ({"multiplier": [1], "shift": [0], "out_bits": 17}, r"requant.out_bits=17 .*\[2, 16\]"),
        ({"multiplier": [1], "shift": [0], "bias": [1, 2]}, r"requant.bias has 2 entries"),
        ({"multiplier": [], "shift": []}, r"one entry per output channel"),
    ],
)
def test_invalid_requant_names_the_field(fields, message):
    with pytest.raises(ValueError, match=message):
        Requant(**fields)


def test_a_spec_that_cannot_hold_one_product_is_refused():
    with pytest.raises(ValueError, match=r"acc_bits=16 cannot hold even one product"):
        LayerSpec(act_bits=8, weight_bits=8, weight_mode="spx", spx_max_exp=14, acc_bits=16)


def test_bias_must_fit_the_accumulator():
    with pytest.raises(ValueError, match=r"requant.bias\[0\]=40000 .*\[-32768, 32767\]"):
        LayerSpec(acc_bits=16, requant=Requant(multiplier=[1], shift=[0], bias=[40000]))


# ---- level sets --------------------------------------------------------------------


def test_uniform_levels_are_twos_complement():
    assert levels(LayerSpec(weight_bits=4)).tolist() == list(range(-8, 8))


def test_spx_level_sets():
    sp1 = LayerSpec(weight_bits=4, weight_mode="spx", spx_terms=1)
    assert sp1.spx_max_exp == 6
    assert levels(sp1).tolist() == [-64, -32, -16, -8, -4, -2, -1, 0, 1, 2, 4, 8, 16, 32, 64]
    sp2 = LayerSpec(weight_bits=4, weight_mode="spx", spx_terms=2)
    # Field 1 (2 bits) picks 0, 4, 2 or 1; field 2 (1 bit) adds 0 or 4.
    assert levels(sp2).tolist() == [-8, -6, -5, -4, -2, -1, 0, 1, 2, 4, 5, 6, 8]
    shifted = LayerSpec(weight_bits=4, weight_mode="spx", spx_terms=2, spx_max_exp=5)
    assert levels(shifted).tolist() == [v * 8 for v in levels(sp2).tolist()]


def test_every_spx_level_is_a_sum_of_at_most_x_powers_of_two():
    for bits in range(2, 9):
        for terms in (1, 2):
            if terms == 1 and bits > 4:
                continue
            spec = LayerSpec(weight_bits=bits, weight_mode="spx", spx_terms=terms)
            for value in levels(spec):
                assert bin(abs(int(value))).count("1") <= terms


# ---- encode / decode ---------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(specs(), st.data())
def test_encode_decode_round_trip(spec, data):
    table = decode_table(spec)
    codes = np.array(data.draw(st.lists(st.integers(0, len(table) - 1), min_size=1, max_size=50)))
    weights = decode(codes, spec)
    again = encode(weights, spec)
    np.testing.assert_array_equal(decode(again, spec), weights)
    # encode is canonical: the smallest code for each value
    for w, c in zip(weights, again, strict=True):
        assert c == int(np.flatnonzero(table == w)[0])


@settings(max_examples=200, deadline=None)
@given(specs(), st.lists(st.floats(-300, 300, allow_nan=False), min_size=1, max_size=30))
def test_rounding_encode_picks_the_nearest_level(spec, values):
    codes = encode(np.array(values), spec, round=True)
    got = decode(codes, spec)
    lv = levels(spec)
    for v, g in zip(values, got, strict=True):
        best = np.min(np.abs(lv - v))
        assert abs(g - v) == pytest.approx(best)


def test_encode_refuses_unrepresentable_weights():
    sp2 = LayerSpec(weight_bits=4, weight_mode="spx")
    with pytest.raises(ValueError, match=r"weight 3 is not representable in weight_mode='spx'"):
        encode([1, 3], sp2)
    with pytest.raises(ValueError, match=r"weight 8 is not representable"):
        encode([8], LayerSpec(weight_bits=4))
    with pytest.raises(ValueError, match=r"weights must hold integers"):
        encode([0.5], LayerSpec(weight_bits=4))
    # Ties go to the smaller magnitude: 3 is between 2 and 4.
    assert decode(encode([3.0, -3.0], sp2, round=True), sp2).tolist() == [2, -2]


def test_decode_refuses_codes_that_do_not_fit():
    with pytest.raises(
        ValueError, match=r"code 16 does not fit weight_bits=4; allowed range is \[0, 15\]"
    ):
        decode([16], LayerSpec(weight_bits=4))
    with pytest.raises(ValueError, match=r"code -1 does not fit"):
        decode([-1], LayerSpec(weight_bits=4))


# ---- the reference -----------------------------------------------------------------


@st.composite
def products(draw, with_requant):
    spec = draw(specs())
    m, k, n = draw(st.integers(1, 5)), draw(st.integers(1, 12)), draw(st.integers(1, 5))
    k = min(k, max_depth(spec))
    lo, hi = spec.act_range
    x = np.array(
        draw(
            st.lists(st.lists(st.integers(lo, hi), min_size=k, max_size=k), min_size=m, max_size=m)
        )
    )
    codes = np.array(
        draw(
            st.lists(
                st.lists(st.integers(0, (1 << spec.weight_bits) - 1), min_size=n, max_size=n),
                min_size=k,
                max_size=k,
            )
        )
    )
    if with_requant:
        bias_lim = 1 << (spec.acc_bits - 4)
        requant = Requant(
            multiplier=draw(st.lists(st.integers(0, (1 << 15) - 1), min_size=n, max_size=n)),
            shift=draw(st.lists(st.integers(0, 40), min_size=n, max_size=n)),
            bias=draw(st.lists(st.integers(-bias_lim, bias_lim), min_size=n, max_size=n)),
            relu=draw(st.booleans()),
            out_bits=draw(st.integers(2, 16)),
        )
        spec = spec.with_requant(requant)
        k = min(k, max_depth(spec))
        x, codes = x[:, :k], codes[:k]
    return spec, x, codes


@settings(max_examples=300, deadline=None)
@given(products(with_requant=False))
def test_reference_matches_naive_int_product(case):
    spec, x, codes = case
    expected = naive_matmul(x.tolist(), decode(codes, spec).tolist())
    assert matmul(x, codes, spec).tolist() == expected


@settings(max_examples=300, deadline=None)
@given(products(with_requant=True))
def test_reference_requantization_matches_naive(case):
    spec, x, codes = case
    acc = naive_matmul(x.tolist(), decode(codes, spec).tolist())
    assert matmul(x, codes, spec).tolist() == naive_requant(acc, spec.requant)


def test_rounding_is_half_away_from_zero():
    rq = Requant(multiplier=[1] * 6, shift=[1] * 6, out_bits=16)
    spec = LayerSpec(weight_bits=2, requant=rq)
    # acc = x * 1: 5/2 -> 3, -5/2 -> -3, 3/2 -> 2, -3/2 -> -2, 1/2 -> 1, -1/2 -> -1
    x = np.array([[5, -5, 3, -3, 1, -1]]).T
    codes = np.ones((1, 6), dtype=int)
    y = matmul(x, codes, spec)
    assert np.diag(y).tolist() == [3, -3, 2, -2, 1, -1]


@settings(max_examples=100, deadline=None)
@given(specs())
def test_overflow_is_refused_exactly_past_the_worst_case(spec):
    k = max_depth(spec)
    if k > 1 << 20:
        k = None
    if k is not None:
        # At K = max_depth the worst case fits; one more could overflow.
        lo, hi = spec.act_range
        w = decode(np.arange(1 << spec.weight_bits), spec)
        worst = [k * a * b for a in (lo, hi) for b in (int(w.min()), int(w.max()))]
        acc_lo, acc_hi = spec.acc_range
        assert acc_lo <= min(worst) and max(worst) <= acc_hi
        with pytest.raises(AccumulatorOverflowError, match=rf"K={k + 1} could overflow"):
            matmul(np.zeros((1, k + 1), dtype=int), np.zeros((k + 1, 1), dtype=int), spec)


def test_overflow_at_the_boundary_in_16_bits():
    spec = LayerSpec(act_bits=8, weight_bits=4, acc_bits=16)
    # worst product: -128 * -8 = 1024; 2**15 - 1 = 32767 -> 31 terms
    assert max_depth(spec) == 31
    x = np.full((1, 31), -128)
    codes = encode(np.full((31, 1), -8), spec)
    assert matmul(x, codes, spec)[0, 0] == 31 * 1024
    with pytest.raises(AccumulatorOverflowError):
        matmul(np.full((1, 32), -128), encode(np.full((32, 1), -8), spec), spec)


def test_bad_shapes_and_values_are_refused():
    spec = LayerSpec()
    with pytest.raises(ValueError, match=r"x has K=3 columns but codes has K=2 rows"):
        matmul(np.zeros((2, 3), int), np.zeros((2, 2), int), spec)
    with pytest.raises(ValueError, match=r"activation 128 does not fit act_bits=8"):
        matmul(np.full((1, 1), 128), np.zeros((1, 1), int), spec)
    with pytest.raises(ValueError, match=r"x must be 2-D"):
        matmul(np.zeros(3, int), np.zeros((3, 1), int), spec)
    with pytest.raises(ValueError, match=r"requant has 2 output channels but codes has N=3"):
        matmul(
            np.zeros((1, 1), int),
            np.zeros((1, 3), int),
            spec.with_requant(Requant(multiplier=[1, 1], shift=[0, 0])),
        )


# ---- tiling and the cycle model ------------------------------------------------------


@given(st.integers(1, 40), st.integers(1, 40), st.integers(1, 8), st.integers(1, 8))
def test_result_order_is_a_permutation(m, n, r, c):
    rows, cols = result_order(m, n, r, c)
    assert sorted(zip(rows.tolist(), cols.tolist(), strict=True)) == [
        (i, j) for i in range(m) for j in range(n)
    ]
    assert sum(t.results for t in tiles(m, n, r, c)) == m * n


def test_cycle_model_approaches_ideal_for_deep_products():
    # Compute-bound: tiles * K plus a fixed tail.
    cycles = core_cycles(64, 1024, 64, 8, 8)
    assert cycles > ideal_cycles(64, 1024, 64, 8, 8)
    assert ideal_cycles(64, 1024, 64, 8, 8) / cycles > 0.99
    # Drain-bound: K = 1 on a 4x4 array is limited by the 16-cycle drain per tile.
    assert core_cycles(16, 1, 16, 4, 4) > 16 * 16


def test_drain_lanes_move_a_row_segment_a_cycle():
    # A 3-row, 5-column tile on 12 columns, 4 lanes: two full rows of 3 steps, then the
    # 5 columns of the last row in 2 steps (the second holds one value).
    assert drain_cycles(3, 5, 12, 4) == 8
    assert drain_cycles(3, 5, 12, 1) == 2 * 12 + 5
    # 12 x 12, 64-deep tiles: one lane's 144-cycle drain holds every tile up, four
    # lanes' 36 cycles fit inside a tile's 65 (64 beats and the hand-over).
    tiles = 5 * 5
    one_lane = core_cycles(60, 64, 60, 12, 12)
    four_lanes = core_cycles(60, 64, 60, 12, 12, drain_lanes=4)
    assert one_lane >= tiles * 144
    assert tiles * 65 <= four_lanes < tiles * 65 + 36 + 30
    with pytest.raises(ValueError, match="drain_lanes=5 must divide cols=12"):
        CoreParams(rows=12, cols=12, drain_lanes=5)

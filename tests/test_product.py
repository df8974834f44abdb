"""`run_product`: products of any size, bit for bit what `sw.kernel.matmul` returns.

Blocks by depth (``k_max``), by output channels (``channels``) and by the LOAD_LAYER
frame's byte limit, on ``ref`` shaped like two devices, and one check on ``sim``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sw.device.protocol import MAX_PAYLOAD
from sw.driver import Accelerator
from sw.kernel import AccumulatorOverflowError, LayerSpec, matmul, max_depth, run_product
from sw.kernel.product import load_payload_bytes, max_block_columns
from sw.kernel.random_layer import random_operands, random_product, random_spec

MODES = ("uniform", "spx", "codebook")


@pytest.fixture(scope="module")
def icebreaker():
    """The iCEBreaker's shape: 3x4 array, K <= 64, N <= 64, 18-bit accumulators, fixed SP2."""
    with Accelerator.open("ref:icebreaker") as acc:
        yield acc


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 2**32 - 1),
    m=st.integers(1, 9),
    k=st.integers(1, 700),
    n=st.integers(1, 300),
    mode=st.sampled_from(MODES),
    requant=st.booleans(),
)
def test_any_shape_matches_the_reference(ref, seed, m, k, n, mode, requant):
    rng = np.random.default_rng(seed)
    product = random_product(rng, m, k, n, mode=mode, requant=requant)
    y, report = run_product(ref, product.spec, product.codes, product.x)
    np.testing.assert_array_equal(y, matmul(product.x, product.codes, product.spec))
    info = ref.identify()
    assert report.macs == m * k * n
    assert report.k_blocks == -(-k // info.k_max)
    assert report.k_blocks <= report.loads <= report.k_blocks * report.column_blocks
    assert report.column_blocks >= -(-n // info.channels)


def test_small_device_splits_depth_and_channels(icebreaker):
    """K = 128 (twice k_max, the most 18 bits hold) and N = 150 (over 64 channels)."""
    spec = LayerSpec(weight_mode="spx", acc_bits=18)
    info = icebreaker.identify()
    k = max_depth(spec)
    assert k > info.k_max
    rng = np.random.default_rng(1)
    for requant in (False, True):
        spec = random_spec(rng, 150, mode="spx", acc_bits=18, requant=requant, k_hint=k)
        x, codes = random_operands(rng, spec, 11, max_depth(spec), 150)
        y, report = run_product(icebreaker, spec, codes, x)
        np.testing.assert_array_equal(y, matmul(x, codes, spec))
        assert (report.k_blocks, report.column_blocks) == (-(-x.shape[1] // 64), 3)


def test_a_layer_beyond_one_load_frame_is_split_by_columns(ref):
    """256 x 256 fits k_max and channels but not the 65,535-byte LOAD_LAYER payload."""
    rng = np.random.default_rng(2)
    product = random_product(rng, 5, 256, 256, mode="codebook", requant=True)
    info = ref.identify()
    assert (256, 256) == (info.k_max, info.channels)
    with pytest.raises(ValueError, match="LOAD_LAYER"):
        ref.load_layer(product.spec, product.codes)  # one frame cannot carry it
    width = max_block_columns(product.spec, product.codes, info)
    assert width < 256 and width % info.cols == 0
    # The widest block fits one frame and one more tile of columns would not.
    from sw.kernel.product import column_spec

    assert (
        load_payload_bytes(column_spec(product.spec, 0, width), product.codes[:, :width], info)
        <= MAX_PAYLOAD
    )
    wider = width + info.cols
    with pytest.raises(ValueError, match="LOAD_LAYER"):
        load_payload_bytes(column_spec(product.spec, 0, wider), product.codes[:, :wider], info)
    y, report = run_product(ref, product.spec, product.codes, product.x)
    np.testing.assert_array_equal(y, matmul(product.x, product.codes, product.spec))
    assert (report.loads, report.column_blocks, report.k_blocks) == (2, 2, 1)


def test_report_counts_cycles_and_runs(ref):
    """On ``ref`` the cycles are the model's, block by block; runs what the device counted."""
    rng = np.random.default_rng(3)
    info = ref.identify()
    m, k, n = info.m_max + 3, 600, 40  # two RUN chunks per block, three depth blocks
    product = random_product(rng, m, k, n, mode="uniform", requant=True)
    y, report = run_product(ref, product.spec, product.codes, product.x)
    np.testing.assert_array_equal(y, matmul(product.x, product.codes, product.spec))
    expected_cycles = sum(
        info.run_cycles(rows, min(info.k_max, k - k0), n)
        for k0 in range(0, k, info.k_max)
        for rows in (info.m_max, 3)
    )
    assert report.cycles == expected_cycles
    assert (report.loads, report.runs) == (3, 6)
    _, unmeasured = run_product(ref, product.spec, product.codes, product.x, measure_cycles=False)
    assert unmeasured.cycles == 0 and unmeasured.runs == 6
    total = report + unmeasured
    assert total["runs"] == 12 and total.as_dict()["cycles"] == expected_cycles


def test_refuses_what_matmul_refuses(ref, icebreaker):
    spec = LayerSpec(acc_bits=16)
    deep = max_depth(spec) + 1
    x = np.ones((2, deep), dtype=np.int64)
    codes = np.ones((deep, 3), dtype=np.int64)
    with pytest.raises(AccumulatorOverflowError, match=f"K={deep}"):
        run_product(ref, spec, codes, x)
    with pytest.raises(ValueError, match="rows; they must match"):
        run_product(ref, LayerSpec(), np.ones((4, 3)), np.ones((2, 5)))
    with pytest.raises(ValueError, match="act_bits=8"):
        run_product(ref, LayerSpec(), np.ones((5, 3)), np.full((2, 5), 300))
    with pytest.raises(ValueError, match="weight_mode='uniform' is not built into this core"):
        run_product(icebreaker, LayerSpec(acc_bits=18), np.ones((5, 3)), np.ones((2, 5)))


def test_empty_products_need_no_device(ref):
    rng = np.random.default_rng(4)
    spec = random_spec(rng, 6, requant=True)
    for m, k in ((0, 5), (3, 0)):
        x, codes = np.zeros((m, k), dtype=np.int64), np.zeros((k, 6), dtype=np.int64)
        y, report = run_product(ref, spec, codes, x)
        np.testing.assert_array_equal(y, matmul(x, codes, spec))
        assert report.loads == 0
    x, codes = np.ones((3, 5), dtype=np.int64), np.zeros((5, 0), dtype=np.int64)  # N = 0
    y, report = run_product(ref, LayerSpec(), codes, x)
    assert y.shape == (3, 0) and report.loads == 0


def test_sim_matches_ref_on_wide_and_deep_layers(sim, ref):
    """A 512 x 512 layer and a 1000-deep one, bit-identical on the simulated device."""
    rng = np.random.default_rng(5)
    for m, k, n, mode in ((4, 512, 512, "uniform"), (6, 1000, 9, "spx")):
        product = random_product(rng, m, k, n, mode=mode, requant=True)
        y_sim, sim_report = run_product(sim, product.spec, product.codes, product.x)
        y_ref, ref_report = run_product(ref, product.spec, product.codes, product.x)
        np.testing.assert_array_equal(y_sim, y_ref)
        np.testing.assert_array_equal(y_sim, matmul(product.x, product.codes, product.spec))
        assert sim_report.loads == ref_report.loads > 1 and sim_report.runs == ref_report.runs
        assert sim_report.cycles > 0
        info = ref.identify()
        assert ref_report.k_blocks == math.ceil(k / info.k_max)
        if n > info.channels:  # more column blocks than the channels alone need: frame bytes
            assert ref_report.column_blocks > math.ceil(n / info.channels)

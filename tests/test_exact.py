"""`exact_matmul`: exact integer products of any width, and mod q, computed on the core.

Property tests against numpy's int64 product and Python integers, on ``ref`` shaped
like the default device (4-bit uniform weights, base 16) and like the iCEBreaker
(SP2 only, base 11, 18-bit accumulators), and one check on ``sim``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sw.driver import Accelerator
from sw.kernel import LayerSpec, exact_matmul, levels, max_depth
from sw.kernel.exact import digit_plan, digit_set, exact_matmul_report

MODULI = (13, 251, 65537)
FIXTURE_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def icebreaker():
    with Accelerator.open("ref:icebreaker") as acc:
        yield acc


def random_signed(rng, bits: int, shape) -> np.ndarray:
    return rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), size=shape, dtype=np.int64)


def random_wide(rng, bits: int, shape) -> np.ndarray:
    """Python integers of up to ``bits`` bits (signed), as dtype=object."""
    values = [int.from_bytes(rng.bytes(bits // 8 + 1), "little") for _ in range(np.prod(shape))]
    signed = [(v % (1 << bits)) - (1 << (bits - 1)) for v in values]
    return np.array(signed, dtype=object).reshape(shape)


shapes = st.tuples(st.integers(1, 7), st.integers(1, 90), st.integers(1, 9))


@FIXTURE_SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    shape=shapes,
    a_bits=st.integers(2, 16),
    b_bits=st.integers(2, 16),
    device=st.sampled_from(["ref", "icebreaker"]),
)
def test_up_to_16_bits_matches_numpy(ref, icebreaker, seed, shape, a_bits, b_bits, device):
    rng = np.random.default_rng(seed)
    m, k, n = shape
    a, b = random_signed(rng, a_bits, (m, k)), random_signed(rng, b_bits, (k, n))
    c = exact_matmul(a, b, ref if device == "ref" else icebreaker)
    assert c.dtype == np.int64
    np.testing.assert_array_equal(c, a @ b)


@FIXTURE_SETTINGS
@given(
    seed=st.integers(0, 2**32 - 1),
    shape=shapes,
    modulus=st.sampled_from(MODULI),
    device=st.sampled_from(["ref", "icebreaker"]),
    unreduced=st.booleans(),
)
def test_modular_products(ref, icebreaker, seed, shape, modulus, device, unreduced):
    """Operands in [0, q) (as a field's elements), or any 16-bit integers, reduced first."""
    rng = np.random.default_rng(seed)
    m, k, n = shape
    if unreduced:
        a, b = random_signed(rng, 16, (m, k)), random_signed(rng, 16, (k, n))
    else:
        a = rng.integers(0, modulus, size=(m, k), dtype=np.int64)
        b = rng.integers(0, modulus, size=(k, n), dtype=np.int64)
    c = exact_matmul(a, b, ref if device == "ref" else icebreaker, modulus)
    assert c.min() >= 0 and c.max() < modulus
    expected = (a.astype(object) @ b.astype(object)) % modulus  # Python ints: no overflow
    np.testing.assert_array_equal(c.astype(object), expected)


@FIXTURE_SETTINGS
@given(seed=st.integers(0, 2**32 - 1), shape=shapes, bits=st.integers(17, 130))
def test_wider_than_int64_matches_python_integers(ref, seed, shape, bits):
    rng = np.random.default_rng(seed)
    m, k, n = shape
    a, b = random_wide(rng, bits, (m, k)), random_wide(rng, bits, (k, n))
    c = exact_matmul(a, b, ref)
    np.testing.assert_array_equal(c.astype(object), a.dot(b))
    big_prime = (1 << 127) - 1  # a Mersenne prime: the result needs object dtype
    c_mod = exact_matmul(a, b, ref, big_prime)
    np.testing.assert_array_equal(c_mod, a.dot(b) % big_prime)
    # int64 operands against a modulus wider than int64 (numpy cannot mix the two)
    small_a, small_b = random_signed(rng, 16, (m, k)), random_signed(rng, 16, (k, n))
    np.testing.assert_array_equal(
        exact_matmul(small_a, small_b, ref, big_prime),
        small_a.astype(object).dot(small_b.astype(object)) % big_prime,
    )


def test_digit_counts_follow_the_value_range(ref):
    rng = np.random.default_rng(1)
    a, b = random_signed(rng, 16, (3, 20)), random_signed(rng, 16, (20, 4))
    a[0, 0], b[0, 0] = 32767, -32768  # the extremes of 16 bits
    c, report = exact_matmul_report(a, b, ref)
    np.testing.assert_array_equal(c, a @ b)
    # Balanced base-256 digits reach [-32896, 32639]: 32767 needs a third digit.
    assert (report.activation_base, report.activation_digits) == (256, 3)
    # Balanced base-16 digits -8..7: four reach [-34952, 30583]; -32768 fits, but
    # some 16-bit values (above 30583) need five.
    assert report.weight_base == 16 and report.weight_digits == (5 if b.max() > 30583 else 4)
    _, small = exact_matmul_report(np.array([[5]]), np.array([[-3]]), ref)
    assert (small.activation_digits, small.weight_digits) == (1, 1)


def test_sp2_digit_set_covers_every_integer():
    """The iCEBreaker's SP2 levels give base 11; its expansion represents every integer."""
    sp2 = LayerSpec(weight_mode="spx", spx_terms=2)
    digits = digit_set(levels(sp2))
    assert digits.base == 11
    assert set(digits.table) <= set(levels(sp2).tolist())
    assert sorted(d % 11 for d in digits.table) == list(range(11))
    for base in (12, 13):  # no larger base has every residue among the levels
        assert len({int(v) % base for v in levels(sp2)}) < base
    values = np.arange(-20000, 20001, dtype=np.int64)
    split = digits.split(values)
    assert all(set(np.unique(d).tolist()) <= set(digits.table) for d in split)
    np.testing.assert_array_equal(digits.join(split).astype(np.int64), values)


def test_icebreaker_plan_and_depth_chunks(icebreaker):
    """SP2 only, 18-bit accumulators: K beyond max_depth is cut into several raw products."""
    plan = digit_plan(icebreaker.identify())
    assert plan.spec.weight_mode == "spx" and plan.spec.requant is None
    depth = max_depth(plan.spec)
    rng = np.random.default_rng(2)
    k = 2 * depth + 17
    a, b = random_signed(rng, 12, (4, k)), random_signed(rng, 12, (k, 5))
    c, report = exact_matmul_report(a, b, icebreaker)
    np.testing.assert_array_equal(c, a @ b)
    assert report.depth_chunks == 3 and report.weight_base == 11


def test_forced_weight_mode(ref):
    rng = np.random.default_rng(3)
    a, b = random_signed(rng, 10, (3, 30)), random_signed(rng, 10, (30, 4))
    for mode in ("uniform", "spx", "codebook"):
        c, report = exact_matmul_report(a, b, ref, weight_mode=mode)
        np.testing.assert_array_equal(c, a @ b)
        assert report.weight_mode == mode
    with (
        Accelerator.open("ref:icebreaker") as icebreaker,
        pytest.raises(ValueError, match="uniform"),
    ):
        exact_matmul_report(a, b, icebreaker, weight_mode="uniform")


def test_bad_operands_are_refused(ref):
    good = np.ones((2, 3), dtype=np.int64)
    with pytest.raises(ValueError, match="K=3 columns but B has K=2"):
        exact_matmul(good, np.ones((2, 2), dtype=np.int64), ref)
    with pytest.raises(ValueError, match="modulus must be an integer >= 2"):
        exact_matmul(good, good.T, ref, modulus=1)
    with pytest.raises(ValueError, match="A must hold integers"):
        exact_matmul(np.full((2, 3), 0.5), good.T, ref)
    with pytest.raises(ValueError, match="B must be 2-D"):
        exact_matmul(good, np.ones(3, dtype=np.int64), ref)
    with pytest.raises(ValueError, match="A must hold integers"):
        exact_matmul(np.array([[1, "x", 2]], dtype=object), good.T, ref)


def test_sim_matches_numpy(sim):
    rng = np.random.default_rng(4)
    a, b = random_signed(rng, 16, (5, 40)), random_signed(rng, 16, (40, 6))
    np.testing.assert_array_equal(exact_matmul(a, b, sim), a @ b)
    q = 65537
    a, b = rng.integers(0, q, size=(5, 40)), rng.integers(0, q, size=(40, 6))
    np.testing.assert_array_equal(
        exact_matmul(a, b, sim, q), (a.astype(object) @ b.astype(object)) % q
    )

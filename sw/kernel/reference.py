"""The bit-exact numpy reference of the kernel: every other path must agree with it."""

from __future__ import annotations

import numpy as np

from .codes import _as_int_array, check_codes, decode_table, weight_range
from .spec import LayerSpec, Requant, signed_range


class AccumulatorOverflowError(ValueError):
    """The worst case of a product could leave the ``acc_bits`` accumulator."""


def check_activations(x, spec: LayerSpec) -> np.ndarray:
    """Return ``x`` as a 2-D int64 array after checking it fits ``act_bits``."""
    x = _as_int_array("x", x)
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D (M, K), got shape {x.shape}")
    lo, hi = spec.act_range
    if x.size and (x.min() < lo or x.max() > hi):
        bad = x[(x < lo) | (x > hi)].flat[0]
        raise ValueError(
            f"activation {bad} does not fit act_bits={spec.act_bits}; allowed range is [{lo}, {hi}]"
        )
    return x


def accumulator_bounds(k: int, spec: LayerSpec) -> tuple[int, int]:
    """Smallest and largest value the accumulator (plus bias) can reach for depth ``k``."""
    x_lo, x_hi = spec.act_range
    w_lo, w_hi = weight_range(spec)
    products = [x_lo * w_lo, x_lo * w_hi, x_hi * w_lo, x_hi * w_hi]
    low, high = k * min(products), k * max(products)
    if spec.requant is not None and spec.requant.bias is not None:
        low += min(spec.requant.bias)
        high += max(spec.requant.bias)
    return low, high


def max_depth(spec: LayerSpec) -> int:
    """The largest K whose worst case still fits ``acc_bits`` (bias included)."""
    x_lo, x_hi = spec.act_range
    w_lo, w_hi = weight_range(spec)
    products = [x_lo * w_lo, x_lo * w_hi, x_hi * w_lo, x_hi * w_hi]
    acc_lo, acc_hi = spec.acc_range
    bias_lo = bias_hi = 0
    if spec.requant is not None and spec.requant.bias is not None:
        bias_lo, bias_hi = min(spec.requant.bias), max(spec.requant.bias)
    limits = []
    if max(products) > 0:
        limits.append((acc_hi - max(bias_hi, 0)) // max(products))
    if min(products) < 0:
        limits.append((acc_lo - min(bias_lo, 0)) // min(products))
    return min(limits) if limits else np.iinfo(np.int64).max


def check_depth(k: int, spec: LayerSpec) -> None:
    limit = max_depth(spec)
    if k > limit:
        low, high = accumulator_bounds(k, spec)
        raise AccumulatorOverflowError(
            f"K={k} could overflow acc_bits={spec.acc_bits}: the worst case spans "
            f"[{low}, {high}], outside {list(spec.acc_range)}; the largest safe K is {limit}"
        )


def requantize(acc: np.ndarray, requant: Requant) -> np.ndarray:
    """Apply the per-output-channel requantization to an (M, N) accumulator array."""
    acc = np.asarray(acc, dtype=np.int64)
    if acc.ndim != 2 or acc.shape[1] != requant.channels:
        raise ValueError(
            f"requant has {requant.channels} output channels but the accumulator has shape "
            f"{acc.shape}"
        )
    bias = np.asarray(requant.bias if requant.bias is not None else [0] * requant.channels)
    multiplier = np.asarray(requant.multiplier, dtype=np.int64)
    shift = np.asarray(requant.shift, dtype=np.int64)
    # int64 is exact here: |acc + bias| < 2**39 (acc_bits <= 40), the multiplier < 2**15,
    # so |product| < 2**54 and |product| + 2**62 (the largest rounding half) < 2**63.
    product = (acc + bias) * multiplier
    magnitude = np.abs(product)
    half = np.where(shift > 0, np.left_shift(1, np.maximum(shift - 1, 0)), 0)
    rounded = (magnitude + half) >> shift
    q = np.where(product < 0, -rounded, rounded)
    if requant.relu:
        q = np.maximum(q, 0)
    lo, hi = signed_range(requant.out_bits)
    return np.clip(q, lo, hi).astype(np.int64)


def check_operands(x, codes, spec: LayerSpec) -> tuple[np.ndarray, np.ndarray]:
    """``(x, codes)`` as int64 after every check `matmul` makes: widths, shapes, the
    requantization's channel count and the depth's worst case (`check_depth`)."""
    x = check_activations(x, spec)
    codes = check_codes(codes, spec)
    if codes.ndim != 2:
        raise ValueError(f"codes must be 2-D (K, N), got shape {codes.shape}")
    if x.shape[1] != codes.shape[0]:
        raise ValueError(
            f"x has K={x.shape[1]} columns but codes has K={codes.shape[0]} rows; they must match"
        )
    if spec.requant is not None and spec.requant.channels != codes.shape[1]:
        raise ValueError(
            f"requant has {spec.requant.channels} output channels but codes has "
            f"N={codes.shape[1]} columns"
        )
    check_depth(x.shape[1], spec)
    return x, codes


def matmul(x, codes, spec: LayerSpec) -> np.ndarray:
    """``y = requant(x @ decode(codes))``, bit-exact, as int64 of shape (M, N).

    ``x``: (M, K) integers of ``act_bits``; ``codes``: (K, N) codes of ``weight_bits``.
    Refuses (``AccumulatorOverflowError``) a K whose worst case could overflow.
    """
    x, codes = check_operands(x, codes, spec)
    weights = decode_table(spec)[codes]
    # int64 products and sums are exact: check_depth bounds them by 2**(acc_bits-1) <= 2**39.
    acc = x @ weights
    if spec.requant is None:
        return acc
    return requantize(acc, spec.requant)

"""Requantization parameters: real scale ratios as the kernel's fixed-point multipliers.

A layer computes ``acc[n] = sum_k xq[k] * wq[k, n]`` with real input ``x = s_in * xq``
and real weight ``w = s_w[n] * wq``. Its real output ``y = s_in * s_w[n] * acc + b[n]``
is quantized to ``yq = y / s_out``, so

    yq = (acc + bias_int[n]) * M[n]
    bias_int[n] = round(b[n] / (s_in * s_w[n]))      (the bias, in accumulator units)
    M[n] = s_in * s_w[n] / s_out ~= multiplier[n] / 2**shift[n]

`fixed_point_multiplier` picks the shift that gives ``multiplier`` the full 15 bits
(``2**14 <= multiplier < 2**15``) so the relative error of ``M`` is below ``2**-15``.

The host rescales too (a residual add, a concat, a sum: `sw.nn`): there several
integer tensors with different scales meet, and `common_shift_multipliers` gives
each ratio its own integer multiplier over one shared shift, every multiplier at
least as precise as the device's 15 bits.
"""

from __future__ import annotations

import math

import numpy as np

from sw.kernel import Requant
from sw.kernel.spec import REQUANT_MULTIPLIER_BITS, REQUANT_SHIFT_RANGE, signed_range

from .activations import round_half_away

MULTIPLIER_MAX = (1 << REQUANT_MULTIPLIER_BITS) - 1
SHIFT_MAX = REQUANT_SHIFT_RANGE[1]
# The host's int64 sums of rescaled terms stay below this (the kernel's `requantize`
# then adds a rounding half of at most 2**61 and stays inside int64).
HOST_SUM_LIMIT = 1 << 62


def fixed_point_multiplier(real: float) -> tuple[int, int]:
    """``(multiplier, shift)`` with ``multiplier / 2**shift`` closest to ``real`` (>= 0).

    Raises ``ValueError`` when ``real`` is negative, not finite, or too large for a
    15-bit multiplier with no shift (``real >= 2**15``).
    """
    real = float(real)
    if not math.isfinite(real) or real < 0:
        raise ValueError(f"a requantization scale must be finite and >= 0, got {real}")
    if real == 0:
        return 0, 0
    # multiplier = real * 2**shift lands in [2**14, 2**15) for this shift.
    shift = (REQUANT_MULTIPLIER_BITS - 1) - math.floor(math.log2(real))
    shift = min(shift, SHIFT_MAX)
    multiplier = math.floor(real * 2.0**shift + 0.5)
    if multiplier > MULTIPLIER_MAX:  # rounding reached 2**15: one bit less of shift
        shift -= 1
        multiplier = math.floor(real * 2.0**shift + 0.5)
    if shift < 0:
        raise ValueError(
            f"requantization scale {real:.6g} needs a multiplier above {MULTIPLIER_MAX}; "
            f"the output scale is too fine for this layer's input and weight scales"
        )
    return int(multiplier), int(shift)


def quantize_bias(bias, in_scale: float, weight_scales, acc_bits: int = 32) -> np.ndarray:
    """The bias in accumulator units, rounded half away from zero; must fit ``acc_bits``."""
    steps = in_scale * np.asarray(weight_scales, dtype=np.float64)
    values = round_half_away(np.asarray(bias, dtype=np.float64) / steps)
    lo, hi = signed_range(acc_bits)
    if values.size and (values.min() < lo or values.max() > hi):
        raise ValueError(
            f"a bias of {values[np.argmax(np.abs(values))]:.0f} accumulator steps does not fit "
            f"acc_bits={acc_bits}; the input or weight scales are too small for this bias"
        )
    return values.astype(np.int64)


def build_requant(
    *,
    in_scale: float,
    weight_scales,
    out_scale: float,
    bias=None,
    relu: bool,
    out_bits: int,
    acc_bits: int = 32,
) -> Requant:
    """The kernel `Requant` that maps a layer's accumulators to ``out_bits`` outputs."""
    weight_scales = np.asarray(weight_scales, dtype=np.float64)
    if not (in_scale > 0 and out_scale > 0 and np.all(weight_scales > 0)):
        raise ValueError("input, weight and output scales must all be positive")
    pairs = [fixed_point_multiplier(in_scale * s / out_scale) for s in weight_scales]
    bias_int = None
    if bias is not None:
        bias_int = tuple(int(v) for v in quantize_bias(bias, in_scale, weight_scales, acc_bits))
    return Requant(
        multiplier=tuple(m for m, _ in pairs),
        shift=tuple(s for _, s in pairs),
        bias=bias_int,
        relu=relu,
        out_bits=out_bits,
    )


def common_shift_multipliers(ratios, operand_bounds=None) -> tuple[tuple[int, ...], int]:
    """Signed integer multipliers over one shared shift: ``ratios[i] ~= m[i] / 2**shift``.

    Every nonzero ratio keeps at least the device's 15 significant bits (relative error
    below ``2**-15``), so a sum ``sum_i q[i] * m[i]`` rounded by ``2**shift`` (the
    kernel's `requantize` with multiplier 1) rescales several integer tensors to one
    output scale. ``operand_bounds[i]`` (the largest ``|q[i]|``, default ``2**16``) caps
    the shift so that the sum stays below 2**62 in int64. The shift lies in [0, 62].
    """
    ratios = [float(r) for r in ratios]
    if not ratios or not all(math.isfinite(r) for r in ratios):
        raise ValueError(f"rescaling ratios must be finite and at least one, got {ratios}")
    bounds = [1 << 16] * len(ratios) if operand_bounds is None else list(operand_bounds)
    if len(bounds) != len(ratios):
        raise ValueError(f"{len(bounds)} operand bounds for {len(ratios)} ratios")
    nonzero = [abs(r) for r in ratios if r != 0]
    if not nonzero:
        return tuple(0 for _ in ratios), 0
    # The shift that gives the smallest ratio its 15 bits gives every larger one more.
    shift = (REQUANT_MULTIPLIER_BITS - 1) - math.floor(math.log2(min(nonzero)))
    shift = max(0, min(shift, HOST_SUM_LIMIT.bit_length() - 2))
    while True:
        multipliers = tuple(int(round_half_away(r * 2.0**shift)) for r in ratios)
        total = sum(abs(m) * b for m, b in zip(multipliers, bounds, strict=True))
        if total < HOST_SUM_LIMIT or shift == 0:
            break
        shift -= 1
    if total >= HOST_SUM_LIMIT:
        raise ValueError(
            f"rescaling ratios {ratios} are too large to sum exactly in int64 "
            f"(operands up to {max(bounds)})"
        )
    return multipliers, shift

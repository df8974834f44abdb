"""Activations: symmetric per-tensor quantization, calibrated on training data.

An activation tensor of ``bits`` bits uses the integers ``-qmax .. qmax`` with
``qmax = 2**(bits-1) - 1`` and one real scale: ``x ~= scale * q``. The scale is
calibrated as a percentile (by default the maximum) of ``|x|`` over the training
data divided by ``qmax``. Rounding is half away from zero, as in the kernel's
requantization, so the host's input quantization and the core agree on the rule.
"""

from __future__ import annotations

import numpy as np
import torch

from sw.kernel.spec import ACT_BITS_RANGE, OUT_BITS_RANGE


def qmax(bits: int) -> int:
    """Largest magnitude of a symmetric signed integer of ``bits`` bits."""
    if isinstance(bits, bool) or not isinstance(bits, int):
        raise ValueError(f"bits must be an int, got {bits!r}")
    low, high = ACT_BITS_RANGE[0], OUT_BITS_RANGE[1]
    if not low <= bits <= high:
        raise ValueError(f"bits={bits} is out of range; allowed range is [{low}, {high}]")
    return (1 << (bits - 1)) - 1


def calibrate_scale(values, bits: int, *, percentile: float = 100.0, headroom: float = 1.0):
    """Scale mapping the ``percentile`` of ``|values|`` (times ``headroom``) to ``qmax``."""
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile={percentile} is out of range; allowed range is (0, 100]")
    if headroom < 1:
        raise ValueError(f"headroom={headroom} must be at least 1")
    if torch.is_tensor(values):
        values = values.detach().cpu().numpy()
    magnitudes = np.abs(np.asarray(values, dtype=np.float64)).ravel()
    if magnitudes.size == 0:
        raise ValueError("cannot calibrate an activation scale on no data")
    if not np.all(np.isfinite(magnitudes)):
        raise ValueError("calibration data must be finite")
    top = float(np.percentile(magnitudes, percentile)) * headroom
    return top / qmax(bits) if top > 0 else 1.0


def round_half_away(values: np.ndarray) -> np.ndarray:
    """Round to the nearest integer, halves away from zero (the kernel's rule)."""
    values = np.asarray(values, dtype=np.float64)
    return np.sign(values) * np.floor(np.abs(values) + 0.5)


def quantize(values, scale: float, bits: int) -> np.ndarray:
    """Real values -> int64 in ``[-qmax, qmax]`` (rounded half away, then saturated)."""
    if not scale > 0:
        raise ValueError(f"activation scale must be positive, got {scale}")
    top = qmax(bits)
    return np.clip(round_half_away(np.asarray(values) / scale), -top, top).astype(np.int64)


def torch_round_half_away(values: torch.Tensor) -> torch.Tensor:
    return torch.sign(values) * torch.floor(values.abs() + 0.5)


def straight_through(exact: torch.Tensor, surrogate: torch.Tensor) -> torch.Tensor:
    """``exact`` forward (bit for bit), the gradient of ``surrogate`` backward.

    Written as ``exact + (surrogate - surrogate.detach())``: the bracket is exactly zero
    in floating point, so the value is ``exact`` itself, never ``exact`` plus a rounding
    error (``surrogate + (exact - surrogate).detach()`` can be off by an ulp).
    """
    return exact.detach() + (surrogate - surrogate.detach())


def round_ste(values: torch.Tensor) -> torch.Tensor:
    """Round half away from zero forward; identity gradient (straight-through) backward."""
    return straight_through(torch_round_half_away(values), values)


def quantize_ste(values: torch.Tensor, scale: float, bits: int) -> torch.Tensor:
    """`quantize` in torch: the integers (as a float tensor), with a straight-through gradient.

    Forward, exactly ``quantize(values, scale, bits)`` when ``values`` is float64 (the
    same division, rounding and saturation); backward, ``1 / scale`` inside the range
    and zero where the value saturates.
    """
    if not scale > 0:
        raise ValueError(f"activation scale must be positive, got {scale}")
    top = qmax(bits)
    return torch.clamp(round_ste(values / scale), -top, top)


def fake_quant(values: torch.Tensor, scale: float, bits: int) -> torch.Tensor:
    """Quantize and dequantize in torch with a straight-through gradient.

    Inside the range the gradient is the identity; where the value saturates it is
    zero (``clamp``'s own gradient), which keeps QAT from pushing past the range.
    """
    top = qmax(bits)
    return torch.clamp(round_ste(values / scale), -top, top) * scale

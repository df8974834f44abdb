"""Straight-through fake quantization of weights for quantization-aware training.

Forward, a weight takes its quantized value ``scale[n] * level``; backward, the
gradient passes to the float weight unchanged (the straight-through estimator), so
the float "shadow" weights keep learning while the network sees quantized ones.
"""

from __future__ import annotations

import torch

from .activations import straight_through
from .weights import nearest_level_index, search_scales


def fake_quant_weights(
    weights: torch.Tensor, levels: torch.Tensor, scales: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(quantized weights with STE gradient, per-channel scales)`` for an (N, K) matrix.

    Without ``scales`` they are searched on the current weights (as in `quantize_weights`).
    """
    with torch.no_grad():
        levels = levels.to(torch.float64)
        if scales is None:
            scales = search_scales(weights, levels)
        scales = scales.to(torch.float64)
        index = nearest_level_index(weights.detach().to(torch.float64) / scales[:, None], levels)
        quantized = (levels[index] * scales[:, None]).to(weights.dtype)
    return weights + (quantized - weights).detach(), scales


def integer_weights_ste(
    weights: torch.Tensor, levels: torch.Tensor, scales: torch.Tensor
) -> torch.Tensor:
    """The integer levels of an (N, K) matrix (as float64), with a straight-through gradient.

    Forward, exactly ``WeightFit.rounded(weights).ints``; backward, ``1 / scales[n]``
    per row (the gradient of ``weights / scales``), so an integer-domain forward trains
    the float weights like a real-valued fake-quant one.
    """
    scaled = weights.to(torch.float64) / scales.to(torch.float64)[:, None]
    levels = levels.to(torch.float64)
    with torch.no_grad():
        ints = levels[nearest_level_index(scaled.detach(), levels)]
    return straight_through(ints, scaled)

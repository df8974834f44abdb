"""Straight-through fake quantization of weights for quantization-aware training.

Forward, a weight takes its quantized value ``scale[n] * level``; backward, the
gradient passes to the float weight unchanged (the straight-through estimator), so
the float "shadow" weights keep learning while the network sees quantized ones.
"""

from __future__ import annotations

import torch

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

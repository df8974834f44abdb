"""Quantizers: weight schemes (uniform, SP1, SP2, codebook), activations, requantization.

- `WeightScheme` names a weight mode at a width; `quantize_weights` fits one matrix
  (levels, per-channel scales, integer weights) and `WeightFit.codes` encodes it for
  the kernel.
- `calibrate_scale` / `quantize` / `fake_quant` handle symmetric per-tensor activations.
- `build_requant` turns scales and a float bias into the kernel's fixed-point `Requant`.
- `fake_quant_weights` / `integer_weights_ste` / `quantize_ste` are the straight-through
  quantizers QAT trains through (`straight_through`: exact value forward, a surrogate's
  gradient backward).

The models that use them (fake-quant MLP, QAT, compilation to the core) are in `sw.nn`.
"""

from .activations import (
    calibrate_scale,
    fake_quant,
    qmax,
    quantize,
    quantize_ste,
    round_half_away,
    round_ste,
    straight_through,
)
from .fixed_point import (
    build_requant,
    common_shift_multipliers,
    fixed_point_multiplier,
    quantize_bias,
)
from .schemes import SCHEME_KINDS, WeightScheme, parse_schemes
from .ste import fake_quant_weights, integer_weights_ste
from .weights import WeightFit, fit_codebook, nearest_level_index, quantize_weights, search_scales

__all__ = [
    "SCHEME_KINDS",
    "WeightFit",
    "WeightScheme",
    "build_requant",
    "calibrate_scale",
    "common_shift_multipliers",
    "fake_quant",
    "fake_quant_weights",
    "integer_weights_ste",
    "fit_codebook",
    "fixed_point_multiplier",
    "nearest_level_index",
    "parse_schemes",
    "qmax",
    "quantize",
    "quantize_bias",
    "quantize_ste",
    "quantize_weights",
    "round_half_away",
    "round_ste",
    "search_scales",
    "straight_through",
]

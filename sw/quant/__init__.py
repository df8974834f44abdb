"""Quantizers: weight schemes (uniform, SP1, SP2, codebook), activations, requantization.

- `WeightScheme` names a weight mode at a width; `quantize_weights` fits one matrix
  (levels, per-channel scales, integer weights) and `WeightFit.codes` encodes it for
  the kernel.
- `calibrate_scale` / `quantize` / `fake_quant` handle symmetric per-tensor activations.
- `build_requant` turns scales and a float bias into the kernel's fixed-point `Requant`.
- `fake_quant_weights` is the straight-through weight quantizer used by QAT.

The models that use them (fake-quant MLP, QAT, compilation to the core) are in `sw.nn`.
"""

from .activations import calibrate_scale, fake_quant, qmax, quantize, round_half_away, round_ste
from .fixed_point import build_requant, fixed_point_multiplier, quantize_bias
from .schemes import SCHEME_KINDS, WeightScheme, parse_schemes
from .ste import fake_quant_weights
from .weights import WeightFit, fit_codebook, nearest_level_index, quantize_weights, search_scales

__all__ = [
    "SCHEME_KINDS",
    "WeightFit",
    "WeightScheme",
    "build_requant",
    "calibrate_scale",
    "fake_quant",
    "fake_quant_weights",
    "fit_codebook",
    "fixed_point_multiplier",
    "nearest_level_index",
    "parse_schemes",
    "qmax",
    "quantize",
    "quantize_bias",
    "quantize_weights",
    "round_half_away",
    "round_ste",
    "search_scales",
]

"""The kernel contract: `LayerSpec`, weight codes, the bit-exact reference and the cycle model.

    y[m, n] = requant_n( sum_k x[m, k] * decode(code[k, n]) )

Everything that computes a quantized matmul (RTL, driver backends, workloads)
imports this package; nothing else re-implements it.
"""

from .codes import decode, decode_table, encode, levels, spx_split, weight_range
from .exact import exact_matmul
from .product import ProductReport, run_product
from .reference import (
    AccumulatorOverflowError,
    accumulator_bounds,
    check_activations,
    check_depth,
    matmul,
    max_depth,
    requantize,
)
from .spec import WEIGHT_MODES, LayerSpec, Requant
from .tiling import Tile, result_order, tiles

__all__ = [
    "WEIGHT_MODES",
    "AccumulatorOverflowError",
    "LayerSpec",
    "ProductReport",
    "Requant",
    "Tile",
    "accumulator_bounds",
    "check_activations",
    "check_depth",
    "decode",
    "decode_table",
    "encode",
    "exact_matmul",
    "levels",
    "matmul",
    "max_depth",
    "requantize",
    "result_order",
    "run_product",
    "spx_split",
    "tiles",
    "weight_range",
]

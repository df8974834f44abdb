"""The decode table a layer loads: what its entries hold, and how the host fills them.

``codebook`` and (on a core with the SPx table) ``spx`` codes index a small table of
``2**weight_bits`` entries, loaded with each layer. A codebook entry is a signed
8-bit level for the multiplier; an SPx entry holds the sign and, per term, a
present bit and an exponent for the shift-and-add datapath (`spx_entry_layout`).
The gateware reads entries through the same layout (`hdl.decode`).
"""

from __future__ import annotations

import numpy as np
from amaranth import unsigned
from amaranth.lib import data

from sw.kernel import LayerSpec, decode, encode, spx_split
from sw.kernel.spec import CODEBOOK_ENTRY_BITS

from .params import CoreParams


def spx_entry_layout(params: CoreParams) -> data.StructLayout:
    term = data.StructLayout({"present": 1, "exponent": unsigned(params.shift_bits)})
    return data.StructLayout({"negative": 1, "terms": data.ArrayLayout(term, params.spx_terms)})


def table_entry_bits(params: CoreParams) -> int:
    """Bits of one table entry; 0 when the core has no table (uniform, or fixed SPx only)."""
    bits = 0
    if "codebook" in params.weight_modes:
        bits = CODEBOOK_ENTRY_BITS
    if params.has_shift_add and params.spx_programmable:
        bits = max(bits, spx_entry_layout(params).size)
    return bits


def uses_table(params: CoreParams) -> bool:
    return table_entry_bits(params) > 0


def table_entry_bytes(params: CoreParams) -> int:
    return -(-table_entry_bits(params) // 8)


def decode_table_entries(spec: LayerSpec, params: CoreParams) -> list[int]:
    """The table words (``2**params.weight_bits`` of them) that make the core decode ``spec``."""
    params.check_weights(spec)
    entries = [0] * (1 << params.weight_bits)
    if spec.weight_mode == "codebook":
        for code, level in enumerate(spec.codebook):
            entries[code] = level & ((1 << CODEBOOK_ENTRY_BITS) - 1)
    elif spec.weight_mode == "spx" and params.spx_programmable:
        layout = spx_entry_layout(params)
        for code in range(1 << spec.weight_bits):
            split = spx_split(spec, code)
            terms = [{"present": t.present, "exponent": t.exponent} for t in split.terms]
            terms += [{"present": 0, "exponent": 0}] * (params.spx_terms - len(terms))
            entries[code] = layout.const({"negative": split.negative, "terms": terms}).as_bits()
    return entries


def hardware_codes(codes, spec: LayerSpec, params: CoreParams) -> np.ndarray:
    """Codes as the core reads them: uniform codes are re-encoded at the core's width
    (sign extension), SPx codes into a fixed SPx decoder's layout; table-indexed codes
    are used as they are."""
    params.check_weights(spec)
    if spec.weight_mode == "spx" and not params.spx_programmable:
        return encode(decode(codes, spec), params.fixed_spx_spec)
    if spec.weight_mode != "uniform" or spec.weight_bits == params.weight_bits:
        return np.asarray(codes, dtype=np.int64)
    wide = LayerSpec(weight_bits=params.weight_bits, weight_mode="uniform")
    return encode(decode(codes, spec), wide)

"""Weight decode at the array edge: one decoder per column, shared by all rows.

``uniform`` codes are sign-extended; ``codebook`` and ``spx`` codes index a small
programmable table (``2**weight_bits`` entries) loaded with each layer. A codebook
entry is a signed 8-bit level for the multiplier; an SPx entry holds the sign and,
per term, a present bit and an exponent for the shift-and-add datapath. The entry
formats below are the hardware side of `sw.kernel.codes`; the host fills the table
with `decode_table_entries`.
"""

from __future__ import annotations

import numpy as np
from amaranth import Cat, Const, Mux, Value, unsigned
from amaranth.lib import data

from sw.kernel import LayerSpec, decode, encode, spx_split
from sw.kernel.spec import CODEBOOK_ENTRY_BITS

from .params import CoreParams


def spx_entry_layout(params: CoreParams) -> data.StructLayout:
    term = data.StructLayout({"present": 1, "exponent": unsigned(params.shift_bits)})
    return data.StructLayout({"negative": 1, "terms": data.ArrayLayout(term, params.spx_terms)})


def table_entry_bits(params: CoreParams) -> int:
    bits = 0
    if "codebook" in params.weight_modes:
        bits = CODEBOOK_ENTRY_BITS
    if params.has_shift_add and params.spx_programmable:
        bits = max(bits, spx_entry_layout(params).size)
    return bits


def uses_table(params: CoreParams) -> bool:
    return table_entry_bits(params) > 0


def decode_table_entries(spec: LayerSpec, params: CoreParams) -> list[int]:
    """The table words (``2**params.weight_bits`` of them) that make the core decode ``spec``."""
    params.check_spec(spec)
    depth = 1 << params.weight_bits
    entries = [0] * depth
    if spec.weight_mode == "codebook":
        for code, level in enumerate(spec.codebook):
            entries[code] = level & ((1 << CODEBOOK_ENTRY_BITS) - 1)
    elif spec.weight_mode == "spx" and params.spx_programmable:
        layout = spx_entry_layout(params)
        term_layout = layout["terms"].shape.elem_shape
        for code in range(1 << spec.weight_bits):
            split = spx_split(spec, code)
            word = int(split.negative) << layout["negative"].offset
            terms_offset = layout["terms"].offset
            for t, term in enumerate(split.terms):
                base = terms_offset + t * term_layout.size
                word |= int(term.present) << (base + term_layout["present"].offset)
                word |= term.exponent << (base + term_layout["exponent"].offset)
            entries[code] = word
    return entries


def hardware_codes(codes, spec: LayerSpec, params: CoreParams) -> np.ndarray:
    """Codes as the core reads them: uniform codes are re-encoded at the core's width
    (sign extension), SPx codes into a fixed SPx decoder's layout; table-indexed codes
    are used as they are."""
    params.check_spec(spec)
    if spec.weight_mode == "spx" and not params.spx_programmable:
        return encode(decode(codes, spec), params.fixed_spx_spec)
    if spec.weight_mode != "uniform" or spec.weight_bits == params.weight_bits:
        return np.asarray(codes, dtype=np.int64)
    wide = LayerSpec(weight_bits=params.weight_bits, weight_mode="uniform")
    return encode(decode(codes, spec), wide)


def decode_uniform(code: Value, params: CoreParams) -> Value:
    """A uniform code is the signed weight: reinterpret its bits."""
    return code.as_signed()


def decode_codebook(entry: Value) -> Value:
    return entry[:CODEBOOK_ENTRY_BITS].as_signed()


def multiplier_weight(code: Value, entry: Value, is_codebook: Value, params: CoreParams) -> Value:
    """The signed weight fed to the multiplier for uniform/codebook modes."""
    if "codebook" not in params.weight_modes:
        return decode_uniform(code, params)
    if "uniform" not in params.weight_modes:
        return decode_codebook(entry)
    return Mux(is_codebook, decode_codebook(entry), decode_uniform(code, params))


def spx_entry(code: Value, entry: Value, params: CoreParams) -> Value:
    """Sign and shift terms of an SPx code: from the table, or by wiring for the fixed layout."""
    layout = spx_entry_layout(params)
    if params.spx_programmable:
        return entry[: layout.size]
    fixed = params.fixed_spx_spec
    fields = []
    low = fixed.weight_bits - 1
    for width in fixed.spx_field_bits:
        low -= width
        fields.append(code[low : low + width] if width else None)
    terms = []
    for index in fields:
        if index is None:
            terms.append(Cat(Const(0, 1), Const(0, params.shift_bits)))
        elif len(index) == 1:
            # A one-bit field has one exponent: a constant, so the PEs need no shifter.
            terms.append(Cat(index, Const(fixed.spx_max_exp, params.shift_bits)))
        else:
            # field i > 0 means 2 ** (max_exp - (i - 1))
            exponent = (fixed.spx_max_exp + 1 - index)[: params.shift_bits]
            terms.append(Cat(index != 0, exponent))
    return Cat(code[fixed.weight_bits - 1], *terms)

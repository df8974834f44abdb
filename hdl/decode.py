"""Weight decode at the array edge: one decoder per column, shared by all rows.

``uniform`` codes are sign-extended; ``codebook`` and ``spx`` codes index the small
programmable table loaded with each layer, whose entries `sw.device.tables` defines
(a signed 8-bit level for the multiplier; for SPx the sign and, per term, a present
bit and an exponent for the shift-and-add datapath). A core without the SPx table
decodes one fixed SPx layout by wiring alone.
"""

from __future__ import annotations

from amaranth import Cat, Const, Mux, Value

from sw.device.params import CoreParams
from sw.device.tables import spx_entry_layout
from sw.kernel.spec import CODEBOOK_ENTRY_BITS


def decode_uniform(code: Value) -> Value:
    """A uniform code is the signed weight: reinterpret its bits."""
    return code.as_signed()


def decode_codebook(entry: Value) -> Value:
    return entry[:CODEBOOK_ENTRY_BITS].as_signed()


def multiplier_weight(code: Value, entry: Value, is_codebook: Value, params: CoreParams) -> Value:
    """The signed weight fed to the multiplier for uniform/codebook modes."""
    if "codebook" not in params.weight_modes:
        return decode_uniform(code)
    if "uniform" not in params.weight_modes:
        return decode_codebook(entry)
    return Mux(is_codebook, decode_codebook(entry), decode_uniform(code))


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

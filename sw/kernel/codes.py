"""Weight codes: ``decode`` (code -> signed integer weight) and ``encode`` (the inverse).

The tables here are the single definition of each weight mode's level set; the
RTL's decode tables, the quantizers and the driver all derive from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .spec import LayerSpec, signed_range


@dataclass(frozen=True)
class SpxTerm:
    """One power-of-two term of an SPx code: ``2**exponent`` if ``present`` else 0."""

    present: bool
    exponent: int


@dataclass(frozen=True)
class SpxCode:
    """An SPx code split into its sign and terms: value = (-1)**negative * sum(terms)."""

    negative: bool
    terms: tuple[SpxTerm, ...]

    @property
    def value(self) -> int:
        magnitude = sum(1 << t.exponent for t in self.terms if t.present)
        return -magnitude if self.negative else magnitude


def spx_split(spec: LayerSpec, code: int) -> SpxCode:
    """Split one SPx code into sign and terms (the hardware's decode, bit for bit)."""
    widths = spec.spx_field_bits
    negative = bool((code >> (spec.weight_bits - 1)) & 1)
    terms = []
    low = spec.weight_bits - 1
    for width in widths:
        low -= width
        index = (code >> low) & ((1 << width) - 1)
        exponent = spec.spx_max_exp - (index - 1) if index else 0
        terms.append(SpxTerm(present=index != 0, exponent=exponent))
    return SpxCode(negative=negative, terms=tuple(terms))


@lru_cache(maxsize=256)
def _decode_table(spec: LayerSpec) -> np.ndarray:
    codes = range(1 << spec.weight_bits)
    if spec.weight_mode == "uniform":
        lo, _ = signed_range(spec.weight_bits)
        table = [c - (1 << spec.weight_bits) if c >= -lo else c for c in codes]
    elif spec.weight_mode == "spx":
        table = [spx_split(spec, c).value for c in codes]
    else:
        table = list(spec.codebook)
    result = np.array(table, dtype=np.int64)
    result.flags.writeable = False
    return result


def decode_table(spec: LayerSpec) -> np.ndarray:
    """The signed weight for every code ``0 .. 2**weight_bits - 1`` (read-only)."""
    return _decode_table(spec)


def levels(spec: LayerSpec) -> np.ndarray:
    """The sorted distinct weight values the mode can represent."""
    return np.unique(decode_table(spec))


def weight_range(spec: LayerSpec) -> tuple[int, int]:
    table = decode_table(spec)
    return int(table.min()), int(table.max())


def _as_int_array(name: str, values) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.bool_)
    ):
        if np.issubdtype(array.dtype, np.floating) and np.all(np.isfinite(array)):
            if np.all(array == np.round(array)):
                return array.astype(np.int64)
        raise ValueError(f"{name} must hold integers, got dtype {array.dtype}")
    return array.astype(np.int64)


def check_codes(codes, spec: LayerSpec) -> np.ndarray:
    """Return ``codes`` as int64 after checking every one fits ``weight_bits``."""
    codes = _as_int_array("codes", codes)
    top = (1 << spec.weight_bits) - 1
    if codes.size and (codes.min() < 0 or codes.max() > top):
        bad = codes[(codes < 0) | (codes > top)].flat[0]
        raise ValueError(
            f"code {bad} does not fit weight_bits={spec.weight_bits}; allowed range is [0, {top}]"
        )
    return codes


def decode(codes, spec: LayerSpec) -> np.ndarray:
    """Map codes (any shape) to signed integer weights (int64)."""
    return decode_table(spec)[check_codes(codes, spec)]


def encode(weights, spec: LayerSpec, *, round: bool = False) -> np.ndarray:
    """Map integer weights to codes (int64, same shape).

    A weight the mode cannot represent raises ``ValueError``, unless ``round=True``,
    which takes the nearest level (ties go to the smaller magnitude). Where several
    codes decode to the same value (SPx's -0, or a repeated codebook entry) the
    smallest code is used, so ``encode(decode(c))`` is canonical, not the identity.
    """
    table = decode_table(spec)
    values = np.asarray(weights)
    if round:
        values = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(values)):
            raise ValueError("weights must be finite to be rounded onto the levels")
    else:
        values = _as_int_array("weights", values)

    # Distinct levels, each with the smallest code that decodes to it.
    level_values, first_code = np.unique(table, return_index=True)
    if round:
        # Nearest level; on a tie the level with the smaller magnitude wins.
        right = np.clip(np.searchsorted(level_values, values), 1, len(level_values) - 1)
        left = right - 1
        d_left = np.abs(values - level_values[left])
        d_right = np.abs(level_values[right] - values)
        tie_prefers_right = np.abs(level_values[right]) < np.abs(level_values[left])
        pick_right = (d_right < d_left) | ((d_right == d_left) & tie_prefers_right)
        index = np.where(pick_right, right, left)
        # Values beyond the ends: searchsorted clipping already lands on the end levels.
        index = np.where(values <= level_values[0], 0, index)
        index = np.where(values >= level_values[-1], len(level_values) - 1, index)
    else:
        index = np.clip(np.searchsorted(level_values, values), 0, len(level_values) - 1)
        missing = level_values[index] != values
        if np.any(missing):
            bad = values[missing].flat[0]
            raise ValueError(
                f"weight {bad} is not representable in weight_mode={spec.weight_mode!r} "
                f"with weight_bits={spec.weight_bits} (levels {level_values.tolist()}); "
                f"pass round=True to take the nearest level"
            )
    return first_code[index].astype(np.int64)

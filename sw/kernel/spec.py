"""`LayerSpec`: what one layer of the quantized matmul kernel computes.

The kernel is

    y[m, n] = requant_n( sum_k x[m, k] * decode(code[k, n]) )

and this module fixes every width, range and mode that appears in it. Every
invalid combination raises ``ValueError`` naming the field and its allowed range.

Weight modes (``decode`` in the formula):

``uniform``
    The code is the weight itself, as a ``weight_bits``-bit two's-complement integer.
``spx``
    Sign and up to ``spx_terms`` powers of two ("sum of signed powers of two";
    Chang et al., *Mix and Match*, HPCA 2021). The code is
    ``[sign | field_1 | ... | field_x]`` (sign in the MSB, field 1 just below it).
    The ``weight_bits - 1`` magnitude bits are split between the fields, the first
    field taking the larger half. A field holding ``i`` contributes nothing when
    ``i == 0`` and ``2 ** (spx_max_exp - (i - 1))`` otherwise, so the value is
    ``(-1) ** sign * sum(terms)``: a multiplication becomes shifts and an add.
    The exponent range is ``[spx_max_exp - (2 ** m_1 - 2), spx_max_exp]`` and must
    stay at or above zero (weights are integers).
``codebook``
    The code is an unsigned index into ``codebook``: ``2 ** weight_bits`` signed
    8-bit integers, programmable per layer (any non-uniform level set).

Requantization (``requant_n``) is optional; without it the raw accumulator is the
output. With it, per output channel ``n``::

    a = acc + bias[n]                   (exact; part of the overflow check)
    p = a * multiplier[n]               (multiplier in [0, 2**15 - 1])
    q = round_half_away_from_zero(p / 2**shift[n])
    q = max(q, 0) if relu
    y = clamp(q, -2**(out_bits-1), 2**(out_bits-1) - 1)

Saturation to ``out_bits`` is part of the definition, not an error: it is what
the hardware's output stage does and what the fake-quant torch model mirrors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

WeightMode = Literal["uniform", "spx", "codebook"]
WEIGHT_MODES: tuple[str, ...] = ("uniform", "spx", "codebook")

ACT_BITS_RANGE = (2, 8)
WEIGHT_BITS_RANGE = (2, 8)
ACC_BITS_RANGE = (8, 40)
OUT_BITS_RANGE = (2, 16)
SPX_TERMS_RANGE = (1, 2)
SPX_MAX_EXP_LIMIT = 14
CODEBOOK_ENTRY_BITS = 8
REQUANT_MULTIPLIER_BITS = 15  # unsigned magnitude; fits a signed 16-bit DSP operand
REQUANT_SHIFT_RANGE = (0, 63)
ROUNDING_RULE = "half_away_from_zero"


def _check_int_range(name: str, value: int, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int in [{lo}, {hi}], got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name}={value} is out of range; allowed range is [{lo}, {hi}]")


def signed_range(bits: int) -> tuple[int, int]:
    """Inclusive range of a two's-complement integer of ``bits`` bits."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


@dataclass(frozen=True)
class Requant:
    """Per-output-channel fixed-point requantization (see the module docstring)."""

    multiplier: tuple[int, ...]
    shift: tuple[int, ...]
    bias: tuple[int, ...] | None = None
    relu: bool = False
    out_bits: int = 8

    def __post_init__(self) -> None:
        object.__setattr__(self, "multiplier", tuple(int(v) for v in self.multiplier))
        object.__setattr__(self, "shift", tuple(int(v) for v in self.shift))
        if self.bias is not None:
            object.__setattr__(self, "bias", tuple(int(v) for v in self.bias))
        channels = len(self.multiplier)
        if channels == 0:
            raise ValueError("requant.multiplier must have one entry per output channel, got none")
        if len(self.shift) != channels:
            raise ValueError(
                f"requant.shift has {len(self.shift)} entries but requant.multiplier has "
                f"{channels}; both need one per output channel"
            )
        if self.bias is not None and len(self.bias) != channels:
            raise ValueError(
                f"requant.bias has {len(self.bias)} entries but requant.multiplier has "
                f"{channels}; both need one per output channel"
            )
        for n, mult in enumerate(self.multiplier):
            _check_int_range(
                f"requant.multiplier[{n}]", mult, 0, (1 << REQUANT_MULTIPLIER_BITS) - 1
            )
        for n, shift in enumerate(self.shift):
            _check_int_range(f"requant.shift[{n}]", shift, *REQUANT_SHIFT_RANGE)
        if not isinstance(self.relu, bool):
            raise ValueError(f"requant.relu must be a bool, got {self.relu!r}")
        _check_int_range("requant.out_bits", self.out_bits, *OUT_BITS_RANGE)

    @property
    def channels(self) -> int:
        return len(self.multiplier)


@dataclass(frozen=True)
class LayerSpec:
    """Widths, weight mode and output stage of one layer of the kernel."""

    act_bits: int = 8
    weight_bits: int = 4
    weight_mode: WeightMode = "uniform"
    spx_terms: int = 2
    spx_max_exp: int | None = None  # None: the smallest value keeping every exponent >= 0
    codebook: tuple[int, ...] | None = None
    acc_bits: int = 32
    requant: Requant | None = field(default=None)

    def __post_init__(self) -> None:
        _check_int_range("act_bits", self.act_bits, *ACT_BITS_RANGE)
        _check_int_range("weight_bits", self.weight_bits, *WEIGHT_BITS_RANGE)
        _check_int_range("acc_bits", self.acc_bits, *ACC_BITS_RANGE)
        if self.weight_mode not in WEIGHT_MODES:
            raise ValueError(f"weight_mode={self.weight_mode!r} is not one of {WEIGHT_MODES}")

        if self.weight_mode == "spx":
            _check_int_range("spx_terms", self.spx_terms, *SPX_TERMS_RANGE)
            lowest_allowed = (1 << self.spx_field_bits[0]) - 2
            if lowest_allowed > SPX_MAX_EXP_LIMIT:
                raise ValueError(
                    f"weight_bits={self.weight_bits} with spx_terms={self.spx_terms} needs "
                    f"exponents up to {lowest_allowed}, beyond the limit {SPX_MAX_EXP_LIMIT}; "
                    f"use fewer weight_bits or more spx_terms"
                )
            if self.spx_max_exp is None:
                object.__setattr__(self, "spx_max_exp", lowest_allowed)
            _check_int_range("spx_max_exp", self.spx_max_exp, lowest_allowed, SPX_MAX_EXP_LIMIT)
        elif self.spx_max_exp is not None:
            raise ValueError(
                f"spx_max_exp only applies to weight_mode='spx', not {self.weight_mode!r}"
            )

        if self.weight_mode == "codebook":
            if self.codebook is None:
                raise ValueError(
                    "weight_mode='codebook' needs a codebook of 2**weight_bits entries"
                )
            object.__setattr__(self, "codebook", tuple(int(v) for v in self.codebook))
            if len(self.codebook) != 1 << self.weight_bits:
                raise ValueError(
                    f"codebook has {len(self.codebook)} entries; weight_bits={self.weight_bits} "
                    f"needs exactly {1 << self.weight_bits}"
                )
            lo, hi = signed_range(CODEBOOK_ENTRY_BITS)
            for i, level in enumerate(self.codebook):
                _check_int_range(f"codebook[{i}]", level, lo, hi)
        elif self.codebook is not None:
            raise ValueError(
                f"codebook only applies to weight_mode='codebook', not {self.weight_mode!r}"
            )

        if self.requant is not None and not isinstance(self.requant, Requant):
            raise ValueError(
                f"requant must be a Requant or None, got {type(self.requant).__name__}"
            )
        if self.requant is not None and self.requant.bias is not None:
            lo, hi = signed_range(self.acc_bits)
            for n, b in enumerate(self.requant.bias):
                _check_int_range(f"requant.bias[{n}]", b, lo, hi)

        from .reference import max_depth  # late: reference builds on this module

        if max_depth(self) < 1:
            raise ValueError(
                f"acc_bits={self.acc_bits} cannot hold even one product of act_bits="
                f"{self.act_bits} activations and these weights (plus bias); use a wider acc_bits"
            )

    @property
    def spx_field_bits(self) -> tuple[int, ...]:
        """Widths of the SPx term fields, most significant first (may include zeros)."""
        magnitude_bits = self.weight_bits - 1
        first = -(-magnitude_bits // self.spx_terms)  # ceil: field 1 gets the larger half
        return (first,) + ((magnitude_bits - first,) if self.spx_terms == 2 else ())

    @property
    def act_range(self) -> tuple[int, int]:
        return signed_range(self.act_bits)

    @property
    def acc_range(self) -> tuple[int, int]:
        return signed_range(self.acc_bits)

    @property
    def out_bits(self) -> int:
        """Width of an output element: ``requant.out_bits``, or ``acc_bits`` when raw."""
        return self.requant.out_bits if self.requant is not None else self.acc_bits

    def with_requant(self, requant: Requant | None) -> LayerSpec:
        from dataclasses import replace

        return replace(self, requant=requant)

"""Weight quantization schemes: which integer levels a layer's weights may take.

A scheme is a kernel weight mode at a width:

``uniform``
    Symmetric per output channel: the integers ``-(2**(b-1) - 1) .. 2**(b-1) - 1``
    (the code ``-2**(b-1)`` is left unused so that zero sits in the middle).
``sp1`` / ``sp2``
    The kernel's SPx level sets (sign and one or two powers of two), e.g. at 4 bits
    SP1 = ``0, ±1, ±2, ... ±64`` and SP2 = ``0, ±1, ±2, ±4, ±5, ±6, ±8``.
``codebook``
    ``2**b`` signed 8-bit levels fitted to each layer (1-D k-means, see `weights`).

Every scheme also has a per-output-channel real scale, so a real weight is
``scale[n] * level``; the scale is folded into the layer's requantization multiplier.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sw.kernel import LayerSpec, levels

SCHEME_KINDS = ("uniform", "sp1", "sp2", "codebook")


@dataclass(frozen=True)
class WeightScheme:
    """A weight mode at a width, e.g. ``WeightScheme("sp2", 4)``."""

    kind: str
    bits: int

    def __post_init__(self) -> None:
        if self.kind not in SCHEME_KINDS:
            raise ValueError(f"weight scheme {self.kind!r} is not one of {SCHEME_KINDS}")
        if isinstance(self.bits, bool) or not isinstance(self.bits, int):
            raise ValueError(f"weight bits must be an int, got {self.bits!r}")
        low = 2
        high = 4 if self.kind == "sp1" else 8  # SP1 needs exponents up to 2**(bits-1) - 2
        if not low <= self.bits <= high:
            raise ValueError(
                f"{self.kind} weights need bits in [{low}, {high}], got bits={self.bits}"
            )

    @classmethod
    def parse(cls, text: str, bits: int | None = None) -> WeightScheme:
        """``"sp2"`` (with ``bits``) or ``"sp2-4"`` / ``"sp2:4"``."""
        kind, sep, width = text.strip().lower().replace(":", "-").partition("-")
        if sep:
            try:
                bits = int(width)
            except ValueError as error:
                raise ValueError(f"weight scheme {text!r}: bits {width!r} is not an int") from error
        if bits is None:
            raise ValueError(f"weight scheme {text!r} needs a width, e.g. '{kind}-4'")
        return cls(kind, bits)

    @property
    def weight_mode(self) -> str:
        return "spx" if self.kind in ("sp1", "sp2") else self.kind

    @property
    def spx_terms(self) -> int:
        return 1 if self.kind == "sp1" else 2

    @property
    def name(self) -> str:
        return f"{self.kind}-{self.bits}"

    @property
    def label(self) -> str:
        kind = {"uniform": "uniform", "sp1": "SP1", "sp2": "SP2", "codebook": "codebook"}
        return f"{kind[self.kind]} {self.bits}-bit"

    def fixed_levels(self) -> np.ndarray | None:
        """The integer levels of a fixed-level scheme (sorted); None for ``codebook``."""
        if self.kind == "uniform":
            top = (1 << (self.bits - 1)) - 1
            return np.arange(-top, top + 1, dtype=np.int64)
        if self.kind == "codebook":
            return None
        return levels(self.layer_spec()).astype(np.int64)

    def layer_spec(
        self, *, act_bits: int = 8, codebook=None, acc_bits: int = 32, requant=None
    ) -> LayerSpec:
        """The kernel `LayerSpec` for this scheme (``codebook`` needs the fitted levels)."""
        return LayerSpec(
            act_bits=act_bits,
            weight_bits=self.bits,
            weight_mode=self.weight_mode,
            spx_terms=self.spx_terms if self.weight_mode == "spx" else 2,
            codebook=tuple(codebook) if codebook is not None else None,
            acc_bits=acc_bits,
            requant=requant,
        )

    def pe_multipliers(self, array_rows: int, array_cols: int) -> int:
        """Hardware multipliers a core built for this mode alone needs in its PE array.

        ``uniform`` and ``codebook`` multiply in every PE; SPx only shifts and adds.
        """
        return 0 if self.weight_mode == "spx" else array_rows * array_cols


def parse_schemes(text: str, bits: int) -> list[WeightScheme]:
    """A comma-separated list such as ``"uniform,sp1,sp2,codebook"`` at ``bits``."""
    names = [part for part in text.split(",") if part.strip()]
    if not names:
        raise ValueError("the list of weight schemes is empty")
    return [WeightScheme.parse(name, bits) for name in names]

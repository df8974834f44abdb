"""Random layers and operands: for tests, benchmarks and `qmatmul matmul`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .codes import weight_range
from .reference import max_depth
from .spec import CODEBOOK_ENTRY_BITS, LayerSpec, Requant, signed_range


@dataclass(frozen=True)
class RandomProduct:
    spec: LayerSpec
    x: np.ndarray  # (M, K) activations
    codes: np.ndarray  # (K, N) weight codes


def random_spec(
    rng: np.random.Generator,
    n: int,
    *,
    mode: str = "uniform",
    act_bits: int = 8,
    weight_bits: int = 4,
    spx_terms: int = 2,
    acc_bits: int = 32,
    requant: bool | None = None,
    k_hint: int = 64,
) -> LayerSpec:
    """A valid random spec; ``requant=None`` picks raw or requantized at random.

    The requantization multipliers and shifts are chosen so that a typical output of
    a depth-``k_hint`` product lands inside ``out_bits`` (with some saturating).
    """
    codebook = None
    if mode == "codebook":
        lo, hi = signed_range(CODEBOOK_ENTRY_BITS)
        codebook = tuple(int(v) for v in rng.integers(lo, hi + 1, size=1 << weight_bits))
    base = LayerSpec(
        act_bits=act_bits,
        weight_bits=weight_bits,
        weight_mode=mode,
        spx_terms=spx_terms if mode == "spx" else 2,
        codebook=codebook,
        acc_bits=acc_bits,
    )
    if requant is None:
        requant = bool(rng.integers(0, 2))
    if not requant:
        return base
    out_bits = int(rng.integers(4, 9))
    w_lo, w_hi = weight_range(base)
    typical = max(1, int(np.sqrt(k_hint) * (1 << (act_bits - 1)) * max(abs(w_lo), abs(w_hi)) / 2))
    acc_lo, acc_hi = signed_range(acc_bits)
    bias_span = min(typical, acc_hi // 4)
    multiplier = rng.integers(1, 1 << 15, size=n)
    # shift so that typical * multiplier >> shift is about 2**(out_bits-1)
    shift = np.clip(
        np.round(np.log2(typical * multiplier.astype(np.float64)) - (out_bits - 1)).astype(int)
        + rng.integers(-1, 2, size=n),
        0,
        63,
    )
    spec = base.with_requant(
        Requant(
            multiplier=tuple(int(v) for v in multiplier),
            shift=tuple(int(v) for v in shift),
            bias=tuple(int(v) for v in rng.integers(-bias_span, bias_span + 1, size=n)),
            relu=bool(rng.integers(0, 2)),
            out_bits=out_bits,
        )
    )
    return spec


def random_operands(
    rng: np.random.Generator, spec: LayerSpec, m: int, k: int, n: int
) -> tuple[np.ndarray, np.ndarray]:
    if k > max_depth(spec):
        raise ValueError(f"K={k} exceeds the largest safe depth {max_depth(spec)} for this spec")
    lo, hi = spec.act_range
    x = rng.integers(lo, hi + 1, size=(m, k), dtype=np.int64)
    codes = rng.integers(0, 1 << spec.weight_bits, size=(k, n), dtype=np.int64)
    return x, codes


def random_product(
    rng: np.random.Generator, m: int, k: int, n: int, **spec_options
) -> RandomProduct:
    spec = random_spec(rng, n, k_hint=k, **spec_options)
    x, codes = random_operands(rng, spec, m, k, n)
    return RandomProduct(spec, x, codes)


def random_network(
    rng: np.random.Generator, m: int, sizes, *, last_requant: bool | None = None, **spec_options
) -> tuple[np.ndarray, list[tuple[LayerSpec, np.ndarray]]]:
    """Input rows and a chain of random layers ``sizes[0] -> sizes[1] -> ...``: every
    layer but the last requantizes (its outputs are the next one's activations)."""
    layers = []
    for i, (k, n) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        requant = True if i < len(sizes) - 2 else last_requant
        spec = random_spec(rng, n, k_hint=k, requant=requant, **spec_options)
        x_layer, codes = random_operands(rng, spec, m, k, n)
        if i == 0:
            x = x_layer
        layers.append((spec, codes))
    return x, layers

"""Weight quantizers: integer levels and per-output-channel scales for one weight matrix.

Weights are ``(N, K)`` as in ``torch.nn.Linear`` (one row per output channel).
Quantizing a matrix means choosing

- the level set: fixed by the scheme (uniform, SP1, SP2), or fitted to the layer for
  ``codebook`` (Lloyd-Max, i.e. 1-D k-means, on the channel-normalized weights, then
  rounded to signed 8-bit integers as the kernel's codebook holds them);
- one real scale per output channel: the one of a grid of clipping ratios
  (``CLIP_GRID`` times the channel's largest ``|w|`` over the largest level) that
  minimizes the channel's squared quantization error;
- the level of each weight: the nearest one (a tie goes to the smaller level).

Everything here is derived from the weights; nothing is hand-set per layer. The same
functions serve post-training quantization and, called every step, QAT (`ste`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from sw.kernel import encode
from sw.kernel.spec import CODEBOOK_ENTRY_BITS

from .schemes import WeightScheme

# Candidate clipping ratios for the per-channel scale search (1.0: no clipping).
CLIP_GRID = np.linspace(0.1, 1.0, 46)
CODEBOOK_MAX_LEVEL = (1 << (CODEBOOK_ENTRY_BITS - 1)) - 1  # 127
LLOYD_ITERATIONS = 60
# A channel whose weights are all zero gets this scale (any positive value works).
ZERO_CHANNEL_SCALE = 1.0


def nearest_level_index(values: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Index into the sorted ``levels`` of the nearest level to each value.

    A value exactly half way between two levels goes to the smaller one.
    """
    if levels.numel() == 1:
        return torch.zeros_like(values, dtype=torch.long)
    midpoints = (levels[1:] + levels[:-1]) / 2
    return torch.bucketize(values, midpoints)


def fit_codebook(weights: torch.Tensor, bits: int) -> tuple[int, ...]:
    """``2**bits`` signed 8-bit levels for one layer, by Lloyd-Max on normalized weights.

    Each output channel is divided by its largest ``|w|`` (the per-channel scale takes
    care of magnitudes), the pooled values get ``2**bits`` centroids by Lloyd's
    algorithm started at evenly spaced quantiles, and the centroids are scaled so the
    largest magnitude is 127 and rounded. Returned sorted.
    """
    count = 1 << bits
    w = weights.detach().to(torch.float64)
    peak = w.abs().amax(dim=1, keepdim=True)
    normalized = (w / torch.where(peak > 0, peak, torch.ones_like(peak))).flatten()
    if normalized.numel() == 0:
        raise ValueError("cannot fit a codebook to an empty weight matrix")
    probabilities = (torch.arange(count, dtype=torch.float64) + 0.5) / count
    centroids = torch.quantile(normalized, probabilities)
    for _ in range(LLOYD_ITERATIONS):
        centroids, _ = torch.sort(centroids)
        assignment = nearest_level_index(normalized, centroids)
        sums = torch.zeros(count, dtype=torch.float64).index_add_(0, assignment, normalized)
        sizes = torch.bincount(assignment, minlength=count).to(torch.float64)
        # An empty cell keeps its centroid (it cannot happen with distinct quantile starts
        # unless many weights are equal).
        updated = torch.where(sizes > 0, sums / sizes.clamp_min(1), centroids)
        if torch.allclose(updated, centroids, rtol=0, atol=1e-12):
            break
        centroids = updated
    largest = centroids.abs().max()
    if largest == 0:
        return tuple([0] * count)
    table = torch.round(centroids / largest * CODEBOOK_MAX_LEVEL).to(torch.int64)
    return tuple(sorted(int(v) for v in table))


def search_scales(weights: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Per-channel scale (N,) minimizing the squared error of nearest-level rounding."""
    w = weights.detach().to(torch.float64)
    levels = levels.to(torch.float64)
    top = levels.abs().max()
    peak = w.abs().amax(dim=1)
    grid = torch.as_tensor(CLIP_GRID, dtype=torch.float64)
    candidates = grid[:, None] * peak[None, :] / top  # (A, N)
    safe = torch.where(candidates > 0, candidates, torch.ones_like(candidates))
    scaled = w[None] / safe[:, :, None]  # (A, N, K)
    quantized = levels[nearest_level_index(scaled, levels)] * safe[:, :, None]
    error = ((quantized - w[None]) ** 2).sum(dim=2)  # (A, N)
    best = error.argmin(dim=0)  # the first (smallest clipping ratio) on a tie
    scales = safe[best, torch.arange(w.shape[0])]
    return torch.where(peak > 0, scales, torch.full_like(scales, ZERO_CHANNEL_SCALE))


def fit_levels(weights: torch.Tensor, scheme: WeightScheme) -> tuple[torch.Tensor, tuple | None]:
    """The level set for this matrix (float64 tensor, sorted) and the codebook table."""
    if scheme.kind == "codebook":
        codebook = fit_codebook(weights, scheme.bits)
        return torch.tensor(sorted(set(codebook)), dtype=torch.float64), codebook
    return torch.as_tensor(scheme.fixed_levels(), dtype=torch.float64), None


@dataclass(frozen=True)
class WeightFit:
    """One weight matrix quantized: ``weights ~= scales[:, None] * ints``."""

    scheme: WeightScheme
    levels: np.ndarray  # the sorted distinct integer levels the ints were rounded to
    codebook: tuple[int, ...] | None  # the 2**bits table (codebook mode only)
    scales: np.ndarray  # (N,) float64, real weight per integer step, per output channel
    ints: np.ndarray  # (N, K) int64, each one of `levels`

    def dequantized(self) -> np.ndarray:
        return self.scales[:, None] * self.ints

    def layer_spec(self, *, act_bits: int = 8, acc_bits: int = 32, requant=None):
        return self.scheme.layer_spec(
            act_bits=act_bits, codebook=self.codebook, acc_bits=acc_bits, requant=requant
        )

    def codes(self) -> np.ndarray:
        """The kernel's (K, N) codes: transposed to inputs x outputs and encoded exactly."""
        return encode(self.ints.T, self.layer_spec())

    def rounded(self, weights) -> WeightFit:
        """The same levels and scales, with ``weights`` (N, K) rounded onto them again.

        What QAT does between two re-fits: the float weights move, the quantizer stays.
        """
        w = torch.as_tensor(np.asarray(weights) if not torch.is_tensor(weights) else weights)
        w = w.detach().to(torch.float64)
        if tuple(w.shape) != self.ints.shape:
            raise ValueError(
                f"weights of shape {tuple(w.shape)} do not fit a {self.ints.shape} fit"
            )
        levels = torch.as_tensor(self.levels, dtype=torch.float64)
        scales = torch.as_tensor(self.scales, dtype=torch.float64)
        ints = levels[nearest_level_index(w / scales[:, None], levels)]
        return WeightFit(
            self.scheme, self.levels, self.codebook, self.scales, ints.numpy().astype(np.int64)
        )

    def memory_bits(self) -> int:
        """Bits to store the codes, plus the codebook table when the mode has one."""
        table = len(self.codebook) * CODEBOOK_ENTRY_BITS if self.codebook is not None else 0
        return int(self.ints.size * self.scheme.bits + table)


def quantize_weights(
    weights, scheme: WeightScheme, *, levels: torch.Tensor | None = None, codebook=None
) -> WeightFit:
    """Post-training quantization of one (N, K) matrix (numpy array or tensor).

    ``levels``/``codebook`` reuse an earlier fit (QAT keeps a codebook for an epoch);
    by default the level set is fitted here.
    """
    w = torch.as_tensor(np.asarray(weights) if not torch.is_tensor(weights) else weights)
    w = w.detach().to(torch.float64)
    if w.ndim != 2:
        raise ValueError(f"weights must be 2-D (N outputs, K inputs), got shape {tuple(w.shape)}")
    if not torch.all(torch.isfinite(w)):
        raise ValueError("weights must be finite to be quantized")
    if levels is None:
        levels, codebook = fit_levels(w, scheme)
    scales = search_scales(w, levels)
    ints = levels[nearest_level_index(w / scales[:, None], levels)]
    return WeightFit(
        scheme=scheme,
        levels=levels.numpy().astype(np.int64),
        codebook=codebook,
        scales=scales.numpy(),
        ints=ints.numpy().astype(np.int64),
    )

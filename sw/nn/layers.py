"""The trainable and calibrated pieces of a compiled graph (torch modules).

- `ActivationQuantizer`: one calibrated per-tensor scale (real = scale * q, q a signed
  integer of ``bits``), kept as a buffer so a ``state_dict`` carries it.
- `DerivedScale`: the scale of a value that only moved or was multiplied by a constant
  (its producer's scale times ``factor``; no rounding).
- `CoreLayer`: a Linear/Conv1d/Conv2d with its BatchNorm folded in, its weight
  quantizer (levels and per-channel scales, buffers) and its output quantizer; it turns
  its float weights into what the core computes with (`CoreLayer.frozen`).
- `EmbeddingTable`: an embedding whose table is quantized per tensor (`act_bits`);
  gathering rows is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from sw.kernel import LayerSpec, Requant
from sw.kernel.spec import ACT_BITS_RANGE, signed_range
from sw.quant import (
    WeightFit,
    WeightScheme,
    build_requant,
    calibrate_scale,
    integer_weights_ste,
    qmax,
    quantize_weights,
    round_ste,
)

from .im2col import ConvGeometry

# The widest requantized output (16-bit): program outputs and inputs of float steps.
WIDE_BITS = 16
# A wide value's scale maps twice its largest calibration value to the top of the range,
# so that inputs a little beyond the calibration set do not saturate (and tie).
WIDE_HEADROOM = 2.0
# The device's widest activation: a core layer with a wider input runs one product per
# activation digit (see `sw.nn.program`).
DEVICE_ACT_BITS = ACT_BITS_RANGE[1]


class ActivationQuantizer(nn.Module):
    """A calibrated scale for one activation tensor: ``real = scale * q``.

    ``symmetric`` (host quantization of real values, `sw.quant.quantize`): q in
    ``[-qmax, qmax]``; otherwise (requantized by the kernel's rule) the full signed
    range of ``bits``. ``bits`` and ``headroom`` may be set after construction (the
    compiler decides which values are wide once it has seen every consumer).
    """

    def __init__(self, bits: int | None = None, *, symmetric: bool = False):
        super().__init__()
        self.bits = bits
        self.symmetric = symmetric
        self.headroom = 1.0
        self.register_buffer("scale_value", torch.tensor(math.nan, dtype=torch.float64))

    @property
    def calibrated(self) -> bool:
        return not math.isnan(float(self.scale_value))

    @property
    def scale(self) -> float:
        value = float(self.scale_value)
        if math.isnan(value):
            raise RuntimeError("an activation scale is used before calibration")
        return value

    @property
    def limits(self) -> tuple[int, int]:
        if self.symmetric:
            return -qmax(self.bits), qmax(self.bits)
        return signed_range(self.bits)

    def reset(self) -> None:
        self.scale_value.fill_(math.nan)

    def calibrate(self, real: torch.Tensor) -> None:
        """The scale mapping the largest ``|real|`` (times ``headroom``) to ``qmax``."""
        self.scale_value.fill_(calibrate_scale(real, self.bits, headroom=self.headroom))

    def quantize(self, real: torch.Tensor, calibrating: bool) -> torch.Tensor:
        """Real values -> integers (float64), rounded half away, saturated; STE gradient."""
        if calibrating and not self.calibrated:
            self.calibrate(real)
        low, high = self.limits
        return torch.clamp(round_ste(real.to(torch.float64) / self.scale), low, high)


@dataclass(frozen=True)
class DerivedScale:
    """The scale of a value computed without rounding: ``parent.scale * factor``."""

    parent: object  # ActivationQuantizer or DerivedScale
    factor: float = 1.0

    @property
    def scale(self) -> float:
        return self.parent.scale * self.factor

    @property
    def bits(self) -> int:
        return self.parent.bits

    @property
    def limits(self) -> tuple[int, int]:
        return self.parent.limits


def fold_batch_norm(
    weight: torch.Tensor, bias: torch.Tensor | None, norm: nn.Module
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and bias of ``norm(layer(x))`` as one layer (eval-mode statistics)."""
    if not norm.track_running_stats or norm.running_var is None:
        raise ValueError("a BatchNorm without running statistics cannot be folded")
    var = norm.running_var.detach().to(torch.float64)
    mean = norm.running_mean.detach().to(torch.float64)
    gamma = norm.weight.detach().to(torch.float64) if norm.affine else torch.ones_like(var)
    beta = norm.bias.detach().to(torch.float64) if norm.affine else torch.zeros_like(var)
    factor = gamma / torch.sqrt(var + norm.eps)
    shape = (-1,) + (1,) * (weight.ndim - 1)
    folded_bias = (bias if bias is not None else torch.zeros_like(mean)) - mean
    return weight * factor.reshape(shape), folded_bias * factor + beta


@dataclass(frozen=True)
class FrozenCoreLayer:
    """A core layer as the device runs it (see `CoreLayer.frozen`).

    ``spec`` and ``codes`` are what `run_product` takes; ``requant`` maps the layer's
    accumulators to ``out_bits`` outputs (inside ``spec`` for a plain layer; applied by
    the host after summing the digit products of a wide one).
    """

    name: str  # the module's qualified name, e.g. "features.0"
    node: str  # the fx node whose value the layer produces
    kind: str  # "linear", "conv1d" or "conv2d"
    geometry: ConvGeometry | None
    fit: WeightFit
    spec: LayerSpec
    codes: np.ndarray  # (K, N)
    requant: Requant
    input_bits: int
    input_scale: float
    output_scale: float
    rows_per_sample: int  # output positions per sample (1 for a Linear on (batch, K))

    @property
    def k(self) -> int:
        return self.codes.shape[0]

    @property
    def n(self) -> int:
        return self.codes.shape[1]

    @property
    def macs_per_sample(self) -> int:
        return self.rows_per_sample * self.k * self.n

    @property
    def wide(self) -> bool:
        """Inputs wider than the device's activations: one product per activation digit."""
        return self.input_bits > DEVICE_ACT_BITS

    @property
    def output_bits(self) -> int:
        return self.requant.out_bits

    @property
    def weight_scales(self) -> np.ndarray:
        return self.fit.scales

    @property
    def weight_memory_bits(self) -> int:
        return self.fit.memory_bits()

    def integer_weights(self) -> torch.Tensor:
        """(N, K) integer weights as float64: exactly ``decode(codes).T``."""
        return torch.as_tensor(self.fit.ints, dtype=torch.float64)


class CoreLayer(nn.Module):
    """A Linear, Conv1d or Conv2d (BatchNorm folded) quantized for the core.

    Parameters: the folded float weight and bias (float64; QAT trains them). Buffers:
    the weight quantizer's sorted ``levels``, per-output-channel ``weight_scales`` and,
    for ``codebook``, the 2**bits ``codebook`` table. ``output`` calibrates the scale
    of the requantized output; ``relu`` is folded into the requantization.
    """

    def __init__(
        self,
        name: str,
        node: str,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        *,
        geometry: ConvGeometry | None,
        relu: bool,
        scheme: WeightScheme,
        rows_per_sample: int,
    ):
        super().__init__()
        self.name, self.node = name, node
        self.geometry = geometry
        self.kind = "linear" if geometry is None else f"conv{geometry.dims}d"
        self.relu = relu
        self.scheme = scheme
        self.rows_per_sample = rows_per_sample
        self.weight = nn.Parameter(weight.detach().to(torch.float64).clone())
        self.bias = None if bias is None else nn.Parameter(bias.detach().to(torch.float64).clone())
        n = weight.shape[0]
        self.register_buffer("levels", torch.zeros(0, dtype=torch.float64))
        self.register_buffer("weight_scales", torch.ones(n, dtype=torch.float64))
        self.register_buffer("codebook", torch.zeros(0, dtype=torch.int64))
        self.output = ActivationQuantizer()

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]

    def matrix(self) -> torch.Tensor:
        """The float weight as an (N, K) matrix (K in im2col order for a convolution)."""
        return self.weight.reshape(self.weight.shape[0], -1)

    def fit_weights(self) -> None:
        """Fit the weight quantizer (levels, per-channel scales) to the current weights."""
        fit = quantize_weights(self.matrix().detach(), self.scheme)
        self.levels = torch.as_tensor(fit.levels, dtype=torch.float64)
        self.weight_scales = torch.as_tensor(fit.scales, dtype=torch.float64)
        codebook = fit.codebook if fit.codebook is not None else ()
        self.codebook = torch.as_tensor(codebook, dtype=torch.int64)

    def weight_fit(self) -> WeightFit:
        """The current weights rounded onto the fitted levels and scales."""
        if self.levels.numel() == 0:
            raise RuntimeError(f"layer {self.name!r}: weights used before they were fitted")
        codebook = tuple(int(v) for v in self.codebook) if self.codebook.numel() else None
        template = WeightFit(
            scheme=self.scheme,
            levels=self.levels.numpy().astype(np.int64),
            codebook=codebook,
            scales=self.weight_scales.numpy().copy(),
            ints=np.zeros(tuple(self.matrix().shape), dtype=np.int64),
        )
        return template.rounded(self.matrix())

    def integer_weights(self) -> torch.Tensor:
        """(N, K) integer weights (float64) with a straight-through gradient (QAT)."""
        return integer_weights_ste(self.matrix(), self.levels, self.weight_scales)

    def bias_steps(self, input_scale: float) -> torch.Tensor | None:
        """The bias in accumulator steps, rounded as `build_requant` rounds it; STE."""
        if self.bias is None:
            return None
        return round_ste(self.bias / (input_scale * self.weight_scales))

    def requant(self, input_scale: float, out_bits: int, acc_bits: int) -> Requant:
        """The kernel requantization from ``input_scale`` to the calibrated output scale."""
        bias = None if self.bias is None else self.bias.detach().numpy()
        return build_requant(
            in_scale=input_scale,
            weight_scales=self.weight_scales.numpy(),
            out_scale=self.output.scale,
            bias=bias,
            relu=self.relu,
            out_bits=out_bits,
            acc_bits=acc_bits,
        )

    def frozen(self, input_bits: int, input_scale: float, acc_bits: int) -> FrozenCoreLayer:
        """What the device runs: codes, a `LayerSpec` and the requantization.

        A plain layer (inputs of at most 8 bits) carries its requantization in the spec;
        a wide one has a raw spec at the device's 8-bit activations (one product per
        activation digit) and the host requantizes the summed accumulators.
        """
        fit = self.weight_fit()
        requant = self.requant(input_scale, self.output.bits, acc_bits)
        if input_bits > DEVICE_ACT_BITS:
            spec = fit.layer_spec(act_bits=DEVICE_ACT_BITS, acc_bits=acc_bits)
        else:
            spec = fit.layer_spec(act_bits=input_bits, acc_bits=acc_bits, requant=requant)
        return FrozenCoreLayer(
            name=self.name,
            node=self.node,
            kind=self.kind,
            geometry=self.geometry,
            fit=fit,
            spec=spec,
            codes=fit.codes(),
            requant=requant,
            input_bits=input_bits,
            input_scale=input_scale,
            output_scale=self.output.scale,
            rows_per_sample=self.rows_per_sample,
        )


class EmbeddingTable(nn.Module):
    """An ``nn.Embedding`` whose table is quantized per tensor to ``bits``.

    The scale comes from the table itself (its largest ``|w|`` over ``qmax``), fitted
    with the weights; the gathered rows are then exact.
    """

    def __init__(self, name: str, table: torch.Tensor, bits: int, padding_idx: int | None):
        super().__init__()
        self.name = name
        self.table = nn.Parameter(table.detach().to(torch.float64).clone())
        self.padding_idx = padding_idx
        self.output = ActivationQuantizer(bits, symmetric=True)

    def fit_weights(self) -> None:
        self.output.calibrate(self.table.detach())

    def integer_table(self) -> torch.Tensor:
        low, high = self.output.limits
        return torch.clamp(round_ste(self.table / self.output.scale), low, high)

    def gather(self, indices: torch.Tensor) -> torch.Tensor:
        if indices.dtype.is_floating_point:
            raise ValueError(f"embedding {self.name!r} needs integer indices, got {indices.dtype}")
        rows = self.table.shape[0]
        if indices.numel() and (indices.min() < 0 or indices.max() >= rows):
            raise ValueError(
                f"embedding {self.name!r} has {rows} rows; indices must be in [0, {rows - 1}], "
                f"got [{int(indices.min())}, {int(indices.max())}]"
            )
        return nn.functional.embedding(indices, self.integer_table(), self.padding_idx)

"""A fake-quantized MLP in torch: post-training quantization and QAT.

`QuantMLP` wraps a float ``Linear``/``ReLU`` chain. Its forward quantizes exactly
where the core does, in float:

    h0 = fake_quant(x, s_in, act_bits)                         (the host's input quantization)
    y  = h @ (s_w * w_int).T + s_in * s_w * round(b / (s_in * s_w))     (per layer)
    h  = fake_quant(relu(y), s_out, act_bits)     (hidden layers; the last: out_bits, no relu)

so it mirrors the integer pipeline (`sw.nn.compiler`) except that the requantization
ratio ``s_in * s_w / s_out`` is a float here and a 15-bit fixed-point multiplier on the
core, and float32 sums stand in for exact integer ones. The two round differently
only when a value lands within about ``2**-15`` (relative) of a rounding tie.

State:

- after `freeze` (PTQ, and the end of QAT) every weight matrix has a `WeightFit`
  (levels, per-channel scales, integer weights) and every activation a calibrated
  scale; eval-mode forward uses exactly these, and so does the compiler;
- in train mode (QAT) the weights are re-rounded on every forward from the current
  float weights, with the levels and per-channel scales of the last freeze (QAT
  re-freezes before every epoch), and a straight-through gradient.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from sw.quant import WeightFit, WeightScheme, calibrate_scale, fake_quant, quantize_weights
from sw.quant.activations import round_ste
from sw.quant.ste import fake_quant_weights

from .mlp import linear_layers, train

# Output (logit / Q-value) width: the kernel's widest requantized output.
DEFAULT_OUT_BITS = 16
# The output scale maps twice the largest calibration output to the top of out_bits,
# so that outputs a little beyond the calibration set do not saturate (and tie).
DEFAULT_OUTPUT_HEADROOM = 2.0


class QuantMLP(nn.Module):
    """A fake-quant copy of a float MLP for one weight scheme (see the module doc)."""

    def __init__(
        self,
        model: nn.Module,
        scheme: WeightScheme,
        *,
        act_bits: int = 8,
        out_bits: int = DEFAULT_OUT_BITS,
        percentile: float = 100.0,
        output_headroom: float = DEFAULT_OUTPUT_HEADROOM,
    ):
        super().__init__()
        layers = linear_layers(model)
        self.linears = nn.ModuleList(copy.deepcopy(linear) for linear, _ in layers)
        self.relus = tuple(relu for _, relu in layers)
        self.scheme = scheme
        self.act_bits = act_bits
        self.out_bits = out_bits
        self.percentile = percentile
        self.output_headroom = output_headroom
        self.fits: list[WeightFit] | None = None
        self.input_scale: float | None = None
        self.output_scales: list[float] | None = None

    @classmethod
    def from_float(
        cls, model: nn.Module, scheme: WeightScheme, calibration_x, **options
    ) -> QuantMLP:
        """Post-training quantization: fit the weights, calibrate on ``calibration_x``."""
        quantized = cls(model, scheme, **options)
        quantized.freeze(calibration_x)
        return quantized

    def layer_bits(self, index: int) -> int:
        """Output width of layer ``index``: act_bits for hidden layers, out_bits for the last."""
        return self.act_bits if index < len(self.linears) - 1 else self.out_bits

    @torch.no_grad()
    def freeze(self, calibration_x) -> None:
        """Fit every weight matrix and calibrate every activation scale, layer by layer.

        Each activation scale is calibrated on the outputs of the already quantized
        layers before it, as the core will see them.
        """
        self.fits = [quantize_weights(linear.weight, self.scheme) for linear in self.linears]
        x = torch.as_tensor(np.asarray(calibration_x), dtype=torch.float32)
        self.input_scale = calibrate_scale(x, self.act_bits, percentile=self.percentile)
        self.output_scales = []
        h = fake_quant(x, self.input_scale, self.act_bits)
        in_scale = self.input_scale
        for index in range(len(self.linears)):
            y = self._affine(index, h, in_scale, training=False)
            last = index == len(self.linears) - 1
            if self.relus[index]:
                y = torch.relu(y)
            bits = self.layer_bits(index)
            scale = calibrate_scale(
                y,
                bits,
                percentile=100.0 if last else self.percentile,
                headroom=self.output_headroom if last else 1.0,
            )
            self.output_scales.append(scale)
            h = fake_quant(y, scale, bits)
            in_scale = scale
        self.eval()

    def _affine(self, index: int, h: torch.Tensor, in_scale: float, *, training: bool):
        linear = self.linears[index]
        fit = self.fits[index]
        if training:
            levels = torch.as_tensor(fit.levels, dtype=torch.float64)
            scales = torch.as_tensor(fit.scales, dtype=torch.float64)
            weight, _ = fake_quant_weights(linear.weight, levels, scales)
        else:
            weight = torch.as_tensor(fit.dequantized(), dtype=torch.float32)
            scales = torch.as_tensor(fit.scales, dtype=torch.float64)
        bias = None
        if linear.bias is not None:
            # The bias in accumulator steps, rounded as the compiler rounds it.
            step = (in_scale * scales).to(torch.float32)
            bias = round_ste(linear.bias / step) * step
        return nn.functional.linear(h, weight, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fits is None:
            raise RuntimeError("QuantMLP is not calibrated: call freeze(calibration_x) first")
        # The input is quantized in the input's own precision (float64 from `outputs`, as
        # the host quantizes it for the core), then the network runs in float32.
        h = fake_quant(x, self.input_scale, self.act_bits).float()
        in_scale = self.input_scale
        for index, scale in enumerate(self.output_scales):
            y = self._affine(index, h, in_scale, training=self.training)
            if self.relus[index]:
                y = torch.relu(y)
            h = fake_quant(y, scale, self.layer_bits(index))
            in_scale = scale
        return h

    def qat(
        self,
        inputs,
        targets,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        *,
        epochs: int,
        batch_size: int = 64,
        lr: float = 1e-3,
        seed: int = 0,
        calibration_x=None,
        progress: str | None = None,
    ) -> list[float]:
        """Quantization-aware fine-tuning with the straight-through estimator.

        Before every epoch the quantizers are re-fitted (`freeze`: codebook levels,
        weight and activation scales) on ``calibration_x`` (default: ``inputs``); within
        an epoch every step re-rounds the current float weights onto those levels and
        scales. Ends frozen.
        """
        calibration_x = inputs if calibration_x is None else calibration_x
        inputs = torch.as_tensor(np.asarray(inputs), dtype=torch.float32)
        targets = torch.as_tensor(np.asarray(targets))
        if targets.is_floating_point():
            targets = targets.float()
        history = train(
            self,
            inputs,
            targets,
            loss_fn,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            on_epoch_start=lambda _epoch: self.freeze(calibration_x),
            progress=progress,
        )
        self.freeze(calibration_x)
        return history

    def qat_classifier(self, x, y, *, epochs: int, **options) -> list[float]:
        """`qat` with cross-entropy on integer labels."""
        labels = torch.as_tensor(np.asarray(y), dtype=torch.long)
        return self.qat(x, labels, nn.functional.cross_entropy, epochs=epochs, **options)

    @torch.no_grad()
    def outputs(self, x) -> np.ndarray:
        """Eval-mode (frozen) fake-quant outputs, float64 numpy."""
        self.eval()
        return self(torch.as_tensor(np.asarray(x), dtype=torch.float64)).double().numpy()

    def predict(self, x) -> np.ndarray:
        return self.outputs(x).argmax(axis=1)

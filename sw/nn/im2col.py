"""Convolutions as matrix products: the geometry of a Conv1d/Conv2d and its im2col.

A convolution with ``C_in`` input channels and a ``kh x kw`` kernel is the product of
the patch matrix (one row per output position and sample, ``K = C_in * kh * kw``
columns, ordered channel-major like ``weight.reshape(C_out, -1)``) with the weight
matrix transposed, so it runs on the core like a Linear layer with
``M = batch x output positions``. The host builds the patches (`ConvGeometry.im2col`)
and puts the (M, C_out) result back into (batch, C_out, *spatial) (`fold_output`).

Padding is always zeros (a real 0 is the integer 0 on every symmetric scale), so
padding and im2col are exact data movement. A Conv1d is a Conv2d of height 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


def _pair(value, dims: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * dims
    value = tuple(int(v) for v in value)
    if len(value) != dims:
        raise ValueError(f"expected {dims} values, got {value}")
    return value


@dataclass(frozen=True)
class ConvGeometry:
    """Kernel, stride, zero padding (before, after per spatial dim) and dilation."""

    dims: int  # 1 (Conv1d) or 2 (Conv2d)
    in_channels: int
    out_channels: int
    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    dilation: tuple[int, ...]

    @classmethod
    def from_module(cls, conv: nn.Conv1d | nn.Conv2d) -> ConvGeometry:
        """The geometry of a torch convolution; ``ValueError`` for what the core cannot run.

        Refused: groups other than 1 (a grouped or depthwise convolution is a block-
        diagonal product), and padding modes other than zeros.
        """
        dims = 1 if isinstance(conv, nn.Conv1d) else 2
        if conv.groups != 1:
            raise ValueError(
                f"groups={conv.groups}: a grouped convolution is not one matrix product; "
                f"only groups=1 runs on the core"
            )
        if conv.padding_mode != "zeros":
            raise ValueError(f"padding_mode={conv.padding_mode!r}: only zero padding is supported")
        kernel = _pair(conv.kernel_size, dims)
        stride = _pair(conv.stride, dims)
        dilation = _pair(conv.dilation, dims)
        if conv.padding == "valid":
            padding = ((0, 0),) * dims
        elif conv.padding == "same":
            # torch's rule: the extra pixel of an even total goes after.
            totals = [d * (k - 1) for d, k in zip(dilation, kernel, strict=True)]
            padding = tuple((t // 2, t - t // 2) for t in totals)
        else:
            padding = tuple((p, p) for p in _pair(conv.padding, dims))
        return cls(dims, conv.in_channels, conv.out_channels, kernel, stride, padding, dilation)

    @property
    def depth(self) -> int:
        """K of the product: input channels x kernel positions."""
        k = self.in_channels
        for size in self.kernel:
            k *= size
        return k

    def output_size(self, spatial: tuple[int, ...]) -> tuple[int, ...]:
        sizes = []
        for n, k, s, (before, after), d in zip(
            spatial, self.kernel, self.stride, self.padding, self.dilation, strict=True
        ):
            span = n + before + after - d * (k - 1) - 1
            if span < 0:
                raise ValueError(
                    f"an input of size {tuple(spatial)} is smaller than the kernel {self.kernel}"
                )
            sizes.append(span // s + 1)
        return tuple(sizes)

    def _as_2d(self, x: torch.Tensor) -> torch.Tensor:
        """Zero-padded input as (batch, C_in, H, W) (a Conv1d's H is 1)."""
        if x.ndim != self.dims + 2 or x.shape[1] != self.in_channels:
            expected = "(batch, C, L)" if self.dims == 1 else "(batch, C, H, W)"
            raise ValueError(
                f"a Conv{self.dims}d with {self.in_channels} input channels needs {expected}, "
                f"got shape {tuple(x.shape)}"
            )
        pads = []
        for before, after in reversed(self.padding):  # F.pad: last dimension first
            pads += [before, after]
        x = nn.functional.pad(x, pads)
        return x.unsqueeze(2) if self.dims == 1 else x

    def _params_2d(self):
        if self.dims == 1:
            return (1, *self.kernel), (1, *self.stride), (1, *self.dilation)
        return self.kernel, self.stride, self.dilation

    def im2col(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
        """Patches (batch x positions, K) of ``x`` and the output's spatial size.

        Row ``b * positions + p`` holds the receptive field of output position ``p``
        (row-major) of sample ``b``; its columns follow ``weight.reshape(C_out, -1)``.
        """
        kernel, stride, dilation = self._params_2d()
        padded = self._as_2d(x)
        patches = nn.functional.unfold(padded, kernel, dilation=dilation, stride=stride)
        spatial = self.output_size(tuple(x.shape[2:]))
        return patches.transpose(1, 2).reshape(-1, self.depth), spatial

    def fold_output(self, y: torch.Tensor, batch: int, spatial: tuple[int, ...]) -> torch.Tensor:
        """(batch x positions, C_out) rows back to (batch, C_out, *spatial)."""
        return y.reshape(batch, -1, y.shape[-1]).transpose(1, 2).reshape(batch, -1, *spatial)

    def convolve(self, x: torch.Tensor, weight_matrix: torch.Tensor) -> torch.Tensor:
        """torch's own convolution of ``x`` with the (C_out, K) ``weight_matrix`` (no bias).

        On integer-valued float64 tensors this is exact, so it is the fake-quant twin of
        ``im2col(x) @ weight_matrix.T`` on the core.
        """
        kernel, stride, dilation = self._params_2d()
        weight = weight_matrix.reshape(self.out_channels, self.in_channels, *kernel)
        y = nn.functional.conv2d(self._as_2d(x), weight, stride=stride, dilation=dilation)
        return y.squeeze(2) if self.dims == 1 else y

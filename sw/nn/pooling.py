"""Average pooling and mean as exact integer window sums and their counts.

`AverageStep` (`sw.nn.steps`) divides each window's sum by its count with one rounding
(half away from zero); these functions say, for an op as written in the model, what the
windows are: ``x -> (sums, counts)`` with the sums exact (integers in float64) and the
counts a number or, where padding is left out of the count, a tensor.
"""

from __future__ import annotations

import math

import torch
from torch import nn

F = nn.functional


def avg_pool_sums(dims: int, kernel, stride, padding, count_include_pad, ceil_mode, divisor):
    """``AvgPool1d/2d`` (or ``F.avg_pool1d/2d``) as window sums and counts."""
    if ceil_mode:
        raise ValueError("ceil_mode=True is not supported")

    def as_tuple(value):
        return (value,) * dims if isinstance(value, int) else tuple(value)

    kernel = as_tuple(kernel)
    stride = as_tuple(stride if stride not in (None, ()) else kernel)
    padding = as_tuple(padding)

    def window_sums(x: torch.Tensor):
        one_d = dims == 1  # a 1-D pooling is a 2-D one of height 1
        grid = x.unsqueeze(2) if one_d else x
        kernel2 = (1, *kernel) if one_d else kernel
        stride2 = (1, *stride) if one_d else stride
        padding2 = (0, *padding) if one_d else padding
        sums = F.avg_pool2d(grid, kernel2, stride2, padding2, divisor_override=1)
        if divisor is not None:
            counts = float(divisor)
        elif count_include_pad or not any(padding):
            counts = float(math.prod(kernel))
        else:  # padding not counted: each window's count of real elements
            ones = torch.ones_like(grid)
            counts = F.avg_pool2d(ones, kernel2, stride2, padding2, divisor_override=1)
            counts = counts.squeeze(2) if one_d else counts
        return (sums.squeeze(2) if one_d else sums), counts

    return window_sums


def adaptive_sums(dims: int, output_size):
    """Adaptive average pooling whose input size is a multiple of its output size."""

    def window_sums(x: torch.Tensor):
        spatial = tuple(x.shape[-dims:])
        out = (output_size,) * dims if isinstance(output_size, int) else tuple(output_size)
        out = tuple(s if o is None else o for s, o in zip(spatial, out, strict=True))
        if any(s % o for s, o in zip(spatial, out, strict=True)):
            raise ValueError(
                f"adaptive average pooling of {spatial} to {out}: only output sizes that "
                f"divide the input are supported"
            )
        kernel = tuple(s // o for s, o in zip(spatial, out, strict=True))
        return avg_pool_sums(dims, kernel, kernel, (0,) * dims, True, False, None)(x)

    return window_sums


def mean_sums(dim, keepdim: bool):
    """``mean(x, dim, keepdim)``: the sum over ``dim`` (all if None) and its count."""

    def window_sums(x: torch.Tensor):
        sums = torch.sum(x) if dim is None else torch.sum(x, dim=dim, keepdim=keepdim)
        return sums, float(x.numel() // max(1, sums.numel()))

    return window_sums


def module_window_sums(module: nn.Module):
    if isinstance(module, (nn.AvgPool1d, nn.AvgPool2d)):
        dims = 1 if isinstance(module, nn.AvgPool1d) else 2
        return avg_pool_sums(
            dims,
            module.kernel_size,
            module.stride,
            module.padding,
            module.count_include_pad,
            module.ceil_mode,
            getattr(module, "divisor_override", None),
        )
    dims = 1 if isinstance(module, nn.AdaptiveAvgPool1d) else 2
    return adaptive_sums(dims, module.output_size)


AVG_POOL_ARGUMENTS = (
    "input",
    "kernel_size",
    "stride",
    "padding",
    "ceil_mode",
    "count_include_pad",
    "divisor_override",
)


def function_window_sums(target, args: tuple, kwargs: dict):
    """The window sums of ``F.avg_pool*``, ``F.adaptive_avg_pool*`` or ``mean`` as called."""
    if target in (F.avg_pool1d, F.avg_pool2d):
        values = dict(zip(AVG_POOL_ARGUMENTS, args, strict=False)) | dict(kwargs)
        return avg_pool_sums(
            1 if target is F.avg_pool1d else 2,
            values["kernel_size"],
            values.get("stride"),
            values.get("padding", 0),
            values.get("count_include_pad", True),
            values.get("ceil_mode", False),
            values.get("divisor_override"),
        )
    if target in (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d):
        size = args[1] if len(args) > 1 else kwargs["output_size"]
        return adaptive_sums(1 if target is F.adaptive_avg_pool1d else 2, size)
    unknown = set(kwargs) - {"dim", "keepdim"}
    if unknown:
        raise ValueError(f"unsupported arguments {sorted(unknown)}")
    dim = args[1] if len(args) > 1 else kwargs.get("dim")
    keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
    return mean_sums(dim, keepdim)

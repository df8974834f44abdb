"""The networks GFBS prunes: BatchNorm after every convolution, written for 1-D and 2-D inputs.

- `VGGNet`: VGG-style stages of 3x3 (or k) convolution + BatchNorm + ReLU, max pooling
  between stages, then flatten and one `Linear` classifier.
- `ResNet`: a stem convolution and basic residual blocks (two convolutions, each with
  BatchNorm; a 1x1 convolution + BatchNorm on the shortcut when the shape changes),
  max pooling, flatten, `Linear`. The residual adds couple channels across blocks:
  torch-pruning removes a coupled channel from every layer that shares it.
- `DnCNN`: the residual-learning denoiser of Zhang et al. (2017): a plain stack of
  convolution + BatchNorm + ReLU layers predicts the noise and the output is
  ``input - predicted noise``. Unlike the original, the first layer has a BatchNorm
  too, so that every prunable channel has a gamma for the BatchNorm-based criteria
  (GFBS, BN scale, BN-Taylor) to score.

Every layer is something `sw.nn.compile_model` puts on the core (Conv1d/Conv2d with
groups=1, BatchNorm folded, ReLU folded) or on the host (max pooling, flatten,
residual add/subtract). ``dims`` picks Conv1d/BatchNorm1d/MaxPool1d (signals such as
mnist1d) or the 2-D versions (images).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

LAYERS = {
    1: (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d),
    2: (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d),
}


def _layers(dims: int):
    if dims not in LAYERS:
        raise ValueError(f"dims must be 1 (signals) or 2 (images), got {dims}")
    return LAYERS[dims]


def _check_widths(widths: Sequence[int], what: str) -> tuple[int, ...]:
    widths = tuple(int(w) for w in widths)
    if not widths or min(widths) < 1:
        raise ValueError(f"{what} must be non-empty positive channel counts, got {widths}")
    return widths


def conv_bn_relu(dims: int, cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    """Convolution (no bias: the BatchNorm's beta is the bias) + BatchNorm + ReLU, same padding."""
    conv, norm, _ = _layers(dims)
    return nn.Sequential(
        conv(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False),
        norm(cout),
        nn.ReLU(),
    )


class VGGNet(nn.Module):
    """``stages``: channel widths per stage, e.g. ((16, 16), (32, 32)); a 2x max pool ends
    every stage; then flatten and ``Linear(features, classes)``.

    ``input_size``: the input's length (1-D) or side (2-D, square), in samples/pixels.
    """

    def __init__(
        self,
        dims: int,
        in_channels: int,
        input_size: int,
        classes: int,
        stages: Sequence[Sequence[int]] = ((16, 16), (32, 32)),
        kernel: int = 3,
    ):
        super().__init__()
        _, _, pool = _layers(dims)
        layers: list[nn.Module] = []
        channels, size = in_channels, input_size
        for stage in stages:
            for width in _check_widths(stage, "every VGG stage"):
                layers.append(conv_bn_relu(dims, channels, width, kernel))
                channels = width
            layers.append(pool(2))
            size //= 2
        if size < 1:
            raise ValueError(f"{len(stages)} pooling stages shrink an input of {input_size} to 0")
        self.features = nn.Sequential(*layers)
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(channels * size**dims, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.features(x)))


class BasicBlock(nn.Module):
    """``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``; the shortcut is the identity,
    or a 1x1 convolution + BatchNorm when the stride or the width changes."""

    def __init__(self, dims: int, cin: int, cout: int, stride: int = 1, kernel: int = 3):
        super().__init__()
        conv, norm, _ = _layers(dims)
        pad = kernel // 2
        self.conv1 = conv(cin, cout, kernel, stride=stride, padding=pad, bias=False)
        self.bn1 = norm(cout)
        self.relu1 = nn.ReLU()
        self.conv2 = conv(cout, cout, kernel, padding=pad, bias=False)
        self.bn2 = norm(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(conv(cin, cout, 1, stride=stride, bias=False), norm(cout))
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu1(self.bn1(self.conv1(x)))))
        return self.relu2(out + self.shortcut(x))


class ResNet(nn.Module):
    """A stem conv-BN-ReLU of ``widths[0]`` channels, one `BasicBlock` per width (stride 2
    when the width grows), a 2x max pool, flatten and ``Linear(features, classes)``."""

    def __init__(
        self,
        dims: int,
        in_channels: int,
        input_size: int,
        classes: int,
        widths: Sequence[int] = (16, 16, 32),
        kernel: int = 3,
    ):
        super().__init__()
        _, _, pool = _layers(dims)
        widths = _check_widths(widths, "ResNet widths")
        self.stem = conv_bn_relu(dims, in_channels, widths[0], kernel)
        blocks, size = [], input_size
        for cin, cout in zip(widths[:-1], widths[1:], strict=True):
            stride = 2 if cout > cin else 1
            blocks.append(BasicBlock(dims, cin, cout, stride, kernel))
            size = (size + stride - 1) // stride
        self.blocks = nn.Sequential(*blocks)
        self.pool = pool(2)
        size //= 2
        if size < 1:
            raise ValueError(f"the strides and the pool shrink an input of {input_size} to 0")
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(widths[-1] * size**dims, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.pool(self.blocks(self.stem(x)))))


class DnCNN(nn.Module):
    """``x - noise(x)``: ``depth`` convolutions, all but the last followed by BatchNorm + ReLU;
    the last maps ``width`` channels back to ``channels`` (the predicted noise)."""

    def __init__(self, channels: int = 1, width: int = 32, depth: int = 6, kernel: int = 3):
        super().__init__()
        if depth < 2:
            raise ValueError(f"a DnCNN needs at least 2 convolutions, got depth={depth}")
        conv, _, _ = _layers(2)
        layers = [conv_bn_relu(2, channels, width, kernel)]
        layers += [conv_bn_relu(2, width, width, kernel) for _ in range(depth - 2)]
        self.body = nn.Sequential(*layers)
        self.noise = conv(width, channels, kernel, padding=kernel // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.noise(self.body(x))


def output_layers(model: nn.Module) -> list[nn.Module]:
    """The layers whose outputs are the network's (class logits, the noise image): their
    output channels are never pruned."""
    if isinstance(model, DnCNN):
        return [model.noise]
    if hasattr(model, "classifier"):
        return [model.classifier]
    raise ValueError(f"no known output layer in a {type(model).__name__}")

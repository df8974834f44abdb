"""The clients' CNN and which of its arrays the federation shares.

`PersonalCNN` is a slim version of the authors' VGG (``nets/vgg_checked.py``): blocks of
``Conv2d`` (no bias) + ``BatchNorm2d`` + ReLU with max pooling, then ``Linear`` (no bias)
+ ``BatchNorm1d`` + ReLU and a ``Linear`` classifier; for 1-D signals the same with
``Conv1d``, ``BatchNorm1d`` and ``MaxPool1d``. Every layer is one the compiler
puts on the core (each BatchNorm folds into the layer before it, each ReLU into the
requantization); the pools and the flatten run on the host.

State-dict keys fall into three groups (`shared_keys`, `is_batchnorm_key`):

- BatchNorm weights, biases and running statistics: the client's own in every method
  but FedAvg/FedProx (FedBN, PFA, DET and PRR keep them local);
- ``num_batches_tracked`` counters: never exchanged (integers; unused with momentum);
- everything else (convolution and linear weights, the classifier bias): shared.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn

HIDDEN_FEATURES = 32  # width of the fully connected layer


_LAYERS = {  # spatial dimensions -> (convolution, batch norm, max pool)
    1: (nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d),
    2: (nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d),
}


def _conv_block(spatial: int, in_channels: int, out_channels: int) -> nn.Sequential:
    conv, norm, _ = _LAYERS[spatial]
    return nn.Sequential(
        OrderedDict(
            conv=conv(in_channels, out_channels, 3, padding=1, bias=False),
            bn=norm(out_channels),
            relu=nn.ReLU(),
        )
    )


class PersonalCNN(nn.Module):
    """conv(w)-conv(2w)-pool-conv(2w)-pool-fc(32)-fc(classes) for (C, H, W) images or
    (C, L) signals.

    For the 8x8 digits with ``width=8``: 8x8x8, 16x8x8, pool 16x4x4, 16x4x4, pool
    16x2x2 = 64 features, then 64-32-10 (about 7,800 weights); for mnist1d's 40-sample
    signals 160 features, then 160-32-10. Every spatial size must be a multiple of 4.
    """

    def __init__(self, image_shape: tuple[int, ...], classes: int, width: int = 8):
        super().__init__()
        channels, *sizes = image_shape
        if len(sizes) not in _LAYERS:
            raise ValueError(f"image shape {image_shape}: expected (C, H, W) or (C, L)")
        if any(size % 4 for size in sizes):
            raise ValueError(f"spatial size {'x'.join(map(str, sizes))} must be a multiple of 4")
        if width < 1:
            raise ValueError(f"width={width} must be at least 1")
        spatial = len(sizes)
        pool = _LAYERS[spatial][2]
        self.features = nn.Sequential(
            OrderedDict(
                block1=_conv_block(spatial, channels, width),
                block2=_conv_block(spatial, width, 2 * width),
                pool1=pool(2),
                block3=_conv_block(spatial, 2 * width, 2 * width),
                pool2=pool(2),
            )
        )
        flat = 2 * width * int(np.prod([size // 4 for size in sizes]))
        self.fc1 = nn.Sequential(
            OrderedDict(
                linear=nn.Linear(flat, HIDDEN_FEATURES, bias=False),
                bn=nn.BatchNorm1d(HIDDEN_FEATURES),
                relu=nn.ReLU(),
            )
        )
        self.fc2 = nn.Linear(HIDDEN_FEATURES, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.fc1(torch.flatten(self.features(x), 1)))


def make_model(image_shape, classes: int, seed: int, width: int = 8) -> PersonalCNN:
    """A freshly initialised `PersonalCNN`, the same for the same ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return PersonalCNN(tuple(image_shape), classes, width)


def batchnorm_keys(model: nn.Module) -> set[str]:
    """Every state-dict key that belongs to a BatchNorm layer."""
    keys = set()
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            prefix = f"{name}." if name else ""
            keys.update(prefix + key for key in module.state_dict())
    return keys


def exchanged_keys(model: nn.Module, *, include_batchnorm: bool) -> list[str]:
    """State-dict keys sent to the server, in state-dict order (counters never are)."""
    local = set() if include_batchnorm else batchnorm_keys(model)
    return [
        key
        for key in model.state_dict()
        if not key.endswith("num_batches_tracked") and key not in local
    ]


def get_arrays(model: nn.Module, keys: list[str]) -> OrderedDict[str, np.ndarray]:
    """``keys`` of the model's state as float32 numpy copies."""
    state = model.state_dict()
    return OrderedDict((key, state[key].detach().cpu().numpy().copy()) for key in keys)


def set_arrays(model: nn.Module, arrays: dict[str, np.ndarray]) -> None:
    """Overwrite the named entries of the model's state (others stay as they are)."""
    state = model.state_dict()
    unknown = [key for key in arrays if key not in state]
    if unknown:
        raise ValueError(f"received arrays the model does not have: {', '.join(unknown)}")
    for key, value in arrays.items():
        if tuple(value.shape) != tuple(state[key].shape):
            raise ValueError(
                f"received {key} with shape {tuple(value.shape)}, "
                f"the model has {tuple(state[key].shape)}"
            )
        state[key].copy_(torch.as_tensor(np.asarray(value), dtype=state[key].dtype))

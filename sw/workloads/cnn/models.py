"""The two networks of `qmatmul run cnn`, written with ops the graph compiler supports."""

from __future__ import annotations

import torch
from torch import nn


class DigitsCNN(nn.Module):
    """For the 8x8 digits (1 x 8 x 8): ``conv-BN-ReLU``, ``conv-BN`` plus the first block's
    output (a residual add) then ReLU, 2x2 max pooling, flatten, ``Linear(16 w, 10)``.

    On the core: both convolutions (BatchNorm folded; the first ReLU folded; the add,
    its ReLU and the pooling on the host) and the Linear.
    """

    def __init__(self, width: int = 16, classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.pool = nn.MaxPool2d(2)
        self.classifier = nn.Linear(width * 4 * 4, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = torch.relu(self.bn1(self.conv1(x)))
        second = self.bn2(self.conv2(first))
        pooled = self.pool(torch.relu(first + second))
        return self.classifier(torch.flatten(pooled, 1))


class SignalCNN(nn.Module):
    """For mnist1d (1 x 40): three Conv1d+BatchNorm+ReLU (kernel 5, then 3 with stride 2
    twice: 40 -> 20 -> 10 positions), flatten, ``Linear(20 w, 10)``."""

    def __init__(self, width: int = 16, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(1, width, 5, padding=2, bias=False),
            nn.BatchNorm1d(width),
            nn.ReLU(),
            nn.Conv1d(width, 2 * width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm1d(2 * width),
            nn.ReLU(),
            nn.Conv1d(2 * width, 2 * width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm1d(2 * width),
            nn.ReLU(),
        )
        self.classifier = nn.Linear(2 * width * 10, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


MODELS = {"digits": DigitsCNN, "mnist1d": SignalCNN}


def build_model(data: str, width: int, seed: int) -> nn.Module:
    """The network for ``data`` with torch's default initialization under ``seed``."""
    if data not in MODELS:
        raise ValueError(f"unknown data set {data!r}; use one of {sorted(MODELS)}")
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        return MODELS[data](width)
    finally:
        torch.random.set_rng_state(state)

"""Float models in torch: build an MLP, train a model (the compiler takes any `nn.Module`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm


def make_mlp(sizes: Sequence[int], *, seed: int) -> nn.Sequential:
    """``Linear(sizes[0], sizes[1]), ReLU, ..., Linear(sizes[-2], sizes[-1])``.

    ReLU after every layer but the last; weights from torch's default init under ``seed``.
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"an MLP needs at least two positive layer sizes, got {sizes}")
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        modules: list[nn.Module] = []
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            modules.append(nn.Linear(fan_in, fan_out))
            if i < len(sizes) - 2:
                modules.append(nn.ReLU())
        return nn.Sequential(*modules)
    finally:
        torch.random.set_rng_state(generator_state)


def train(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    weight_decay: float = 0.0,
    on_epoch_start: Callable[[int], None] | None = None,
    progress: str | None = None,
) -> list[float]:
    """Adam with minibatches shuffled under ``seed``; returns the mean loss per epoch.

    ``on_epoch_start(epoch)`` runs before each epoch (QAT may re-fit its quantizers there).
    ``progress`` is the label of a tqdm bar over epochs (None: no bar).
    """
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"epochs must be >= 0 and batch_size >= 1, got {epochs}, {batch_size}")
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history = []
    bar = tqdm(range(epochs), desc=progress, leave=False, disable=progress is None)
    for epoch in bar:
        if on_epoch_start is not None:
            on_epoch_start(epoch)
        model.train()
        order = torch.randperm(inputs.shape[0], generator=generator)
        total = 0.0
        for start in range(0, inputs.shape[0], batch_size):
            batch = order[start : start + batch_size]
            loss = loss_fn(model(inputs[batch]), targets[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        history.append(total / inputs.shape[0])
        bar.set_postfix(loss=f"{history[-1]:.4f}")
    model.eval()
    return history


def train_classifier(
    model: nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    epochs: int = 150,
    batch_size: int = 64,
    lr: float = 3e-3,
    weight_decay: float = 1e-4,
    seed: int = 0,
    on_epoch_start: Callable[[int], None] | None = None,
    progress: str | None = None,
) -> list[float]:
    """Cross-entropy training of a classifier on float features ``x`` and labels ``y``."""
    inputs = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    targets = torch.as_tensor(np.asarray(y), dtype=torch.long)
    return train(
        model,
        inputs,
        targets,
        nn.functional.cross_entropy,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        weight_decay=weight_decay,
        on_epoch_start=on_epoch_start,
        progress=progress,
    )


@torch.no_grad()
def outputs(model: nn.Module, x: np.ndarray) -> np.ndarray:
    """The model's outputs (float64 numpy) in eval mode."""
    model.eval()
    return model(torch.as_tensor(np.asarray(x), dtype=torch.float32)).double().numpy()


def predict(model: nn.Module, x: np.ndarray) -> np.ndarray:
    return outputs(model, x).argmax(axis=1)

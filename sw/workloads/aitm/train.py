"""Training and evaluation of any model of the comparison (one loop for all of them).

Training follows the authors' setup where our small data allows: Adam (lr 2e-3 and
batches of 256 here; 1e-3 and 2000 in the paper, on millions of samples), L2 weight
1e-6, the sum of the steps' cross-entropies plus alpha times the calibrator for the
models that use it, early stopping on the sum of the steps' validation AUCs (the
authors stop at the first epoch without a gain; here after ``patience`` epochs
without one) and the best epoch's weights kept.

Evaluation (`funnel_metrics`): per-step AUC (the last step's is the end-to-end AUC),
per-step log loss, and the funnel violations: the share of samples whose predicted
probabilities are not non-increasing along the funnel (some y_t > y_{t-1}) and the
mean size of the violation (the calibrator penalty itself).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch

from .data import FunnelData
from .model import funnel_loss


@dataclass(frozen=True)
class TrainConfig:
    alpha: float = 0.6  # calibrator weight for the models that use it
    lr: float = 2e-3
    weight_decay: float = 1e-6
    batch_size: int = 256
    max_epochs: int = 12
    patience: int = 3

    def __post_init__(self):
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (BatchNorm), got {self.batch_size}")
        if self.max_epochs < 1 or self.patience < 1:
            raise ValueError("max_epochs and patience must be >= 1")


@dataclass
class TrainResult:
    model: torch.nn.Module
    epochs: int  # epochs run
    best_epoch: int  # 1-based epoch whose weights were kept
    seconds: float
    val_auc_sums: list[float]


def model_inputs(data: FunnelData) -> tuple[torch.Tensor, torch.Tensor]:
    """(global ids int64, numeric float32) tensors of every sample."""
    return (
        torch.as_tensor(data.global_ids(), dtype=torch.int64),
        torch.as_tensor(data.numeric, dtype=torch.float32),
    )


@torch.no_grad()
def predict(model: torch.nn.Module, data: FunnelData, batch_size: int = 8192) -> np.ndarray:
    """(n, T) float64 end-to-end probabilities in eval mode."""
    model.eval()
    ids, numeric = model_inputs(data)
    parts = [
        model(ids[start : start + batch_size], numeric[start : start + batch_size])
        for start in range(0, data.samples, batch_size)
    ]
    probs = torch.cat(parts).double().numpy()
    if probs.shape != data.labels.shape:
        raise ValueError(
            f"the model predicts {probs.shape[1]} steps but the data has {data.steps} label "
            f"columns {data.step_names}"
        )
    return probs


def funnel_metrics(probs: np.ndarray, labels: np.ndarray) -> dict:
    """AUC and log loss per step, end-to-end AUC, funnel violations.

    ``probs`` and ``labels`` (n, T) in funnel order. A violation is a sample with some
    ``probs[:, t] > probs[:, t - 1]``.
    """
    from sklearn.metrics import log_loss, roc_auc_score

    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels)
    if probs.shape != labels.shape or probs.ndim != 2:
        raise ValueError(
            f"probs {probs.shape} and labels {labels.shape} must both be (samples, steps)"
        )
    if not np.all(np.isfinite(probs)) or probs.min() < 0 or probs.max() > 1:
        raise ValueError("probs must be probabilities in [0, 1]")
    aucs, losses = [], []
    for step in range(labels.shape[1]):
        if len(np.unique(labels[:, step])) < 2:
            raise ValueError(
                f"step {step + 1} has only one class among {len(labels)} samples; an AUC needs "
                "both (use more samples)"
            )
        aucs.append(float(roc_auc_score(labels[:, step], probs[:, step])))
        losses.append(float(log_loss(labels[:, step], probs[:, step], labels=[0, 1])))
    rises = np.maximum(probs[:, 1:] - probs[:, :-1], 0.0)
    return {
        "auc": aucs,
        "end_to_end_auc": aucs[-1],
        "logloss": losses,
        "violation_share": float(np.mean(np.any(rises > 0, axis=1))),
        "violation_mean": float(np.mean(rises.sum(axis=1))),
    }


def _auc_sum(model, data: FunnelData) -> float:
    return float(sum(funnel_metrics(predict(model, data), data.labels)["auc"]))


def train_model(
    model: torch.nn.Module,
    train: FunnelData,
    val: FunnelData,
    config: TrainConfig,
    *,
    alpha: float,
    seed: int,
    progress: str | None = None,
) -> TrainResult:
    """Train ``model`` (its ``forward(ids, numeric)`` gives (batch, T) probabilities).

    ``alpha``: the calibrator weight for this model (0 for the models without it).
    The returned model holds the weights of the epoch with the best validation AUC sum.
    """
    from tqdm.auto import tqdm

    if train.steps != val.steps:
        raise ValueError("train and val must have the same steps")
    ids, numeric = model_inputs(train)
    labels = torch.as_tensor(train.labels, dtype=torch.float32)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(seed)
    best, best_state, best_epoch, stale = -np.inf, None, 0, 0
    history = []
    start = time.perf_counter()
    epochs = tqdm(range(config.max_epochs), desc=progress, leave=False, disable=progress is None)
    for epoch in epochs:
        model.train()
        order = torch.randperm(train.samples, generator=generator)
        # A last batch of one sample would break BatchNorm: drop batches smaller than 2.
        for first in range(0, train.samples - 1, config.batch_size):
            rows = order[first : first + config.batch_size]
            if len(rows) < 2:
                break
            optimizer.zero_grad()
            loss = funnel_loss(model(ids[rows], numeric[rows]), labels[rows], alpha)
            loss.backward()
            optimizer.step()
        score = _auc_sum(model, val)
        history.append(score)
        epochs.set_postfix(val_auc_sum=f"{score:.4f}")
        if score > best:
            best, best_state, best_epoch, stale = score, copy.deepcopy(model.state_dict()), epoch, 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    model.load_state_dict(best_state)
    model.eval()
    return TrainResult(model, len(history), best_epoch + 1, time.perf_counter() - start, history)

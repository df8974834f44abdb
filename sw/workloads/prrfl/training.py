"""Local training and scoring on one client (plain, FedProx, and DET's paired models).

Scores follow the authors' ``local_train.test``: macro-F1 over the classes that occur in
the labels or the predictions (scikit-learn's default), and the one-vs-rest AUC of the
softmax scores, averaged over the classes present in the labels (a class a client
never sees has no AUC; the authors' data had all three classes everywhere).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import LocalConfig
from .det import DETStage, det_losses


def make_optimizer(model: nn.Module, config: LocalConfig, server_round: int):
    # A fresh optimiser every round, as in the authors' main loop.
    return torch.optim.SGD(
        model.parameters(),
        lr=config.lr_at(server_round),
        momentum=config.momentum,
        weight_decay=config.weight_decay,
    )


def batches(count: int, batch_size: int, rng: np.random.Generator):
    """Shuffled index batches covering ``count`` samples (the last may be smaller; a
    last batch of one sample is merged into the previous one: BatchNorm needs two)."""
    order = rng.permutation(count)
    cuts = list(range(batch_size, count, batch_size))
    if cuts and count - cuts[-1] == 1:
        cuts.pop()
    return np.split(order, cuts)


def train_epoch(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizer,
    rng: np.random.Generator,
    batch_size: int,
    *,
    anchor: list[torch.Tensor] | None = None,
    proximal_mu: float = 0.0,
) -> float:
    """One epoch of cross-entropy; with ``anchor`` (the received global parameters, one
    per ``model.parameters()``) FedProx's ``mu / 2 * ||w - w_global||^2`` is added."""
    model.train()
    total = 0.0
    for index in batches(len(y), batch_size, rng):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x[index]), y[index])
        total += loss.item() * len(index)
        if anchor is not None and proximal_mu > 0:
            squared = sum(
                (w - w0).pow(2).sum() for w, w0 in zip(model.parameters(), anchor, strict=True)
            )
            loss = loss + proximal_mu / 2 * squared
        loss.backward()
        optimizer.step()
    return total / len(y)


def det_epoch(
    personal: nn.Module,
    deputy: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizers,
    rng: np.random.Generator,
    batch_size: int,
    stage: DETStage,
) -> float:
    """One epoch of Deputy-Enhanced Transfer in ``stage`` (both models step every batch)."""
    personal.train()
    deputy.train()
    personal_optimizer, deputy_optimizer = optimizers
    total = 0.0
    for index in batches(len(y), batch_size, rng):
        personal_optimizer.zero_grad()
        deputy_optimizer.zero_grad()
        personal_logits, deputy_logits = personal(x[index]), deputy(x[index])
        personal_loss, deputy_loss = det_losses(personal_logits, deputy_logits, y[index], stage)
        total += F.cross_entropy(personal_logits.detach(), y[index]).item() * len(index)
        (personal_loss + deputy_loss).backward()  # the two graphs are disjoint
        personal_optimizer.step()
        deputy_optimizer.step()
    return total / len(y)


@torch.no_grad()
def predict_proba(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> np.ndarray:
    """Softmax class probabilities in eval mode (float64 numpy)."""
    model.eval()
    out = [F.softmax(model(x[i : i + batch_size]), dim=1) for i in range(0, len(x), batch_size)]
    return torch.cat(out).double().numpy()


def macro_f1(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Macro-F1 (percent) over the classes in the labels or the predictions; the same
    number as ``sklearn.metrics.f1_score(..., average="macro")``, without its overhead
    (DET scores both models on the training data every local epoch)."""
    classes = np.union1d(labels, predicted)
    f1 = []
    for cls in classes:
        true_positive = np.sum((predicted == cls) & (labels == cls))
        predicted_count, actual_count = np.sum(predicted == cls), np.sum(labels == cls)
        denominator = predicted_count + actual_count
        f1.append(2.0 * true_positive / denominator if denominator else 0.0)
    return 100.0 * float(np.mean(f1))


def one_vs_rest_auc(labels: np.ndarray, proba: np.ndarray) -> float:
    """Macro one-vs-rest ROC AUC (percent) over the classes present in ``labels`` (and
    absent from some sample); ties count one half (the Mann-Whitney statistic)."""
    from scipy.stats import rankdata

    aucs = []
    for cls in np.unique(labels):
        positive = labels == cls
        n_pos, n_neg = int(positive.sum()), int((~positive).sum())
        if n_neg == 0:
            continue  # a one-class test set has no ROC curve
        ranks = rankdata(proba[:, cls])
        aucs.append((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
    return 100.0 * float(np.mean(aucs)) if aucs else float("nan")


def scores(labels: np.ndarray, proba: np.ndarray) -> dict:
    """``{"f1", "auc", "accuracy"}`` in percent (see the module docstring)."""
    labels = np.asarray(labels)
    predicted = proba.argmax(axis=1)
    return {
        "f1": macro_f1(labels, predicted),
        "auc": one_vs_rest_auc(labels, proba),
        "accuracy": 100.0 * float(np.mean(predicted == labels)),
    }


def evaluate(model: nn.Module, x: torch.Tensor, y: np.ndarray) -> dict:
    """`scores` of ``model`` on ``(x, y)``."""
    return scores(y, predict_proba(model, x))

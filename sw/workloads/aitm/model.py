"""AITM (Xi et al., KDD 2021, arXiv 2105.08489): towers, information transfer, calibrator.

For a funnel of T steps, with v = the shared embeddings of a sample's features:

- tower t: q_t = f_t(v), an MLP [128, 64, 32] (Linear + BatchNorm + ReLU + dropout
  per layer, as the authors' ``AITM_standard.py``);
- transfer t: p_{t-1} = g_{t-1}(z_{t-1}), Linear(k, k) + BatchNorm + ReLU + dropout
  on the *previous step's AIT output* z_{t-1} (z_1 = q_1), as in the paper and the
  authors' code;
- AIT: z_t = sum_{u in {p_{t-1}, q_t}} w_u h1(u), with
  w_u = softmax_u(<h2(u), h3(u)> / sqrt(k)), h1, h2, h3 linear k x k without bias
  (k = 32, the tower's last width);
- output: y_t = sigmoid(Linear(k, 1)(z_t)) (the paper's "MLP" on z_t is one dense
  layer in both of the authors' scripts);
- loss: sum_t BCE(y_t, label_t) + alpha * `calibrator_loss` (alpha = 0.6).

The ablations keep everything else: ``transfer="sum"`` replaces the AIT module by
z_t = p_{t-1} + q_t (information still flows, with fixed weights), ``transfer="none"``
drops the transfer (z_t = q_t: independent towers over shared embeddings), and
``alpha = 0`` drops the calibrator. The forward is written with the ops the graph
compiler captures (embedding, cat, Linear/BatchNorm/ReLU/Dropout, stack, mul, sum,
division by a constant, softmax, sigmoid), so the trained model compiles as it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

TRANSFERS = ("ait", "sum", "none")


def calibrator_loss(probs: torch.Tensor) -> torch.Tensor:
    """The Behavioral Expectation Calibrator without its weight alpha.

    ``probs`` (batch, T), end-to-end probabilities in funnel order, each in [0, 1].
    Returns the mean over samples of ``sum_{t>=2} max(y_t - y_{t-1}, 0)``: zero when every
    row is non-increasing along the funnel, positive for each step predicted more
    likely than the step it needs.
    """
    if not isinstance(probs, torch.Tensor):
        raise TypeError(f"probs must be a torch.Tensor, got {type(probs).__name__}")
    if probs.ndim != 2 or probs.shape[0] == 0 or probs.shape[1] < 2:
        raise ValueError(
            f"probs must be (batch, T) with batch >= 1 and T >= 2 steps, got shape "
            f"{tuple(probs.shape)}"
        )
    with torch.no_grad():
        if not torch.isfinite(probs).all() or probs.min() < 0 or probs.max() > 1:
            low, high = float(probs.min()), float(probs.max())
            raise ValueError(
                f"probs must be probabilities in [0, 1], got values in [{low:.4g}, {high:.4g}]"
            )
    return torch.relu(probs[:, 1:] - probs[:, :-1]).sum(dim=1).mean()


def funnel_loss(probs: torch.Tensor, labels: torch.Tensor, alpha: float) -> torch.Tensor:
    """Sum over steps of the binary cross-entropy, plus ``alpha`` times the calibrator."""
    if probs.shape != labels.shape:
        raise ValueError(
            f"labels must match the predictions' shape {tuple(probs.shape)} (one column per "
            f"step), got {tuple(labels.shape)}"
        )
    bce = nn.functional.binary_cross_entropy(probs, labels.float(), reduction="none")
    loss = bce.mean(dim=0).sum()
    if alpha:
        loss = loss + alpha * calibrator_loss(probs)
    return loss


def mlp_block(inputs: int, outputs: int, dropout: float, batch_norm: bool) -> list[nn.Module]:
    """Linear, BatchNorm, ReLU, Dropout: one layer of a tower or of the transfer network."""
    layers = [nn.Linear(inputs, outputs)]
    if batch_norm:
        layers.append(nn.BatchNorm1d(outputs))
    layers += [nn.ReLU(), nn.Dropout(dropout)]
    return layers


class AdaptiveInformationTransfer(nn.Module):
    """z = sum_u w_u h1(u) over u in {q_t, p_{t-1}}, w = softmax(<h2(u), h3(u)> / sqrt(k))."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.h1 = nn.Linear(dim, dim, bias=False)  # values
        self.h2 = nn.Linear(dim, dim, bias=False)  # queries
        self.h3 = nn.Linear(dim, dim, bias=False)  # keys
        self.scale = math.sqrt(dim)

    def forward(self, tower: torch.Tensor, transferred: torch.Tensor) -> torch.Tensor:
        inputs = torch.stack([tower, transferred], dim=1)  # (batch, 2, k)
        values, queries, keys = self.h1(inputs), self.h2(inputs), self.h3(inputs)
        scores = torch.sum(queries * keys, dim=2, keepdim=True) / self.scale  # (batch, 2, 1)
        weights = torch.softmax(scores, dim=1)
        return torch.sum(weights * values, dim=1)  # (batch, k)

    def attention_weights(self, tower: torch.Tensor, transferred: torch.Tensor) -> torch.Tensor:
        """(batch, 2) weights of (q_t, p_{t-1}): how much of z_t comes from the transfer."""
        inputs = torch.stack([tower, transferred], dim=1)
        scores = torch.sum(self.h2(inputs) * self.h3(inputs), dim=2) / self.scale
        return torch.softmax(scores, dim=1)


class AITM(nn.Module):
    """Adaptive Information Transfer Multi-task model over a T-step funnel.

    ``vocab_size``: rows of the shared embedding table (global ids, see
    `FunnelData.global_ids`); ``categorical``: features per sample; ``numeric``: numeric
    features per sample (concatenated to the embeddings, as torch-rechub's
    ``DenseFeature``). ``forward(ids (batch, categorical) int64, numeric (batch, numeric)
    float)`` returns (batch, steps) end-to-end probabilities in funnel order.
    """

    def __init__(
        self,
        vocab_size: int,
        categorical: int,
        numeric: int,
        steps: int,
        *,
        embed_dim: int = 5,
        tower_dims: Sequence[int] = (128, 64, 32),
        dropouts: Sequence[float] = (0.1, 0.3, 0.3),
        transfer: str = "ait",
        batch_norm: bool = True,
    ):
        super().__init__()
        if steps < 2:
            raise ValueError(f"steps must be at least 2 (a funnel), got {steps}")
        if transfer not in TRANSFERS:
            raise ValueError(f"transfer must be one of {TRANSFERS}, got {transfer!r}")
        if len(dropouts) != len(tower_dims) or not tower_dims:
            raise ValueError("dropouts needs one rate per tower layer")
        if vocab_size < 1 or categorical < 1 or numeric < 0:
            raise ValueError(
                f"need vocab_size >= 1, categorical >= 1, numeric >= 0; got {vocab_size}, "
                f"{categorical}, {numeric}"
            )
        self.steps, self.categorical, self.numeric = steps, categorical, numeric
        self.vocab_size, self.transfer = vocab_size, transfer
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        nn.init.normal_(self.embedding.weight, std=0.01)  # the authors' initializer
        width = categorical * embed_dim + numeric
        dim = tower_dims[-1]

        def tower():
            layers, inputs = [], width
            for outputs, dropout in zip(tower_dims, dropouts, strict=True):
                layers += mlp_block(inputs, outputs, dropout, batch_norm)
                inputs = outputs
            return nn.Sequential(*layers)

        self.towers = nn.ModuleList(tower() for _ in range(steps))
        if transfer != "none":
            self.transfers = nn.ModuleList(
                nn.Sequential(*mlp_block(dim, dim, dropouts[-1], batch_norm))
                for _ in range(steps - 1)
            )
        if transfer == "ait":
            self.aits = nn.ModuleList(AdaptiveInformationTransfer(dim) for _ in range(steps - 1))
        self.heads = nn.ModuleList(nn.Linear(dim, 1) for _ in range(steps))

    def features(self, ids: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        """v: the concatenated embeddings (and numerics), (batch, width)."""
        embedded = torch.flatten(self.embedding(ids), 1)
        return torch.cat([embedded, numeric], dim=1) if self.numeric else embedded

    def step_representations(self, ids, numeric) -> tuple[list, list]:
        """Per step (q_t, p_{t-1} or None) and the z_t that feeds its head."""
        v = self.features(ids, numeric)
        towers = [tower(v) for tower in self.towers]
        pairs, outputs = [(towers[0], None)], [towers[0]]
        for step in range(1, self.steps):
            if self.transfer == "none":
                pairs.append((towers[step], None))
                outputs.append(towers[step])
                continue
            transferred = self.transfers[step - 1](outputs[-1])
            pairs.append((towers[step], transferred))
            if self.transfer == "ait":
                outputs.append(self.aits[step - 1](towers[step], transferred))
            else:
                outputs.append(towers[step] + transferred)
        return pairs, outputs

    def forward(self, ids: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        _, outputs = self.step_representations(ids, numeric)
        logits = torch.cat([head(z) for head, z in zip(self.heads, outputs, strict=True)], dim=1)
        return torch.sigmoid(logits)

    @torch.no_grad()
    def transfer_weights(self, ids, numeric) -> torch.Tensor:
        """(batch, steps - 1) AIT weight of the transferred p_{t-1} at steps 2..T."""
        if self.transfer != "ait":
            raise ValueError(
                f"transfer weights exist only with transfer='ait', not {self.transfer!r}"
            )
        pairs, _ = self.step_representations(ids, numeric)
        weights = [
            ait.attention_weights(tower, transferred)[:, 1]
            for ait, (tower, transferred) in zip(self.aits, pairs[1:], strict=True)
        ]
        return torch.stack(weights, dim=1)

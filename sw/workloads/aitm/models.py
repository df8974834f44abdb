"""Every model of the comparison behind one interface: ``forward(ids, numeric) -> (batch, T)``.

Each entry of `MODELS` builds a fresh module for a data set; every module takes global
categorical ids (`FunnelData.global_ids`) and numeric features and returns end-to-end
probabilities in funnel order, so one training loop, one loss and one evaluation
serve them all.

- Ours (`AITM`): ``aitm`` (the full model), ``aitm_no_ait`` (z_t = p_{t-1} + q_t),
  ``aitm_no_transfer`` (independent towers, z_t = q_t), ``aitm_no_calibrator``
  (alpha = 0). The calibrator weight applies to the first three.
- torch-rechub 0.9.0's multi-task models, as they are: ``rechub_aitm`` (no
  calibrator), ``esmm`` (two steps only), ``mmoe``, ``ple``, ``shared_bottom``.

torch-rechub pitfalls handled here: its `SparseFeature` caches its embedding table on
the feature object, so features are rebuilt for every model instance (otherwise two
models would share, and co-train, one table); its ESMM returns
``[pCVR, pCTR, pCTCVR]``, whose funnel order is ``[pCTR, pCTCVR]`` (the paper trains
ESMM on exactly these two, so pCVR gets no loss of its own); ESMM takes only sparse
features of one embedding size, so the numeric features reach it as quantile buckets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .data import FunnelData
from .model import AITM

ESMM_BUCKETS = 16  # quantile buckets per numeric feature for ESMM (sparse features only)


@dataclass(frozen=True)
class ModelConfig:
    """Sizes shared by every model (the paper's towers and embedding size)."""

    embed_dim: int = 5
    tower_dims: tuple[int, ...] = (128, 64, 32)
    dropouts: tuple[float, ...] = (0.1, 0.3, 0.3)  # the authors' keep_prob [0.9, 0.7, 0.7]
    baseline_dropout: float = 0.2  # torch-rechub's MLP takes one rate for every layer
    baseline_tower_dims: tuple[int, ...] = (32,)  # MMoE / PLE / SharedBottom task towers
    mmoe_experts: int = 4


@dataclass(frozen=True)
class ModelSpec:
    name: str
    label: str
    family: str  # "ours" or "torch-rechub"
    description: str
    uses_calibrator: bool
    build: Callable[[FunnelData, ModelConfig], nn.Module]
    steps: tuple[int, ...] | None = None  # funnel lengths it supports (None: any)

    def supports(self, steps: int) -> bool:
        return self.steps is None or steps in self.steps


def _ours(transfer: str):
    def build(data: FunnelData, config: ModelConfig) -> nn.Module:
        return AITM(
            data.total_vocab,
            len(data.categorical_names),
            len(data.numeric_names),
            data.steps,
            embed_dim=config.embed_dim,
            tower_dims=config.tower_dims,
            dropouts=config.dropouts,
            transfer=transfer,
        )

    return build


class RechubFunnel(nn.Module):
    """A torch-rechub multi-task model behind ``forward(ids, numeric) -> (batch, T)``.

    Splits the global ids back into per-feature local ids and the numerics into
    per-feature columns (torch-rechub takes a dict of named columns), optionally turns
    numerics into bucket ids (ESMM), and picks the output columns in funnel order.
    """

    def __init__(
        self,
        model: nn.Module,
        data: FunnelData,
        output_columns: list[int],
        bucket_edges: list[np.ndarray] | None = None,
    ):
        super().__init__()
        self.model = model
        self.categorical_names = list(data.categorical_names)
        self.numeric_names = list(data.numeric_names)
        self.register_buffer("offsets", torch.as_tensor(data.offsets))
        self.output_columns = list(output_columns)
        self.bucket_edges = (
            None
            if bucket_edges is None
            else [torch.as_tensor(edges, dtype=torch.float32) for edges in bucket_edges]
        )

    def forward(self, ids: torch.Tensor, numeric: torch.Tensor) -> torch.Tensor:
        local = ids - self.offsets
        x = {name: local[:, c] for c, name in enumerate(self.categorical_names)}
        for d, name in enumerate(self.numeric_names):
            column = numeric[:, d]
            if self.bucket_edges is not None:
                column = torch.bucketize(column.contiguous(), self.bucket_edges[d])
            x[name] = column
        return self.model(x)[:, self.output_columns]


def _rechub_features(data: FunnelData, config: ModelConfig):
    """Fresh feature objects (torch-rechub caches an embedding table on each)."""
    from torch_rechub.basic.features import DenseFeature, SparseFeature

    sparse = [
        SparseFeature(name, vocab, embed_dim=config.embed_dim)
        for name, vocab in zip(data.categorical_names, data.vocab_sizes, strict=True)
    ]
    return sparse + [DenseFeature(name) for name in data.numeric_names]


def _rechub(kind: str):
    def build(data: FunnelData, config: ModelConfig) -> nn.Module:
        from torch_rechub.models.multi_task import AITM as RechubAITM
        from torch_rechub.models.multi_task import MMOE, PLE, SharedBottom

        steps = data.steps
        features = _rechub_features(data, config)
        tasks = ["classification"] * steps
        trunk = {"dims": list(config.tower_dims), "dropout": config.baseline_dropout}
        towers = [
            {"dims": list(config.baseline_tower_dims), "dropout": config.baseline_dropout}
        ] * steps
        if kind == "rechub_aitm":
            # The paper's structure: the towers are the "bottoms", the heads Dense(1).
            model = RechubAITM(features, steps, trunk, [{"dims": []}] * steps)
        elif kind == "mmoe":
            model = MMOE(features, tasks, config.mmoe_experts, trunk, towers)
        elif kind == "ple":
            model = PLE(features, tasks, 1, 1, 1, trunk, towers)
        elif kind == "shared_bottom":
            model = SharedBottom(features, tasks, trunk, towers)
        else:
            raise ValueError(f"unknown torch-rechub model {kind!r}")
        return RechubFunnel(model, data, list(range(steps)))

    return build


def _esmm(data: FunnelData, config: ModelConfig) -> nn.Module:
    from torch_rechub.basic.features import SparseFeature
    from torch_rechub.models.multi_task import ESMM

    if data.steps != 2:
        raise ValueError(f"ESMM models two steps (click, purchase), not {data.steps}")
    # Bucket edges from this data's quantiles: the caller builds models on the training part.
    quantiles = np.linspace(0, 1, ESMM_BUCKETS + 1)[1:-1]
    edges = [
        np.unique(np.quantile(data.numeric[:, d], quantiles)) for d in range(data.numeric.shape[1])
    ]
    user = [
        SparseFeature(name, vocab, embed_dim=config.embed_dim)
        for name, vocab in zip(data.categorical_names, data.vocab_sizes, strict=True)
    ]
    item = [
        SparseFeature(name, len(e) + 1, embed_dim=config.embed_dim)
        for name, e in zip(data.numeric_names, edges, strict=True)
    ]
    if not item:  # ESMM needs both groups; it concatenates them anyway
        user, item = user[:-1], user[-1:]
    params = {"dims": list(config.tower_dims), "dropout": config.baseline_dropout}
    model = ESMM(user, item, params, dict(params))
    # ESMM outputs [pCVR, pCTR, pCTCVR]; funnel order is (click, click and purchase).
    return RechubFunnel(model, data, [1, 2], bucket_edges=edges if data.numeric_names else None)


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "aitm", "AITM", "ours", "AIT module + calibrator (the paper)", True, _ours("ait")
        ),
        ModelSpec(
            "aitm_no_ait",
            "AITM w/o AIT",
            "ours",
            "ablation: z_t = p_{t-1} + q_t instead of the attention",
            True,
            _ours("sum"),
        ),
        ModelSpec(
            "aitm_no_transfer",
            "AITM w/o transfer",
            "ours",
            "ablation: independent towers over shared embeddings (ignores the dependence)",
            True,
            _ours("none"),
        ),
        ModelSpec(
            "aitm_no_calibrator",
            "AITM w/o calibrator",
            "ours",
            "ablation: alpha = 0",
            False,
            _ours("ait"),
        ),
        ModelSpec(
            "rechub_aitm",
            "rechub AITM",
            "torch-rechub",
            "torch-rechub 0.9.0 AITM (no calibrator)",
            False,
            _rechub("rechub_aitm"),
        ),
        ModelSpec(
            "esmm",
            "ESMM",
            "torch-rechub",
            "torch-rechub ESMM: pCTR and pCTCVR = pCTR * pCVR",
            False,
            _esmm,
            steps=(2,),
        ),
        ModelSpec("mmoe", "MMoE", "torch-rechub", "torch-rechub MMoE", False, _rechub("mmoe")),
        ModelSpec(
            "ple", "PLE", "torch-rechub", "torch-rechub PLE (one CGC level)", False, _rechub("ple")
        ),
        ModelSpec(
            "shared_bottom",
            "SharedBottom",
            "torch-rechub",
            "torch-rechub SharedBottom",
            False,
            _rechub("shared_bottom"),
        ),
    )
}


def build_model(name: str, data: FunnelData, config: ModelConfig, seed: int) -> nn.Module:
    """A fresh ``MODELS[name]`` for ``data`` (its training part), initialized under ``seed``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    spec = MODELS[name]
    if not spec.supports(data.steps):
        raise ValueError(f"model {name!r} supports {spec.steps} steps, not {data.steps}")
    torch.manual_seed(seed)
    return spec.build(data, config)

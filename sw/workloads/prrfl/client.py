"""What one client does in a round, independent of Flower's messages.

A client holds `ClientModels`: its personalized model (the one it deploys and that is
scored) and, for DET methods, a deputy. Per round it

1. `receive`s the server's aggregate: the personalized model is replaced (FedAvg,
   FedProx), or its non-BatchNorm arrays are (FedBN, PFA), or the deputy's are (DET,
   PRR); the drop of the personalized model's validation macro-F1 across that moment
   is the round's **retrogress** (``max(0, before - after)``, in F1 points); the same
   drop for the model that receives the aggregate (the deputy in DET and PRR) is the
   *receiver* retrogress;
2. trains locally (`train_round`): plain cross-entropy, FedProx's proximal term, or DET;
3. sends the arrays the method shares (`outgoing_arrays`).

`models_from_state` rebuilds the models from the state dicts that
`sw.workloads.prrfl.flower_app` keeps in Flower's per-node state (``Context.state``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .config import FederationConfig
from .data import ClientShard
from .det import DETStage, next_det_stage
from .model import PersonalCNN, exchanged_keys, get_arrays, make_model, set_arrays
from .training import (
    det_epoch,
    evaluate,
    make_optimizer,
    predict_proba,
    scores,
    train_epoch,
)


@dataclass
class ClientModels:
    """A client's personalized model, its deputy (DET methods only), and the last round
    whose aggregate it has integrated."""

    personal: PersonalCNN
    deputy: PersonalCNN | None = None
    received_round: int = 0


@dataclass
class ShardTensors:
    """A shard's images as torch tensors (made once per call)."""

    shard: ClientShard
    x_train: torch.Tensor = field(init=False)
    y_train: torch.Tensor = field(init=False)
    x_val: torch.Tensor = field(init=False)
    x_test: torch.Tensor = field(init=False)

    def __post_init__(self):
        self.x_train = torch.from_numpy(self.shard.x_train)
        self.y_train = torch.from_numpy(self.shard.y_train)
        self.x_val = torch.from_numpy(self.shard.x_val)
        self.x_test = torch.from_numpy(self.shard.x_test)


def new_models(config: FederationConfig, initial: dict[str, np.ndarray], shard: ClientShard):
    """The client's models at round 1: the server's initial arrays (every client starts
    from the same network, as in the authors' code); the deputy is a copy."""
    personal = make_model(shard.image_shape, shard.classes, seed=0, width=config.width)
    try:
        set_arrays(personal, initial)
    except ValueError as error:
        raise ValueError(
            f"client {shard.client} ({shard.image_shape} images, {shard.classes} classes) "
            f"cannot take the server's model: {error}"
        ) from error
    deputy = None
    if config.method_spec.deputy:
        deputy = make_model(shard.image_shape, shard.classes, seed=0, width=config.width)
        deputy.load_state_dict(personal.state_dict())
    return ClientModels(personal, deputy)


def models_from_state(config: FederationConfig, state: dict, shard: ClientShard) -> ClientModels:
    personal = make_model(shard.image_shape, shard.classes, seed=0, width=config.width)
    personal.load_state_dict(state["personal"])
    deputy = None
    if state.get("deputy") is not None:
        deputy = make_model(shard.image_shape, shard.classes, seed=0, width=config.width)
        deputy.load_state_dict(state["deputy"])
    return ClientModels(personal, deputy, int(state.get("received_round", 0)))


def receiver(models: ClientModels, config: FederationConfig) -> PersonalCNN:
    """The model the aggregate is loaded into."""
    return models.deputy if config.method_spec.deputy else models.personal


def receive(
    models: ClientModels,
    arrays: dict[str, np.ndarray],
    tensors: ShardTensors,
    config: FederationConfig,
    server_round: int,
) -> dict:
    """Integrate the aggregate of ``server_round``; return the validation macro-F1 of the
    personalized model and of the receiving model before and after, and the drops."""
    shard = tensors.shard
    target = receiver(models, config)
    before = evaluate(models.personal, tensors.x_val, shard.y_val)["f1"]
    receiver_before = before if target is models.personal else None
    if receiver_before is None:
        receiver_before = evaluate(target, tensors.x_val, shard.y_val)["f1"]
    if arrays:
        set_arrays(target, arrays)
    after = evaluate(models.personal, tensors.x_val, shard.y_val)["f1"]
    receiver_after = (
        after if target is models.personal else evaluate(target, tensors.x_val, shard.y_val)["f1"]
    )
    models.received_round = server_round
    return {
        "val_f1_before": before,
        "val_f1_after": after,
        "retrogress": max(0.0, before - after),
        "receiver_val_f1_before": receiver_before,
        "receiver_val_f1_after": receiver_after,
        "receiver_retrogress": max(0.0, receiver_before - receiver_after),
    }


def outgoing_arrays(models: ClientModels, config: FederationConfig) -> dict[str, np.ndarray]:
    """The arrays this method sends to the server (none for local-only training)."""
    method = config.method_spec
    if method.server == "none":
        return {}
    source = receiver(models, config)
    return get_arrays(source, exchanged_keys(source, include_batchnorm=method.share_batchnorm))


def _round_rng(config: FederationConfig, client: int, server_round: int) -> np.random.Generator:
    # Batches depend only on (seed, client, round): any process gives the same run.
    return np.random.default_rng(np.random.SeedSequence([config.seed, client, server_round, 7]))


def train_round(
    models: ClientModels,
    tensors: ShardTensors,
    config: FederationConfig,
    server_round: int,
    anchor: dict[str, np.ndarray] | None = None,
) -> dict:
    """Local training for one round; returns the training loss and DET stage counts.

    ``anchor``: the received global arrays, FedProx's proximal centre.
    """
    torch.set_num_threads(1)
    local = config.local
    rng = _round_rng(config, tensors.shard.client, server_round)
    x, y = tensors.x_train, tensors.y_train
    stages = {stage: 0 for stage in (DETStage.RECOVER, DETStage.EXCHANGE, DETStage.SUBLIMATE)}
    if models.deputy is None:
        optimizer = make_optimizer(models.personal, local, server_round)
        anchor_params = None
        if config.method == "fedprox" and anchor:
            named = dict(models.personal.named_parameters())
            missing = [name for name in named if name not in anchor]
            if missing:
                raise ValueError(f"FedProx anchor lacks {', '.join(missing)}")
            anchor_params = [torch.as_tensor(anchor[name]) for name in named]
        loss = 0.0
        for _ in range(local.epochs):
            loss = train_epoch(
                models.personal,
                x,
                y,
                optimizer,
                rng,
                local.batch_size,
                anchor=anchor_params,
                proximal_mu=local.proximal_mu,
            )
        return {"train_loss": loss, **_stage_counts(stages)}
    optimizers = (
        make_optimizer(models.personal, local, server_round),
        make_optimizer(models.deputy, local, server_round),
    )
    stage = DETStage.START
    loss = 0.0
    for _ in range(local.epochs):
        f1_personal = scores(tensors.shard.y_train, predict_proba(models.personal, x))["f1"]
        f1_deputy = scores(tensors.shard.y_train, predict_proba(models.deputy, x))["f1"]
        stage = next_det_stage(stage, f1_deputy, f1_personal, config.det_alpha1, config.det_alpha2)
        stages[stage] += 1
        loss = det_epoch(
            models.personal, models.deputy, x, y, optimizers, rng, local.batch_size, stage
        )
    return {"train_loss": loss, **_stage_counts(stages)}


def _stage_counts(stages: dict) -> dict:
    return {f"det_{stage.name.lower()}": count for stage, count in stages.items()}


def personal_scores(models: ClientModels, tensors: ShardTensors) -> dict:
    """Validation and test scores of the personalized model (percent)."""
    shard = tensors.shard
    val = evaluate(models.personal, tensors.x_val, shard.y_val)
    test = evaluate(models.personal, tensors.x_test, shard.y_test)
    return {
        "val_f1": val["f1"],
        "val_auc": val["auc"],
        "test_f1": test["f1"],
        "test_auc": test["auc"],
        "test_accuracy": test["accuracy"],
    }

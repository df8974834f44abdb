"""Channel-importance criteria for torch-pruning (DepGraph), GFBS and its baselines.

torch-pruning groups every set of coupled channels (a convolution's outputs, its
BatchNorm, the next layers' inputs; through residual adds, every layer sharing the
channel) and asks an `Importance` for one score per channel of the group; a global
pruner ranks all groups' scores together and removes the lowest. The structural
surgery is the library's; a criterion only scores.

`CRITERIA` (name -> label):

- ``gfbs``: `GFBSImportance`, the paper's saliency of each BatchNorm channel
  (`sw.workloads.gfbs.scores`), averaged over the group's BatchNorm layers;
- ``bn_taylor``: `BNTaylorImportance`, ``|gamma * dL/dgamma|``, averaged the same way;
- ``l1``: ``MagnitudeImportance(p=1)``, the L1 norm of the group's weights (the paper's
  baseline, Li et al. 2017, in the library's group form);
- ``bn_scale``: ``BNScaleImportance``, ``|gamma|`` (network slimming, Liu et al. 2017,
  here without its sparsity-inducing training);
- ``weight_taylor``: ``TaylorImportance``, ``|w * dL/dw|`` over the group's convolution
  and linear weights (torch-pruning 1.6.1 skips BatchNorm gradients in it);
- ``fpgm``: ``FPGMImportance`` (filters near the geometric median, He et al. 2019);
- ``lamp``: ``LAMPImportance`` (layer-adaptive magnitude, Lee et al. 2021);
- ``random``: ``RandomImportance``.

The library's criteria keep its defaults (group mean, mean normalization). The two
BatchNorm criteria return their raw scores: GFBS already normalizes within each
layer, and BN-Taylor is its un-normalized counterpart.
"""

from __future__ import annotations

import torch
import torch_pruning as tp
from torch.nn.modules.batchnorm import _BatchNorm
from torch_pruning.pruner import function

from .scores import (
    GFBS_BETA_WEIGHT,
    bn_taylor_channel_scores,
    gamma_gradient,
    gfbs_channel_scores,
)

CRITERIA = {
    "gfbs": "GFBS",
    "bn_taylor": "BN-Taylor",
    "l1": "L1",
    "bn_scale": "BN scale",
    "weight_taylor": "weight-Taylor",
    "fpgm": "FPGM",
    "lamp": "LAMP",
    "random": "random",
}
# Criteria that read dL/dparameter: the pruner needs `loss_gradients` on one batch first.
GRADIENT_CRITERIA = frozenset({"gfbs", "bn_taylor", "weight_taylor"})


class BatchNormChannelImportance(tp.importance.GroupMagnitudeImportance):
    """A group's importance from its BatchNorm layers' per-channel scores.

    Subclasses define `channel_scores(layer)`; a group with several BatchNorm layers
    (channels coupled by residual adds) gets the mean of their scores; a group without
    any gets None, which torch-pruning reads as "not prunable by this criterion".
    """

    def __init__(self):
        super().__init__(p=1, group_reduction="mean", normalizer=None, target_types=[_BatchNorm])

    def channel_scores(self, layer: _BatchNorm) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def __call__(self, group) -> torch.Tensor | None:
        scores, root_indices = [], []
        for item in group:
            dep, idxs = item.dep, item.idxs
            if dep.pruning_fn != function.prune_batchnorm_out_channels:
                continue
            layer = dep.layer
            scores.append(self.channel_scores(layer)[list(idxs)])
            root_indices.append(item.root_idxs)
        if not scores:
            return None
        return self._reduce(scores, root_indices)


class GFBSImportance(BatchNormChannelImportance):
    """GFBS (`gfbs_channel_scores`) from each BatchNorm's gamma, beta and ``gamma.grad``."""

    def __init__(self, beta_weight: float = GFBS_BETA_WEIGHT):
        super().__init__()
        self.beta_weight = beta_weight

    def channel_scores(self, layer: _BatchNorm) -> torch.Tensor:
        grad = gamma_gradient(layer, f"BatchNorm with {layer.num_features} channels")
        return gfbs_channel_scores(layer.weight, grad, layer.bias, self.beta_weight)


class BNTaylorImportance(BatchNormChannelImportance):
    """``|gamma * dL/dgamma|`` of each BatchNorm channel."""

    def channel_scores(self, layer: _BatchNorm) -> torch.Tensor:
        grad = gamma_gradient(layer, f"BatchNorm with {layer.num_features} channels")
        return bn_taylor_channel_scores(layer.weight, grad)


def check_criterion(criterion: str) -> str:
    if criterion not in CRITERIA:
        raise ValueError(f"unknown criterion {criterion!r}; choose from {', '.join(CRITERIA)}")
    return criterion


def make_importance(criterion: str) -> tp.importance.Importance:
    """The torch-pruning importance of ``criterion`` (a key of `CRITERIA`)."""
    factories = {
        "gfbs": GFBSImportance,
        "bn_taylor": BNTaylorImportance,
        "l1": lambda: tp.importance.MagnitudeImportance(p=1),
        "bn_scale": tp.importance.BNScaleImportance,
        "weight_taylor": tp.importance.TaylorImportance,
        "fpgm": tp.importance.FPGMImportance,
        "lamp": tp.importance.LAMPImportance,
        "random": tp.importance.RandomImportance,
    }
    return factories[check_criterion(criterion)]()

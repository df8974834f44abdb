"""GFBS channel pruning (Liu et al., "Exploring Gradient Flow Based Saliency for DNN Model
Compression", ACM MM 2021) with torch-pruning's structural surgery, against seven
baselines, and the pruned networks compiled for the core.

- `scores`: `gfbs_scores(model, inputs, targets, loss_fn=None)` and BN-Taylor;
- `importance`: the criteria as torch-pruning importances (`GFBSImportance`, ...);
- `prune`: `prune_to_macs` (a MAC budget, global ranking, optional rounding of every
  group's channels to the array width);
- `models`, `tasks`: the networks (VGG-style, ResNet, DnCNN) and their data;
- `core`: compile with `sw.nn.compile_model`, run on a backend, count device cycles;
- `experiment`, `analysis`, `report`, `cli`: the sweep behind `qmatmul run gfbs`.

The names below load on first use, so that ``qmatmul run gfbs --help`` does not import
torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "CRITERIA": "importance",
    "BNTaylorImportance": "importance",
    "GFBSImportance": "importance",
    "make_importance": "importance",
    "PruneResult": "prune",
    "check_budget": "prune",
    "count_macs": "prune",
    "prune_to_macs": "prune",
    "GFBS_BETA_WEIGHT": "scores",
    "batchnorm_layers": "scores",
    "gfbs_channel_scores": "scores",
    "gfbs_scores": "scores",
    "loss_gradients": "scores",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)

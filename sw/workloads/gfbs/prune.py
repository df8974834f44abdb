"""Pruning a network to a MAC budget with torch-pruning, for any criterion.

`prune_to_macs` follows torch-pruning's own recipe for a MAC target (its benchmarks'
``progressive_pruning``): a global `MetaPruner` whose channel-pruning ratio grows in
small steps (``steps`` steps from 0 to every channel), stepped until the MAC count of
`tp.utils.count_ops_and_params` falls to ``(1 - budget)`` of the original. Every step
ranks the remaining channels of all groups together (global ranking) and removes those
below the step's threshold; a group is never emptied (torch-pruning refuses to remove
a group's last channel), so every layer keeps at least one channel. Within the last
step, groups are cut one at a time and pruning stops as soon as the target is met, so
the budget is overshot by at most one group's cut.

Gradient criteria (GFBS, BN-Taylor, weight-Taylor) take ``dL/dparameter`` from ONE batch
before the first step (`loss_gradients`); torch-pruning prunes each ``.grad`` with its
parameter, so the later steps rescore the remaining channels from the same gradient
(GFBS renormalizes within each layer over what is left).

The hardware-aware option (``round_to``, the core's array width) makes the pruner keep
a multiple of ``round_to`` channels in every group (rounded down; a group never drops
below ``round_to``): an output-channel count that does not cross a multiple of the
array width leaves the number of column tiles, and so the device cycles, unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch_pruning as tp
from torch import nn

from .importance import GRADIENT_CRITERIA, check_criterion, make_importance
from .scores import LossFn, batchnorm_layers, loss_gradients

# Steps from nothing to every channel: each step's threshold moves by 1/200 of the
# channels (half a channel on the digits VGG); torch-pruning's benchmarks use 200-400.
DEFAULT_STEPS = 200


def check_budget(budget: float) -> float:
    """A MAC budget is the fraction of MACs removed, strictly between 0 and 1."""
    budget = float(budget)
    if not 0.0 < budget < 1.0:
        raise ValueError(
            f"budget={budget} is out of range: the fraction of MACs to remove must lie in (0, 1)"
        )
    return budget


def count_macs(model: nn.Module, example_inputs: torch.Tensor) -> tuple[int, int]:
    """``(MACs, parameters)`` per sample of ``example_inputs`` (torch-pruning's counter: every
    convolution and linear multiply-accumulate plus the element-wise BatchNorm, ReLU and
    pooling operations, which it counts as one each)."""
    macs, params = tp.utils.count_ops_and_params(model, example_inputs[:1])
    return int(macs), int(params)


def _total_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def layer_widths(model: nn.Module) -> dict[str, int]:
    """Output channels (features) of every convolution and linear layer, by name."""
    return {
        name: (m.out_channels if isinstance(m, nn.modules.conv._ConvNd) else m.out_features)
        for name, m in model.named_modules()
        if isinstance(m, (nn.modules.conv._ConvNd, nn.Linear))
    }


@dataclass(frozen=True)
class PruneResult:
    """What `prune_to_macs` did; MACs and parameters per sample (torch-pruning's count)."""

    criterion: str
    budget: float  # fraction of MACs asked to go
    round_to: int | None
    macs_before: int
    macs_after: int
    params_before: int
    params_after: int
    steps: int  # pruner steps taken
    widths_before: dict[str, int] = field(repr=False)
    widths_after: dict[str, int] = field(repr=False)

    @property
    def macs_removed(self) -> float:
        """The fraction of MACs actually removed (>= ``budget``)."""
        return 1.0 - self.macs_after / self.macs_before


def prune_to_macs(
    model: nn.Module,
    example_inputs: torch.Tensor,
    criterion: str,
    budget: float,
    *,
    ignored_layers: list[nn.Module],
    gradient_batch: tuple[torch.Tensor, torch.Tensor] | None = None,
    loss_fn: LossFn | None = None,
    round_to: int | None = None,
    seed: int = 0,
    steps: int = DEFAULT_STEPS,
) -> PruneResult:
    """Prune ``model`` in place until ``budget`` (a fraction in (0, 1)) of its MACs are gone.

    ``ignored_layers``: layers whose output channels stay (the classifier, the noise
    output). ``gradient_batch``: ``(inputs, targets)`` of the one batch the gradient
    criteria differentiate the loss (``loss_fn``, default cross-entropy) on.
    ``round_to``: keep a multiple of this many channels per group (the hardware-aware
    option). ``seed`` fixes the random criterion's draws. Raises ValueError when the
    budget cannot be reached (every group at its floor) or for bad arguments.
    """
    check_criterion(criterion)
    budget = check_budget(budget)
    if round_to is not None and round_to < 1:
        raise ValueError(f"round_to must be a positive channel count or None, got {round_to}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if criterion in ("gfbs", "bn_taylor", "bn_scale"):
        batchnorm_layers(model)  # a clear error for a model these criteria cannot score
    if criterion in GRADIENT_CRITERIA:
        if gradient_batch is None:
            raise ValueError(f"criterion {criterion!r} needs gradient_batch=(inputs, targets)")
        loss_gradients(model, *gradient_batch, loss_fn)

    model.eval()
    macs_before, _ = count_macs(model, example_inputs)
    params_before = _total_parameters(model)
    widths_before = layer_widths(model)
    target = (1.0 - budget) * macs_before
    pruner = tp.pruner.MetaPruner(
        model,
        example_inputs[:1],
        importance=make_importance(criterion),
        global_pruning=True,
        pruning_ratio=1.0,  # step i of `steps` aims at i/steps of all channels
        iterative_steps=steps,
        ignored_layers=ignored_layers,
        round_to=round_to,
    )
    macs, parameters = macs_before, params_before
    largest_drop = 0  # the most MACs one step has removed so far
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # RandomImportance draws from the global generator
        while macs > target:
            if pruner.current_step >= steps:
                raise ValueError(
                    f"{criterion}: cannot remove {budget:.0%} of the MACs: every prunable group "
                    f"is at its floor ({macs} of {macs_before} MACs left"
                    + (f", round_to={round_to})" if round_to else ")")
                )
            # Far from the target a step runs whole and MACs are counted once (counting
            # copies the model); near it, group by group, stopping as soon as the target
            # is met: a step that cuts several groups (or, rounded, several channels per
            # group) then overshoots less.
            near = macs - 2 * largest_drop <= target
            before = macs
            for group in pruner.step(interactive=True):
                group.prune()
                if near:
                    macs, _ = count_macs(model, example_inputs)
                    if macs <= target:
                        break
            if not near and _total_parameters(model) != parameters:
                macs, _ = count_macs(model, example_inputs)
            parameters = _total_parameters(model)
            largest_drop = max(largest_drop, before - macs)
    model.zero_grad(set_to_none=True)
    return PruneResult(
        criterion=criterion,
        budget=budget,
        round_to=round_to,
        macs_before=macs_before,
        macs_after=macs,
        params_before=params_before,
        params_after=parameters,
        steps=pruner.current_step,
        widths_before=widths_before,
        widths_after=layer_widths(model),
    )

"""GFBS: gradient-flow-based saliency of BatchNorm channels (Liu et al., ACM MM 2021).

For a BatchNorm layer with scale ``gamma`` and shift ``beta`` (C channels each), and the
gradient ``g = dL/dgamma`` of the loss on ONE batch (BatchNorm in train mode, no
optimizer step), channel c scores

    s_c = (|gamma_c| / ||gamma||_2) * (|g_c| / ||g||_2) + 0.05 * beta_c / ||beta||_2

with the norms taken within the layer and ``beta`` signed, as the authors' code
(CityU-AIM-Group/GFBS, ``gfbs.py``) computes it: the first term is the first-order
Taylor estimate of the loss change when the channel's gate goes from 1 to 0, with
both factors normalized per layer so that layers compare; the second favours
channels whose shift keeps the ReLU open. Channels are then ranked across all layers
and the lowest removed.

BN-Taylor, ``|gamma_c * g_c|`` without the normalization or the beta term, is the
un-normalized Taylor estimate on the same gradient (Molchanov et al., CVPR 2019, with
the gate after the BatchNorm): comparing it with GFBS isolates what the per-layer
normalization and the beta term contribute.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

GFBS_BETA_WEIGHT = 0.05  # the weight of the beta term (the authors' --w_beta default)

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def batchnorm_layers(model: nn.Module) -> dict[str, _BatchNorm]:
    """The model's BatchNorm modules by qualified name, in definition order.

    Raises ValueError for a model without BatchNorm (nothing for GFBS to score) or with
    a BatchNorm without a learnable scale and shift (``affine=False``).
    """
    layers = {name: m for name, m in model.named_modules() if isinstance(m, _BatchNorm)}
    if not layers:
        raise ValueError(
            f"{type(model).__name__} has no BatchNorm layer: GFBS scores the channels of "
            "BatchNorm layers (their gamma, beta and dL/dgamma)"
        )
    for name, layer in layers.items():
        if not layer.affine:
            raise ValueError(
                f"BatchNorm {name!r} has affine=False: GFBS needs its learnable gamma and beta"
            )
    return layers


def _unit(vector: torch.Tensor) -> torch.Tensor:
    """``vector / ||vector||_2``; all zeros stay zeros (a dead layer scores 0, not NaN)."""
    norm = torch.linalg.vector_norm(vector)
    return vector / norm if norm > 0 else torch.zeros_like(vector)


def gfbs_channel_scores(
    gamma: torch.Tensor,
    grad_gamma: torch.Tensor,
    beta: torch.Tensor,
    beta_weight: float = GFBS_BETA_WEIGHT,
) -> torch.Tensor:
    """GFBS per channel of one BatchNorm (see the module docstring), float tensor (C,)."""
    gamma, grad_gamma, beta = (t.detach().float() for t in (gamma, grad_gamma, beta))
    return _unit(gamma.abs()) * _unit(grad_gamma.abs()) + beta_weight * _unit(beta)


def bn_taylor_channel_scores(gamma: torch.Tensor, grad_gamma: torch.Tensor) -> torch.Tensor:
    """``|gamma_c * dL/dgamma_c|`` per channel of one BatchNorm, float tensor (C,)."""
    return (gamma.detach().float() * grad_gamma.detach().float()).abs()


def gamma_gradient(layer: _BatchNorm, name: str = "BatchNorm") -> torch.Tensor:
    """``dL/dgamma`` left by `loss_gradients`; a clear error when there is none."""
    grad = layer.weight.grad
    if grad is None:
        raise ValueError(
            f"{name} has no gradient on its gamma: run loss_gradients(model, inputs, targets) "
            "(one batch, BatchNorm in train mode) before scoring"
        )
    return grad


def loss_gradients(
    model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn: LossFn | None = None
) -> float:
    """One forward and backward pass on one batch, leaving ``dL/dparameter`` in ``.grad``.

    BatchNorm layers run in train mode (batch statistics, as GFBS prescribes); nothing
    else changes: no optimizer step, the BatchNorm running statistics and the model's
    train/eval mode are restored afterwards. ``loss_fn(outputs, targets)`` defaults to
    cross-entropy. Returns the loss.
    """
    if inputs.shape[0] < 2:
        raise ValueError(
            f"the gradient batch has {inputs.shape[0]} sample(s); BatchNorm in train mode needs "
            "at least 2"
        )
    loss_fn = nn.functional.cross_entropy if loss_fn is None else loss_fn
    statistics = {
        name: {key: buffer.clone() for key, buffer in layer.named_buffers()}
        for name, layer in model.named_modules()
        if isinstance(layer, _BatchNorm)
    }
    was_training = model.training
    model.zero_grad(set_to_none=True)
    model.train()
    try:
        loss = loss_fn(model(inputs), targets)
        loss.backward()
    finally:
        model.train(was_training)
        modules = dict(model.named_modules())
        with torch.no_grad():
            for name, buffers in statistics.items():
                for key, value in buffers.items():
                    getattr(modules[name], key).copy_(value)
    return float(loss.detach())


def gfbs_scores(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: LossFn | None = None,
    *,
    beta_weight: float = GFBS_BETA_WEIGHT,
) -> dict[str, torch.Tensor]:
    """GFBS score of every channel of every BatchNorm, keyed by the module's qualified name.

    The loss gradient comes from ONE batch (``inputs``, ``targets``) with BatchNorm in
    train mode (`loss_gradients`); the gradients stay in the parameters' ``.grad`` so
    that a pruner can rescore what is left after each step.
    """
    layers = batchnorm_layers(model)
    loss_gradients(model, inputs, targets, loss_fn)
    scores = {}
    for name, layer in layers.items():
        grad = gamma_gradient(layer, name)
        scores[name] = gfbs_channel_scores(layer.weight, grad, layer.bias, beta_weight)
    return scores

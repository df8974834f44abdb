"""Deputy-Enhanced Transfer (DET), the client half of PRR-FL.

Each client keeps two models: its **personalized** model (the one it deploys, never
overwritten by the server) and a **deputy** that receives the server's aggregate. At
the start of every local epoch the client compares the two on its own training data
(macro-F1, eval mode, as the authors' ``local_train.DET`` does) and trains both for one
epoch in one of three stages:

- **Recover** (``F1_d < alpha1 * F1_p``, and always the first local epoch of a round):
  the deputy learns the local data and distils from the personalized model
  (CE + KL(personal || deputy)); the personalized model trains on CE alone.
- **Exchange** (``alpha1 * F1_p <= F1_d < alpha2 * F1_p``, or when the deputy has just
  recovered): mutual learning, both CE + KL towards the other.
- **Sublimate** (``F1_d >= alpha2 * F1_p`` after an Exchange): the deputy teaches: the
  personalized model trains on CE + KL(deputy || personal), the deputy on CE alone.

The deputy's parameters (without BatchNorm) are what the client sends to the server.
KL terms are ``F.kl_div(log_softmax(student), softmax(teacher).detach(), "batchmean")``
with weight 1, as in the authors' code; alpha1 = 0.7 and alpha2 = 0.9 by default.
"""

from __future__ import annotations

from enum import IntEnum

import torch
import torch.nn.functional as F

from .config import DET_ALPHA1, DET_ALPHA2


class DETStage(IntEnum):
    """The authors' stage numbers (0 = a round has just started)."""

    START = 0
    RECOVER = 1
    EXCHANGE = 2
    SUBLIMATE = 3


def next_det_stage(
    previous: DETStage,
    f1_deputy: float,
    f1_personal: float,
    alpha1: float = DET_ALPHA1,
    alpha2: float = DET_ALPHA2,
) -> DETStage:
    """The stage of the next local epoch (the authors' transition rule).

    Recover whenever the deputy is far behind or a round has just started; a deputy
    that caught up moves from Recover to Exchange (never straight to Sublimate); from
    Exchange or Sublimate, the ratio ``F1_d / F1_p`` picks Exchange or Sublimate.
    """
    if not 0.0 <= alpha1 <= alpha2:
        raise ValueError(f"DET needs 0 <= alpha1 <= alpha2, got alpha1={alpha1}, alpha2={alpha2}")
    previous = DETStage(previous)
    if previous == DETStage.START or f1_deputy < alpha1 * f1_personal:
        return DETStage.RECOVER
    if previous == DETStage.RECOVER or f1_deputy < alpha2 * f1_personal:
        return DETStage.EXCHANGE
    return DETStage.SUBLIMATE


def distillation(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student), the teacher held fixed, averaged over the batch."""
    return F.kl_div(
        F.log_softmax(student_logits, dim=1),
        F.softmax(teacher_logits.detach(), dim=1),
        reduction="batchmean",
    )


def det_losses(
    personal_logits: torch.Tensor,
    deputy_logits: torch.Tensor,
    labels: torch.Tensor,
    stage: DETStage,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(personalized model's loss, deputy's loss) for one batch in ``stage``."""
    personal_loss = F.cross_entropy(personal_logits, labels)
    deputy_loss = F.cross_entropy(deputy_logits, labels)
    if stage == DETStage.RECOVER:
        deputy_loss = deputy_loss + distillation(deputy_logits, personal_logits)
    elif stage == DETStage.EXCHANGE:
        personal_loss = personal_loss + distillation(personal_logits, deputy_logits)
        deputy_loss = deputy_loss + distillation(deputy_logits, personal_logits)
    elif stage == DETStage.SUBLIMATE:
        personal_loss = personal_loss + distillation(personal_logits, deputy_logits)
    else:
        raise ValueError(f"no DET losses for stage {stage!r}; train in RECOVER..SUBLIMATE")
    return personal_loss, deputy_loss

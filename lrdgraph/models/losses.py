"""Pairwise ranking losses, written in the numerically safe log-sigmoid form."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["bpr_loss", "weighted_bpr_loss"]


def bpr_loss(pos: Tensor, neg: Tensor) -> Tensor:
    r"""BPR (paper Eq. 13 and 15): :math:`-\log \sigma(\hat y^+ - \hat y^-)`, averaged.

    The reference computes ``log(sigmoid(.))``, which overflows to ``inf`` when the sigmoid
    underflows; ``logsigmoid`` never does.
    """
    return -F.logsigmoid(pos - neg).mean()


def weighted_bpr_loss(pos: Tensor, neg: Tensor) -> Tensor:
    r"""ReChorus' multi-negative BPR: :math:`-\log \sum_j \mathrm{softmax}_j(\hat y^-)
    \sigma(\hat y^+ - \hat y^-_j)`. ``pos`` is ``[B]``, ``neg`` is ``[B, J]``; with one negative it
    equals :func:`bpr_loss`. Computed with ``logsumexp`` so no term can underflow to ``log 0``.
    """
    if neg.dim() == 1:
        neg = neg.unsqueeze(1)
    log_w = torch.log_softmax(neg, dim=1)
    return -torch.logsumexp(log_w + F.logsigmoid(pos.unsqueeze(1) - neg), dim=1).mean()

"""Ranking metrics with pessimistic ties, for both evaluation protocols."""
from __future__ import annotations

from typing import Dict, Iterable, Optional

import torch
from torch import Tensor

__all__ = ["sampled_ranks", "full_ranks", "ranking_metrics"]


def sampled_ranks(scores: Tensor) -> Tensor:
    """1-based rank of column 0 (the positive) among the columns of ``scores [B, C]``.

    Pessimistic: every negative scoring greater than *or equal to* the positive ranks above it,
    and duplicate negatives count once each (the fixed lists keep their duplicates). A NaN
    score never helps the positive: a NaN negative ranks above it, a NaN positive ranks last.
    """
    pos = scores[:, :1]
    neg = scores[:, 1:]
    return 1 + ((neg >= pos) | neg.isnan() | pos.isnan()).sum(dim=1)


def full_ranks(scores: Tensor, target: Tensor, exclude: Optional[Tensor] = None) -> Tensor:
    """1-based pessimistic rank of ``target [B]`` among all items of ``scores [B, N]``.

    ``exclude [B, N]`` (bool) masks items that must not compete (the user's other known
    interactions); the target itself never competes with itself. NaN scores count against
    the target, as in :func:`sampled_ranks`.
    """
    pos = scores.gather(1, target.view(-1, 1))
    beats = (scores >= pos) | scores.isnan() | pos.isnan()
    if exclude is not None:
        beats &= ~exclude
    beats.scatter_(1, target.view(-1, 1), False)
    return 1 + beats.sum(dim=1)


def ranking_metrics(ranks: Tensor, ks: Iterable[int]) -> Dict[str, float]:
    """HR@K = mean[rank ≤ K]; NDCG@K = mean[(rank ≤ K) / log2(rank + 1)] (one relevant item,
    so the ideal DCG is 1)."""
    ranks = ranks.double()
    out: Dict[str, float] = {}
    for k in ks:
        hit = (ranks <= k).double()
        out[f"HR@{k}"] = hit.mean().item()
        out[f"NDCG@{k}"] = (hit / torch.log2(ranks + 1)).mean().item()
    return out

"""Both evaluation protocols, always under ``torch.no_grad()`` and with bounded memory."""
from __future__ import annotations

from typing import Dict, Iterable, Optional

import torch
from torch import Tensor

from ..progress import progress_bar
from .data import SequenceData, SequenceRows
from .metrics import full_ranks, ranking_metrics, sampled_ranks

__all__ = ["evaluate", "sampled_rank_tensor", "full_rank_tensor"]


@torch.no_grad()
def sampled_rank_tensor(model, rows: SequenceRows, *, batch_size: int = 256,
                        device: torch.device | str = "cpu", progress: bool = False,
                        desc: str = "sampled") -> Tensor:
    """Pessimistic rank of each row's target among itself and its fixed negatives."""
    if rows.neg_items is None:
        raise ValueError("the sampled protocol needs negative lists for these rows")
    model.eval()
    n = len(rows)
    ranks = []
    starts = range(0, n, batch_size)
    for s in progress_bar(starts, desc=desc, enabled=progress, leave=False):
        idx = torch.arange(s, min(s + batch_size, n))
        b = rows.batch(idx, device)
        cand = torch.cat([b["item"].unsqueeze(1), rows.neg_items[idx].to(device)], dim=1)
        ranks.append(sampled_ranks(model(b, cand)).cpu())
    return torch.cat(ranks) if ranks else torch.zeros(0, dtype=torch.long)


@torch.no_grad()
def full_rank_tensor(model, data: SequenceData, rows: SequenceRows, split: str, *,
                     max_pairs: int = 40000, device: torch.device | str = "cpu",
                     progress: bool = False) -> Tensor:
    """Pessimistic rank of each row's target among all items, the user's other known items
    (as of ``split``) masked. At most ``max_pairs`` (user, item) pairs are scored at once."""
    model.eval()
    N = data.num_items
    n = len(rows)
    users_per_batch = max(1, max_pairs // N)
    item_chunk = min(N, max(1, max_pairs // users_per_batch))
    all_items = torch.arange(N, device=device)
    ranks = []
    starts = range(0, n, users_per_batch)
    for s in progress_bar(starts, desc=f"full ({split})", enabled=progress, leave=False):
        idx = torch.arange(s, min(s + users_per_batch, n))
        b = rows.batch(idx, device)
        B = idx.numel()
        scores = torch.empty(B, N, device=device)
        for c0 in range(0, N, item_chunk):
            cand = all_items[c0:c0 + item_chunk].expand(B, -1)
            scores[:, c0:c0 + item_chunk] = model(b, cand)
        known = data.known_mask(b["user"], split, all_items.expand(B, -1))
        ranks.append(full_ranks(scores, b["item"], exclude=known).cpu())
    return torch.cat(ranks) if ranks else torch.zeros(0, dtype=torch.long)


def evaluate(model, data: SequenceData, split: str, protocols: Iterable[str] = ("sampled", "full"),
             ks: Iterable[int] = (5, 10, 20), *, batch_size: int = 256, max_pairs: int = 40000,
             device: torch.device | str = "cpu", progress: bool = False,
             distributed: bool = False, row_subset: Optional[Tensor] = None
             ) -> Dict[str, Dict[str, float]]:
    """Metrics of ``split`` ('dev' or 'test') per protocol: ``{"sampled": {"HR@5": ...}, ...}``.

    ``row_subset`` (indices into the split's rows) ranks only those rows. With
    ``distributed``, each process ranks its share of the rows and the ranks are gathered,
    so every process returns the metrics over all rows.
    """
    from . import distributed as ddp

    rows = getattr(data, split)
    if row_subset is not None:
        rows = rows.subset(row_subset)
    if distributed and ddp.world() > 1:
        rows = rows.subset(ddp.shard(torch.arange(len(rows))))
    out: Dict[str, Dict[str, float]] = {}
    for p in protocols:
        if p == "sampled":
            r = sampled_rank_tensor(model, rows, batch_size=batch_size, device=device,
                                    progress=progress, desc=f"sampled ({split})")
        elif p == "full":
            r = full_rank_tensor(model, data, rows, split, max_pairs=max_pairs, device=device,
                                 progress=progress)
        else:
            raise ValueError(f"unknown protocol {p!r}")
        if distributed:
            r = ddp.gather_cat(r)
        m = ranking_metrics(r, ks)
        m["rows"] = int(r.numel())
        out[p] = m
    return out

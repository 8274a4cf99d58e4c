"""Candidate item pairs for latent edges, and q(r | i, j) scored on them in bounded chunks.

Latent relations are never scored on all N² pairs (design.md, "Scale"). Candidates are

* **co-occurrence** pairs: ``(i, j)`` where a user's history holds item i at most ``window``
  positions before item j (directed, history item first, as the extractor sees pairs during
  training), and
* **text neighbours**: ``(i, j)`` for the ``knn`` nearest items j of each item i by cosine
  similarity of the text features, computed chunk by chunk with ``torch``.

Pairs are kept as sorted unique 64-bit keys ``i * N + j``; ``max_pairs`` stops the collection
with a clear message before memory runs away. Scoring then walks the pairs ``chunk_size`` at a
time, so peak memory is bounded by the chunk, not by the number of pairs.
"""
from __future__ import annotations

from typing import Iterator, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError
from ..progress import progress_bar
from .defaults import DEFAULT_CHUNK, DEFAULT_KNN, DEFAULT_MAX_PAIRS, DEFAULT_WINDOW

__all__ = ["sequence_pairs", "knn_pairs", "candidate_pairs", "heldout_pairs", "iter_scored",
           "DEFAULT_WINDOW", "DEFAULT_KNN", "DEFAULT_CHUNK", "DEFAULT_MAX_PAIRS"]

SPLITS = ("train", "dev", "test")


def _sequences(dataset, splits: Sequence[str]) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every user's interactions of ``splits`` in order (split order, then time): user, item
    and split code (position in :data:`SPLITS`) arrays."""
    users, items, times, codes = [], [], [], []
    for s in splits:
        sp = getattr(dataset, s)
        users.append(sp.user)
        items.append(sp.item)
        times.append(sp.time)
        codes.append(np.full(len(sp), SPLITS.index(s), dtype=np.int64))
    u, it, tm, cd = (np.concatenate(x) for x in (users, items, times, codes))
    order = np.lexsort((np.arange(len(u)), tm, cd, u))
    return u[order], it[order], cd[order]


class _KeySet:
    """A growing set of unique int64 pair keys with a size guard."""

    def __init__(self, max_pairs: int | None, what: str) -> None:
        self.keys = np.zeros(0, dtype=np.int64)
        self.max_pairs = max_pairs
        self.what = what

    def add(self, new: np.ndarray) -> None:
        self.keys = np.union1d(self.keys, new)
        if self.max_pairs is not None and len(self.keys) > self.max_pairs:
            raise ConfigError(
                f"more than {self.max_pairs:,} {self.what} (the --max-pairs guard); lower "
                "--window or --knn, or raise --max-pairs if memory allows (each pair costs "
                "8 bytes to hold and one extractor evaluation to score)")


def sequence_pairs(dataset, *, window: int = DEFAULT_WINDOW, splits: Sequence[str] = ("train",),
                   target_splits: Sequence[str] = ("train",), max_pairs: int | None = None
                   ) -> np.ndarray:
    """Sorted unique keys ``i * N + j`` of pairs where item i comes at most ``window``
    positions before item j in a user's sequence of ``splits`` and j's interaction belongs to
    ``target_splits``. Self pairs are dropped."""
    N = dataset.num_items
    u, it, cd = _sequences(dataset, splits)
    target = np.isin(cd, [SPLITS.index(s) for s in target_splits])
    out = _KeySet(max_pairs, "co-occurrence pairs")
    for d in range(1, window + 1):
        if d >= len(u):
            break
        ok = (u[:-d] == u[d:]) & target[d:] & (it[:-d] != it[d:])
        out.add(np.unique(it[:-d][ok] * N + it[d:][ok]))
    return out.keys


def knn_pairs(features: Tensor, k: int = DEFAULT_KNN, *, chunk_size: int = DEFAULT_CHUNK,
              progress: bool = False) -> np.ndarray:
    """Sorted unique keys ``i * N + j`` of each item's ``k`` nearest other items by cosine
    similarity of ``features [N, P]``; ``chunk_size`` bounds the similarity block (rows × N)."""
    N = int(features.shape[0])
    k = min(int(k), N - 1)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    f = torch.nn.functional.normalize(features.float(), dim=1)
    rows = max(1, int(chunk_size) // max(N, 1))
    starts = range(0, N, rows)
    keys = []
    for s in progress_bar(starts, desc="text neighbours", enabled=progress, leave=False):
        e = min(s + rows, N)
        sim = f[s:e] @ f.t()
        sim[torch.arange(e - s), torch.arange(s, e)] = -float("inf")
        nb = sim.topk(k, dim=1).indices  # [rows, k]
        keys.append((torch.arange(s, e).unsqueeze(1) * N + nb).reshape(-1).numpy())
    return np.unique(np.concatenate(keys))


def candidate_pairs(graph, *, window: int = DEFAULT_WINDOW, knn: int = DEFAULT_KNN,
                    chunk_size: int = DEFAULT_CHUNK, max_pairs: int | None = DEFAULT_MAX_PAIRS,
                    progress: bool = False) -> Tensor:
    """``[2, P]`` (head, tail) candidate pairs: co-occurrence within ``window`` in the users'
    **train** histories plus the ``knn`` text neighbours of every item (either may be 0)."""
    if window < 0 or knn < 0:
        raise ConfigError("window and knn must be >= 0")
    if window == 0 and knn == 0:
        raise ConfigError("no candidate pairs: window and knn are both 0")
    ds = graph.dataset
    N = ds.num_items
    keys = _KeySet(max_pairs, "candidate pairs")
    if window:
        keys.add(sequence_pairs(ds, window=window, max_pairs=max_pairs))
    if knn:
        keys.add(knn_pairs(graph.features, knn, chunk_size=chunk_size, progress=progress))
    k = torch.as_tensor(keys.keys)
    return torch.stack([k // N, k % N])


def heldout_pairs(dataset, *, window: int = DEFAULT_WINDOW, exclude_window: int = 20) -> Tensor:
    """``[2, P]`` pairs from the dev and test histories, (history item, dev/test target) with
    the history item at most ``window`` positions before the target, minus every pair that a
    training instance could have shown the extractor (co-occurrence within ``exclude_window``
    positions in the train histories: the training history length)."""
    N = dataset.num_items
    held = sequence_pairs(dataset, window=window, splits=SPLITS, target_splits=("dev", "test"))
    seen = sequence_pairs(dataset, window=exclude_window)
    k = torch.as_tensor(np.setdiff1d(held, seen, assume_unique=True))
    return torch.stack([k // N, k % N])


@torch.no_grad()
def iter_scored(model, pairs: Tensor, *, chunk_size: int = DEFAULT_CHUNK,
                progress: bool = False, desc: str = "scoring pairs"
                ) -> Iterator[Tuple[int, Tensor, Tensor, Tensor]]:
    """Yield ``(offset, heads, tails, q [n, R])`` for consecutive chunks of ``pairs [2, P]``,
    q being the model extractor's distribution over every relation slot."""
    if model.extractor is None:
        raise ConfigError("this run has no relation extractor (trained with --no-lrd and "
                          "without latent relations): there are no latent edges to score")
    P = int(pairs.shape[1])
    step = max(1, int(chunk_size))
    starts = range(0, P, step)
    dev = next(model.parameters()).device
    for s in progress_bar(starts, desc=desc, enabled=progress, leave=False):
        h, t = pairs[0, s:s + step], pairs[1, s:s + step]
        q = model.latent_distribution(h.to(dev), t.to(dev)).float().cpu()
        yield s, h, t, q

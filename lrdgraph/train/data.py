"""Training instances, evaluation rows and vectorised samplers (no per-row Python loops)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np
import torch
from torch import Tensor

from ..data.dataset import Dataset
from ..models.layout import EntityLayout

__all__ = ["SequenceRows", "SequenceData", "NegativeSampler", "KGSampler"]


@dataclass
class SequenceRows:
    """Rows to score: ``user [n]``, ``item [n]`` (the target), ``time [n]``, ``history [n, H]``
    (chronological, padded at the end with ``num_items``), ``history_time [n, H]`` and, for
    dev/test, the fixed ``neg_items [n, J]``."""

    user: Tensor
    item: Tensor
    time: Tensor
    history: Tensor
    history_time: Tensor
    neg_items: Optional[Tensor] = None
    pad: int = 0

    def __len__(self) -> int:
        return int(self.user.shape[0])

    def subset(self, idx: Tensor) -> "SequenceRows":
        """The rows ``idx`` (e.g. one process's share in distributed evaluation)."""
        return SequenceRows(user=self.user[idx], item=self.item[idx], time=self.time[idx],
                            history=self.history[idx], history_time=self.history_time[idx],
                            neg_items=None if self.neg_items is None else self.neg_items[idx],
                            pad=self.pad)

    def batch(self, idx: Tensor, device: torch.device) -> Dict[str, Tensor]:
        h = self.history[idx]
        H = max(int((h < self.pad).sum(1).max().item()) if len(idx) else 1, 1)
        return {"user": self.user[idx].to(device), "item": self.item[idx].to(device),
                "time": self.time[idx].to(device), "history": h[:, :H].to(device),
                "history_time": self.history_time[idx][:, :H].to(device)}


def _windows(items: np.ndarray, times: np.ndarray, starts: np.ndarray, ends: np.ndarray, H: int,
             pad: int) -> tuple[np.ndarray, np.ndarray]:
    """For each query, the last ``H`` entries of ``items[starts:ends]``, left-aligned."""
    L = np.minimum(ends - starts, H)
    idx = (ends - L)[:, None] + np.arange(H)[None, :]
    valid = np.arange(H)[None, :] < L[:, None]
    idx = np.where(valid, idx, 0)
    if len(items) == 0:
        return np.full((len(ends), H), pad), np.zeros((len(ends), H), np.int64)
    return np.where(valid, items[idx], pad), np.where(valid, times[idx], 0)


class SequenceData:
    """Training instances and dev/test rows built from a :class:`Dataset` (``lrd-reference.md``
    §1.2): a training instance is every train interaction but each user's first, with the up to
    ``history`` preceding train items; a dev row's history is the user's train items; a test row's
    history is the train items plus the dev item. Nothing from the test split enters training or
    dev rows."""

    def __init__(self, dataset: Dataset, history: int = 20) -> None:
        self.dataset = dataset
        self.num_items = N = dataset.num_items
        self.num_users = dataset.num_users
        self.history_len = history
        tr = dataset.train
        order = np.lexsort((np.arange(len(tr)), tr.time, tr.user))
        u, it, tm = tr.user[order], tr.item[order], tr.time[order]
        starts_u = np.searchsorted(u, np.arange(self.num_users), side="left")
        ends_u = np.searchsorted(u, np.arange(self.num_users), side="right")
        pos = np.arange(len(u))
        row_start = starts_u[u]
        keep = pos > row_start  # every user's first train interaction has no history
        hist, htime = _windows(it, tm, row_start[keep], pos[keep], history, N)
        self.train = self._rows(u[keep], it[keep], tm[keep], hist, htime)
        # dev: history = train items
        dv = dataset.dev
        hist, htime = _windows(it, tm, starts_u[dv.user], ends_u[dv.user], history, N)
        self.dev = self._rows(dv.user, dv.item, dv.time, hist, htime, dv.neg_items)
        # test: history = train items + dev item (appended after the train sequence)
        ts = dataset.test
        dev_item = np.full(self.num_users, -1, dtype=np.int64)
        dev_time = np.zeros(self.num_users, dtype=np.int64)
        dev_item[dv.user] = dv.item
        dev_time[dv.user] = dv.time
        ext_items, ext_times, ext_start, ext_end = self._extend(it, tm, starts_u, ends_u, dev_item, dev_time)
        hist, htime = _windows(ext_items, ext_times, ext_start[ts.user], ext_end[ts.user], history, N)
        self.test = self._rows(ts.user, ts.item, ts.time, hist, htime, ts.neg_items)
        # per-user known items for masking / negative rejection, as sorted keys user * N + item
        self.train_keys = torch.as_tensor(np.unique(tr.user * N + tr.item))
        self.dev_keys = torch.as_tensor(np.unique(dv.user * N + dv.item))

    @staticmethod
    def _extend(it, tm, starts, ends, extra_item, extra_time):
        n_users = len(starts)
        has = extra_item >= 0
        lens = ends - starts + has
        new_start = np.r_[0, np.cumsum(lens)[:-1]]
        total = int(lens.sum())
        items = np.empty(total, dtype=np.int64)
        times = np.empty(total, dtype=np.int64)
        src_user = np.repeat(np.arange(n_users), ends - starts)
        offs = np.arange(len(it)) - starts[src_user]
        items[new_start[src_user] + offs] = it
        times[new_start[src_user] + offs] = tm
        last = new_start + (ends - starts)
        items[last[has]] = extra_item[has]
        times[last[has]] = extra_time[has]
        return items, times, new_start, new_start + lens

    def _rows(self, user, item, time, hist, htime, neg=None) -> SequenceRows:
        return SequenceRows(user=torch.as_tensor(np.asarray(user, dtype=np.int64)),
                            item=torch.as_tensor(np.asarray(item, dtype=np.int64)),
                            time=torch.as_tensor(np.asarray(time, dtype=np.int64)),
                            history=torch.as_tensor(np.asarray(hist, dtype=np.int64)),
                            history_time=torch.as_tensor(np.asarray(htime, dtype=np.int64)),
                            neg_items=None if neg is None else torch.as_tensor(neg),
                            pad=self.num_items)

    def known_mask(self, users: Tensor, split: str, items: Tensor) -> Tensor:
        """Bool ``[B, C]``: ``items[b, c]`` is a known interaction of ``users[b]`` as of ``split``
        (train items for dev; train and dev items for test)."""
        keys = users.view(-1, 1) * self.num_items + items
        out = _member(self.train_keys.to(keys.device), keys)
        if split == "test":
            out |= _member(self.dev_keys.to(keys.device), keys)
        return out


def _member(sorted_keys: Tensor, query: Tensor) -> Tensor:
    if sorted_keys.numel() == 0:
        return torch.zeros_like(query, dtype=torch.bool)
    pos = torch.searchsorted(sorted_keys, query).clamp_max(sorted_keys.numel() - 1)
    return sorted_keys[pos] == query


class NegativeSampler:
    """Uniform item negatives that the user has not interacted with in train, drawn on tensors
    with rejection rounds. Only training interactions are rejected: the user's future dev/test
    items are unknown at training time (the reference also rejects those, a mild look-ahead).

    Draws that rejection has not fixed after ``max_rounds`` (users who know nearly every item)
    are drawn exactly from the user's other items, so a train item is never returned unless the
    user has interacted with every item."""

    def __init__(self, data: SequenceData, generator: torch.Generator, max_rounds: int = 50) -> None:
        self.keys = data.train_keys
        self.n = n = data.num_items
        self.g = generator
        self.max_rounds = max_rounds
        # for exact draws: each user's block of sorted keys, and per key the number of items
        # the user has *not* interacted with below it (nondecreasing within a block)
        key_user = self.keys // n
        users = torch.arange(data.num_users + 1, dtype=torch.long)
        self.user_start = torch.searchsorted(self.keys, users * n)
        self.user_count = self.user_start[1:] - self.user_start[:-1]
        below = self.keys % n - (torch.arange(self.keys.numel()) - self.user_start[key_user])
        self.free_keys = key_user * n + below

    def _exact(self, users: Tensor) -> Tensor:
        """Uniform draws among each user's non-train items: the r-th free item is
        ``r + #{train items j of the user with free_below(j) <= r}``."""
        free = self.n - self.user_count[users]
        r = (torch.rand(users.shape, generator=self.g) * free.clamp_min(1)).long()
        r = torch.minimum(r, (free - 1).clamp_min(0))
        taken = torch.searchsorted(self.free_keys, users * self.n + r, right=True) - self.user_start[users]
        return torch.where(free > 0, r + taken, r)

    def sample(self, users: Tensor, shape_tail: tuple) -> Tensor:
        out = torch.randint(0, self.n, (users.shape[0], *shape_tail), generator=self.g)
        u = users.view(-1, *([1] * len(shape_tail)))
        for _ in range(self.max_rounds):
            bad = _member(self.keys, u * self.n + out)
            nb = int(bad.sum())
            if nb == 0:
                return out
            out[bad] = torch.randint(0, self.n, (nb,), generator=self.g)
        bad = _member(self.keys, u * self.n + out)
        if bad.any():
            out[bad] = self._exact(u.expand_as(out)[bad])
        return out


class KGSampler:
    """Knowledge-graph triples for the KGE task (Eq. 15), drawn each epoch on tensors.

    The pool holds the item-item triples and one (item, same_attr, value) row per item-value
    pair; each drawn attribute row becomes (item, same_attr, random other item with that value),
    so share-attribute pairs are never materialised (``lrd-reference.md`` §1.3, §2.6).
    Negatives corrupt the head or the tail with a random item and are filtered for false
    negatives for *every* relation kind (the reference skips attribute relations); for
    item-item relations a negative whose reverse is a true triple is rejected too, since the
    DistMult score cannot tell the two apart.
    """

    def __init__(self, dataset: Dataset, layout: EntityLayout, generator: torch.Generator,
                 head_prob: float = 0.5, max_rounds: int = 50) -> None:
        self.g = generator
        self.bases = layout.attribute_base
        self.head_prob = head_prob
        self.max_rounds = max_rounds
        N = self.n = dataset.num_items
        heads, rels, tails, vals, kinds = [], [], [], [], []
        keys = []
        for r, (name, ei) in enumerate(dataset.relations.items()):
            slot = 1 + r
            heads.append(ei[0]); tails.append(ei[1])
            rels.append(np.full(ei.shape[1], slot)); vals.append(np.full(ei.shape[1], layout.null))
            kinds.append(np.full(ei.shape[1], -1))
            keys.append((slot * N + ei[0]) * N + ei[1])
        self.value_members: List[tuple] = []
        self.values_of: List[Tensor] = []
        for k, (name, a) in enumerate(dataset.attributes.items()):
            slot = layout.attribute_slot(k)
            heads.append(a.item); tails.append(a.value)  # tail = value index until sampled
            rels.append(np.full(len(a.item), slot)); vals.append(a.value + layout.attribute_base[k])
            kinds.append(np.full(len(a.item), k))
            order = np.argsort(a.value, kind="stable")
            members = a.item[order]
            starts = np.searchsorted(a.value[order], np.arange(a.num_values), side="left")
            counts = np.searchsorted(a.value[order], np.arange(a.num_values), side="right") - starts
            self.value_members.append((torch.as_tensor(members), torch.as_tensor(starts),
                                       torch.as_tensor(counts)))
            from ..graph.relation_index import padded_values
            self.values_of.append(padded_values(a.item, a.value, N))
        cat = lambda xs: torch.as_tensor(np.concatenate(xs).astype(np.int64)) if xs else torch.zeros(0, dtype=torch.long)
        self.head, self.rel, self.tail, self.value, self.kind = map(cat, (heads, rels, tails, vals, kinds))
        self.keys = torch.as_tensor(np.unique(np.concatenate(keys))) if keys else torch.zeros(0, dtype=torch.long)

    def __len__(self) -> int:
        return int(self.head.shape[0])

    def _partner(self, k: int, value: Tensor) -> Tensor:
        members, starts, counts = self.value_members[k]
        off = (torch.rand(value.shape, generator=self.g) * counts[value]).long()
        return members[starts[value] + off]

    def sample(self, n: int) -> Dict[str, Tensor]:
        """``n`` positive triples with one corrupted triple each."""
        P = len(self)
        if P >= n:
            idx = torch.randperm(P, generator=self.g)[:n]
        else:
            idx = torch.randint(0, P, (n,), generator=self.g)
        head, rel, tail, value, kind = (x[idx] for x in (self.head, self.rel, self.tail, self.value, self.kind))
        tail = tail.clone()
        for k in range(len(self.value_members)):
            sel = kind == k
            if sel.any():
                v = tail[sel]
                partner = self._partner(k, v)
                # avoid the head itself where the value has another item
                again = partner == head[sel]
                if again.any():
                    partner[again] = self._partner(k, v[again])
                tail[sel] = partner
        corrupt_head = torch.rand(n, generator=self.g) < self.head_prob
        neg = torch.randint(0, self.n, (n,), generator=self.g)
        for _ in range(self.max_rounds):
            nh = torch.where(corrupt_head, neg, head)
            nt = torch.where(corrupt_head, tail, neg)
            bad = self._is_true(nh, rel, nt, kind, value)
            nb = int(bad.sum())
            if nb == 0:
                break
            neg[bad] = torch.randint(0, self.n, (nb,), generator=self.g)
        nh = torch.where(corrupt_head, neg, head)
        nt = torch.where(corrupt_head, tail, neg)
        return {"kg_head": head, "kg_rel": rel, "kg_tail": tail, "kg_value": value,
                "kg_neg_head": nh, "kg_neg_tail": nt}

    def _is_true(self, h: Tensor, r: Tensor, t: Tensor, kind: Tensor, value: Tensor) -> Tensor:
        out = torch.zeros_like(h, dtype=torch.bool)
        ii = kind < 0
        if ii.any() and self.keys.numel():
            # either direction: DistMult is symmetric, so (t, r, h) scores like (h, r, t)
            key = lambda a, b: (r[ii] * self.n + a[ii]) * self.n + b[ii]
            out[ii] = _member(self.keys, key(h, t)) | _member(self.keys, key(t, h))
        for k, vals in enumerate(self.values_of):
            sel = kind == k
            if sel.any():  # a corrupted share-attribute pair is true if both items have the value
                out[sel] = self._share(k, h[sel], t[sel], value[sel])
        return out

    def _share(self, k: int, h: Tensor, t: Tensor, value_entity: Tensor) -> Tensor:
        v = value_entity - self.bases[k]
        vals = self.values_of[k]
        return (vals[h] == v.unsqueeze(1)).any(1) & (vals[t] == v.unsqueeze(1)).any(1)

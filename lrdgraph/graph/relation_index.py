"""Which predefined relations hold between history items and candidates, on the model's device.

Item-item relations are looked up as sorted 64-bit pair keys ``head * N + tail`` (each edge
inserted in both directions, with a bitmask of the relations holding between the pair) with one
:func:`torch.searchsorted` per batch; "same <attribute>" relations compare attribute-value ids (multi-valued
attributes included: two items share the attribute iff they have a value in common). A pair
holds an item-item relation if the edge exists in either direction (``i -> j`` or ``j -> i``):
the history item may be the head or the tail of e.g. an also-bought edge.
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np
import torch
from torch import Tensor

__all__ = ["RelationIndex", "padded_values"]


def padded_values(item: np.ndarray, value: np.ndarray, num_items: int, pad: int = -1) -> Tensor:
    """``[num_items + 1, m]`` matrix of each item's attribute values, padded with ``pad``; the
    extra last row belongs to the padding item and holds only ``pad``."""
    item = np.asarray(item, dtype=np.int64)
    value = np.asarray(value, dtype=np.int64)
    counts = np.bincount(item, minlength=num_items) if item.size else np.zeros(num_items, np.int64)
    m = max(int(counts.max(initial=0)), 1)
    out = np.full((num_items + 1, m), pad, dtype=np.int64)
    if item.size:
        order = np.lexsort((value, item))
        it, va = item[order], value[order]
        starts = np.r_[0, np.flatnonzero(np.diff(it)) + 1]
        lens = np.diff(np.r_[starts, len(it)])
        slot = np.arange(len(it)) - np.repeat(starts, lens)
        out[it, slot] = va
    return torch.as_tensor(out)


class RelationIndex(torch.nn.Module):
    r"""Answers ``relations(history [B, H], candidates [B, C]) -> bool [B, C, H, R]``.

    Args:
        num_items (int): number of items; index ``num_items`` is the padding item, for which no
            relation ever holds.
        item_relations (Dict[str, ndarray]): item-item relations, ``[2, E]`` head/tail arrays.
        attributes (Dict[str, (item, value)]): item→value pairs per attribute.

    Relation slots are the item-item relations in order, then one per attribute. Buffers move
    with ``.to(device)``.
    """

    def __init__(self, num_items: int, item_relations: Dict[str, np.ndarray],
                 attributes: Dict[str, tuple]) -> None:
        super().__init__()
        self.num_items = int(num_items)
        self.item_relation_names: List[str] = list(item_relations)
        self.attribute_names: List[str] = list(attributes)
        n = self.num_items
        if n > 0 and n * n >= 2**62:
            raise ValueError("too many items for 64-bit pair keys")
        if len(item_relations) > 62:
            raise ValueError("at most 62 item-item relations are supported")
        # One sorted array of undirected pair keys (both directions inserted) with a bitmask of
        # the relations that hold between the pair: one searchsorted answers every relation.
        keys, masks = [], []
        for r, ei in enumerate(item_relations.values()):
            ei = np.asarray(ei, dtype=np.int64)
            for a, b in ((ei[0], ei[1]), (ei[1], ei[0])):
                keys.append(a * n + b)
                masks.append(np.full(a.shape[0], 1 << r, dtype=np.int64))
        if keys:
            k = np.concatenate(keys)
            mk = np.concatenate(masks)
            uniq, inv = np.unique(k, return_inverse=True)
            bits = np.zeros(len(uniq), dtype=np.int64)
            np.bitwise_or.at(bits, inv, mk)
        else:
            uniq = bits = np.zeros(0, dtype=np.int64)
        self.register_buffer("keys", torch.as_tensor(uniq), persistent=False)
        self.register_buffer("bits", torch.as_tensor(bits), persistent=False)
        for a, (item, value) in attributes.items():
            # padding rows: -1 for padding item values, -2 never equal to -1, see _attr()
            self.register_buffer(f"values_{a}", padded_values(item, value, n), persistent=False)

    @property
    def num_relations(self) -> int:
        return len(self.item_relation_names) + len(self.attribute_names)

    def attribute_values(self, name: str) -> Tensor:
        return getattr(self, f"values_{name}")

    def _pair_bits(self, query: Tensor) -> Tensor:
        """Relation bitmask of each undirected pair key (0 where no edge)."""
        if self.keys.numel() == 0:
            return torch.zeros_like(query)
        pos = torch.searchsorted(self.keys, query).clamp_max(self.keys.numel() - 1)
        return torch.where(self.keys[pos] == query, self.bits[pos], torch.zeros_like(query))

    def forward(self, history: Tensor, candidates: Tensor) -> Tensor:
        """Bool ``[B, C, H, R]``: relation ``r`` holds between ``history[b, h]`` and
        ``candidates[b, c]``. Padding items (index ``num_items``) never relate."""
        n = self.num_items
        B, H = history.shape
        C = candidates.shape[1]
        valid = (history < n).unsqueeze(1) & (candidates < n).unsqueeze(2)  # [B, C, H]
        h = history.clamp_max(n - 1).unsqueeze(1)  # [B, 1, H]
        c = candidates.clamp_max(n - 1).unsqueeze(2)  # [B, C, 1]
        out = []
        if self.item_relation_names:
            bits = self._pair_bits(h * n + c)  # [B, C, H]
            for r in range(len(self.item_relation_names)):
                out.append(((bits >> r) & 1).bool() & valid)
        for a in self.attribute_names:
            vals = self.attribute_values(a)
            hv = vals[history.clamp_max(n)]  # [B, H, m]; padding row is all -1
            cv = vals[candidates.clamp_max(n)]  # [B, C, m]
            eq = cv.view(B, C, 1, -1, 1) == hv.view(B, 1, H, 1, -1)
            eq &= (cv >= 0).view(B, C, 1, -1, 1)
            out.append(eq.flatten(-2).any(-1) & valid)
        if not out:
            return torch.zeros(B, C, H, 0, dtype=torch.bool, device=history.device)
        return torch.stack(out, dim=-1)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.num_items}, "
                f"relations={self.item_relation_names + ['same_' + a for a in self.attribute_names]})")

    @classmethod
    def from_dataset(cls, dataset) -> "RelationIndex":
        return cls(dataset.num_items, dataset.relations,
                   {k: (a.item, a.value) for k, a in dataset.attributes.items()})

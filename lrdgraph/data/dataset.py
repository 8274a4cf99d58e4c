"""The in-memory data set every reader produces and the graph builder consumes.

Indices inside are contiguous and 0-based: users ``0..num_users-1``, items ``0..num_items-1``,
attribute values ``0..len(values)-1`` per attribute. ``item_ids`` / ``user_ids`` map them back
to the user's original ids (strings), so every export can speak the user's ids.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = ["Attribute", "Split", "Dataset"]


@dataclass
class Attribute:
    """A (possibly multi-valued) item attribute kept as item→value pairs.

    ``item[k]`` has value ``value[k]``; ``values[v]`` is the label of value ``v``. Missing values
    simply have no pair. Two items "share" the attribute iff they have a value in common; that
    relation is never materialised as item pairs.
    """

    name: str
    values: List[str]
    item: np.ndarray  # int64 [M]
    value: np.ndarray  # int64 [M]

    def __post_init__(self) -> None:
        self.item = np.asarray(self.item, dtype=np.int64)
        self.value = np.asarray(self.value, dtype=np.int64)

    @property
    def num_values(self) -> int:
        return len(self.values)


@dataclass
class Split:
    """Interactions of one split: parallel int64 arrays, ordered by (time, user) for train.

    ``neg_items`` is ``None`` for train and an int64 ``[rows, n_neg]`` matrix for dev/test (the
    fixed sampled-protocol negatives, kept verbatim with duplicates).
    """

    user: np.ndarray
    item: np.ndarray
    time: np.ndarray
    neg_items: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.user = np.asarray(self.user, dtype=np.int64)
        self.item = np.asarray(self.item, dtype=np.int64)
        self.time = np.asarray(self.time, dtype=np.int64)
        if self.neg_items is not None:
            self.neg_items = np.asarray(self.neg_items, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.user.shape[0])

    def to_frame(self) -> pd.DataFrame:
        df = pd.DataFrame({"user": self.user, "item": self.item, "time": self.time})
        return df


@dataclass
class Dataset:
    """A recommendation data set with item text, attributes and predefined relations."""

    name: str
    user_ids: List[str]
    item_ids: List[str]
    item_text: List[str]
    train: Split
    dev: Split
    test: Split
    attributes: Dict[str, Attribute] = field(default_factory=dict)
    # predefined item-item relations: name -> int64 [2, E] (head row 0, tail row 1)
    relations: Dict[str, np.ndarray] = field(default_factory=dict)
    # free-form notes on the ingest: dropped rows, filtering rounds, input file hashes
    report: Dict[str, object] = field(default_factory=dict)

    @property
    def num_users(self) -> int:
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        return len(self.item_ids)

    @property
    def num_interactions(self) -> int:
        return len(self.train) + len(self.dev) + len(self.test)

    def validate(self) -> None:
        """Check internal consistency; raise :class:`InputError` naming what is wrong."""
        if self.num_items == 0 or self.num_users == 0 or len(self.train) == 0:
            raise InputError(f"data set '{self.name}' is empty (no users, items or training rows)")
        if len(self.item_text) != self.num_items:
            raise InputError("item_text must have one entry per item")
        for split_name in ("train", "dev", "test"):
            s: Split = getattr(self, split_name)
            if len(s) and (s.user.min() < 0 or s.user.max() >= self.num_users):
                raise InputError(f"{split_name}: user index out of range")
            if len(s) and (s.item.min() < 0 or s.item.max() >= self.num_items):
                raise InputError(f"{split_name}: item index out of range")
            if split_name != "train" and s.neg_items is not None and s.neg_items.size:
                if s.neg_items.min() < 0 or s.neg_items.max() >= self.num_items:
                    raise InputError(f"{split_name}: negative item index out of range")
        for name, ei in self.relations.items():
            if ei.ndim != 2 or ei.shape[0] != 2:
                raise InputError(f"relation '{name}' must be a [2, E] array")
            if ei.size and (ei.min() < 0 or ei.max() >= self.num_items):
                raise InputError(f"relation '{name}': item index out of range")
        for name, a in self.attributes.items():
            if a.item.size and (a.item.min() < 0 or a.item.max() >= self.num_items):
                raise InputError(f"attribute '{name}': item index out of range")
            if a.value.size and (a.value.min() < 0 or a.value.max() >= a.num_values):
                raise InputError(f"attribute '{name}': value index out of range")

    def triplet_counts(self) -> Dict[str, Dict[str, int]]:
        """The knowledge-graph triplets (i, r, j) the relations hold, as the paper's Table 2
        counts them, without materialising a pair: per predefined relation its edges; per
        attribute the ordered pairs of distinct items with a value in common, once per shared
        value (the sum over values v of n_v (n_v - 1), so two films sharing two genres count
        twice); and apart from those the ordered pairs of distinct items that both lack the
        attribute (the reference's data marks a missing value as value 0 and so counts them
        as sharing it; our relation index does not). Returns ``{"item_item": {...},
        "share_attribute": {...}, "missing_pairs": {...}}``, each by relation name."""
        share, missing = {}, {}
        for name, a in self.attributes.items():
            pairs = np.unique(np.stack([a.item, a.value]), axis=1)  # (item, value) once each
            n_v = np.bincount(pairs[1], minlength=a.num_values)
            share[name] = int((n_v * (n_v - 1)).sum())
            m = self.num_items - len(np.unique(a.item))
            missing[name] = m * (m - 1)
        return {"item_item": {k: int(v.shape[1]) for k, v in self.relations.items()},
                "share_attribute": share, "missing_pairs": missing}

    def stats(self) -> Dict[str, object]:
        return {
            "users": self.num_users,
            "items": self.num_items,
            "interactions": self.num_interactions,
            "train": len(self.train),
            "dev": len(self.dev),
            "test": len(self.test),
            "relations": {k: int(v.shape[1]) for k, v in self.relations.items()},
            "attributes": {k: a.num_values for k, a in self.attributes.items()},
            "items_with_text": int(sum(1 for t in self.item_text if t.strip())),
        }

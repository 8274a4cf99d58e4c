"""Entity and relation id layout shared by every relation-aware model.

Entities (one embedding table): items ``0..N-1``; the null entity ``N`` (padding, and the
"value" of non-attribute relations, as e₀ in the reference); then per attribute a block of its
values followed by one "missing value" entity. Relation slots: ``0`` the virtual "any history
item" relation, then the predefined relations (item-item, then ``same_<attr>``), then the K
latent relations.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

import torch
from torch import Tensor

from ..graph.relation_index import padded_values

__all__ = ["EntityLayout"]


@dataclass
class EntityLayout:
    num_items: int
    item_relations: List[str]
    attributes: List[str]
    attribute_sizes: List[int]
    num_latent: int

    @property
    def null(self) -> int:
        return self.num_items

    @property
    def attribute_base(self) -> List[int]:
        base, out = self.num_items + 1, []
        for n in self.attribute_sizes:
            out.append(base)
            base += n + 1
        return out

    @property
    def num_entities(self) -> int:
        return self.num_items + 1 + sum(n + 1 for n in self.attribute_sizes)

    @property
    def predefined(self) -> List[str]:
        return self.item_relations + [f"same_{a}" for a in self.attributes]

    @property
    def relation_names(self) -> List[str]:
        return ["any"] + self.predefined + [f"latent_{k}" for k in range(self.num_latent)]

    @property
    def num_relations(self) -> int:
        return 1 + len(self.predefined) + self.num_latent

    @property
    def latent_slice(self) -> slice:
        start = 1 + len(self.predefined)
        return slice(start, start + self.num_latent)

    @property
    def predefined_slice(self) -> slice:
        return slice(1, 1 + len(self.predefined))

    def attribute_slot(self, k: int) -> int:
        return 1 + len(self.item_relations) + k

    @classmethod
    def from_dataset(cls, dataset, num_latent: int) -> "EntityLayout":
        return cls(num_items=dataset.num_items, item_relations=list(dataset.relations),
                   attributes=list(dataset.attributes),
                   attribute_sizes=[a.num_values for a in dataset.attributes.values()],
                   num_latent=num_latent)

    def value_entities(self, dataset) -> Dict[str, Tensor]:
        """Per attribute, ``[N + 1, m]`` entity ids of each item's values: the "missing" entity
        where an item has none, ``-1`` padding beyond an item's first value (multi-valued
        attributes), and the null entity for the padding item's row."""
        out = {}
        for k, (name, a) in enumerate(dataset.attributes.items()):
            base = self.attribute_base[k]
            vals = padded_values(a.item, a.value, self.num_items)  # -1 padded
            ent = torch.where(vals >= 0, vals + base, torch.full_like(vals, -1))
            missing = (vals < 0).all(dim=1)
            ent[missing, 0] = base + a.num_values
            ent[self.num_items] = -1
            ent[self.num_items, 0] = self.null
            out[name] = ent
        return out

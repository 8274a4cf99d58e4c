"""The item graph: a PyG ``HeteroData`` view over a :class:`Dataset` plus item text features.

Node types: ``item`` (text features in ``x``), ``user``, and one node type per attribute
(``category``, ``brand``, ``genre``, ...). Edge types: ``('item', REL, 'item')`` for each predefined
item-item relation, ``('item', 'has_<attr>', <attr>)`` for attributes and
``('user', 'interacts', 'item')`` with ``time`` and ``split`` (0 train, 1 dev, 2 test). A "share
<attribute>" relation between two items is derived from the ``has_<attr>`` edges when queried
(:class:`~lrdgraph.graph.relation_index.RelationIndex`); it is never materialised as item pairs.

On disk (a graph directory) everything is plain: ``graph.pt`` holds only tensors, strings and
dicts and is loaded with ``torch.load(weights_only=True)``; ``items.csv`` and ``users.csv`` are the
id maps (with item text); ``attribute_values.json`` names every attribute value;
``manifest.json`` records counts, the encoder, input file hashes and the lrdgraph version.
"""
from __future__ import annotations

import csv
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from .. import __version__
from ..data.dataset import Attribute, Dataset, Split
from ..errors import InputError
from ..io import (atomic_torch_save, atomic_write, atomic_write_json, output_dir, read_json,
                  unpickling_refusal, unreadable_reason)

__all__ = ["ItemGraph", "relation_names", "save_graph", "load_graph", "GRAPH_FORMAT"]

GRAPH_FORMAT = 1
SPLIT_CODE = {"train": 0, "dev": 1, "test": 2}


def relation_names(dataset: Dataset) -> List[str]:
    """Names of the predefined relations in slot order: item-item relations, then one
    ``same_<attr>`` relation per attribute."""
    return list(dataset.relations) + [f"same_{a}" for a in dataset.attributes]


@dataclass
class ItemGraph:
    """A data set with item features: what ``build-graph`` writes and ``train`` reads."""

    dataset: Dataset
    features: Any  # torch.FloatTensor [num_items, D]
    encoder: Dict[str, Any]
    manifest: Dict[str, Any] = field(default_factory=dict)

    @property
    def num_items(self) -> int:
        return self.dataset.num_items

    @property
    def num_users(self) -> int:
        return self.dataset.num_users

    @property
    def relation_names(self) -> List[str]:
        return relation_names(self.dataset)

    @property
    def item_relations(self) -> List[str]:
        return list(self.dataset.relations)

    @property
    def attribute_names(self) -> List[str]:
        return list(self.dataset.attributes)

    def to_hetero(self):
        """The graph as a ``torch_geometric.data.HeteroData``."""
        import torch
        from torch_geometric.data import HeteroData

        ds = self.dataset
        data = HeteroData()
        data["item"].x = self.features
        data["item"].num_nodes = ds.num_items
        data["user"].num_nodes = ds.num_users
        for name, ei in ds.relations.items():
            data["item", name, "item"].edge_index = torch.as_tensor(ei, dtype=torch.long)
        for name, a in ds.attributes.items():
            data[name].num_nodes = a.num_values
            data["item", f"has_{name}", name].edge_index = torch.as_tensor(
                np.stack([a.item, a.value]), dtype=torch.long)
        users, items, times, codes = [], [], [], []
        for s, code in SPLIT_CODE.items():
            sp: Split = getattr(ds, s)
            users.append(sp.user)
            items.append(sp.item)
            times.append(sp.time)
            codes.append(np.full(len(sp), code, dtype=np.int64))
        rel = data["user", "interacts", "item"]
        rel.edge_index = torch.as_tensor(np.stack([np.concatenate(users), np.concatenate(items)]))
        rel.time = torch.as_tensor(np.concatenate(times))
        rel.split = torch.as_tensor(np.concatenate(codes))
        return data

    def info(self) -> Dict[str, Any]:
        """Counts per node and edge type, text coverage and the encoder (``graph-info``)."""
        ds = self.dataset
        nodes = {"item": ds.num_items, "user": ds.num_users}
        nodes.update({a: at.num_values for a, at in ds.attributes.items()})
        edges = {f"item-{r}-item": int(ei.shape[1]) for r, ei in ds.relations.items()}
        edges.update({f"item-has_{a}-{a}": int(at.item.shape[0]) for a, at in ds.attributes.items()})
        edges["user-interacts-item"] = ds.num_interactions
        with_text = sum(1 for t in ds.item_text if t.strip())
        return {
            "name": ds.name,
            "nodes": nodes,
            "edges": edges,
            "splits": {s: len(getattr(ds, s)) for s in SPLIT_CODE},
            "relations": self.relation_names,
            "triplets": ds.triplet_counts(),
            "text_coverage": {"items_with_text": with_text, "items": ds.num_items,
                              "fraction": with_text / max(ds.num_items, 1)},
            "encoder": self.encoder,
            "feature_dim": int(self.features.shape[1]),
            "report": ds.report,
        }


def _split_tensors(sp: Split) -> Dict[str, Any]:
    import torch

    out = {"user": torch.as_tensor(sp.user), "item": torch.as_tensor(sp.item),
           "time": torch.as_tensor(sp.time)}
    if sp.neg_items is not None:
        out["neg_items"] = torch.as_tensor(sp.neg_items)
    return out


def save_graph(graph: ItemGraph, out: str | Path, *, overwrite: bool = False,
               extra_manifest: Optional[Dict[str, Any]] = None, lock: bool = True) -> Path:
    """Write a graph directory atomically (a failure leaves no partial directory).
    ``lock=False``: the caller already holds the output lock of ``out``."""
    ds = graph.dataset
    out = Path(out)
    with output_dir(out, overwrite=overwrite, lock=lock) as tmp:
        payload = {
            "format": GRAPH_FORMAT,
            "features": graph.features.float().contiguous(),
            "relations": {k: _as_long(v) for k, v in ds.relations.items()},
            "attributes": {k: {"item": _as_long(a.item), "value": _as_long(a.value)}
                           for k, a in ds.attributes.items()},
            "splits": {s: _split_tensors(getattr(ds, s)) for s in SPLIT_CODE},
        }
        atomic_torch_save(payload, tmp / "graph.pt")
        with atomic_write(tmp / "items.csv") as fh:
            w = csv.writer(fh)
            w.writerow(["index", "item_id", "text"])
            for i, (iid, t) in enumerate(zip(ds.item_ids, ds.item_text)):
                w.writerow([i, iid, t])
        with atomic_write(tmp / "users.csv") as fh:
            w = csv.writer(fh)
            w.writerow(["index", "user_id"])
            for i, uid in enumerate(ds.user_ids):
                w.writerow([i, uid])
        atomic_write_json(tmp / "attribute_values.json",
                          {k: a.values for k, a in ds.attributes.items()})
        manifest = {
            "format": GRAPH_FORMAT,
            "lrdgraph_version": __version__,
            "name": ds.name,
            "counts": ds.stats(),
            "relations": graph.relation_names,
            "encoder": graph.encoder,
            "feature_dim": int(graph.features.shape[1]),
            "report": ds.report,
        }
        manifest.update(graph.manifest)
        if extra_manifest:
            manifest.update(extra_manifest)
        atomic_write_json(tmp / "manifest.json", manifest)
    graph.manifest = manifest
    return out


def _as_long(a: np.ndarray):
    import torch

    return torch.as_tensor(np.asarray(a, dtype=np.int64))


def load_graph(path: str | Path) -> ItemGraph:
    """Load a graph directory written by :func:`save_graph` without executing code from it."""
    import torch

    path = Path(path)
    if not path.is_dir():
        raise InputError("graph directory not found", path=path)
    for name in ("graph.pt", "manifest.json", "items.csv", "users.csv", "attribute_values.json"):
        if not (path / name).exists():
            raise InputError(f"not a graph directory: {name} is missing "
                             f"(create one with 'lrdgraph build-graph')", path=path)
    try:
        payload = torch.load(path / "graph.pt", map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise InputError(unpickling_refusal(exc), path=path / "graph.pt")
    except Exception as exc:  # corrupted/truncated file
        raise InputError(f"cannot read graph file: {unreadable_reason(exc)}",
                         path=path / "graph.pt")
    hint = "rebuild the graph with 'lrdgraph build-graph'"
    manifest = read_json(path / "manifest.json", "graph manifest", hint)
    if not isinstance(payload, dict) or payload.get("format") != GRAPH_FORMAT:
        raise InputError(f"unsupported graph format "
                         f"{payload.get('format') if isinstance(payload, dict) else None!r}",
                         path=path / "graph.pt")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("encoder"), dict):
        raise InputError(f"damaged graph manifest (no encoder); {hint}", path=path / "manifest.json")
    item_ids, item_text = _read_id_table(path / "items.csv", ("item_id", "text"), hint)
    (user_ids,) = _read_id_table(path / "users.csv", ("user_id",), hint)
    values = read_json(path / "attribute_values.json", "attribute value list", hint)
    num_items = int(payload["features"].shape[0])
    if len(item_ids) != num_items:
        raise InputError(f"{len(item_ids)} items, but graph.pt has features of {num_items}: the "
                         f"file is truncated or was edited; {hint}", path=path / "items.csv")
    max_user = max((int(payload["splits"][s]["user"].max()) for s in ("train", "dev", "test")
                    if payload["splits"][s]["user"].numel()), default=-1)
    if len(user_ids) <= max_user:
        raise InputError(f"{len(user_ids)} users, but the splits in graph.pt name user index "
                         f"{max_user}: the file is truncated or was edited; {hint}",
                         path=path / "users.csv")

    def split(s: str) -> Split:
        d = payload["splits"][s]
        return Split(user=d["user"].numpy(), item=d["item"].numpy(), time=d["time"].numpy(),
                     neg_items=d["neg_items"].numpy() if "neg_items" in d else None)

    ds = Dataset(
        name=manifest.get("name", path.name), user_ids=user_ids, item_ids=item_ids,
        item_text=item_text, train=split("train"), dev=split("dev"), test=split("test"),
        attributes={k: Attribute(name=k, values=values[k], item=v["item"].numpy(),
                                 value=v["value"].numpy())
                    for k, v in payload["attributes"].items()},
        relations={k: v.numpy() for k, v in payload["relations"].items()},
        report=manifest.get("report", {}),
    )
    try:
        ds.validate()
    except InputError as exc:
        raise InputError(f"inconsistent graph directory: {exc.message}; {hint}", path=path) from None
    return ItemGraph(dataset=ds, features=payload["features"], encoder=manifest["encoder"],
                     manifest=manifest)


def _read_id_table(path: Path, columns: tuple, hint: str) -> tuple:
    """The named columns of ``items.csv`` / ``users.csv`` of a graph directory."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise InputError(f"damaged file: column {missing[0]!r} is missing; {hint}", path=path)
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"damaged file ({exc}); {hint}", path=path) from None
    if any(r.get(c) is None for r in rows for c in columns):
        line = next(i for i, r in enumerate(rows, start=2) if any(r.get(c) is None for c in columns))
        raise InputError(f"damaged file: a row is cut short; {hint}", path=path, line=line)
    return tuple([r[c] for r in rows] for c in columns)

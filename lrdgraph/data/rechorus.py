"""Reader for ReChorus / LRD data directories (``lrd-reference.md`` §1.1).

Layout: ``train.csv``, ``dev.csv``, ``test.csv`` (tab-separated, ``user_id item_id time`` and, for
dev/test, ``neg_items``), ``item_meta.csv`` (``item_id``, ``i_<attribute>`` integer columns with 0
for missing, ``r_<relation>`` list columns) and optionally ``<Name>.text`` (``id text``, keyed by
the original item key) with ``<Name>.item2index`` (``key<TAB>id``, no header).

The given split and the fixed negative lists are kept verbatim, duplicates included. List cells
are parsed with JSON / ``ast.literal_eval``, never ``eval``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

import numpy as np
import pandas as pd

from ..errors import InputError
from .common import int_column, parse_list_column, read_table
from .dataset import Attribute, Dataset, Split

__all__ = ["read_rechorus"]

SPLITS = ("train", "dev", "test")


def read_rechorus(data_dir: str | Path, name: Optional[str] = None) -> Dataset:
    d = Path(data_dir)
    if not d.is_dir():
        raise InputError("data directory not found", path=d)
    frames: Dict[str, pd.DataFrame] = {}
    paths = {s: d / f"{s}.csv" for s in SPLITS}
    for s, p in paths.items():
        req = ["user_id", "item_id", "time"] + (["neg_items"] if s != "train" else [])
        frames[s] = read_table(p, required=req)
    raw: Dict[str, Dict[str, np.ndarray]] = {}
    negs: Dict[str, np.ndarray] = {}
    for s, df in frames.items():
        p = paths[s]
        raw[s] = {
            "user": int_column(df, "user_id", p),
            "item": int_column(df, "item_id", p),
            "time": int_column(df, "time", p, min_value=0),
        }
        if len(df) == 0:
            raise InputError(f"no interactions in {s}.csv (the file has no rows)", path=p, line=2)
        if s != "train":
            lists = parse_list_column(df, "neg_items", p)
            lens = {len(x) for x in lists}
            if len(lens) > 1:
                i = next(k for k, x in enumerate(lists) if len(x) != len(lists[0]))
                raise InputError(
                    f"every neg_items list must have the same length; line 2 has {len(lists[0])}, "
                    f"this one {len(lists[i])}", path=p, line=i + 2, field="neg_items")
            negs[s] = np.asarray(lists, dtype=np.int64).reshape(len(lists), -1)
    if sum(len(r["user"]) for r in raw.values()) == 0 or len(raw["train"]["user"]) == 0:
        raise InputError("no interactions in train.csv", path=paths["train"])

    meta_path = d / "item_meta.csv"
    meta = read_table(meta_path, required=["item_id"]) if meta_path.exists() else None

    # item universe: every id in the splits, the negatives and item_meta
    ids = [np.concatenate([r["item"] for r in raw.values()])]
    ids += [n.ravel() for n in negs.values()]
    meta_ids = None
    if meta is not None:
        meta_ids = int_column(meta, "item_id", meta_path)
        if len(np.unique(meta_ids)) != len(meta_ids):
            dup = pd.Series(meta_ids).duplicated().to_numpy()
            i = int(np.flatnonzero(dup)[0])
            raise InputError(f"item {meta_ids[i]} appears twice", path=meta_path, line=i + 2,
                             field="item_id")
        ids.append(meta_ids)
    item_raw = np.unique(np.concatenate(ids))
    if (item_raw <= 0).any():
        raise InputError("item ids start at 1 in this format (0 is padding)", path=d)
    user_raw = np.unique(np.concatenate([r["user"] for r in raw.values()]))
    item_pos = pd.Index(item_raw)
    user_pos = pd.Index(user_raw)

    splits = {}
    for s in SPLITS:
        r = raw[s]
        splits[s] = Split(user=user_pos.get_indexer(r["user"]), item=item_pos.get_indexer(r["item"]),
                          time=r["time"], neg_items=(item_pos.get_indexer(negs[s].ravel()).reshape(negs[s].shape)
                                                     if s in negs else None))

    report: Dict[str, object] = {"dropped_relation_edges": {}, "format": "rechorus"}
    attributes: Dict[str, Attribute] = {}
    relations: Dict[str, np.ndarray] = {}
    if meta is not None:
        row_items = item_pos.get_indexer(meta_ids)
        for col in meta.columns:
            if col.startswith("i_"):
                vals = int_column(meta, col, meta_path, min_value=0)
                nz = vals != 0
                uniq = np.unique(vals[nz])
                attributes[col[2:]] = Attribute(
                    name=col[2:], values=[str(v) for v in uniq],
                    item=row_items[nz], value=np.searchsorted(uniq, vals[nz]))
            elif col.startswith("r_"):
                lists = parse_list_column(meta, col, meta_path)
                heads = np.repeat(row_items, [len(x) for x in lists])
                tails_raw = np.fromiter((t for x in lists for t in x), dtype=np.int64,
                                        count=int(sum(len(x) for x in lists)))
                tails = item_pos.get_indexer(tails_raw) if len(tails_raw) else tails_raw
                known = tails >= 0
                report["dropped_relation_edges"][col[2:]] = int((~known).sum())
                relations[col[2:]] = np.stack([heads[known], tails[known]]).astype(np.int64)

    text = [""] * len(item_raw)
    text_files = sorted(d.glob("*.text"))
    if text_files:
        tpath = text_files[0]
        stem = tpath.name[: -len(".text")]
        map_path = d / f"{stem}.item2index"
        tdf = read_table(tpath, required=["id", "text"], quoting=3)
        if map_path.exists():
            mdf = read_table(map_path, header=None, names=["key", "id"], quoting=3)
            key_to_id = dict(zip(mdf["key"].str.strip(), int_column(mdf, "id", map_path, header_lines=0)))
        else:  # text keyed directly by the integer item id
            key_to_id = {k: int(k) for k in tdf["id"] if k.strip().isdigit()}
        unknown = 0
        for key, t in zip(tdf["id"].str.strip(), tdf["text"]):
            iid = key_to_id.get(key)
            pos = item_pos.get_indexer([iid])[0] if iid is not None else -1
            if pos < 0:
                unknown += 1
                continue
            text[pos] = " ".join(str(t).split())
        report["text_rows_unknown_item"] = unknown
        report["text_file"] = tpath.name

    ds = Dataset(name=name or d.name, user_ids=[str(u) for u in user_raw],
                 item_ids=[str(i) for i in item_raw], item_text=text,
                 train=splits["train"], dev=splits["dev"], test=splits["test"],
                 attributes=attributes, relations=relations, report=report)
    ds.validate()
    return ds

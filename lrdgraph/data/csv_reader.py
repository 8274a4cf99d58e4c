"""Reader for a generic data set in plain CSV/TSV files (documented in ``data/README.md``).

Three tables, each with a header line; the separator is a tab when the header line holds one,
else a comma (or ``sep=``); standard CSV quoting; UTF-8 (a leading BOM is ignored).

- **interactions** (required): ``user``, ``item``, ``timestamp`` columns (names configurable).
  Ids are arbitrary strings, kept as the original ids. Timestamps are non-negative integers
  (unix seconds or any integer clock; dates must be converted first). Repeated rows are kept as
  separate interactions (a user may buy the same item twice) and counted in
  ``report['duplicate_interactions_kept']``.
- **items** (optional): an ``item`` id column, text columns and attribute columns. Without it,
  the items are those in the interactions and have no text. Item text is the first text
  column's value followed by ``"<Column>: <value>"`` for the others, joined with ``". "``.
  Attribute cells may hold several values split by ``multi_sep``; an empty cell is a missing
  value. Rows for items without interactions are ignored (counted in the report).
- **relations** (optional): ``head``, ``relation``, ``tail`` columns, one directed predefined
  edge per row. Edges naming an item that is not in the data set are dropped, counted per
  relation in ``report['dropped_relation_edges']`` and announced in ``report['warnings']``;
  repeated edges are kept once.

Then the same pipeline as MovieLens (:func:`~lrdgraph.data.common.assemble_dataset`): optional
k-core filtering, leave-one-out split, ``n_neg`` seeded negatives per dev/test row. Every user
needs at least 3 interactions (train, dev, test); otherwise the reader stops and names the
first such user (``k_core=3`` or more drops them).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError
from ..io import sha256_file
from .common import (ItemTable, RelationTable, assemble_dataset, id_column, int_column,
                     read_table, require_columns, row_line)
from .dataset import Dataset

__all__ = ["read_csv_dataset", "dataset_from_frames", "detect_sep"]


def detect_sep(path: Path) -> str:
    """A tab if the file's first line holds one, else a comma (also for a path that is not a
    readable file: :func:`read_table` then reports what is wrong with it)."""
    path = Path(path)
    if not path.is_file():
        return ","
    with open(path, "rb") as fh:
        first = fh.readline()
    return "\t" if b"\t" in first else ","


def _find(d: Path, stem: str) -> Optional[Path]:
    for ext in (".csv", ".tsv", ".txt"):
        if (d / f"{stem}{ext}").is_file():
            return d / f"{stem}{ext}"
    return None


def read_csv_dataset(interactions: str | Path, items: str | Path | None = None,
                     relations: str | Path | None = None, *, user_col: str = "user",
                     item_col: str = "item", time_col: str = "timestamp",
                     item_id_col: str = "item", text_cols: Optional[List[str]] = None,
                     attr_cols: Optional[List[str]] = None, multi_sep: str = "|",
                     group_col: Optional[str] = None, head_col: str = "head",
                     relation_col: str = "relation", tail_col: str = "tail",
                     sep: Optional[str] = None, k_core: int = 0, n_neg: int = 99, seed: int = 0,
                     ties: str = "input", tie_seed: int = 0,
                     name: Optional[str] = None) -> Dataset:
    """Read a generic CSV data set (see the module docstring).

    Args:
        interactions (str or Path): the interactions file, or a directory holding
            ``interactions.csv`` (or ``.tsv``) and, when present and not given explicitly,
            ``items.csv`` and ``relations.csv``.
        items (str or Path, optional): the items table.
        relations (str or Path, optional): the relations table.
        user_col, item_col, time_col (str): interaction columns.
        item_id_col (str): the items table's id column. (default: ``"item"``)
        text_cols (list of str, optional): columns making the item text; ``None`` takes
            ``text`` if the table has it, else ``title`` if it has it, else none.
        attr_cols (list of str, optional): attribute columns (default: none).
        multi_sep (str): separator of several values in one attribute cell; ``""`` makes every
            cell a single value. (default: ``"|"``)
        group_col (str, optional): a ground-truth group column (e.g. the demo's ``workflow``),
            reported per item in ``report['planted_group']``, never an attribute.
        head_col, relation_col, tail_col (str): relation columns.
        sep (str, optional): field separator for all files; ``None`` detects it per file.
        k_core (int): k-core filtering threshold; 0 keeps everything. (default: ``0``)
        n_neg (int): negatives per dev/test row. (default: ``99``)
        seed (int): seed of the negative sampler. (default: ``0``)
        ties (str): order of one user's interactions with the same timestamp: ``"input"``
            (file order) or ``"shuffle"`` (random, from ``tie_seed``); it decides which of them
            is the test and dev item (:func:`~lrdgraph.data.common.leave_one_out`).
            (default: ``"input"``)
        tie_seed (int): seed of ``ties="shuffle"``. (default: ``0``)
        name (str, optional): data set name (default: the directory's name).
    """
    ipath = Path(interactions)
    if ipath.is_dir():
        d = ipath
        found = _find(d, "interactions")
        if found is None:
            raise InputError("no interactions.csv (or .tsv) in the data directory", path=d)
        ipath = found
        items = items if items is not None else _find(d, "items")
        relations = relations if relations is not None else _find(d, "relations")
    elif not ipath.exists():
        raise InputError("file not found", path=ipath)
    if name is None:
        name = ipath.parent.name if ipath.stem == "interactions" else ipath.stem
    if sep is not None and len(sep) != 1:
        raise ConfigError(f"sep must be one character, got {sep!r}")

    inter_df = read_table(ipath, sep=sep or detect_sep(ipath),
                          required=[user_col, item_col, time_col])
    items_path = Path(items) if items is not None else None
    rel_path = Path(relations) if relations is not None else None
    items_df = (read_table(items_path, sep=sep or detect_sep(items_path), required=[item_id_col])
                if items_path is not None else None)
    rel_df = (read_table(rel_path, sep=sep or detect_sep(rel_path),
                         required=[head_col, relation_col, tail_col])
              if rel_path is not None else None)
    inputs = {p.name: sha256_file(p) for p in (ipath, items_path, rel_path) if p is not None}
    return dataset_from_frames(
        inter_df, items_df, rel_df, user_col=user_col, item_col=item_col, time_col=time_col,
        item_id_col=item_id_col, text_cols=text_cols, attr_cols=attr_cols, multi_sep=multi_sep,
        group_col=group_col, head_col=head_col, relation_col=relation_col, tail_col=tail_col,
        k_core=k_core, n_neg=n_neg, seed=seed, ties=ties, tie_seed=tie_seed, name=name,
        paths=(ipath, items_path, rel_path), report={"format": "csv", "inputs": inputs})


def dataset_from_frames(interactions: pd.DataFrame, items: Optional[pd.DataFrame] = None,
                        relations: Optional[pd.DataFrame] = None, *, user_col: str = "user",
                        item_col: str = "item", time_col: str = "timestamp",
                        item_id_col: str = "item", text_cols: Optional[List[str]] = None,
                        attr_cols: Optional[List[str]] = None, multi_sep: str = "|",
                        group_col: Optional[str] = None, head_col: str = "head",
                        relation_col: str = "relation", tail_col: str = "tail",
                        k_core: int = 0, n_neg: int = 99, seed: int = 0,
                        ties: str = "input", tie_seed: int = 0, name: str = "dataset",
                        paths: Sequence[Optional[Path]] = (None, None, None),
                        report: Optional[Dict[str, object]] = None) -> Dataset:
    """The generic-CSV pipeline on tables already in memory (every cell a string), as
    :func:`read_csv_dataset` reads them; same options. ``paths`` (interactions, items,
    relations) only name the tables in errors."""
    ipath = paths[0] if paths[0] is not None else Path("interactions")
    items_path = paths[1] if paths[1] is not None else Path("items")
    rel_path = paths[2] if paths[2] is not None else Path("relations")
    require_columns(interactions, [user_col, item_col, time_col], ipath)
    if len(interactions) == 0:
        raise InputError("no interaction rows (the file has only a header)", path=ipath)
    user = id_column(interactions, user_col, ipath)
    item = id_column(interactions, item_col, ipath)
    time = int_column(interactions, time_col, ipath, min_value=0,
                      hint="timestamps must be integers (e.g. unix seconds); convert dates first")
    report = dict(report or {})
    report.setdefault("warnings", [])
    item_table = None
    if items is not None:
        item_table = _items_from_frame(items, items_path, item_id_col, text_cols, attr_cols,
                                       multi_sep, group_col)
    rel_table = None
    if relations is not None:
        rel_table = _relations_from_frame(relations, rel_path, head_col, relation_col, tail_col)
    lines = (interactions.index.to_numpy() if interactions.attrs.get("source_lines")
             else np.arange(len(interactions)) + 2)
    return assemble_dataset(
        name, user, item, time, items=item_table, relations=rel_table, k_core=k_core,
        n_neg=n_neg, seed=seed, ties=ties, tie_seed=tie_seed, source=ipath, lines=lines,
        user_field=user_col,
        hint="drop those users, or filter with k_core=3 (--k-core 3) or more", report=report)


def _unique_ids(df: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    ids = id_column(df, col, path)
    dup = np.flatnonzero(pd.Series(ids).duplicated().to_numpy())
    if dup.size:
        i = int(dup[0])
        raise InputError(f"item {ids[i]!r} appears twice", path=path, line=row_line(df, i),
                         field=col)
    return ids


def _items_from_frame(df: pd.DataFrame, path: Path, id_col: str,
                      text_cols: Optional[Sequence[str]], attr_cols: Optional[Sequence[str]],
                      multi_sep: str, group_col: Optional[str]) -> ItemTable:
    if text_cols is None:
        text_cols = [c for c in ("text", "title") if c in df.columns][:1]
    attr_cols = list(attr_cols or [])
    needed = [id_col, *text_cols, *attr_cols] + ([group_col] if group_col else [])
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise InputError(f"missing column(s) {', '.join(repr(c) for c in missing)}; found "
                         f"{list(df.columns)}", path=path, line=1, field=missing[0])
    ids = _unique_ids(df, id_col, path)

    def cells(col: str) -> List[List[str]]:
        out = []
        for v in df[col].tolist():
            parts = v.split(multi_sep) if multi_sep else [v]
            vals = [" ".join(p.split()) for p in parts]
            out.append(list(dict.fromkeys(x for x in vals if x)))
        return out

    attributes = {c: cells(c) for c in attr_cols}
    text = None
    if text_cols:
        cols = {c: (attributes[c] if c in attributes else
                    [[" ".join(v.split())] if v.strip() else [] for v in df[c].tolist()])
                for c in text_cols}
        text = []
        for k in range(len(df)):
            parts = []
            for j, c in enumerate(text_cols):
                vals = cols[c][k]
                if not vals:
                    continue
                value = ", ".join(vals)
                parts.append(value if j == 0 else f"{_label(c)}: {value}")
            text.append(". ".join(parts))
    groups = [g.strip() for g in df[group_col].tolist()] if group_col else None
    return ItemTable(ids=list(ids), text=text, attributes=attributes, groups=groups, path=path)


def _label(col: str) -> str:
    s = col.replace("_", " ").strip()
    return s[:1].upper() + s[1:]


def _relations_from_frame(df: pd.DataFrame, path: Path, head_col: str, rel_col: str,
                          tail_col: str) -> RelationTable:
    require_columns(df, [head_col, rel_col, tail_col], path)
    head = id_column(df, head_col, path)
    tail = id_column(df, tail_col, path)
    rel = df[rel_col].astype(str).str.strip()
    empty = (rel == "").to_numpy()
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise InputError("empty relation name", path=path, line=row_line(df, i), field=rel_col)
    return RelationTable(head=list(head), relation=rel.tolist(), tail=list(tail), path=path)

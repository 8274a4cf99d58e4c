"""Shared pieces of the readers: table loading with precise errors, safe list cells, k-core
filtering, leave-one-out splitting, negative sampling, and :func:`assemble_dataset`, the one
pipeline (k-core → id maps → leave-one-out → negatives → item table → relations) that the
MovieLens, generic-CSV and demo readers all go through.

Line numbers in errors are 1-based physical lines of the file, header counted: every frame
returned by :func:`read_table` carries each row's source line in its index.
"""
from __future__ import annotations

import ast
import csv
import io
import json
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError
from .dataset import Attribute, Dataset, Split

__all__ = [
    "read_table",
    "require_columns",
    "int_column",
    "id_column",
    "row_line",
    "parse_list_cell",
    "parse_list_column",
    "kcore_filter",
    "leave_one_out",
    "require_min_interactions",
    "sample_negatives",
    "sort_ids",
    "ItemTable",
    "RelationTable",
    "assemble_dataset",
]

MIN_INTERACTIONS = 3  # one train row (the first, never held out), one dev row, one test row


# --------------------------------------------------------------------------- tables


def read_table(path: Path, sep: str = "\t", required: Sequence[str] = (), *,
               encoding: str = "utf-8", **kwargs) -> pd.DataFrame:
    """Read a delimited text file as strings, with errors that name the file, line and field.

    Cells are kept as strings (nothing is converted or evaluated); missing trailing cells read
    as ``""``; blank lines are skipped. The frame's index holds each row's 1-based source line
    (header counted), which :func:`int_column`, :func:`id_column` and
    :func:`parse_list_column` put in their errors. ``header=None`` (with ``names=``) reads a
    file without a header line.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", path=path)
    if path.is_dir():
        raise InputError("expected a file, found a directory", path=path)
    raw = path.read_bytes()
    has_header = kwargs.get("header", "infer") is not None
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"not valid {encoding.upper()} text (byte 0x{raw[exc.start]:02x} at offset "
            f"{exc.start}); save the file as UTF-8", path=path, line=line,
            field=_field_at(raw, exc.start, sep, has_header, kwargs.get("names")))
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise InputError("file is empty" + (" (no header line)" if has_header else ""),
                         path=path, line=1)
    kwargs.setdefault("index_col", False)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False,
                             na_filter=False, skip_blank_lines=False, **kwargs)
    except pd.errors.EmptyDataError:
        raise InputError("file is empty (no header line)", path=path, line=1)
    except pd.errors.ParserError as exc:
        line = _parser_error_line(str(exc))
        raise InputError(f"malformed table: {_short(str(exc))}", path=path, line=line)
    header_lines = 1 if has_header else 0
    for w in caught:
        if issubclass(w.category, pd.errors.ParserWarning) and "Length of header" in str(w.message):
            raise InputError("a row has more fields than the header names", path=path,
                             line=header_lines + 1)
    df.columns = [str(c).strip() for c in df.columns]
    df.index = pd.Index(_record_lines(text, len(df), header_lines, sep,
                                      kwargs.get("quoting", csv.QUOTE_MINIMAL)), name="line")
    df.attrs["source_lines"] = True
    if len(df.columns) and len(df):
        first = df.iloc[:, 0].str.strip() == ""
        if first.any():
            blank = first.copy()
            for c in df.columns[1:]:
                blank &= df[c].str.strip() == ""
            if blank.any():
                df = df.loc[~blank.to_numpy()]
    require_columns(df, required, path)
    return df


def _field_at(raw: bytes, offset: int, sep: str, has_header: bool,
              names: Optional[Sequence[str]]) -> Optional[str]:
    """The column name of the cell holding byte ``offset`` (best effort, no quoting rules)."""
    start = raw.rfind(b"\n", 0, offset) + 1
    col = raw[start:offset].count(sep.encode())
    if names is not None:
        header = [str(n) for n in names]
    elif has_header:
        header = raw.split(b"\n", 1)[0].decode("utf-8", errors="replace").rstrip("\r").split(sep)
    else:
        return f"column {col + 1}"
    return header[col].strip() if col < len(header) else f"column {col + 1}"


def _record_lines(text: str, n_rows: int, header_lines: int, sep: str, quoting: int) -> np.ndarray:
    """Source line of each parsed row: direct when every record is one physical line, else
    found with the csv module (quoted cells spanning lines)."""
    n_lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if n_lines - header_lines == n_rows:
        return np.arange(n_rows, dtype=np.int64) + header_lines + 1
    starts: List[int] = []
    try:
        reader = csv.reader(io.StringIO(text), delimiter=sep, quoting=quoting)
        prev = 0
        for _ in reader:
            starts.append(prev + 1)
            prev = reader.line_num
    except csv.Error:
        starts = []
    starts = starts[header_lines:]
    if len(starts) == n_rows:
        return np.asarray(starts, dtype=np.int64)
    return np.arange(n_rows, dtype=np.int64) + header_lines + 1  # best effort


def _parser_error_line(msg: str) -> Optional[int]:
    m = re.search(r"line (\d+)", msg)
    return int(m.group(1)) if m else None


def _short(msg: str, n: int = 160) -> str:
    msg = " ".join(msg.split())
    return msg if len(msg) <= n else msg[: n - 3] + "..."


def require_columns(df: pd.DataFrame, required: Iterable[str], path: Path) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise InputError(
            f"missing column(s) {', '.join(repr(c) for c in missing)}; found {list(df.columns)}",
            path=path, line=1, field=missing[0],
        )


def row_line(df: pd.DataFrame, i: int, header_lines: int = 1) -> int:
    """Source line of the ``i``-th row (positional) of a frame from :func:`read_table`."""
    if df.attrs.get("source_lines"):
        return int(df.index[i])
    return i + 1 + header_lines


def int_column(df: pd.DataFrame, col: str, path: Path, *, min_value: Optional[int] = None,
               max_value: Optional[int] = None, header_lines: int = 1,
               hint: str = "") -> np.ndarray:
    """Parse a column of integers; a bad cell raises naming file, line (1-based, header counted)
    and field. ``hint`` is appended to the message of a non-integer cell."""
    s = df[col].astype(str).str.strip()
    num = pd.to_numeric(s, errors="coerce")
    bad = num.isna() | (num != np.floor(num.fillna(0)))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"expected an integer, got {_short(s.iloc[i], 60)!r}"
                         f"{hint and '; ' + hint}", path=path,
                         line=row_line(df, i, header_lines), field=col)
    arr = num.to_numpy()
    if np.abs(arr).max(initial=0) >= 2**62:
        i = int(np.argmax(np.abs(arr) >= 2**62))
        raise InputError(f"integer out of range: {s.iloc[i]!r}", path=path,
                         line=row_line(df, i, header_lines), field=col)
    arr = arr.astype(np.int64)
    if min_value is not None and (arr < min_value).any():
        i = int(np.flatnonzero(arr < min_value)[0])
        raise InputError(f"value {arr[i]} is below the minimum {min_value}", path=path,
                         line=row_line(df, i, header_lines), field=col)
    if max_value is not None and (arr > max_value).any():
        i = int(np.flatnonzero(arr > max_value)[0])
        raise InputError(f"value {arr[i]} is above the maximum {max_value}", path=path,
                         line=row_line(df, i, header_lines), field=col)
    return arr


def id_column(df: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    """A column of string ids (surrounding whitespace removed); an empty id is an error."""
    s = df[col].astype(str).str.strip()
    empty = (s == "").to_numpy()
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise InputError("empty id", path=path, line=row_line(df, i), field=col)
    return s.to_numpy(dtype=object)


def parse_list_cell(text: str, *, path: Path, line: int, field: str) -> List[int]:
    """Parse a list-of-integers cell such as ``[1, 2, 3]`` without ``eval``.

    JSON first, then :func:`ast.literal_eval` (which evaluates literals only, never calls).
    Anything that is not a flat list of integers is an :class:`InputError`.
    """
    t = text.strip()
    if t == "":
        return []
    try:
        val = json.loads(t)
    except (ValueError, RecursionError):
        try:
            val = ast.literal_eval(t)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            raise InputError(f"not a list literal: {_short(t, 60)!r}", path=path, line=line,
                             field=field)
    if not isinstance(val, (list, tuple)):
        raise InputError(f"expected a list of item ids, got {_short(t, 60)!r}", path=path,
                         line=line, field=field)
    out: List[int] = []
    for v in val:
        if isinstance(v, bool) or not isinstance(v, int):
            raise InputError(f"list holds a non-integer {v!r}", path=path, line=line, field=field)
        out.append(v)
    return out


def parse_list_column(df: pd.DataFrame, col: str, path: Path, header_lines: int = 1) -> List[List[int]]:
    return [parse_list_cell(v, path=path, line=row_line(df, i, header_lines), field=col)
            for i, v in enumerate(df[col].tolist())]


# --------------------------------------------------------------------------- interactions


def kcore_filter(user: np.ndarray, item: np.ndarray, k: int) -> Tuple[np.ndarray, int]:
    """Repeat dropping users and items with fewer than ``k`` interactions until stable.

    Every row counts (duplicates included). Returns a boolean keep-mask over the rows and the
    number of passes over the data, the last one being the pass that found nothing to drop
    (so ``passes - 1`` passes removed rows).
    """
    user = np.asarray(user)
    item = np.asarray(item)
    keep = np.ones(len(user), dtype=bool)
    if k <= 1:
        return keep, 1
    uc_codes, u_inv = np.unique(user, return_inverse=True)
    ic_codes, i_inv = np.unique(item, return_inverse=True)
    passes = 0
    while True:
        passes += 1
        uc = np.bincount(u_inv[keep], minlength=len(uc_codes))
        ic = np.bincount(i_inv[keep], minlength=len(ic_codes))
        drop = keep & ((uc[u_inv] < k) | (ic[i_inv] < k))
        if not drop.any():
            return keep, passes
        keep &= ~drop


#: ``ties=`` of :func:`leave_one_out` and the readers
TIE_ORDERS = ("input", "shuffle")


def leave_one_out(user: np.ndarray, item: np.ndarray, time: np.ndarray, *,
                  ties: str = "input", tie_seed: int = 0
                  ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leave-one-out split as in ``lrd-reference.md`` §1.1.

    Each user's interactions are ordered by time; interactions with the same time keep input
    order (``ties="input"``, a stable sort, as pandas' ``kind="mergesort"`` in ReChorus-style
    preprocessing) or a random order drawn with ``numpy.random.default_rng(tie_seed)``
    (``ties="shuffle"``, to measure how much the split's tie-breaking moves a result). The first
    always stays in train; of the rest, the last goes to test and the one before it to dev.
    Returns the row indices (into the inputs) of train, dev and test; train is ordered by
    (time, user) and then the tie order, dev and test by user.
    """
    if ties not in TIE_ORDERS:
        raise ConfigError(f"ties must be one of {', '.join(TIE_ORDERS)} (got {ties!r})")
    n = len(user)
    rank = (np.arange(n) if ties == "input"
            else np.random.default_rng(tie_seed).permutation(n))
    order = np.lexsort((rank, time, user))  # by user, then time, then the tie order
    u_sorted = user[order]
    # position of each row within its user's sequence, and the user's length
    starts = np.r_[0, np.flatnonzero(np.diff(u_sorted)) + 1]
    lengths = np.diff(np.r_[starts, n])
    pos = np.arange(n) - np.repeat(starts, lengths)
    length = np.repeat(lengths, lengths)
    is_test = (pos == length - 1) & (length >= 2)
    is_dev = (pos == length - 2) & (length >= 3)
    test_rows = order[is_test]
    dev_rows = order[is_dev]
    train_rows = order[~is_test & ~is_dev]  # already in tie order: the stable sort keeps it
    train_rows = train_rows[np.lexsort((user[train_rows], time[train_rows]))]
    dev_rows = dev_rows[np.argsort(user[dev_rows], kind="stable")]
    test_rows = test_rows[np.argsort(user[test_rows], kind="stable")]
    return train_rows, dev_rows, test_rows


def _tied_last(user: np.ndarray, time: np.ndarray, test_rows: np.ndarray) -> int:
    """Number of users with another interaction at the time of their test interaction."""
    at_test = np.zeros(int(user.max()) + 1, dtype=np.int64)
    at_test[user[test_rows]] = time[test_rows]
    has_test = np.zeros_like(at_test, dtype=bool)
    has_test[user[test_rows]] = True
    same = has_test[user] & (time == at_test[user])
    return int((np.bincount(user[same], minlength=len(at_test)) > 1).sum())


def require_min_interactions(user: np.ndarray, user_ids: Sequence[str], *,
                             min_count: int = MIN_INTERACTIONS, path: Optional[Path] = None,
                             lines: Optional[np.ndarray] = None, field: Optional[str] = None,
                             hint: str = "") -> None:
    """Raise :class:`InputError` if a user has fewer than ``min_count`` interactions.

    ``user`` holds 0-based user indices per row (``user_ids`` maps them back), ``lines`` the
    source line of each row. The message names how many users fall short and the first of them
    (the one whose first row comes earliest), with that row's line when known.
    """
    counts = np.bincount(user, minlength=len(user_ids))
    short = np.flatnonzero(counts < min_count)
    if short.size == 0:
        return
    short_rows = np.flatnonzero(np.isin(user, short))
    if lines is None:
        first_row = int(short_rows[0])
    else:
        first_row = int(short_rows[np.argmin(lines[short_rows])])
    u = int(user[first_row])
    msg = (f"{short.size} user(s) have fewer than {min_count} interactions (the first, "
           f"{user_ids[u]!r}, has {counts[u]}); leave-one-out needs {min_count} per user "
           f"(train, dev and test)")
    if hint:
        msg += f"; {hint}"
    raise InputError(msg, path=path, line=None if lines is None else int(lines[first_row]),
                     field=field)


def sample_negatives(users: np.ndarray,
                     clicked: Union[Dict[int, np.ndarray], Tuple[np.ndarray, np.ndarray]],
                     num_items: int, n_neg: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n_neg`` negatives per row uniformly, with replacement, from the items the row's user
    never touched (as the reference preprocessing does, duplicates possible).

    ``clicked`` is either ``{user: items}`` or a pair of parallel arrays ``(user, item)`` of every
    interaction. Vectorised: the whole matrix is drawn at once, then only the cells that hit a
    touched item are redrawn, until none does. Reproducible for a given ``rng`` state.
    """
    users = np.asarray(users, dtype=np.int64)
    if isinstance(clicked, dict):
        cu = np.concatenate([np.full(len(v), k, dtype=np.int64) for k, v in clicked.items()]
                            or [np.zeros(0, np.int64)])
        ci = np.concatenate([np.asarray(v, dtype=np.int64) for v in clicked.values()]
                            or [np.zeros(0, np.int64)])
    else:
        cu, ci = (np.asarray(a, dtype=np.int64) for a in clicked)
    keys = np.unique(cu * num_items + ci)
    if len(users) == 0 or n_neg == 0:
        return np.zeros((len(users), n_neg), dtype=np.int64)
    seen_per_user = np.bincount(keys // num_items, minlength=int(users.max()) + 1)
    full = seen_per_user[users] >= num_items
    if full.any():
        raise InputError(f"user index {users[np.argmax(full)]} has interacted with every item; "
                         "cannot draw negatives")
    out = rng.integers(0, num_items, size=(len(users), n_neg), dtype=np.int64)
    base = users[:, None] * num_items

    def seen(k: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(keys, k)
        pos = np.minimum(pos, max(len(keys) - 1, 0))
        return (keys[pos] == k) if len(keys) else np.zeros(k.shape, dtype=bool)

    bad = seen(base + out)
    while bad.any():
        rows, cols = np.nonzero(bad)
        redraw = rng.integers(0, num_items, size=len(rows), dtype=np.int64)
        out[rows, cols] = redraw
        still = seen(users[rows] * num_items + redraw)
        bad[:] = False
        bad[rows[still], cols[still]] = True
    return out


def sort_ids(ids: Iterable[str]) -> List[str]:
    """Distinct ids in a fixed order: numeric when every id is an integer, else by string.

    The order depends only on the set of ids, never on row order.
    """
    uniq = np.unique(np.asarray(list(ids), dtype=object).astype(str))
    numeric = len(uniq) and all(len(u) <= 18 for u in uniq)
    if numeric and pd.Series(uniq).str.fullmatch(r"[+-]?\d+").all():
        uniq = uniq[np.argsort(uniq.astype(np.int64), kind="stable")]
    return [str(u) for u in uniq]


# --------------------------------------------------------------------------- assembly


@dataclass
class ItemTable:
    """Item side information in original ids, one row per item (ids unique).

    ``attributes[name][row]`` is the list of the row's values (empty = missing);
    ``value_order[name]``, when given, fixes the order of that attribute's values (values not
    listed follow, sorted). ``groups`` is an optional ground-truth label per row, reported in
    ``report['planted_group']`` and never used as an attribute.
    """

    ids: List[str]
    text: Optional[List[str]] = None
    attributes: Dict[str, List[List[str]]] = field(default_factory=dict)
    value_order: Dict[str, List[str]] = field(default_factory=dict)
    groups: Optional[List[str]] = None
    path: Optional[Path] = None


@dataclass
class RelationTable:
    """Predefined item-item relations as (head, relation, tail) rows in original ids."""

    head: List[str]
    relation: List[str]
    tail: List[str]
    path: Optional[Path] = None


def assemble_dataset(name: str, user: Sequence[str], item: Sequence[str], time: np.ndarray, *,
                     items: Optional[ItemTable] = None, relations: Optional[RelationTable] = None,
                     k_core: int = 0, n_neg: int = 99, seed: int = 0,
                     ties: str = "input", tie_seed: int = 0,
                     source: Optional[Path] = None, lines: Optional[np.ndarray] = None,
                     user_field: Optional[str] = None, hint: str = "",
                     report: Optional[Dict[str, object]] = None) -> Dataset:
    """Turn raw interactions (original ids, integer times) and side tables into a
    :class:`Dataset`.

    Steps: k-core filtering (``k_core`` ≤ 1 keeps everything; every row counts, duplicates
    included) → id maps (:func:`sort_ids`; the item universe is the items left with an
    interaction) → a check that every user has ≥ 3 interactions → :func:`leave_one_out` (``ties``
    and ``tie_seed``; ``report['ties']`` also counts the users whose last time is shared by
    several of their interactions, whose test item the tie order picks) →
    ``n_neg`` negatives per dev and test row drawn with ``numpy.random.default_rng(seed)`` in one
    :func:`sample_negatives` call (dev rows, then test rows) → item text and attributes from
    ``items`` (rows for items outside the universe are ignored and counted) → ``relations``
    (edges naming an item outside the universe are dropped and counted, repeated edges kept
    once).

    ``source``, ``lines`` (source line per interaction row) and ``user_field`` locate errors;
    ``hint`` is appended to the too-few-interactions error. ``report`` is extended and stored.
    """
    if k_core < 0:
        raise ConfigError(f"k_core must be >= 0, got {k_core}")
    if n_neg < 0:
        raise ConfigError(f"n_neg must be >= 0, got {n_neg}")
    report = dict(report or {})
    warn: List[str] = list(report.get("warnings", []))  # type: ignore[arg-type]
    user = np.asarray(user, dtype=object)
    item = np.asarray(item, dtype=object)
    time = np.asarray(time, dtype=np.int64)
    if not (len(user) == len(item) == len(time)):
        raise ValueError("user, item and time must have the same length")
    if len(user) == 0:
        raise InputError("no interactions: the data set is empty", path=source)

    def counts(u: np.ndarray, i: np.ndarray) -> Dict[str, int]:
        return {"users": int(len(pd.unique(u))), "items": int(len(pd.unique(i))),
                "interactions": int(len(u))}

    report["before"] = counts(user, item)
    keep, passes = kcore_filter(pd.factorize(user)[0], pd.factorize(item)[0], k_core)
    report["kcore"] = {"k": int(k_core), "rounds": int(passes - 1), "passes": int(passes),
                       "removed_interactions": int((~keep).sum())}
    if not keep.any():
        raise InputError(f"{k_core}-core filtering removed every interaction; use a smaller k_core",
                         path=source)
    user, item, time = user[keep], item[keep], time[keep]
    lines = None if lines is None else np.asarray(lines)[keep]
    report["after"] = counts(user, item)
    dup = pd.DataFrame({"u": user, "i": item, "t": time}).duplicated().sum()
    report["duplicate_interactions_kept"] = int(dup)

    user_ids = sort_ids(user)
    item_ids = sort_ids(item)
    u_index, i_index = pd.Index(user_ids), pd.Index(item_ids)
    u = u_index.get_indexer(user).astype(np.int64)
    it = i_index.get_indexer(item).astype(np.int64)
    require_min_interactions(u, user_ids, path=source, lines=lines, field=user_field, hint=hint)

    tr, dv, te = leave_one_out(u, it, time, ties=ties, tie_seed=tie_seed)
    report["ties"] = {"order": ties, **({"seed": int(tie_seed)} if ties == "shuffle" else {}),
                      "users_with_tied_last_time": _tied_last(u, time, te)}
    rng = np.random.default_rng(seed)
    n_seen = np.bincount(np.unique(u * len(item_ids) + it) // len(item_ids), minlength=len(user_ids))
    if n_neg > 0 and (n_seen >= len(item_ids)).any():
        bad = int(np.argmax(n_seen >= len(item_ids)))
        raise InputError(f"user {user_ids[bad]!r} has interacted with every item, so no negatives "
                         f"can be drawn for the sampled protocol (the data set has only "
                         f"{len(item_ids)} items)", path=source, field=user_field)
    negs = sample_negatives(np.r_[u[dv], u[te]], (u, it), len(item_ids), n_neg, rng)
    dev_neg, test_neg = negs[: len(dv)], negs[len(dv):]
    report.update({"seed": int(seed), "n_neg": int(n_neg),
                   "negatives": "uniform with replacement over the items the user never "
                                "interacted with; dev rows then test rows, in one draw"})

    text = [""] * len(item_ids)
    attributes: Dict[str, Attribute] = {}
    if items is not None:
        pos = i_index.get_indexer(np.asarray(items.ids, dtype=object))
        inside = pos >= 0
        report["item_rows_without_interactions"] = int((~inside).sum())
        missing_meta = len(item_ids) - int(inside.sum())
        report["items_without_item_row"] = missing_meta
        if missing_meta:
            warn.append(f"{missing_meta} interacted item(s) have no row in the items table "
                        "(no text, no attributes)")
        if items.text is not None:
            for p, t in zip(pos, items.text):
                if p >= 0:
                    text[p] = " ".join(str(t).split())
        for aname, cells in items.attributes.items():
            pairs: Dict[Tuple[int, str], None] = {}
            for p, vals in zip(pos, cells):
                if p >= 0:
                    for v in vals:
                        pairs.setdefault((int(p), v), None)
            used = {v for _, v in pairs}
            given = [v for v in items.value_order.get(aname, []) if v in used]
            values = given + sort_ids(used - set(given)) if used - set(given) else given
            v_index = {v: k for k, v in enumerate(values)}
            arr = np.array([(p, v_index[v]) for p, v in pairs], dtype=np.int64).reshape(-1, 2)
            arr = arr[np.lexsort((arr[:, 1], arr[:, 0]))]
            attributes[aname] = Attribute(name=aname, values=values, item=arr[:, 0],
                                          value=arr[:, 1])
        if items.groups is not None:
            groups = [""] * len(item_ids)
            for p, g in zip(pos, items.groups):
                if p >= 0:
                    groups[p] = g
            report["planted_group"] = groups

    rel_out: Dict[str, np.ndarray] = {}
    if relations is not None:
        dropped: Dict[str, int] = {}
        repeated: Dict[str, int] = {}
        rel_names = list(dict.fromkeys(relations.relation))
        h = i_index.get_indexer(np.asarray(relations.head, dtype=object))
        t = i_index.get_indexer(np.asarray(relations.tail, dtype=object))
        r = np.asarray(relations.relation, dtype=object)
        for rn in rel_names:
            sel = r == rn
            known = sel & (h >= 0) & (t >= 0)
            dropped[rn] = int(sel.sum() - known.sum())
            keys = h[known].astype(np.int64) * len(item_ids) + t[known]
            uk = np.unique(keys)
            repeated[rn] = int(len(keys) - len(uk))
            rel_out[rn] = np.stack([uk // len(item_ids), uk % len(item_ids)]).astype(np.int64)
        report["dropped_relation_edges"] = dropped
        report["repeated_relation_edges"] = repeated
        n_drop = sum(dropped.values())
        if n_drop:
            where = relations.path.name if relations.path is not None else "relations"
            detail = ", ".join(f"{k}: {v}" for k, v in dropped.items() if v)
            warn.append(f"{where}: dropped {n_drop} edge(s) naming items that are not in the data "
                        f"set ({detail})")
        if sum(repeated.values()):
            warn.append(f"relations: {sum(repeated.values())} repeated edge(s) kept once")
        for a in attributes:
            if a in rel_out:
                warn.append(f"'{a}' is both an attribute and an item-item relation")
    report["warnings"] = warn

    def split(rows: np.ndarray, neg: Optional[np.ndarray]) -> Split:
        return Split(user=u[rows], item=it[rows], time=time[rows], neg_items=neg)

    ds = Dataset(name=name, user_ids=user_ids, item_ids=item_ids, item_text=text,
                 train=split(tr, None), dev=split(dv, dev_neg), test=split(te, test_neg),
                 attributes=attributes, relations=rel_out, report=report)
    ds.validate()
    return ds

"""Shared pieces of the readers: table loading with precise errors, safe list cells, k-core
filtering, leave-one-out splitting and negative sampling."""
from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import pandas as pd

from ..errors import InputError

__all__ = [
    "read_table",
    "require_columns",
    "int_column",
    "parse_list_cell",
    "parse_list_column",
    "kcore_filter",
    "leave_one_out",
    "sample_negatives",
]


def read_table(path: Path, sep: str = "\t", required: Sequence[str] = (), **kwargs) -> pd.DataFrame:
    """Read a delimited text file as strings, with errors that name the file and line."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", path=path)
    if path.is_dir():
        raise InputError("expected a file, found a directory", path=path)
    try:
        df = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_filter=False,
                         encoding="utf-8", **kwargs)
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 text ({exc.reason} at byte {exc.start})", path=path)
    except pd.errors.EmptyDataError:
        raise InputError("file is empty (no header line)", path=path)
    except pd.errors.ParserError as exc:
        line = _parser_error_line(str(exc))
        raise InputError(f"malformed table: {_short(str(exc))}", path=path, line=line)
    df.columns = [str(c).strip() for c in df.columns]
    require_columns(df, required, path)
    return df


def _parser_error_line(msg: str) -> Optional[int]:
    import re

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
            path=path, line=1,
        )


def int_column(df: pd.DataFrame, col: str, path: Path, *, min_value: Optional[int] = None,
               header_lines: int = 1) -> np.ndarray:
    """Parse a column of integers; a bad cell raises naming file, line (1-based, header counted)
    and field."""
    s = df[col].astype(str).str.strip()
    num = pd.to_numeric(s, errors="coerce")
    bad = num.isna() | (num != np.floor(num.fillna(0)))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"expected an integer, got {s.iloc[i]!r}", path=path,
                         line=i + 1 + header_lines, field=col)
    arr = num.to_numpy()
    if np.abs(arr).max(initial=0) >= 2**62:
        i = int(np.argmax(np.abs(arr) >= 2**62))
        raise InputError(f"integer out of range: {s.iloc[i]!r}", path=path,
                         line=i + 1 + header_lines, field=col)
    arr = arr.astype(np.int64)
    if min_value is not None and (arr < min_value).any():
        i = int(np.flatnonzero(arr < min_value)[0])
        raise InputError(f"value {arr[i]} is below the minimum {min_value}", path=path,
                         line=i + 1 + header_lines, field=col)
    return arr


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
    return [parse_list_cell(v, path=path, line=i + 1 + header_lines, field=col)
            for i, v in enumerate(df[col].tolist())]


def kcore_filter(user: np.ndarray, item: np.ndarray, k: int) -> Tuple[np.ndarray, int]:
    """Repeat dropping users and items with fewer than ``k`` interactions until stable.

    Returns a boolean keep-mask over the rows and the number of rounds it took.
    """
    keep = np.ones(len(user), dtype=bool)
    rounds = 0
    while True:
        rounds += 1
        u, i = user[keep], item[keep]
        uc = pd.Series(u).value_counts()
        ic = pd.Series(i).value_counts()
        bad_u = set(uc[uc < k].index.tolist())
        bad_i = set(ic[ic < k].index.tolist())
        if not bad_u and not bad_i:
            return keep, rounds
        drop = np.isin(user, list(bad_u)) | np.isin(item, list(bad_i))
        keep &= ~drop


def leave_one_out(user: np.ndarray, item: np.ndarray, time: np.ndarray
                  ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Leave-one-out split as in ``lrd-reference.md`` §1.1.

    Each user's interactions are ordered by time (stable for ties, in input order). The first
    always stays in train; of the rest, the last goes to test and the one before it to dev.
    Returns the row indices (into the inputs) of train, dev and test; train is ordered by
    (time, user), dev and test by user.
    """
    n = len(user)
    order = np.lexsort((np.arange(n), time, user))  # by user, then time, then input order
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
    train_rows = order[~is_test & ~is_dev]
    train_rows = train_rows[np.lexsort((user[train_rows], time[train_rows]))]
    dev_rows = dev_rows[np.argsort(user[dev_rows], kind="stable")]
    test_rows = test_rows[np.argsort(user[test_rows], kind="stable")]
    return train_rows, dev_rows, test_rows


def sample_negatives(users: np.ndarray, clicked: Dict[int, np.ndarray], num_items: int,
                     n_neg: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``n_neg`` negatives per row uniformly, with replacement, from the items the row's user
    never touched (as the reference preprocessing does). Vectorised with rejection rounds."""
    out = rng.integers(0, num_items, size=(len(users), n_neg), dtype=np.int64)
    for r, u in enumerate(users):
        seen = clicked[int(u)]
        if len(seen) >= num_items:
            raise InputError(f"user index {u} has interacted with every item; cannot draw negatives")
        bad = np.isin(out[r], seen)
        while bad.any():
            out[r, bad] = rng.integers(0, num_items, size=int(bad.sum()), dtype=np.int64)
            bad = np.isin(out[r], seen)
    return out

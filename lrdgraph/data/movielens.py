"""Reader for the raw MovieLens 100K directory (``u.data``, ``u.item``, ``u.genre``).

- ``u.data``: ``user_id<TAB>item_id<TAB>rating<TAB>timestamp``, no header. Every rating counts as
  an interaction, whatever its value.
- ``u.item``: ``movie_id|title|release_date|video_release_date|imdb_url|<19 genre flags>``, no
  header, **Latin-1** encoded. The flag columns are named by ``u.genre`` (``name|index``).
- Interactions are k-core filtered (default 5, repeated until stable), split leave-one-out
  (each user's first interaction stays in train; the last goes to test, the one before to dev;
  ties in time keep input order, or a seeded random order with ``ties="shuffle"``) and given
  ``n_neg`` negatives per dev/test row, drawn with ``seed`` uniformly with replacement from the
  items the user never touched (:func:`~lrdgraph.data.common.assemble_dataset`).
- Attributes: ``genre`` (multi-valued, the genre names in ``u.genre`` order; ``unknown`` is a
  value only where an item flags it) and ``year`` (the year of ``release_date``; an empty date
  gives no pair): the paper's two relations. ``genres="per-flag"`` gives instead one attribute
  per genre flag, ``genre_<name>`` with the single value ``yes`` (``genre_action``,
  ``genre_childrens``, ..., ``genre_scifi``), after ``year``: the reference notebook's layout,
  20 relations (point 3 below). Two items share ``genre_action`` iff both are action films,
  so the pairs are those of ``genre``, split by genre.
- Item text: ``"<title> (<year>). Genres: a, b"``. MovieLens titles already end in the film's
  year (``Toy Story (1995)``), which we keep as written: for 190 of the 1,682 movies it differs
  from the ``release_date`` year (re-releases such as ``Taxi Driver (1976)``, dated 1996), and
  the title's year is the one a language model knows the film by. A title without a year in
  parentheses gets the release-date year appended.

Statistics against the paper (Table 2, ``lrd-reference.md`` §9.1). With ``k_core=5`` we get
**943 users, 1,349 items, 99,287 interactions** (density 7.805%), exactly the paper's numbers:
the raw data has 943 users / 1,682 items / 100,000 ratings; every user already has ≥ 20
ratings, so the first pass drops the 333 items with fewer than 5 ratings (713 ratings) and the
second pass finds nothing more to drop. The split gives 97,401 train, 943 dev and 943 test rows,
as the reference notebook (``data/MovieLens.ipynb`` of the LRD repository) does. What differs
from that notebook, so its files and ours are not interchangeable:

1. Negatives: it draws test before dev with the legacy global ``np.random.seed(0)``; we draw dev
   then test from ``numpy.random.default_rng(seed)``. Same distribution, different lists.
2. Genres: it names the 19 flag columns ``Action … Western, Other``, one position off (its
   ``Action`` column holds the *unknown* flag, its ``Other`` holds *Western*), and writes those
   wrong names into the item text ("Toy Story (1995) Children's Comedy Crime"). We use the names
   in ``u.genre``: "Toy Story (1995). Genres: Animation, Children's, Comedy".
3. Years: it buckets release years (1900–39, the 1940s, 50s, 60s, 70s, 1980–84, 1985–89, then
   one value per year); we keep the exact year (70 values after filtering). Its ``item_meta.csv``
   also keeps the 19 genre flags as 19 separate attributes, while the paper counts two relations
   (genre, year), which is what we build.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError
from ..io import sha256_file
from .common import ItemTable, assemble_dataset, int_column, read_table
from .dataset import Dataset

__all__ = ["read_movielens", "GENRE_LAYOUTS"]

#: ``genres=`` of :func:`read_movielens`
GENRE_LAYOUTS = ("one", "per-flag")

DATA_COLS = ["user_id", "item_id", "rating", "timestamp"]
ITEM_COLS = ["movie_id", "title", "release_date", "video_release_date", "imdb_url"]
_DATE = re.compile(r"^\d{1,2}-[A-Za-z]{3}-(\d{4})$")
_TITLE_YEAR = re.compile(r"\(\d{4}\)")


def read_movielens(data_dir: str | Path, *, k_core: int = 5, n_neg: int = 99, seed: int = 0,
                   genres: str = "one", ties: str = "input", tie_seed: int = 0,
                   name: Optional[str] = None) -> Dataset:
    """Read a raw MovieLens 100K directory into a :class:`Dataset` (see the module docstring).

    Args:
        data_dir (str or Path): the directory holding ``u.data``, ``u.item`` and ``u.genre``.
        k_core (int, optional): minimum interactions per user and per item, applied repeatedly
            until stable; 0 or 1 keeps everything. (default: ``5``)
        n_neg (int, optional): negatives per dev/test row. (default: ``99``)
        seed (int, optional): seed of the negative sampler. (default: ``0``)
        genres (str, optional): ``"one"``, a multi-valued ``genre`` attribute (the paper's
            relations), or ``"per-flag"``, one ``genre_<name>`` attribute per genre flag (the
            reference notebook's). (default: ``"one"``)
        ties (str, optional): order of interactions with the same timestamp, which decides the
            test and dev items of the users whose last ratings share a second (416 of 943):
            ``"input"``, ``u.data``'s order, or ``"shuffle"``, a random order from
            ``tie_seed`` (:func:`~lrdgraph.data.common.leave_one_out`). (default: ``"input"``)
        tie_seed (int, optional): seed of ``ties="shuffle"``; the negatives keep ``seed``.
            (default: ``0``)
        name (str, optional): data set name. (default: ``"ml-100k"``)
    """
    if genres not in GENRE_LAYOUTS:
        raise ConfigError(f"genres must be one of {', '.join(GENRE_LAYOUTS)} (got {genres!r})")
    d = Path(data_dir)
    if not d.is_dir():
        raise InputError("data directory not found", path=d)
    genre_names = _read_genres(d / "u.genre")

    data_path = d / "u.data"
    data = read_table(data_path, sep="\t", header=None, names=DATA_COLS, quoting=3)
    if len(data) == 0:
        raise InputError("no ratings", path=data_path)
    user_num = int_column(data, "user_id", data_path, min_value=0, header_lines=0)
    item_num = int_column(data, "item_id", data_path, min_value=0, header_lines=0)
    int_column(data, "rating", data_path, header_lines=0)
    time = int_column(data, "timestamp", data_path, min_value=0, header_lines=0,
                      hint="timestamps must be unix seconds")

    items = _read_items(d / "u.item", genre_names)
    if genres == "per-flag":
        items = _genre_per_flag(items, genre_names)
    known = set(int(i) for i in items.ids)
    unknown = np.flatnonzero(~np.isin(item_num, np.fromiter(known, dtype=np.int64)))
    if unknown.size:
        i = int(unknown[0])
        raise InputError(f"item {item_num[i]} has no row in u.item ({unknown.size} rating(s) "
                         "name unknown items)", path=data_path, line=int(data.index[i]),
                         field="item_id")
    # ids as written, canonical integers (so "007" and "7" are the same movie)
    user = user_num.astype(str).astype(object)
    item = item_num.astype(str).astype(object)

    report: Dict[str, object] = {
        "format": "ml-100k",
        "genres": genres,
        "inputs": {p: sha256_file(d / p) for p in ("u.data", "u.item", "u.genre")},
    }
    return assemble_dataset(name or "ml-100k", user, item, time, items=items, k_core=k_core,
                            n_neg=n_neg, seed=seed, ties=ties, tie_seed=tie_seed,
                            source=data_path,
                            lines=data.index.to_numpy(), user_field="user_id",
                            hint="raise k_core to drop such users", report=report)


def _read_genres(path: Path) -> List[str]:
    df = read_table(path, sep="|", header=None, names=["genre", "index"], quoting=3)
    if len(df) == 0:
        raise InputError("no genres listed", path=path)
    idx = int_column(df, "index", path, min_value=0, header_lines=0)
    names = [g.strip() for g in df["genre"]]
    if sorted(idx.tolist()) != list(range(len(idx))):
        raise InputError(f"genre indices must be 0..{len(idx) - 1}, each once; got "
                         f"{sorted(idx.tolist())}", path=path, line=int(df.index[0]), field="index")
    for k, g in enumerate(names):
        if not g:
            raise InputError("empty genre name", path=path, line=int(df.index[k]), field="genre")
    if len(set(names)) != len(names) or set(names) & set(ITEM_COLS):
        raise InputError("genre names must be distinct (and not clash with u.item's fields)",
                         path=path)
    order = np.argsort(idx)
    return [names[k] for k in order]


def _read_items(path: Path, genres: List[str]) -> ItemTable:
    cols = ITEM_COLS + genres
    df = read_table(path, sep="|", header=None, names=cols, quoting=3, encoding="latin-1")
    ids = int_column(df, "movie_id", path, min_value=0, header_lines=0)
    dup = np.flatnonzero(pd.Series(ids).duplicated().to_numpy())
    if dup.size:
        first = int(dup[0])
        raise InputError(f"movie {ids[first]} appears twice", path=path,
                         line=int(df.index[first]), field="movie_id")
    flags = np.stack([int_column(df, g, path, min_value=0, max_value=1, header_lines=0)
                      for g in genres], axis=1) if genres else np.zeros((len(df), 0), np.int64)
    texts: List[str] = []
    genre_cells: List[List[str]] = []
    year_cells: List[List[str]] = []
    for k, (title, date) in enumerate(zip(df["title"], df["release_date"])):
        title = " ".join(title.split())
        date = date.strip()
        year: Optional[str] = None
        if date:
            m = _DATE.match(date)
            if not m:
                raise InputError(f"expected a date like 01-Jan-1995, got {date!r}", path=path,
                                 line=int(df.index[k]), field="release_date")
            year = m.group(1)
        g = [genres[j] for j in np.flatnonzero(flags[k])]
        text = title
        if year is not None and not _TITLE_YEAR.search(title):
            text += f" ({year})"
        text += "."
        if g:
            text += " Genres: " + ", ".join(g)
        texts.append(text)
        genre_cells.append(g)
        year_cells.append([year] if year is not None else [])
    return ItemTable(ids=[str(i) for i in ids], text=texts,
                     attributes={"genre": genre_cells, "year": year_cells},
                     value_order={"genre": list(genres)}, path=path)


def _genre_per_flag(items: ItemTable, genres: List[str]) -> ItemTable:
    """``items`` with its ``genre`` attribute split into one ``genre_<name>`` attribute per genre
    flag (value ``yes`` where flagged), after ``year`` as in the reference notebook."""
    names = {g: "genre_" + re.sub(r"[^a-z0-9]+", "", g.lower()) for g in genres}
    if len(set(names.values())) != len(names):
        raise InputError("two genre names give the same attribute name: "
                         + ", ".join(sorted(names.values())), path=items.path)
    cells = items.attributes["genre"]
    attributes = {"year": items.attributes["year"]}
    attributes.update({names[g]: [["yes"] if g in row else [] for row in cells] for g in genres})
    return ItemTable(ids=items.ids, text=items.text, attributes=attributes, path=items.path)

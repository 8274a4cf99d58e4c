"""Raw MovieLens 100K reader: the real data (paper Table 2 numbers), and bad input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lrdgraph.data import read_movielens
from lrdgraph.errors import ConfigError, InputError


@pytest.fixture(scope="module")
def ml(ml100k_dir):
    return read_movielens(ml100k_dir)


def _all_rows(ds):
    parts = [ds.train, ds.dev, ds.test]
    return (np.concatenate([p.user for p in parts]), np.concatenate([p.item for p in parts]),
            np.concatenate([p.time for p in parts]))


def test_counts_match_paper_table2(ml):
    assert (ml.num_users, ml.num_items, ml.num_interactions) == (943, 1349, 99287)
    assert (len(ml.train), len(ml.dev), len(ml.test)) == (97401, 943, 943)
    r = ml.report
    assert r["before"] == {"users": 943, "items": 1682, "interactions": 100000}
    assert r["after"] == {"users": 943, "items": 1349, "interactions": 99287}
    assert r["kcore"] == {"k": 5, "rounds": 1, "passes": 2, "removed_interactions": 713}
    assert r["seed"] == 0 and r["n_neg"] == 99
    assert r["format"] == "ml-100k" and r["warnings"] == []


def test_split_properties(ml):
    n = ml.num_users
    assert np.array_equal(np.sort(ml.dev.user), np.arange(n))
    assert np.array_equal(np.sort(ml.test.user), np.arange(n))
    # every train time <= that user's dev time <= test time
    last_train = np.full(n, -1)
    np.maximum.at(last_train, ml.train.user, ml.train.time)
    dev_t = np.empty(n, np.int64)
    dev_t[ml.dev.user] = ml.dev.time
    test_t = np.empty(n, np.int64)
    test_t[ml.test.user] = ml.test.time
    assert (last_train <= dev_t).all() and (dev_t <= test_t).all()
    # each user's first interaction is in train
    u, _, t = _all_rows(ml)
    first = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first, u, t)
    first_train = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_train, ml.train.user, ml.train.time)
    assert np.array_equal(first, first_train)
    # train is ordered by (time, user)
    order = np.lexsort((ml.train.user, ml.train.time))
    assert np.array_equal(order, np.arange(len(ml.train)))


def test_negatives(ml, ml100k_dir):
    u, i, _ = _all_rows(ml)
    seen = set((u * ml.num_items + i).tolist())
    for s in (ml.dev, ml.test):
        assert s.neg_items.shape == (ml.num_users, 99)
        keys = s.user[:, None] * ml.num_items + s.neg_items
        assert not np.isin(keys, list(seen)).any()
    again = read_movielens(ml100k_dir, n_neg=99, seed=0)
    assert np.array_equal(again.dev.neg_items, ml.dev.neg_items)
    assert np.array_equal(again.test.neg_items, ml.test.neg_items)
    other = read_movielens(ml100k_dir, n_neg=5, seed=1)
    assert other.dev.neg_items.shape == (943, 5)
    assert not np.array_equal(other.dev.neg_items, ml.dev.neg_items[:, :5])


def test_tied_last_ratings(ml, ml100k_dir):
    """After 5-core filtering, 416 of the 943 users rate their last movies within one second
    (415 in the raw file; counted with pandas: users whose maximum timestamp occurs more than
    once); ties="shuffle" picks their test and dev items at random and changes nothing else
    (not the negatives)."""
    assert ml.report["ties"] == {"order": "input", "users_with_tied_last_time": 416}
    shuf = read_movielens(ml100k_dir, ties="shuffle", tie_seed=1)
    assert shuf.report["ties"] == {"order": "shuffle", "seed": 1,
                                   "users_with_tied_last_time": 416}
    assert np.array_equal(shuf.test.user, ml.test.user)
    assert np.array_equal(shuf.test.time, ml.test.time)
    assert np.array_equal(shuf.test.neg_items, ml.test.neg_items)
    assert np.array_equal(shuf.dev.neg_items, ml.dev.neg_items)
    moved = shuf.test.item != ml.test.item
    assert 0 < moved.sum() <= 416
    assert sorted(zip(*_all_rows(shuf))) == sorted(zip(*_all_rows(ml)))


def test_attributes_and_text(ml):
    genre = ml.attributes["genre"]
    assert genre.values[0] == "unknown" and genre.values[1] == "Action" and genre.num_values == 19
    year = ml.attributes["year"]
    assert year.values == sorted(year.values, key=int)
    toy = ml.item_ids.index("1")
    assert ml.item_text[toy] == "Toy Story (1995). Genres: Animation, Children's, Comedy"
    assert {genre.values[v] for v in genre.value[genre.item == toy]} == {
        "Animation", "Children's", "Comedy"}
    assert [year.values[v] for v in year.value[year.item == toy]] == ["1995"]
    # item 267 has no release date: no year pair, flagged unknown genre
    unk = ml.item_ids.index("267")
    assert not (year.item == unk).any()
    assert [genre.values[v] for v in genre.value[genre.item == unk]] == ["unknown"]
    # Taxi Driver keeps the film's year in its text; the year attribute is the release date's
    taxi = ml.item_ids.index("23")
    assert ml.item_text[taxi].startswith("Taxi Driver (1976).")
    assert [year.values[v] for v in year.value[year.item == taxi]] == ["1996"]
    assert all(t.strip() for t in ml.item_text)


# ---------------------------------------------------------------- tiny fixtures, bad input

GENRES = "unknown|0\nAction|1\nComedy|2\n\n"


def _item_line(i: int, title: str, date: str = "01-Jan-1995", flags: str = "0|1|0") -> str:
    return f"{i}|{title}|{date}||http://x|{flags}\n"


def _ml_dir(d: Path, data: str | None = None, items: str | None = None,
            genres: str = GENRES) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    if data is None:
        rows = []
        for u, its in ((1, (1, 2, 3)), (2, (2, 3, 4))):
            for k, i in enumerate(its):
                rows.append(f"{u}\t{i}\t4\t{100 * u + k}\n")
        data = "".join(rows)
    if items is None:
        items = (_item_line(1, "Alpha (1990)") + _item_line(2, "Béta", flags="0|1|1")
                 + _item_line(3, "Gamma (1980)", date="") + _item_line(4, "Delta", flags="1|0|0")
                 + _item_line(5, "Never Rated"))
    (d / "u.data").write_text(data)
    (d / "u.item").write_bytes(items.encode("latin-1"))
    (d / "u.genre").write_text(genres)
    return d


def test_tiny_good(tmp_path):
    ds = read_movielens(_ml_dir(tmp_path), k_core=0, n_neg=3)
    assert ds.item_ids == ["1", "2", "3", "4"]  # movie 5 has no rating
    assert ds.item_text == ["Alpha (1990). Genres: Action", "Béta (1995). Genres: Action, Comedy",
                            "Gamma (1980). Genres: Action", "Delta (1995). Genres: unknown"]
    assert ds.attributes["genre"].values == ["unknown", "Action", "Comedy"]
    assert ds.attributes["year"].values == ["1995"]
    assert ds.attributes["year"].item.tolist() == [0, 1, 3]  # Gamma has no date
    assert ds.train.item.tolist() == [0, 1] and ds.dev.item.tolist() == [1, 2]
    assert ds.test.item.tolist() == [2, 3]
    # each user has exactly one item left to draw negatives from
    assert ds.dev.neg_items.tolist() == [[3, 3, 3], [0, 0, 0]]
    assert ds.report["item_rows_without_interactions"] == 1


def test_one_relation_per_genre_flag(tmp_path):
    """genres="per-flag": year, then one yes-valued attribute per genre flag, holding the items
    that have that genre in the default layout; everything else is the same data set."""
    d = _ml_dir(tmp_path)
    one = read_movielens(d, k_core=0, n_neg=3)
    per = read_movielens(d, k_core=0, n_neg=3, genres="per-flag")
    assert list(per.attributes) == ["year", "genre_unknown", "genre_action", "genre_comedy"]
    genre = one.attributes["genre"]
    for v, label in enumerate(genre.values):
        a = per.attributes[f"genre_{label.lower()}"]
        assert a.values == ["yes"] and a.value.tolist() == [0] * len(a.item)
        assert a.item.tolist() == sorted(genre.item[genre.value == v].tolist())
    assert per.attributes["genre_action"].item.tolist() == [0, 1, 2]
    assert np.array_equal(per.attributes["year"].item, one.attributes["year"].item)
    assert per.item_text == one.item_text and per.report["genres"] == "per-flag"
    assert np.array_equal(per.dev.neg_items, one.dev.neg_items)
    with pytest.raises(ConfigError, match="genres must be one of one, per-flag"):
        read_movielens(d, genres="flags")


def test_per_flag_names_must_stay_distinct(tmp_path):
    d = _ml_dir(tmp_path, genres="Sci-Fi|0\nSciFi|1\nComedy|2\n")
    with pytest.raises(InputError) as e:
        read_movielens(d, k_core=0, n_neg=3, genres="per-flag")
    assert "genre_scifi" in str(e.value)


def test_user_with_every_item_cannot_get_negatives(tmp_path):
    data = "".join(f"{u}\t{i}\t4\t{i}\n" for u in (1, 2) for i in (1, 2, 3))
    with pytest.raises(InputError, match="every item"):
        read_movielens(_ml_dir(tmp_path, data=data), k_core=0)


def test_too_few_interactions(tmp_path, assert_where):
    data = "1\t1\t4\t1\n1\t2\t4\t2\n1\t3\t4\t3\n2\t1\t4\t5\n2\t3\t4\t6\n"
    d = _ml_dir(tmp_path, data=data)
    with pytest.raises(InputError) as e:
        read_movielens(d, k_core=0, n_neg=1)
    msg = assert_where(e.value, d / "u.data", 4, "user_id")
    assert "1 user(s)" in msg and "'2'" in msg and "has 2" in msg


def test_kcore_removes_everything(tmp_path, assert_where):
    d = _ml_dir(tmp_path)
    with pytest.raises(InputError) as e:
        read_movielens(d, k_core=5)
    assert "removed every interaction" in assert_where(e.value, d / "u.data")


def test_missing_file(tmp_path, assert_where):
    d = _ml_dir(tmp_path)
    (d / "u.genre").unlink()
    with pytest.raises(InputError) as e:
        read_movielens(d)
    assert_where(e.value, d / "u.genre")


def test_non_numeric_user(tmp_path, assert_where):
    d = _ml_dir(tmp_path, data="1\t1\t4\t1\nabc\t2\t4\t2\n")
    with pytest.raises(InputError) as e:
        read_movielens(d)
    assert "'abc'" in assert_where(e.value, d / "u.data", 2, "user_id")


def test_bad_timestamp(tmp_path, assert_where):
    d = _ml_dir(tmp_path, data="1\t1\t4\t1\n1\t2\t4\t-3\n")
    with pytest.raises(InputError) as e:
        read_movielens(d)
    assert "below the minimum" in assert_where(e.value, d / "u.data", 2, "timestamp")


def test_missing_column(tmp_path, assert_where):
    d = _ml_dir(tmp_path, data="1\t1\t4\t1\n1\t2\t4\n")
    with pytest.raises(InputError) as e:
        read_movielens(d)
    assert_where(e.value, d / "u.data", 2, "timestamp")


def test_extra_field(tmp_path, assert_where):
    items = _item_line(1, "A") + "2|B|01-Jan-1995||u|0|1|0|1\n"
    d = _ml_dir(tmp_path, items=items)
    with pytest.raises(InputError) as e:
        read_movielens(d)
    assert "malformed" in assert_where(e.value, d / "u.item", 2)


def test_bad_genre_flag(tmp_path, assert_where):
    items = _item_line(1, "A") + _item_line(2, "B", flags="0|2|0")
    d = _ml_dir(tmp_path, items=items)
    with pytest.raises(InputError) as e:
        read_movielens(d)
    assert "above the maximum" in assert_where(e.value, d / "u.item", 2, "Action")


def test_bad_date(tmp_path, assert_where):
    items = _item_line(1, "A") + _item_line(2, "B", date="1995/01/01")
    d = _ml_dir(tmp_path, items=items)
    with pytest.raises(InputError) as e:
        read_movielens(d)
    assert_where(e.value, d / "u.item", 2, "release_date")


def test_unknown_item(tmp_path, assert_where):
    d = _ml_dir(tmp_path, data="1\t1\t4\t1\n1\t9\t4\t2\n")
    with pytest.raises(InputError) as e:
        read_movielens(d)
    assert "no row in u.item" in assert_where(e.value, d / "u.data", 2, "item_id")


def test_duplicate_movie(tmp_path, assert_where):
    d = _ml_dir(tmp_path, items=_item_line(1, "A") + _item_line(1, "B"))
    with pytest.raises(InputError) as e:
        read_movielens(d)
    assert_where(e.value, d / "u.item", 2, "movie_id")


def test_empty_file(tmp_path, assert_where):
    d = _ml_dir(tmp_path, data="")
    with pytest.raises(InputError) as e:
        read_movielens(d)
    assert "empty" in assert_where(e.value, d / "u.data", 1)


def test_not_utf8(tmp_path, assert_where):
    d = _ml_dir(tmp_path)
    (d / "u.data").write_bytes(b"1\t1\t4\t1\n1\t2\t4\t2\n1\t3\xe9\t4\t3\n")
    with pytest.raises(InputError) as e:
        read_movielens(d)
    assert "UTF-8" in assert_where(e.value, d / "u.data", 3, "item_id")


def test_bad_genre_file(tmp_path, assert_where):
    d = _ml_dir(tmp_path, genres="unknown|0\nAction|x\n")
    with pytest.raises(InputError) as e:
        read_movielens(d)
    assert_where(e.value, d / "u.genre", 2, "index")


def test_bad_options(tmp_path):
    d = _ml_dir(tmp_path)
    with pytest.raises(ConfigError):
        read_movielens(d, k_core=-1)
    with pytest.raises(ConfigError):
        read_movielens(d, k_core=0, n_neg=-2)

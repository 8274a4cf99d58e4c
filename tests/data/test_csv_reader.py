"""Generic CSV reader: a hand-checked tiny data set, and bad input."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lrdgraph.data import read_csv_dataset
from lrdgraph.errors import ConfigError, InputError

INTERACTIONS = """user,item,timestamp
alice,A,100
bob,B,50
alice,B,200
bob,C,60
alice,C,150
bob,A,60
carol,D,10
carol,A,20
carol,D,30
alice,C,150
"""
ITEMS = """item,title,category,brand,workflow
A,"Stapler, red",Desk|Office,Acme,w1
B,Paper,,Acme,w1
C,Toner,Printing,,w2
E,Unused thing,Misc,Zed,w3
"""
RELATIONS = """head,relation,tail
A,also_bought,B
A,also_bought,B
B,also_viewed,C
A,also_bought,Z
E,also_viewed,A
"""
OPTS = dict(text_cols=["title", "category"], attr_cols=["category", "brand"])


def _dir(d: Path, inter: str = INTERACTIONS, items: str | None = ITEMS,
         rel: str | None = RELATIONS, sep: str = ",") -> Path:
    d.mkdir(parents=True, exist_ok=True)
    conv = (lambda t: t) if sep == "," else (lambda t: t.replace('"Stapler, red"', "Stapler, red")
                                                         .replace(",", "\t")
                                                         .replace("Stapler\t red", "Stapler, red"))
    (d / "interactions.csv").write_text(conv(inter))
    if items is not None:
        (d / "items.csv").write_text(conv(items))
    if rel is not None:
        (d / "relations.csv").write_text(conv(rel))
    return d


@pytest.mark.parametrize("sep", [",", "\t"])
def test_tiny_by_hand(tmp_path, sep):
    ds = read_csv_dataset(_dir(tmp_path / "shop", sep=sep), **OPTS, n_neg=4, seed=3)
    assert ds.name == "shop"
    assert ds.user_ids == ["alice", "bob", "carol"]
    assert ds.item_ids == ["A", "B", "C", "D"]  # E has no interaction
    # alice: A@100, C@150 (line 6), C@150 (line 11, kept), B@200; bob: B@50, C@60, A@60 (tie:
    # input order); carol: D@10, A@20, D@30 (a repeat purchase)
    assert list(zip(ds.train.user, ds.train.item, ds.train.time)) == [
        (2, 3, 10), (1, 1, 50), (0, 0, 100), (0, 2, 150)]
    assert list(zip(ds.dev.user, ds.dev.item)) == [(0, 2), (1, 2), (2, 0)]
    assert list(zip(ds.test.user, ds.test.item)) == [(0, 1), (1, 0), (2, 3)]
    assert ds.report["duplicate_interactions_kept"] == 1
    # alice and bob touched A, B, C: only D is left; carol may get B or C
    assert ds.dev.neg_items[:2].tolist() == [[3] * 4, [3] * 4]
    assert set(ds.test.neg_items[2].tolist()) <= {1, 2}
    assert ds.item_text == ["Stapler, red. Category: Desk, Office", "Paper",
                            "Toner. Category: Printing", ""]
    cat = ds.attributes["category"]
    assert cat.values == ["Desk", "Office", "Printing"]  # Misc belongs to E only
    assert list(zip(cat.item, cat.value)) == [(0, 0), (0, 1), (2, 2)]
    assert ds.attributes["brand"].values == ["Acme"]
    assert ds.attributes["brand"].item.tolist() == [0, 1]
    assert "workflow" not in ds.attributes and "planted_group" not in ds.report
    assert ds.relations["also_bought"].tolist() == [[0], [1]]
    assert ds.relations["also_viewed"].tolist() == [[1], [2]]
    r = ds.report
    assert r["dropped_relation_edges"] == {"also_bought": 1, "also_viewed": 1}
    assert r["repeated_relation_edges"] == {"also_bought": 1, "also_viewed": 0}
    assert r["item_rows_without_interactions"] == 1 and r["items_without_item_row"] == 1
    assert any("dropped 2 edge(s)" in w and "relations.csv" in w for w in r["warnings"])
    assert any("no row in the items table" in w for w in r["warnings"])
    assert r["before"] == r["after"] == {"users": 3, "items": 4, "interactions": 10}
    assert set(r["inputs"]) == {"interactions.csv", "items.csv", "relations.csv"}


def test_tie_order(tmp_path):
    """bob's C@60 and A@60 tie: input order makes A his test item; ties="shuffle" picks either,
    by tie_seed, and leaves the other users' splits alone."""
    d = _dir(tmp_path / "shop")
    base = read_csv_dataset(d, **OPTS, n_neg=4, seed=3)
    assert base.report["ties"] == {"order": "input", "users_with_tied_last_time": 1}
    bob = {}
    for s in range(12):
        ds = read_csv_dataset(d, **OPTS, n_neg=4, seed=3, ties="shuffle", tie_seed=s)
        assert ds.report["ties"] == {"order": "shuffle", "seed": s, "users_with_tied_last_time": 1}
        assert (ds.test.item[[0, 2]] == base.test.item[[0, 2]]).all()
        assert np.array_equal(ds.test.neg_items, base.test.neg_items)
        bob[s] = (int(ds.dev.item[1]), int(ds.test.item[1]))
    assert set(bob.values()) == {(2, 0), (0, 2)}  # (dev, test) = (C, A) or (A, C)
    with pytest.raises(ConfigError, match="ties must be one of input, shuffle"):
        read_csv_dataset(d, ties="time")


def test_reproducible_negatives(tmp_path):
    d = _dir(tmp_path, inter=INTERACTIONS + "dave,E,5\ndave,F,6\ndave,G,7\n", items=None,
             rel=None)
    a = read_csv_dataset(d, seed=7)
    b = read_csv_dataset(d, seed=7)
    c = read_csv_dataset(d, seed=8)
    assert np.array_equal(a.test.neg_items, b.test.neg_items)
    assert not np.array_equal(a.test.neg_items, c.test.neg_items)
    assert a.item_text == [""] * a.num_items and a.attributes == {} and a.relations == {}


def test_group_column_and_explicit_files(tmp_path):
    d = _dir(tmp_path)
    ds = read_csv_dataset(d / "interactions.csv", items=d / "items.csv", group_col="workflow",
                          text_cols=[], name="x")
    assert ds.name == "x" and ds.relations == {}
    assert ds.report["planted_group"] == ["w1", "w1", "w2", ""]
    assert ds.item_text == ["", "", "", ""]


def test_default_text_column(tmp_path):
    ds = read_csv_dataset(_dir(tmp_path))
    assert ds.item_text[0] == "Stapler, red" and ds.attributes == {}


def test_kcore(tmp_path, assert_where):
    d = _dir(tmp_path, rel=None)
    ds = read_csv_dataset(d, k_core=2)  # every user has >= 3 rows, every item >= 2
    assert ds.report["kcore"] == {"k": 2, "rounds": 0, "passes": 1, "removed_interactions": 0}
    # k=3: B and D go (2 rows each), then bob and carol, then A, then alice: nothing is left
    with pytest.raises(InputError) as e:
        read_csv_dataset(d, k_core=3)
    assert "removed every interaction" in assert_where(e.value, d / "interactions.csv")


def test_multiline_quoted_cell_keeps_line_numbers(tmp_path, assert_where):
    items = 'item,title\nA,"two\nlines"\nB,fine\nB,again\n'
    d = _dir(tmp_path, items=items, rel=None)
    with pytest.raises(InputError) as e:
        read_csv_dataset(d)
    assert "appears twice" in assert_where(e.value, d / "items.csv", 5, "item")


# ---------------------------------------------------------------- bad input


def test_missing_file(tmp_path, assert_where):
    with pytest.raises(InputError) as e:
        read_csv_dataset(tmp_path / "nope.csv")
    assert "not found" in assert_where(e.value, tmp_path / "nope.csv")
    d = _dir(tmp_path / "d")
    with pytest.raises(InputError) as e:
        read_csv_dataset(d / "interactions.csv", items=d / "items2.csv")
    assert "not found" in assert_where(e.value, d / "items2.csv")


def test_directory_without_interactions(tmp_path, assert_where):
    with pytest.raises(InputError) as e:
        read_csv_dataset(tmp_path)
    assert "interactions.csv" in assert_where(e.value, tmp_path)


def test_missing_column(tmp_path, assert_where):
    d = _dir(tmp_path, inter="user,item,time\na,b,1\n")
    with pytest.raises(InputError) as e:
        read_csv_dataset(d)
    assert "'timestamp'" in assert_where(e.value, d / "interactions.csv", 1, "timestamp")
    d = _dir(tmp_path)
    with pytest.raises(InputError) as e:
        read_csv_dataset(d, attr_cols=["colour"])
    assert_where(e.value, d / "items.csv", 1, "colour")
    d = _dir(tmp_path, rel="head,rel,tail\nA,x,B\n")
    with pytest.raises(InputError) as e:
        read_csv_dataset(d)
    assert_where(e.value, d / "relations.csv", 1, "relation")


def test_date_timestamp(tmp_path, assert_where):
    d = _dir(tmp_path, inter=INTERACTIONS.replace("carol,A,20", "carol,A,2021-03-01"))
    with pytest.raises(InputError) as e:
        read_csv_dataset(d)
    msg = assert_where(e.value, d / "interactions.csv", 9, "timestamp")
    assert "'2021-03-01'" in msg and "convert dates" in msg


def test_negative_timestamp(tmp_path, assert_where):
    d = _dir(tmp_path, inter=INTERACTIONS.replace("bob,C,60", "bob,C,-60"))
    with pytest.raises(InputError) as e:
        read_csv_dataset(d)
    assert "below the minimum 0" in assert_where(e.value, d / "interactions.csv", 5, "timestamp")


def test_empty_id(tmp_path, assert_where):
    d = _dir(tmp_path, inter=INTERACTIONS.replace("bob,B,50", ",B,50"))
    with pytest.raises(InputError) as e:
        read_csv_dataset(d)
    assert "empty id" in assert_where(e.value, d / "interactions.csv", 3, "user")


def test_code_in_a_cell_stays_text(tmp_path):
    sentinel = tmp_path / "pwned"
    code = f"__import__('os').system('touch {sentinel}')"
    items = ITEMS.replace("Desk|Office", f'"{code}"')
    ds = read_csv_dataset(_dir(tmp_path / "d", items=items), **OPTS)
    assert code in ds.attributes["category"].values
    assert not sentinel.exists()


def test_too_few_interactions(tmp_path, assert_where):
    inter = INTERACTIONS + "dave,A,1\ndave,B,2\nerin,C,3\n"
    d = _dir(tmp_path, inter=inter)
    with pytest.raises(InputError) as e:
        read_csv_dataset(d)
    msg = assert_where(e.value, d / "interactions.csv", 12, "user")
    assert "2 user(s) have fewer than 3" in msg and "'dave'" in msg and "k_core" in msg
    # the hint works: six users with 3 of 4 items each, and dave with 2
    rows = [f"u{k},{'WXYZ'[(k + j) % 4]},{10 * k + j}" for k in range(6) for j in range(3)]
    d = _dir(tmp_path / "k", inter="user,item,timestamp\n" + "\n".join(rows)
             + "\ndave,W,1\ndave,X,2\n", items=None, rel=None)
    with pytest.raises(InputError):
        read_csv_dataset(d)
    ds = read_csv_dataset(d, k_core=3)
    assert ds.user_ids == [f"u{k}" for k in range(6)]
    assert ds.report["kcore"] == {"k": 3, "rounds": 1, "passes": 2, "removed_interactions": 2}


def test_empty_file(tmp_path, assert_where):
    d = _dir(tmp_path, inter="")
    with pytest.raises(InputError) as e:
        read_csv_dataset(d)
    assert "empty" in assert_where(e.value, d / "interactions.csv", 1)
    d = _dir(tmp_path, inter="user,item,timestamp\n")
    with pytest.raises(InputError) as e:
        read_csv_dataset(d)
    assert "no interaction rows" in assert_where(e.value, d / "interactions.csv")


def test_not_utf8(tmp_path, assert_where):
    d = _dir(tmp_path)
    (d / "items.csv").write_bytes(ITEMS.replace("Toner", "Toner \xe9").encode("latin-1"))
    with pytest.raises(InputError) as e:
        read_csv_dataset(d)
    assert "UTF-8" in assert_where(e.value, d / "items.csv", 4, "title")


def test_utf8_bom_is_ignored(tmp_path):
    d = _dir(tmp_path)
    (d / "interactions.csv").write_bytes(b"\xef\xbb\xbf" + INTERACTIONS.encode())
    assert read_csv_dataset(d).num_users == 3


def test_row_with_extra_field(tmp_path, assert_where):
    d = _dir(tmp_path, inter=INTERACTIONS.replace("bob,A,60", "bob,A,60,9"))
    with pytest.raises(InputError) as e:
        read_csv_dataset(d)
    assert "malformed" in assert_where(e.value, d / "interactions.csv", 7)


def test_duplicate_item_row(tmp_path, assert_where):
    d = _dir(tmp_path, items=ITEMS + "B,Paper again,,,\n")
    with pytest.raises(InputError) as e:
        read_csv_dataset(d)
    assert "'B' appears twice" in assert_where(e.value, d / "items.csv", 6, "item")


def test_empty_relation_name(tmp_path, assert_where):
    d = _dir(tmp_path, rel="head,relation,tail\nA,x,B\nA, ,C\n")
    with pytest.raises(InputError) as e:
        read_csv_dataset(d)
    assert_where(e.value, d / "relations.csv", 3, "relation")


def test_bad_options(tmp_path):
    d = _dir(tmp_path)
    with pytest.raises(ConfigError):
        read_csv_dataset(d, sep="::")
    with pytest.raises(ConfigError):
        read_csv_dataset(d, n_neg=-1)

"""ReChorus/LRD directory reader: the real Office data, and bad input on tiny fixtures."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lrdgraph.data import read_rechorus
from lrdgraph.errors import InputError

HEADER = "user_id\titem_id\ttime"


@pytest.fixture(scope="module")
def office(office_dir):
    return read_rechorus(office_dir)


def test_office_counts(office):
    assert (office.num_users, office.num_items, office.num_interactions) == (4905, 2420, 53258)
    assert (len(office.train), len(office.dev), len(office.test)) == (43448, 4905, 4905)
    assert {k: v.shape[1] for k, v in office.relations.items()} == {"complement": 38071,
                                                                    "substitute": 18345}
    assert office.attributes["category"].num_values == 39
    assert office.attributes["brand"].num_values == 341
    # 69 items lack a category and 481 a brand (lrd-reference.md §1.1)
    assert len(np.unique(office.attributes["category"].item)) == 2420 - 69
    assert len(np.unique(office.attributes["brand"].item)) == 2420 - 481
    assert all(t.strip() for t in office.item_text)
    assert office.report["dropped_relation_edges"] == {"complement": 0, "substitute": 0}


@pytest.mark.parametrize("split", ["dev", "test"])
def test_office_negatives_verbatim(office, office_dir, split):
    lines = (office_dir / f"{split}.csv").read_text().splitlines()[1:]
    raw = [json.loads(line.split("\t")[3]) for line in lines]
    s = getattr(office, split)
    assert s.neg_items.shape == (len(raw), 99)
    ids = np.asarray(office.item_ids)
    got = ids[s.neg_items].astype(np.int64)
    assert np.array_equal(got, np.asarray(raw))  # same order, duplicates kept
    with_dup = sum(len(set(r)) < len(r) for r in raw)
    assert with_dup == {"dev": 4307, "test": 4301}[split]
    assert not (s.neg_items == s.item[:, None]).any()


def test_office_text_matches_item2index(office, office_dir):
    key = {}
    for line in (office_dir / "Office.item2index").read_text().splitlines():
        k, i = line.split("\t")
        key[i.strip()] = k.strip()
    text = {}
    for line in (office_dir / "Office.text").read_text().splitlines()[1:]:
        k, t = line.split("\t", 1)
        text[k] = " ".join(t.split())
    for idx in (0, 1, 500, 2419):
        assert office.item_text[idx] == text[key[office.item_ids[idx]]]


# ---------------------------------------------------------------- tiny fixtures, bad input


def _write(d: Path, name: str, text: str | bytes) -> Path:
    p = d / name
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text)
    return p


def _good_dir(d: Path) -> Path:
    _write(d, "train.csv", f"{HEADER}\n1\t1\t10\n2\t2\t11\n1\t3\t12\n")
    _write(d, "dev.csv", f"{HEADER}\tneg_items\n1\t2\t20\t[4, 4]\n2\t3\t21\t[1, 4]\n")
    _write(d, "test.csv", f"{HEADER}\tneg_items\n1\t4\t30\t[2, 3]\n2\t1\t31\t[4, 4]\n")
    _write(d, "item_meta.csv", "item_id\ti_color\tr_complement\n1\t1\t[2, 99]\n2\t0\t[]\n"
                               "3\t2\t[1]\n4\t1\t[]\n")
    return d


def test_tiny_good(tmp_path):
    ds = read_rechorus(_good_dir(tmp_path))
    assert ds.item_ids == ["1", "2", "3", "4"]
    assert ds.dev.neg_items.tolist() == [[3, 3], [0, 3]]
    assert ds.attributes["color"].values == ["1", "2"]
    # the unknown item 99 is dropped and counted
    assert ds.relations["complement"].tolist() == [[0, 2], [1, 0]]
    assert ds.report["dropped_relation_edges"] == {"complement": 1}


def test_missing_file(tmp_path, assert_where):
    d = _good_dir(tmp_path)
    (d / "dev.csv").unlink()
    with pytest.raises(InputError) as e:
        read_rechorus(d)
    assert "file not found" in assert_where(e.value, d / "dev.csv")


def test_missing_column(tmp_path, assert_where):
    d = _good_dir(tmp_path)
    _write(d, "test.csv", f"{HEADER}\n1\t4\t30\n")
    with pytest.raises(InputError) as e:
        read_rechorus(d)
    assert "missing column" in assert_where(e.value, d / "test.csv", 1, "neg_items")


def test_non_numeric_id(tmp_path, assert_where):
    d = _good_dir(tmp_path)
    _write(d, "train.csv", f"{HEADER}\n1\t1\t10\n\nx7\t2\t11\n")  # blank line 3 counted
    with pytest.raises(InputError) as e:
        read_rechorus(d)
    assert "'x7'" in assert_where(e.value, d / "train.csv", 4, "user_id")


def test_non_numeric_time(tmp_path, assert_where):
    d = _good_dir(tmp_path)
    _write(d, "train.csv", f"{HEADER}\n1\t1\t10\n2\t2\t2021-01-01\n")
    with pytest.raises(InputError) as e:
        read_rechorus(d)
    assert_where(e.value, d / "train.csv", 3, "time")


def test_malformed_list_cell(tmp_path, assert_where):
    d = _good_dir(tmp_path)
    _write(d, "dev.csv", f"{HEADER}\tneg_items\n1\t2\t20\t[4, 4]\n2\t3\t21\t[1, 4\n")
    with pytest.raises(InputError) as e:
        read_rechorus(d)
    assert "not a list literal" in assert_where(e.value, d / "dev.csv", 3, "neg_items")


def test_list_of_strings_rejected(tmp_path, assert_where):
    d = _good_dir(tmp_path)
    _write(d, "item_meta.csv", "item_id\tr_complement\n1\t['a', 2]\n")
    with pytest.raises(InputError) as e:
        read_rechorus(d)
    assert "non-integer" in assert_where(e.value, d / "item_meta.csv", 2, "r_complement")


@pytest.mark.parametrize("col", ["neg_items", "r_complement"])
def test_code_in_list_cell_is_not_executed(tmp_path, assert_where, col):
    d = _good_dir(tmp_path)
    sentinel = tmp_path / "pwned"
    code = f"__import__('os').system('touch {sentinel}')"
    if col == "neg_items":
        _write(d, "dev.csv", f"{HEADER}\tneg_items\n1\t2\t20\t{code}\n")
        where = (d / "dev.csv", 2, "neg_items")
    else:
        _write(d, "item_meta.csv", f"item_id\tr_complement\n1\t[2]\n2\t{code}\n")
        where = (d / "item_meta.csv", 3, "r_complement")
    with pytest.raises(InputError) as e:
        read_rechorus(d)
    assert_where(e.value, *where)
    assert not sentinel.exists()


def test_neg_lists_of_unequal_length(tmp_path, assert_where):
    d = _good_dir(tmp_path)
    _write(d, "dev.csv", f"{HEADER}\tneg_items\n1\t2\t20\t[4, 4]\n2\t3\t21\t[1]\n")
    with pytest.raises(InputError) as e:
        read_rechorus(d)
    assert_where(e.value, d / "dev.csv", 3, "neg_items")


def test_empty_file(tmp_path, assert_where):
    d = _good_dir(tmp_path)
    _write(d, "train.csv", "")
    with pytest.raises(InputError) as e:
        read_rechorus(d)
    assert "empty" in assert_where(e.value, d / "train.csv", 1)


def test_no_training_rows(tmp_path, assert_where):
    d = _good_dir(tmp_path)
    _write(d, "train.csv", f"{HEADER}\n")
    with pytest.raises(InputError) as e:
        read_rechorus(d)
    assert "no interactions" in assert_where(e.value, d / "train.csv")


def test_not_utf8(tmp_path, assert_where):
    d = _good_dir(tmp_path)
    _write(d, "train.csv", f"{HEADER}\n1\t1\t10\n2\t2\t11\xff\n".encode("latin-1"))
    with pytest.raises(InputError) as e:
        read_rechorus(d)
    assert "UTF-8" in assert_where(e.value, d / "train.csv", 3, "time")


def test_missing_directory(tmp_path, assert_where):
    with pytest.raises(InputError) as e:
        read_rechorus(tmp_path / "nope")
    assert_where(e.value, tmp_path / "nope")

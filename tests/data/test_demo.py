"""The synthetic demo: deterministic, readable back through the CSV reader, and its planted
workflows only partly covered by the predefined relations."""
from __future__ import annotations

import numpy as np
import pytest

from lrdgraph.data import DEMO_OPTIONS, Dataset, make_demo, read_csv_dataset, write_demo


@pytest.fixture(scope="module")
def demo() -> Dataset:
    return make_demo(0)


def _same(a: Dataset, b: Dataset) -> bool:
    if (a.user_ids, a.item_ids, a.item_text) != (b.user_ids, b.item_ids, b.item_text):
        return False
    for s in ("train", "dev", "test"):
        x, y = getattr(a, s), getattr(b, s)
        for f in ("user", "item", "time"):
            if not np.array_equal(getattr(x, f), getattr(y, f)):
                return False
        if (x.neg_items is None) != (y.neg_items is None) or (
                x.neg_items is not None and not np.array_equal(x.neg_items, y.neg_items)):
            return False
    if a.relations.keys() != b.relations.keys() or a.attributes.keys() != b.attributes.keys():
        return False
    if not all(np.array_equal(a.relations[k], b.relations[k]) for k in a.relations):
        return False
    for k in a.attributes:
        p, q = a.attributes[k], b.attributes[k]
        if p.values != q.values or not (np.array_equal(p.item, q.item)
                                         and np.array_equal(p.value, q.value)):
            return False
    return a.report.get("planted_group") == b.report.get("planted_group")


def test_shape(demo):
    s = demo.stats()
    assert 250 <= s["items"] <= 350 and s["users"] == 600
    assert s["dev"] == s["test"] == 600 and s["items_with_text"] == s["items"]
    assert set(demo.relations) == {"also_bought", "also_viewed"}
    assert set(demo.attributes) == {"category", "brand"}  # the workflow is not an attribute
    groups = demo.report["planted_group"]
    assert len(groups) == demo.num_items and len(set(groups)) == 8
    assert demo.report["warnings"] == []
    # items lacking a brand or a category exist, and their text says so by leaving it out
    assert len(np.unique(demo.attributes["brand"].item)) < demo.num_items
    assert len(np.unique(demo.attributes["category"].item)) < demo.num_items
    assert all(t.count("Brand:") <= 1 for t in demo.item_text)


def test_deterministic(demo, tmp_path):
    assert _same(demo, make_demo(0))
    assert not _same(demo, make_demo(1))
    a = write_demo(tmp_path / "a", seed=0)
    b = write_demo(tmp_path / "b", seed=0)
    for f in ("interactions.csv", "items.csv", "relations.csv"):
        assert (a / f).read_bytes() == (b / f).read_bytes()


def test_committed_files_match_make_demo(demo, demo_dir):
    """data/demo/ is write_demo(seed=0): reading it back gives make_demo(0)."""
    ds = read_csv_dataset(demo_dir, **DEMO_OPTIONS)
    assert _same(ds, demo)
    assert ds.name == "demo"


def test_categories_do_not_reveal_workflows(demo):
    groups = np.asarray(demo.report["planted_group"])
    cat = demo.attributes["category"]
    spans = [len(set(groups[cat.item[cat.value == v]])) for v in range(cat.num_values)]
    assert max(spans) >= 3  # e.g. paper is in printing, meetings and correspondence
    wf_cats = [len(set(cat.value[np.isin(cat.item, np.flatnonzero(groups == g))]))
               for g in set(groups)]
    assert min(wf_cats) >= 3


def test_planted_structure_only_partly_covered(demo):
    groups = np.asarray(demo.report["planted_group"])
    parts = [demo.train, demo.dev, demo.test]
    u = np.concatenate([p.user for p in parts])
    i = np.concatenate([p.item for p in parts])
    t = np.concatenate([p.time for p in parts])
    order = np.lexsort((t, u))
    u, i = u[order], i[order]
    same_user = u[1:] == u[:-1]
    a, b = i[:-1][same_user], i[1:][same_user]
    within = (groups[a] == groups[b]) & (a != b)
    assert within.mean() > 0.5  # users mostly stay within their workflows
    n = demo.num_items
    edges = np.concatenate([ei for ei in demo.relations.values()], axis=1)
    keys = np.unique(np.r_[edges[0] * n + edges[1], edges[1] * n + edges[0]])
    covered = np.isin(a[within] * n + b[within], keys)
    assert 0.2 < covered.mean() < 0.8
    # predefined edges mostly stay within a workflow (a little noise crosses)
    assert (groups[edges[0]] == groups[edges[1]]).mean() > 0.9

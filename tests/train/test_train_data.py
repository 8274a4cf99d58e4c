"""Training instances, dev/test rows and the samplers."""
from __future__ import annotations

from typing import Dict, List, Set, Tuple

import numpy as np
import pytest
import torch

from lrdgraph.data.dataset import Dataset, Split
from lrdgraph.models.layout import EntityLayout
from lrdgraph.train.data import KGSampler, NegativeSampler, SequenceData


def user_sequences(split: Split) -> Dict[int, List[Tuple[int, int]]]:
    """Per user, (item, time) in time order (ties: file order)."""
    out: Dict[int, List[Tuple[int, int, int]]] = {}
    for k, (u, i, t) in enumerate(zip(split.user.tolist(), split.item.tolist(), split.time.tolist())):
        out.setdefault(u, []).append((t, k, i))
    return {u: [(i, t) for t, _, i in sorted(v)] for u, v in out.items()}


def rows_as_tuples(rows, pad: int) -> List[tuple]:
    out = []
    for r in range(len(rows)):
        h = rows.history[r].tolist()
        ht = rows.history_time[r].tolist()
        n = sum(1 for x in h if x != pad)
        assert all(x == pad for x in h[n:]), "padding must be at the end"
        assert all(x == 0 for x in ht[n:])
        out.append((int(rows.user[r]), int(rows.item[r]), int(rows.time[r]), tuple(h[:n]), tuple(ht[:n])))
    return out


def expected_rows(ds: Dataset, H: int):
    seqs = user_sequences(ds.train)
    train = []
    for u, seq in seqs.items():
        for p in range(1, len(seq)):  # every train interaction but the user's first
            prev = seq[max(0, p - H):p]
            train.append((u, seq[p][0], seq[p][1], tuple(i for i, _ in prev), tuple(t for _, t in prev)))
    dev, dev_item = [], {}
    for u, i, t in zip(ds.dev.user.tolist(), ds.dev.item.tolist(), ds.dev.time.tolist()):
        prev = seqs.get(u, [])[-H:]
        dev.append((u, i, t, tuple(x for x, _ in prev), tuple(y for _, y in prev)))
        dev_item[u] = (i, t)
    test = []
    for u, i, t in zip(ds.test.user.tolist(), ds.test.item.tolist(), ds.test.time.tolist()):
        seq = seqs.get(u, []) + ([dev_item[u]] if u in dev_item else [])
        prev = seq[-H:]
        test.append((u, i, t, tuple(x for x, _ in prev), tuple(y for _, y in prev)))
    return train, dev, test


def test_tiny_by_hand(tiny_dataset):
    data = SequenceData(tiny_dataset, history=2)
    pad = tiny_dataset.num_items
    assert data.train.pad == pad
    train = rows_as_tuples(data.train, pad)
    # user 0 bought 0, 1, 2, 3 at times 10, 20, 30, 40 (item 3 is last in the file)
    assert (0, 1, 20, (0,), (10,)) in train
    assert (0, 3, 40, (1, 2), (20, 30)) in train  # the last 2 only
    assert not any(r[0] == 0 and r[1] == 0 for r in train)  # the first has no instance
    assert len(train) == len(tiny_dataset.train) - tiny_dataset.num_users
    dev = rows_as_tuples(data.dev, pad)
    assert dev[0] == (0, 4, 50, (2, 3), (30, 40))
    test = rows_as_tuples(data.test, pad)
    assert test[0] == (0, 5, 60, (3, 4), (40, 50))  # train items, then the dev item
    assert data.dev.neg_items.tolist() == tiny_dataset.dev.neg_items.tolist()


@pytest.mark.parametrize("H", [1, 3, 20])
def test_rows_match_brute_force(demo_dataset, tiny_dataset, H):
    for ds in (demo_dataset, tiny_dataset):
        data = SequenceData(ds, history=H)
        want_train, want_dev, want_test = expected_rows(ds, H)
        pad = ds.num_items
        assert sorted(rows_as_tuples(data.train, pad)) == sorted(want_train)
        assert rows_as_tuples(data.dev, pad) == want_dev  # dev/test keep the split's row order
        assert rows_as_tuples(data.test, pad) == want_test
        assert data.train.history.shape[1] == H


def test_batch_trims_padding(demo_data):
    rows = demo_data.train
    b = rows.batch(torch.arange(4), torch.device("cpu"))
    longest = int((rows.history[:4] < rows.pad).sum(1).max())
    assert b["history"].shape == (4, longest) == b["history_time"].shape
    assert set(b) == {"user", "item", "time", "history", "history_time"}


def test_known_mask(tiny_dataset):
    data = SequenceData(tiny_dataset)
    users = torch.tensor([0, 1])
    items = torch.arange(8).expand(2, -1)
    dev = data.known_mask(users, "dev", items)
    test = data.known_mask(users, "test", items)
    assert dev[0].nonzero().flatten().tolist() == [0, 1, 2, 3]  # user 0's train items
    assert test[0].nonzero().flatten().tolist() == [0, 1, 2, 3, 4]  # plus the dev item 4
    assert test[1].nonzero().flatten().tolist() == [3, 4, 5, 6]
    assert not dev[0, 5] and not test[0, 5]  # the test item itself is never "known"


def test_no_test_item_in_training_inputs(demo_dataset):
    """Every input of training and model selection is built without the test split."""
    ds = demo_dataset
    data = SequenceData(ds)
    changed = _with_other_test_items(ds)
    other = SequenceData(changed)
    for split in ("train", "dev"):
        a, b = getattr(data, split), getattr(other, split)
        for f in ("user", "item", "time", "history", "history_time"):
            assert torch.equal(getattr(a, f), getattr(b, f)), (split, f)
    assert torch.equal(data.dev.neg_items, other.dev.neg_items)
    assert torch.equal(data.train_keys, other.train_keys)
    assert torch.equal(data.dev_keys, other.dev_keys)
    assert not torch.equal(data.test.item, other.test.item)


def _with_other_test_items(ds: Dataset) -> Dataset:
    n = ds.num_items
    rng = np.random.default_rng(123)
    test = Split(user=ds.test.user.copy(), item=(ds.test.item + 1 + rng.integers(0, n - 1, len(ds.test))) % n,
                 time=ds.test.time.copy(),
                 neg_items=rng.integers(0, n, size=ds.test.neg_items.shape))
    out = Dataset(name=ds.name, user_ids=list(ds.user_ids), item_ids=list(ds.item_ids),
                  item_text=list(ds.item_text), train=ds.train, dev=ds.dev, test=test,
                  attributes=ds.attributes, relations=ds.relations, report=dict(ds.report))
    out.validate()
    assert (out.test.item != ds.test.item).all()
    return out


# ---------------------------------------------------------------------------- samplers
def _train_sets(ds: Dataset) -> Dict[int, Set[int]]:
    out: Dict[int, Set[int]] = {}
    for u, i in zip(ds.train.user.tolist(), ds.train.item.tolist()):
        out.setdefault(u, set()).add(i)
    return out


def test_negative_sampler_avoids_train_items(demo_dataset, demo_data):
    sampler = NegativeSampler(demo_data, torch.Generator().manual_seed(0))
    users = torch.arange(demo_dataset.num_users).repeat(4)
    neg = sampler.sample(users, (30,))
    assert neg.shape == (len(users), 30) and neg.dtype == torch.long
    assert neg.min() >= 0 and neg.max() < demo_dataset.num_items
    seen = _train_sets(demo_dataset)
    for u, row in zip(users.tolist(), neg.tolist()):
        assert not seen[u] & set(row)
    # reproducible with the same generator seed
    again = NegativeSampler(demo_data, torch.Generator().manual_seed(0)).sample(users, (30,))
    assert torch.equal(neg, again)


def _dense_user_dataset(n_items: int = 12) -> Dataset:
    """User 0 has bought every item but the last; user 1 only item 0."""
    items = list(range(n_items - 1)) + [0]
    users = [0] * (n_items - 1) + [1]
    ids = [str(i) for i in range(n_items)]
    return Dataset(name="dense", user_ids=["a", "b"], item_ids=ids, item_text=ids,
                   train=Split(user=users, item=items, time=list(range(len(items)))),
                   dev=Split(user=[0], item=[0], time=[100], neg_items=[[1]]),
                   test=Split(user=[0], item=[1], time=[101], neg_items=[[2]]))


def test_negative_sampler_dense_user():
    """Even a user who knows all items but one only ever gets that one as a negative."""
    ds = _dense_user_dataset()
    data = SequenceData(ds)
    sampler = NegativeSampler(data, torch.Generator().manual_seed(0))
    neg = sampler.sample(torch.zeros(4000, dtype=torch.long), (5,))
    assert (neg == ds.num_items - 1).all()
    other = sampler.sample(torch.ones(2000, dtype=torch.long), (5,))
    assert (other != 0).all()
    counts = torch.bincount(other.flatten(), minlength=ds.num_items)[1:].float()
    assert counts.min() > 0.5 * counts.mean()  # uniform over the 11 allowed items


def _kg_truth(ds: Dataset, layout: EntityLayout):
    edges = {1 + r: set(zip(ei[0].tolist(), ei[1].tolist())) for r, ei in enumerate(ds.relations.values())}
    values = {}
    for k, a in enumerate(ds.attributes.values()):
        d: Dict[int, Set[int]] = {}
        for i, v in zip(a.item.tolist(), a.value.tolist()):
            d.setdefault(i, set()).add(v)
        values[layout.attribute_slot(k)] = (layout.attribute_base[k], d)
    return edges, values


@pytest.mark.parametrize("which", ["tiny", "demo"])
def test_kg_sampler(which, tiny_dataset, demo_dataset):
    ds = tiny_dataset if which == "tiny" else demo_dataset
    layout = EntityLayout.from_dataset(ds, num_latent=2)
    sampler = KGSampler(ds, layout, torch.Generator().manual_seed(0))
    n_pairs = sum(ei.shape[1] for ei in ds.relations.values()) + sum(len(a.item) for a in ds.attributes.values())
    assert len(sampler) == n_pairs
    edges, values = _kg_truth(ds, layout)
    s = sampler.sample(3000)
    assert set(s) == {"kg_head", "kg_rel", "kg_tail", "kg_value", "kg_neg_head", "kg_neg_tail"}
    seen_rel = set()
    for h, r, t, v, nh, nt in zip(*(s[k].tolist() for k in ("kg_head", "kg_rel", "kg_tail", "kg_value",
                                                             "kg_neg_head", "kg_neg_tail"))):
        seen_rel.add(r)
        assert (nh == h) + (nt == t) == 1, "exactly one side is corrupted"
        if r in edges:
            assert v == layout.null
            assert (h, t) in edges[r]  # a true triple
            assert (nh, nt) not in edges[r]  # never a true triple
            # DistMult is symmetric: the reversed pair of a true triple scores the same
            assert (nt, nh) not in edges[r]
        else:
            base, d = values[r]
            val = v - base
            assert 0 <= val < ds.attributes[list(ds.attributes)[r - 1 - len(edges)]].num_values
            assert val in d.get(h, set()) and val in d.get(t, set())  # partners share it
            assert not (val in d.get(nh, set()) and val in d.get(nt, set()))
    assert seen_rel == set(edges) | set(values)  # every relation kind is drawn


def test_kg_sampler_partner_is_another_item_when_possible(demo_dataset):
    ds = demo_dataset
    layout = EntityLayout.from_dataset(ds, num_latent=0)
    s = KGSampler(ds, layout, torch.Generator().manual_seed(1)).sample(2000)
    attr = s["kg_rel"] > len(ds.relations)
    same = (s["kg_head"] == s["kg_tail"]) & attr
    # a value shared by several items almost never pairs an item with itself
    assert same.float().sum() <= 0.02 * attr.float().sum()


def test_negative_sampler_exact_draws_cover_the_free_items(tiny_dataset):
    """With no rejection rounds every draw takes the exact path: still never a train item,
    and every other item comes up."""
    data = SequenceData(tiny_dataset)
    sampler = NegativeSampler(data, torch.Generator().manual_seed(0), max_rounds=0)
    seen = _train_sets(tiny_dataset)
    users = torch.arange(tiny_dataset.num_users).repeat_interleave(500)
    neg = sampler.sample(users, (3,))
    for u in range(tiny_dataset.num_users):
        got = set(neg[users == u].flatten().tolist())
        assert got == set(range(tiny_dataset.num_items)) - seen[u], u

"""RelationIndex against a brute-force Python answer."""
from __future__ import annotations

from typing import Dict, List, Set, Tuple

import numpy as np
import pytest
import torch

from lrdgraph.graph.relation_index import RelationIndex, padded_values


def brute_force(ds, history: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """``[B, C, H, R]`` by plain Python sets: an item-item relation holds if the edge exists in
    either direction, an attribute is shared if the two items have a value in common; the
    padding item (``num_items``) relates to nothing."""
    n = ds.num_items
    edges: List[Set[Tuple[int, int]]] = [set(zip(ei[0].tolist(), ei[1].tolist()))
                                         for ei in ds.relations.values()]
    values: List[Dict[int, Set[int]]] = []
    for a in ds.attributes.values():
        d: Dict[int, Set[int]] = {}
        for i, v in zip(a.item.tolist(), a.value.tolist()):
            d.setdefault(i, set()).add(v)
        values.append(d)
    B, H = history.shape
    C = candidates.shape[1]
    out = np.zeros((B, C, H, len(edges) + len(values)), dtype=bool)
    for b in range(B):
        for c in range(C):
            j = int(candidates[b, c])
            for h in range(H):
                i = int(history[b, h])
                if i >= n or j >= n:
                    continue
                for r, e in enumerate(edges):
                    out[b, c, h, r] = (i, j) in e or (j, i) in e
                for k, d in enumerate(values):
                    out[b, c, h, len(edges) + k] = bool(d.get(i, set()) & d.get(j, set()))
    return out


def random_pairs(rng: np.random.Generator, n: int, B: int, H: int, C: int, pad_frac: float = 0.2):
    """Random histories and candidates over ``0..n`` where ``n`` is the padding item."""
    hist = rng.integers(0, n, size=(B, H))
    hist[rng.random((B, H)) < pad_frac] = n
    cand = rng.integers(0, n, size=(B, C))
    cand[rng.random((B, C)) < pad_frac / 2] = n
    return hist, cand


def test_tiny_dataset_hand_checked(tiny_dataset):
    index = RelationIndex.from_dataset(tiny_dataset)
    assert index.num_relations == 4
    names = ["also_bought", "also_viewed", "same_genre", "same_brand"]
    assert repr(index) == f"RelationIndex(8, relations={names})"
    hist = torch.tensor([[1, 0, 8, 4]])  # 8 = padding
    cand = torch.tensor([[0, 7, 6]])
    got = index(hist, cand)
    assert got.shape == (1, 3, 4, 4) and got.dtype == torch.bool
    # candidate 0 vs history 1: also_bought 0->1 (reversed) and also_viewed 1->0; genre b shared;
    # brand X shared
    assert got[0, 0, 0].tolist() == [True, True, True, True]
    # candidate 0 vs itself: no self edge, shares its own genre and brand
    assert got[0, 0, 1].tolist() == [False, False, True, True]
    # padding never relates, not even on "missing" attribute values
    assert not got[0, :, 2].any()
    # item 4 has no genre and no brand: nothing shared with anyone; 3->4 is not with 0/7/6
    assert not got[0, :, 3].any()
    # candidate 7 {b, d}, brand Z vs history 1 {b}, brand X: genre only
    assert got[0, 1, 0].tolist() == [False, False, True, False]
    # candidate 6 (no attributes) vs anything: only the also_viewed edge 6->7, absent here
    assert not got[0, 2].any()


def test_self_loop_and_items_without_values(tiny_dataset):
    index = RelationIndex.from_dataset(tiny_dataset)
    got = index(torch.tensor([[5, 6, 4]]), torch.tensor([[5, 6, 4, 3]]))
    assert got[0, 0, 0, 0]  # 5 -> 5 is an also_bought self loop
    assert not got[0, 1, 1, 0]  # 6 has no self loop
    assert not got[0, 1, 1, 2:].any() and not got[0, 2, 2, 2:].any()  # no value, nothing shared
    assert got[0, 3, 2, 0]  # 3 -> 4, history item 4 is the tail


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_pairs_tiny(tiny_dataset, seed):
    rng = np.random.default_rng(seed)
    hist, cand = random_pairs(rng, tiny_dataset.num_items, B=6, H=7, C=9, pad_frac=0.3)
    got = RelationIndex.from_dataset(tiny_dataset)(torch.as_tensor(hist), torch.as_tensor(cand))
    np.testing.assert_array_equal(got.numpy(), brute_force(tiny_dataset, hist, cand))


def test_random_pairs_demo(demo_dataset):
    ds = demo_dataset
    rng = np.random.default_rng(7)
    hist, cand = random_pairs(rng, ds.num_items, B=5, H=12, C=20)
    # plant pairs that hold in each direction of every item-item relation
    for r, ei in enumerate(ds.relations.values()):
        e = rng.integers(0, ei.shape[1], size=3)
        hist[r, :3], cand[r, :3] = ei[0, e], ei[1, e]  # history is the head
        hist[r + 2, :3], cand[r + 2, :3] = ei[1, e], ei[0, e]  # history is the tail
    got = RelationIndex.from_dataset(ds)(torch.as_tensor(hist), torch.as_tensor(cand))
    want = brute_force(ds, hist, cand)
    np.testing.assert_array_equal(got.numpy(), want)
    for r in range(len(ds.relations)):  # the planted pairs were found, both directions
        assert want[r, [0, 1, 2], [0, 1, 2], r].all()
        assert want[r + 2, [0, 1, 2], [0, 1, 2], r].all()
    assert want[..., len(ds.relations):].any()  # some shared attribute values too


def test_multi_valued_attribute_random(tiny_dataset):
    """Only the attribute: every pair of items compared with set intersection."""
    ds = tiny_dataset
    n = ds.num_items
    index = RelationIndex(n, {}, {"genre": (ds.attributes["genre"].item, ds.attributes["genre"].value)})
    items = torch.arange(n + 1)
    got = index(items.view(1, -1), items.view(1, -1))[0, ..., 0]  # [C, H]
    genre = {0: {0, 1}, 1: {1}, 2: {2}, 3: {0, 2}, 5: {3}, 7: {1, 3}}
    for c in range(n + 1):
        for h in range(n + 1):
            want = c < n and h < n and bool(genre.get(c, set()) & genre.get(h, set()))
            assert bool(got[c, h]) == want, (c, h)


def test_no_relations_at_all():
    index = RelationIndex(5, {}, {})
    got = index(torch.tensor([[0, 1]]), torch.tensor([[2, 3, 4]]))
    assert got.shape == (1, 3, 2, 0)


def test_padded_values():
    got = padded_values(np.array([2, 0, 2, 2]), np.array([5, 1, 3, 5]), num_items=4)
    # item 2's values sorted, duplicates kept; items 1 and 3 have none; row 4 is the padding item
    assert got.tolist() == [[1, -1, -1], [-1, -1, -1], [3, 5, 5], [-1, -1, -1], [-1, -1, -1]]

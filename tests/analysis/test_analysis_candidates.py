"""Candidate pairs (co-occurrence, text neighbours, held-out pairs) and the run loader."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lrdgraph.analysis.candidates import (candidate_pairs, heldout_pairs, iter_scored, knn_pairs,
                                          sequence_pairs)
from lrdgraph.analysis.trained import load_trained, relation_labels, slugify
from lrdgraph.data.dataset import Dataset, Split
from lrdgraph.errors import ConfigError, InputError


def _tiny() -> Dataset:
    """Two users over five items. u0: train 0 1 2, dev 3, test 4; u1: train 4 3, dev 0,
    test 1 (times are shuffled within train to check the ordering)."""
    tr = Split(user=[0, 1, 0, 0, 1], item=[1, 3, 0, 2, 4], time=[20, 50, 10, 30, 40])
    dv = Split(user=[0, 1], item=[3, 0], time=[60, 60], neg_items=[[4], [2]])
    ts = Split(user=[0, 1], item=[4, 1], time=[70, 70], neg_items=[[1], [2]])
    return Dataset(name="tiny", user_ids=["a", "b"], item_ids=[f"i{k}" for k in range(5)],
                   item_text=[""] * 5, train=tr, dev=dv, test=ts)


def _pairs(keys, n=5):
    return sorted((int(k) // n, int(k) % n) for k in keys)


def test_sequence_pairs_by_hand():
    ds = _tiny()
    # train sequences: u0 0 1 2, u1 4 3
    assert _pairs(sequence_pairs(ds, window=1)) == [(0, 1), (1, 2), (4, 3)]
    assert _pairs(sequence_pairs(ds, window=2)) == [(0, 1), (0, 2), (1, 2), (4, 3)]
    # full sequences u0 0 1 2 3 4, u1 4 3 0 1; targets in dev/test only, window 1
    held = sequence_pairs(ds, window=1, splits=("train", "dev", "test"),
                          target_splits=("dev", "test"))
    assert _pairs(held) == [(0, 1), (2, 3), (3, 0), (3, 4)]


def test_heldout_pairs_exclude_what_training_showed():
    ds = _tiny()
    p = heldout_pairs(ds, window=1, exclude_window=2)
    assert sorted(map(tuple, p.t().tolist())) == [(2, 3), (3, 0), (3, 4)]  # (0, 1) is a train pair


def test_knn_pairs_chunking_does_not_change_the_answer():
    torch.manual_seed(0)
    f = torch.randn(23, 6)
    full = knn_pairs(f, 4, chunk_size=10**9)
    small = knn_pairs(f, 4, chunk_size=23 * 3)  # 3 rows at a time
    assert np.array_equal(full, small)
    assert len(full) == 23 * 4
    assert not np.any(full // 23 == full % 23)  # no self pairs
    fn = torch.nn.functional.normalize(f, dim=1)
    sim = fn @ fn.t()
    sim.fill_diagonal_(-2)
    assert set(full[full // 23 == 0] % 23) == set(sim[0].topk(4).indices.tolist())


def test_candidate_pairs_union_and_guard(loaded):
    _, graph, _ = loaded
    p = candidate_pairs(graph, window=2, knn=3)
    N = graph.num_items
    keys = set((p[0] * N + p[1]).tolist())
    assert len(keys) == p.shape[1]
    assert set(sequence_pairs(graph.dataset, window=2).tolist()) <= keys
    assert set(knn_pairs(graph.features, 3).tolist()) <= keys
    with pytest.raises(ConfigError, match="--max-pairs"):
        candidate_pairs(graph, window=2, knn=3, max_pairs=100)
    with pytest.raises(ConfigError):
        candidate_pairs(graph, window=0, knn=0)


def test_iter_scored_chunks_match_one_pass(loaded):
    _, graph, model = loaded
    p = candidate_pairs(graph, window=1, knn=1)[:, :500]
    chunks = list(iter_scored(model, p, chunk_size=128))
    assert [c[0] for c in chunks] == [0, 128, 256, 384]
    q = torch.cat([c[3] for c in chunks])
    torch.testing.assert_close(q, model.latent_distribution(p[0], p[1]))
    torch.testing.assert_close(q.sum(1), torch.ones(500))


def test_load_trained(demo_run, loaded, tmp_path):
    cfg, graph, model = loaded
    assert not model.training
    assert cfg["model"]["name"] == "rcf" and model.emb_size == 16
    with pytest.raises(InputError, match="no last2 checkpoint"):
        load_trained(demo_run, checkpoint="last2")
    with pytest.raises(InputError, match="not a run directory"):
        load_trained(tmp_path)


def test_relation_labels_and_slugs(loaded):
    L = loaded[2].layout
    assert relation_labels(L) == L.relation_names
    names = {"latent_0": {"name": "Printer -> Toner!"}, "latent_1": {"label": "also_bought"}}
    labels = relation_labels(L, names)
    s = L.latent_slice.start
    assert labels[s] == "printer_toner"
    assert labels[s + 1] == "also_bought_latent_1"  # never clashes with a predefined name
    assert labels[s + 2] == "latent_2"
    assert slugify("  Über-Paper & Ink ") == "ber_paper_ink"

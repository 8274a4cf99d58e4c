"""benchmarks/text_probe.py: AUCs against hand-computed values on tiny hand-made graphs."""
from __future__ import annotations

import pytest
import torch
from torch_geometric.data import HeteroData


def test_cosine_auc_by_hand(benchmark_script):
    # unit vectors at 0, 60 and 90 degrees: cosines 1 (a, a), 0.5 (a, b), 0 (a, c)
    x = torch.tensor([[1.0, 0.0], [0.5, 3 ** 0.5 / 2], [0.0, 1.0]])
    pos = ([0, 0], [0, 1])          # cosines 1, 0.5
    neg = ([0, 0], [2, 1])          # cosines 0, 0.5
    # positive above negative in 3 of the 4 comparisons, one tie counting half
    assert benchmark_script("text_probe").cosine_auc(x, pos, neg) == pytest.approx(3.5 / 4)


def _graph(dev_item: int) -> HeteroData:
    data = HeteroData()
    colour = torch.tensor([0, 0, 1, 1, 2, 2])
    data["item"].x = torch.nn.functional.one_hot(colour, 3).float()  # text = the colour only
    data["colour"].num_nodes = 3
    data["item", "has_colour", "colour"].edge_index = torch.stack([torch.arange(6), colour])
    data["item", "similar", "item"].edge_index = torch.tensor([[0, 2, 4], [1, 3, 5]])
    # user 0 walks 0 -> 1 -> 2 -> 3 -> 4 -> 5 in train, then a dev and a test item
    items = torch.tensor([0, 1, 2, 3, 4, 5, dev_item, 0])
    data["user", "interacts", "item"].edge_index = torch.stack([torch.zeros(8, dtype=torch.long), items])
    data["user", "interacts", "item"].time = torch.arange(8)
    data["user", "interacts", "item"].split = torch.tensor([0] * 6 + [1, 2])
    return data


def test_probe_on_features_that_are_the_attribute(benchmark_script):
    out = benchmark_script("text_probe").probe_data(_graph(dev_item=5), pairs=2000, seed=0)
    assert set(out) == {"same_colour", "similar", "consecutive", "dim"} and out["dim"] == 3
    # cosine 1 exactly for the pairs that share the colour, 0 for the others
    assert out["same_colour"] == pytest.approx(1.0)
    # each "similar" edge has cosine 1; a random pair has cosine 1 only with the same colour
    assert 0.5 < out["similar"] < 1.0
    # of the five successive train pairs, 0-1, 2-3 and 4-5 share a colour, 1-2 and 3-4 do not
    assert 0.5 < out["consecutive"] < 1.0


def test_probe_never_reads_dev_or_test(benchmark_script):
    a = benchmark_script("text_probe").probe_data(_graph(dev_item=5), pairs=2000, seed=0)
    b = benchmark_script("text_probe").probe_data(_graph(dev_item=2), pairs=2000, seed=0)
    assert a == b

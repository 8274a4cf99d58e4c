"""Helpers for end-padded histories shared by the baselines, checked by hand."""
from __future__ import annotations

import torch

from lrdgraph.models.sequential import gather_last, history_lengths, last_items

PAD = 9
H = torch.tensor([[1, 2, 3, PAD, PAD],
                  [4, 5, 6, 7, 8],
                  [6, PAD, PAD, PAD, PAD],
                  [PAD, PAD, PAD, PAD, PAD]])


def test_history_lengths():
    assert history_lengths(H, PAD).tolist() == [3, 5, 1, 0]


def test_gather_last_takes_the_last_valid_position():
    x = torch.arange(20).view(4, 5)
    assert gather_last(x, history_lengths(H, PAD)).tolist() == [2, 9, 10, 15]
    x3 = torch.arange(40).view(4, 5, 2)
    assert gather_last(x3, history_lengths(H, PAD)).tolist() == [[4, 5], [18, 19], [20, 21], [30, 31]]


def test_last_items_right_aligned():
    assert last_items(H, PAD, 2).tolist() == [[2, 3], [7, 8], [PAD, 6], [PAD, PAD]]
    assert last_items(H, PAD, 6).tolist() == [[PAD, PAD, PAD, 1, 2, 3], [PAD, 4, 5, 6, 7, 8],
                                              [PAD, PAD, PAD, PAD, PAD, 6], [PAD] * 6]


def test_trainer_skips_kge_and_lrd_for_baselines_only():
    from lrdgraph.models import MODELS, SequentialRecommender

    for name, cls in MODELS.items():
        baseline = issubclass(cls, SequentialRecommender)
        assert getattr(cls, "supports_kge", True) is (not baseline), name
    from lrdgraph.config import BASELINES, MODEL_NAMES

    assert set(MODEL_NAMES) == set(MODELS)
    assert set(BASELINES) == {n for n, c in MODELS.items() if issubclass(c, SequentialRecommender)}

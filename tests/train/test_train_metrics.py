"""Ranking metrics against hand-computed ranks and values."""
from __future__ import annotations

import math

import pytest
import torch

from lrdgraph.train.metrics import full_ranks, ranking_metrics, sampled_ranks


def test_metrics_from_ranks_by_hand():
    m = ranking_metrics(torch.tensor([1, 3, 7]), [1, 5, 10])
    assert list(m) == ["HR@1", "NDCG@1", "HR@5", "NDCG@5", "HR@10", "NDCG@10"]
    assert m["HR@1"] == pytest.approx(1 / 3)
    assert m["NDCG@1"] == pytest.approx(1 / 3)
    assert m["HR@5"] == pytest.approx(2 / 3)
    assert m["NDCG@5"] == pytest.approx((1 + 1 / math.log2(4)) / 3)  # ranks 1 and 3 count
    assert m["HR@10"] == pytest.approx(1.0)
    assert m["NDCG@10"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)  # 1/log2(8) = 1/3


def test_rank_exactly_k_counts():
    m = ranking_metrics(torch.tensor([5, 6]), [5])
    assert m["HR@5"] == pytest.approx(0.5)
    assert m["NDCG@5"] == pytest.approx(1 / math.log2(6) / 2)


def test_sampled_ranks_by_hand():
    scores = torch.tensor([
        [5.0, 1.0, 2.0, 3.0],  # best: rank 1
        [2.0, 3.0, 1.0, 4.0],  # two above: rank 3
        [1.0, 2.0, 3.0, 4.0],  # last: rank 4
    ])
    assert sampled_ranks(scores).tolist() == [1, 3, 4]


def test_sampled_ties_are_pessimistic():
    # a negative with the same score as the positive ranks above it
    assert sampled_ranks(torch.tensor([[1.0, 1.0, 0.0]])).tolist() == [2]
    # all equal: the positive is last
    assert sampled_ranks(torch.zeros(1, 100)).tolist() == [100]


def test_duplicate_negatives_each_count():
    # negatives [7, 7, 7, 2] as item ids: the duplicated item scores 0.9 three times
    scores = torch.tensor([[0.5, 0.9, 0.9, 0.9, 0.1]])
    assert sampled_ranks(scores).tolist() == [4]
    m = ranking_metrics(sampled_ranks(scores), [3, 5])
    assert m["HR@3"] == 0.0
    assert m["NDCG@5"] == pytest.approx(1 / math.log2(5))


def test_full_ranks_mask_and_self():
    #                   item: 0    1    2    3    4    5
    scores = torch.tensor([[0.1, 0.9, 0.5, 0.5, 0.7, 0.2],
                           [0.3, 0.3, 0.3, 0.3, 0.3, 0.3]])
    target = torch.tensor([2, 4])
    # row 0: items 1 (0.9) and 4 (0.7) beat 0.5, item 3 ties (pessimistic): rank 4
    assert full_ranks(scores, target).tolist() == [4, 6]
    exclude = torch.zeros(2, 6, dtype=torch.bool)
    exclude[0, 1] = True  # a known item of user 0 does not compete
    exclude[1, [0, 1, 2]] = True
    assert full_ranks(scores, target, exclude).tolist() == [3, 3]


def test_full_ranks_target_never_competes_with_itself():
    scores = torch.tensor([[0.4, 0.2, 0.3]])
    # the target is the best item: rank 1 even though "score >= own score" holds for itself
    assert full_ranks(scores, torch.tensor([0])).tolist() == [1]
    # ... and also when the target is in the user's known items (a re-bought item)
    exclude = torch.tensor([[True, False, False]])
    assert full_ranks(scores, torch.tensor([0]), exclude).tolist() == [1]
    # the exclusion mask is not modified
    assert exclude.tolist() == [[True, False, False]]


def test_full_ranks_agree_with_sampled_on_the_same_candidates():
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(4, 30, generator=g)
    target = torch.tensor([3, 0, 29, 11])
    full = full_ranks(scores, target)
    others = torch.stack([torch.cat([scores[b, :target[b]], scores[b, target[b] + 1:]])
                          for b in range(4)])
    sampled = sampled_ranks(torch.cat([scores.gather(1, target.view(-1, 1)), others], 1))
    assert full.tolist() == sampled.tolist()


def test_empty_ranks_do_not_crash():
    m = ranking_metrics(torch.zeros(0, dtype=torch.long), [5])
    assert set(m) == {"HR@5", "NDCG@5"}


def test_nan_scores_never_help_the_positive():
    nan = float("nan")
    # a NaN positive ranks last; a NaN negative ranks above the positive
    assert sampled_ranks(torch.tensor([[nan, 0.0, 1.0], [0.5, nan, 0.1]])).tolist() == [3, 2]
    scores = torch.tensor([[nan, 0.2, 0.3, 0.1], [0.9, nan, 0.1, 0.2]])
    assert full_ranks(scores, torch.tensor([0, 0])).tolist() == [4, 2]
    exclude = torch.tensor([[False, False, True, False], [False, True, False, False]])
    assert full_ranks(scores, torch.tensor([0, 0]), exclude).tolist() == [3, 1]

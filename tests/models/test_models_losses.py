"""Pairwise ranking losses: agreement, values by hand, extreme scores."""
from __future__ import annotations

import math

import pytest
import torch

from lrdgraph.models.losses import bpr_loss, weighted_bpr_loss


def test_bpr_by_hand():
    assert bpr_loss(torch.tensor([0.0]), torch.tensor([0.0])).item() == pytest.approx(math.log(2))
    want = -(math.log(1 / (1 + math.exp(-1))) + math.log(1 / (1 + math.exp(2)))) / 2
    got = bpr_loss(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0]))
    assert got.item() == pytest.approx(want)


def test_weighted_bpr_by_hand():
    pos, neg = torch.tensor([1.0]), torch.tensor([[0.0, 2.0]])
    w = [math.exp(0) / (math.exp(0) + math.exp(2)), math.exp(2) / (math.exp(0) + math.exp(2))]
    sig = [1 / (1 + math.exp(-(1 - 0))), 1 / (1 + math.exp(-(1 - 2)))]
    want = -math.log(w[0] * sig[0] + w[1] * sig[1])
    assert weighted_bpr_loss(pos, neg).item() == pytest.approx(want, rel=1e-6)


def test_one_negative_agrees():
    g = torch.Generator().manual_seed(0)
    pos, neg = torch.randn(16, generator=g), torch.randn(16, generator=g)
    b = bpr_loss(pos, neg)
    torch.testing.assert_close(weighted_bpr_loss(pos, neg.unsqueeze(1)), b)
    torch.testing.assert_close(weighted_bpr_loss(pos, neg), b)  # [B] negatives accepted


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_extreme_scores_finite(sign):
    pos = torch.tensor([sign * 1e4, 0.0], requires_grad=True)
    neg = torch.tensor([[-sign * 1e4, 0.0], [1e4, -1e4]], requires_grad=True)
    for loss in (bpr_loss(pos, neg[:, 0]), weighted_bpr_loss(pos, neg)):
        assert torch.isfinite(loss)
        pos.grad = neg.grad = None
        loss.backward()
        assert torch.isfinite(pos.grad).all() and torch.isfinite(neg.grad).all()
    if sign < 0:  # a hopeless positive costs about the score gap, not inf
        # score gaps -2e4 and -1e4: -log sigmoid(x) = -x for very negative x
        assert bpr_loss(pos, neg[:, 0]).item() == pytest.approx((2e4 + 1e4) / 2)

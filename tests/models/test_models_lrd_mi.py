"""The mutual-information LRD objective (ours): value against a direct computation, and the
direction of its two entropy terms."""
from __future__ import annotations

import math

import torch

from lrdgraph.models.lrd import lrd_loss_mi


def _direct(logits, head, neg, tail, rel, mask, alpha, beta):
    B, H, R = logits.shape
    lls, ents, qs = [], [], []
    for b in range(B):
        for k in range(H):
            if not mask[b, k]:
                continue
            q = torch.softmax(logits[b, k], -1)
            ll = 0.0
            for r in range(R):
                pos = (head[b, k] * rel[r] * tail[b]).sum()
                ng = (neg[b, k] * rel[r] * tail[b]).sum()
                ll = ll + q[r] * (torch.log(torch.sigmoid(pos)) + torch.log(torch.sigmoid(-ng)))
            lls.append(ll)
            ents.append(-(q * q.log()).sum())
            qs.append(q)
    marg = torch.stack(qs).mean(0)
    return -torch.stack(lls).mean() + alpha * torch.stack(ents).mean() + beta * (marg * marg.log()).sum()


def test_value_matches_direct_computation():
    g = torch.Generator().manual_seed(0)
    B, H, R, V = 3, 4, 5, 6
    args = (torch.randn(B, H, R, generator=g), torch.randn(B, H, V, generator=g),
            torch.randn(B, H, V, generator=g), torch.randn(B, V, generator=g),
            torch.randn(R, V, generator=g))
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]], dtype=torch.bool)
    got = lrd_loss_mi(*args, mask, alpha=0.7, beta=1.3)
    want = _direct(*args, mask, 0.7, 1.3)
    assert torch.allclose(got, want, atol=1e-5)


def test_entropy_terms_sharpen_pairs_and_spread_usage():
    """With the reconstruction switched off (zero embeddings), a gradient step on the logits
    lowers each pair's entropy (α) and raises the entropy of the average q (β)."""
    B, H, R, V = 8, 1, 4, 3
    g = torch.Generator().manual_seed(1)
    # every pair prefers relation 0 a little: marginal is concentrated, pairs are fuzzy
    logits = (torch.randn(B, H, R, generator=g) * 0.3).requires_grad_()
    with torch.no_grad():
        logits[..., 0] += 1.0
    z = torch.zeros(B, H, V)
    mask = torch.ones(B, H, dtype=torch.bool)

    def stats(lg):
        q = torch.softmax(lg, -1)
        cond = (-(q * q.log()).sum(-1)).mean()
        m = q.mean((0, 1))
        return cond.item(), (-(m * m.log()).sum()).item()

    c0, m0 = stats(logits.detach())
    loss = lrd_loss_mi(logits, z, z, torch.zeros(B, V), torch.zeros(R, V), mask, alpha=1.0, beta=2.0)
    loss.backward()
    stepped = logits.detach() - 0.5 * logits.grad
    c1, m1 = stats(stepped)
    assert m1 > m0  # usage of relations spreads out
    only_alpha = logits.detach().clone().requires_grad_()
    lrd_loss_mi(only_alpha, z, z, torch.zeros(B, V), torch.zeros(R, V), mask, alpha=1.0,
                beta=0.0).backward()
    c2, _ = stats(only_alpha.detach() - 0.5 * only_alpha.grad)
    assert c2 < c0  # each pair's q sharpens
    assert 0 < c0 < math.log(R)

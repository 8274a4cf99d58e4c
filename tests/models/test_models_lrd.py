"""LRD: the relation extractor (Eq. 3-4) and both reconstruction objectives (Eq. 8/14 and the
reference code's, ``lrd-reference.md`` §4.5), checked against loop computations."""
from __future__ import annotations

import math

import pytest
import torch

from lrdgraph.models import RelationExtractor, build_model, lrd_loss_paper, lrd_loss_reference
from model_cases import make_batch


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def example(seed: int = 0, B: int = 2, H: int = 3, R: int = 4, V: int = 5):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, H, R, generator=g)
    head = torch.randn(B, H, V, generator=g)
    neg = torch.randn(B, H, V, generator=g)
    tail = torch.randn(B, V, generator=g)
    rel = torch.randn(R, V, generator=g)
    mask = torch.tensor([[True, True, False], [True, False, False]])[:B, :H]
    return logits, head, neg, tail, rel, mask


def q_of(logits_row):
    e = [math.exp(x) for x in logits_row]
    return [x / sum(e) for x in e]


def dm(a, r, t):
    return sum(x * y * z for x, y, z in zip(a, r, t))


def paper_by_loop(logits, head, neg, tail, rel, mask, alpha):
    total, count = 0.0, 0
    B, H, R = logits.shape
    for b in range(B):
        for k in range(H):
            if not mask[b, k]:
                continue
            q = q_of(logits[b, k].tolist())
            ll = 0.0
            for r in range(R):
                pos = dm(head[b, k].tolist(), rel[r].tolist(), tail[b].tolist())
                ng = dm(neg[b, k].tolist(), rel[r].tolist(), tail[b].tolist())
                ll += q[r] * (math.log(sig(pos)) + math.log(sig(-ng)))
            ent = -sum(p * math.log(p) for p in q)
            total += ll + alpha * ent
            count += 1
    return -total / count


def reference_by_loop(logits, head, neg, tail, rel, mask, alpha, skip_virtual=False):
    B, H, R = logits.shape
    slots = range(1, R) if skip_virtual else range(R)
    rec_terms = []
    ent_sum, ent_n = 0.0, 0
    for b in range(B):
        valid = [k for k in range(H) if mask[b, k]]
        if not valid:
            continue
        for r in slots:
            mean = 0.0
            for k in valid:
                q = q_of(logits[b, k].tolist())
                rr = [q[r] * x for x in rel[r].tolist()]
                diff = [x - y for x, y in zip(head[b, k].tolist(), neg[b, k].tolist())]
                psi = dm(diff, rr, tail[b].tolist()) + sum(x * y for x, y in zip(diff, rr))
                mean += sig(psi) / len(valid)
            rec_terms.append(-math.log(mean))
        for k in valid:
            q = q_of(logits[b, k].tolist())
            ent_sum += -sum(p * math.log(p) for p in q)
            ent_n += R
    return sum(rec_terms) / len(rec_terms) + alpha * ent_sum / ent_n


@pytest.mark.parametrize("alpha", [0.0, 0.1, 2.0])
def test_paper_objective_equals_loop(alpha):
    ex = example()
    got = lrd_loss_paper(*ex, alpha)
    assert got.item() == pytest.approx(paper_by_loop(*ex, alpha), rel=1e-5)


@pytest.mark.parametrize("skip_virtual", [False, True])
@pytest.mark.parametrize("alpha", [0.0, 0.1])
def test_reference_objective_equals_loop(alpha, skip_virtual):
    ex = example(1)
    got = lrd_loss_reference(*ex, alpha, skip_virtual=skip_virtual)
    assert torch.isfinite(got)
    assert got.item() == pytest.approx(reference_by_loop(*ex, alpha, skip_virtual), rel=1e-5)


def test_padding_does_not_matter():
    logits, head, neg, tail, rel, mask = example(2)
    changed = [x.clone() for x in (logits, head, neg)]
    for x in changed:
        x[~mask] = 1e3  # garbage at padded positions
    for fn in (lrd_loss_paper, lrd_loss_reference):
        a = fn(logits, head, neg, tail, rel, mask, 0.1)
        b = fn(*changed, tail, rel, mask, 0.1)
        torch.testing.assert_close(a, b)


def test_no_valid_pairs_is_zero_not_nan():
    logits, head, neg, tail, rel, mask = example()
    none = torch.zeros_like(mask)
    loss = lrd_loss_paper(logits.requires_grad_(), head, neg, tail, rel, none, 0.1)
    assert loss.item() == 0.0
    loss.backward()  # still part of the graph


def test_extreme_logits_finite():
    logits, head, neg, tail, rel, mask = example()
    logits = logits * 1e4  # q underflows to exactly 0 for most slots
    for fn in (lrd_loss_paper, lrd_loss_reference):
        lg = logits.clone().requires_grad_()
        loss = fn(lg, head * 100, neg * 100, tail * 100, rel, mask, 0.1)
        assert torch.isfinite(loss)
        loss.backward()
        assert torch.isfinite(lg.grad).all()


def _entropy(logits):
    logq = torch.log_softmax(logits, -1)
    return -(logq.exp() * logq).sum(-1)


@pytest.mark.parametrize("objective, more_uniform", [("paper", True), ("reference", False)])
def test_entropy_sign(objective, more_uniform):
    """Raising alpha makes q more uniform under the paper's objective (its bound adds +alpha H
    to a maximised objective) and sharper under the reference code's (it adds +alpha H to a
    minimised loss): compare one gradient step on the logits."""
    fn = lrd_loss_paper if objective == "paper" else lrd_loss_reference
    logits, head, neg, tail, rel, mask = example(3)
    after = {}
    for alpha in (0.0, 5.0):
        lg = logits.clone().requires_grad_()
        fn(lg, head, neg, tail, rel, mask, alpha).backward()
        after[alpha] = _entropy(lg.detach() - 0.1 * lg.grad)[mask].mean()
    if more_uniform:
        assert after[5.0] > after[0.0]
    else:
        assert after[5.0] < after[0.0]
    # d loss / d alpha: -mean H (paper), +mean H / R (reference)
    H = _entropy(logits)[mask].mean()
    d = fn(logits, head, neg, tail, rel, mask, 1.0) - fn(logits, head, neg, tail, rel, mask, 0.0)
    want = -H if objective == "paper" else H / logits.shape[-1]
    torch.testing.assert_close(d, want, atol=1e-5, rtol=1e-5)


def test_extractor_pair_logits_equal_aligned_logits():
    torch.manual_seed(0)
    ex = RelationExtractor(6, emb_dim=4, num_relations=5)
    assert repr(ex) == "RelationExtractor(6, emb_dim=4, num_relations=5)"
    with torch.no_grad():
        for p in ex.parameters():
            p.normal_()
    x_hist, x_cand = torch.randn(2, 3, 6), torch.randn(2, 4, 6)
    pairs = ex.pair_logits(x_hist, x_cand)
    assert pairs.shape == (2, 4, 3, 5)
    aligned = ex.logits(x_hist.unsqueeze(1).expand(-1, 4, -1, -1),
                        x_cand.unsqueeze(2).expand(-1, -1, 3, -1))
    torch.testing.assert_close(pairs, aligned, atol=1e-5, rtol=1e-5)
    q = ex(x_hist[:, 0], x_cand[:, 0])
    torch.testing.assert_close(q.sum(-1), torch.ones(2))


def test_extractor_reset_parameters():
    ex = RelationExtractor(6, emb_dim=4, num_relations=5)
    with torch.no_grad():
        for p in ex.parameters():
            p.fill_(1.0)
    ex.reset_parameters()
    for name, p in ex.named_parameters():
        assert p.abs().max() < 0.1, name


@pytest.mark.parametrize("objective", ["paper", "reference", "mi"])
def test_relation_grad_latent_leaves_virtual_and_predefined_to_rec_and_kge(
        objective, tiny_config, demo_graph, demo_data):
    grads = {}
    for mode in ("all", "latent"):
        torch.manual_seed(0)
        model = build_model(tiny_config("kda", f"lrd.objective={objective}",
                                        f"lrd.relation_grad={mode}"), demo_graph)
        batch = make_batch(model, demo_data)
        model.lrd_loss(batch).backward()
        grads[mode] = model.relation_emb.weight.grad.abs().sum(1)
        if mode == "latent":  # the rows it detaches still get the rec loss's gradient
            model.zero_grad()
            model.rec_loss(batch).backward()
            assert (model.relation_emb.weight.grad.abs().sum(1) > 0).all()
    lat = model.layout.latent_slice
    other = torch.ones_like(grads["all"], dtype=torch.bool)
    other[lat] = False
    assert (grads["all"][other] > 0).all()          # the paper's LRD moves every relation
    assert (grads["latent"][other] == 0).all()      # ours: not virtual nor predefined
    assert torch.allclose(grads["latent"][lat], grads["all"][lat])  # latent rows: unchanged

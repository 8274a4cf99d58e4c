"""``RelationalRecommender.explain`` and the ``user_vec`` override behind ``recommend``."""
from __future__ import annotations

import copy

import pytest
import torch

from lrdgraph.models import build_model
from lrdgraph.train.data import SequenceData


def _batch(graph, n=4):
    data = SequenceData(graph.dataset)
    b = data.test.batch(torch.arange(n), "cpu")
    cands = torch.arange(n * 5).view(n, 5)
    return b, cands


@pytest.mark.parametrize("name,pooling", [("trained", "average"), ("rcf", "max"),
                                          ("rcf", "attention"), ("kda", "average")])
def test_explain_decomposes_the_score(loaded, name, pooling):
    cfg, graph, model = loaded
    if name != "trained":  # an untrained model of another kind / pooling on the same graph
        cfg = copy.deepcopy(cfg)
        cfg["model"].update(name=name, pooling=pooling)
        torch.manual_seed(0)
        model = build_model(cfg, graph).eval()
    b, c = _batch(graph)
    with torch.no_grad():
        score = model(b, c)
    ex = model.explain(b, c)
    B, C = c.shape
    H, R = b["history"].shape[1], model.layout.num_relations
    assert ex["alpha"].shape == ex["contribution"].shape == (B, C, H, R)
    assert ex["slot_score"].shape == ex["relation_importance"].shape == (B, C, R)
    torch.testing.assert_close(ex["score"], score, rtol=1e-5, atol=1e-5)
    # the slot scores are the exact share of the pooled vector's term in the score
    user = model.user_emb(b["user"])
    t = model.entity_emb(c)
    rest = (user.unsqueeze(1) * t).sum(-1) + model.item_bias[c]
    torch.testing.assert_close(ex["slot_score"].sum(-1), score - rest, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ex["relation_importance"].sum(-1), torch.ones(B, C))
    assert (ex["contribution"] >= 0).all()
    # padded history positions get nothing
    pad = b["history"] >= model.layout.num_items
    assert (ex["contribution"].permute(0, 2, 1, 3)[pad] == 0).all()
    total = ex["contribution"].sum((2, 3))
    assert (total <= 1 + 1e-5).all()
    if name != "kda":  # without the decay the attention sums to one over the history
        torch.testing.assert_close(total, torch.ones(B, C), rtol=1e-5, atol=1e-5)


def test_user_vec_replaces_the_user_embedding(loaded):
    _, graph, model = loaded
    b, c = _batch(graph, 2)
    with torch.no_grad():
        ref = model(b, c)
        b2 = dict(b, user_vec=model.user_emb(b["user"]))
        torch.testing.assert_close(model(b2, c), ref)
        b3 = dict(b, user_vec=torch.zeros(2, model.emb_size))
        assert not torch.allclose(model(b3, c), ref)

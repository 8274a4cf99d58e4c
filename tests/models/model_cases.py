"""Shared test cases of the relation-aware recommenders (PyKEEN's ``tests/cases.py`` style).

A model's test module subclasses :class:`RecommenderCase` once, setting ``model_name`` and
``cls``; the case runs every common check for each switch combination in :data:`SWITCHES`
(a pairwise cover of lrd on/off, objective paper/reference, features text/id, relation
evidence none/graph and pooling average/max/attention).
"""
from __future__ import annotations

import copy
import io
from typing import Dict, List

import pytest
import torch

from scoring_contract import ScoringContract

SWITCHES: List[Dict[str, str]] = [
    {"lrd.enabled": "true", "lrd.objective": "paper", "lrd.features": "text",
     "model.relation_evidence": "none", "model.pooling": "average"},
    {"lrd.enabled": "true", "lrd.objective": "reference", "lrd.features": "id",
     "model.relation_evidence": "graph", "model.pooling": "attention"},
    {"lrd.enabled": "true", "lrd.objective": "paper", "lrd.features": "id",
     "model.relation_evidence": "graph", "model.pooling": "max"},
    {"lrd.enabled": "true", "lrd.objective": "reference", "lrd.features": "text",
     "model.relation_evidence": "none", "model.pooling": "max", "lrd.skip_virtual": "true"},
    {"lrd.enabled": "true", "lrd.objective": "paper", "lrd.features": "text",
     "model.relation_evidence": "graph", "model.pooling": "attention"},
    {"lrd.enabled": "false", "model.relation_evidence": "none", "model.pooling": "attention"},
    {"lrd.enabled": "false", "model.relation_evidence": "graph", "model.pooling": "average"},
    {"lrd.enabled": "false", "model.relation_evidence": "none", "model.pooling": "max"},
]


def switch_id(sw: Dict[str, str]) -> str:
    return "-".join(f"{k.split('.')[1]}={v}" for k, v in sw.items())


def make_batch(model, data, rows: str = "train", n: int = 6, num_neg: int = 2,
               seed: int = 0) -> Dict[str, torch.Tensor]:
    """A training batch of the first ``n`` rows: candidates, LRD negatives and KG triples."""
    from lrdgraph.train.data import KGSampler, NegativeSampler

    g = torch.Generator().manual_seed(seed)
    r = getattr(data, rows)
    idx = torch.arange(n)
    b = r.batch(idx, torch.device("cpu"))
    neg = NegativeSampler(data, g)
    b["candidates"] = torch.cat([b["item"].unsqueeze(1), neg.sample(b["user"], (num_neg,))], 1)
    b["lrd_neg"] = neg.sample(b["user"], (b["history"].shape[1],))
    b.update(KGSampler(data.dataset, model.layout, g).sample(n))
    return b


class RecommenderCase(ScoringContract):
    """Common contract of every relation-aware recommender."""

    model_name: str = ""
    cls: type = object

    @pytest.fixture(params=SWITCHES, ids=switch_id)
    def switches(self, request) -> Dict[str, str]:
        return request.param

    @pytest.fixture
    def cfg(self, tiny_config, switches):
        return tiny_config(self.model_name, *(f"{k}={v}" for k, v in switches.items()))

    def build(self, cfg, graph, seed: int = 0):
        from lrdgraph.models import build_model

        torch.manual_seed(seed)
        return build_model(cfg, graph)

    @pytest.fixture
    def model(self, cfg, demo_graph):
        return self.build(cfg, demo_graph).eval()

    @pytest.fixture
    def batch(self, model, demo_data):
        return make_batch(model, demo_data)

    # ------------------------------------------------------------------ construction
    def test_class_and_repr(self, model, cfg, demo_graph):
        assert type(model) is self.cls
        L = model.layout
        K = cfg["lrd"]["num_latent"] if cfg["lrd"]["enabled"] else 0
        ds = demo_graph.dataset
        R = 1 + len(ds.relations) + len(ds.attributes) + K
        assert repr(model) == (f"{self.cls.__name__}({ds.num_items}, num_users={ds.num_users}, "
                               f"num_relations={R}, num_latent={K}, emb_size=16)")
        assert L.num_relations == R

    def test_layout_and_lrd_switch(self, model, cfg, demo_graph):
        L = model.layout
        n_pre = len(L.predefined)
        assert n_pre == len(demo_graph.dataset.relations) + len(demo_graph.dataset.attributes)
        if cfg["lrd"]["enabled"]:
            assert L.num_latent == cfg["lrd"]["num_latent"] > 0
            assert model.use_lrd and model.extractor is not None
        else:  # --no-lrd: the vanilla model, no latent slots at all
            assert L.num_latent == 0
            assert model.relation_emb.weight.shape[0] == 1 + n_pre
            assert not model.use_lrd and model.extractor is None
            assert L.relation_names == ["any"] + L.predefined
        assert model.relation_emb.weight.shape == (L.num_relations, 16)
        assert model.entity_emb.weight.shape[0] == L.num_entities
        if cfg["model"]["relation_evidence"] == "graph":
            assert model.relation_index is not None
            assert model.evidence_weight.shape == (L.num_relations,)

    # ------------------------------------------------------------------ scoring and losses
    def test_output_shapes_and_finite_losses(self, model, batch):
        B, C = batch["candidates"].shape
        scores = model(batch, batch["candidates"])
        assert scores.shape == (B, C) and torch.isfinite(scores).all()
        model.train()
        losses = model.losses(batch)
        want = {"rec", "kge"} | ({"lrd"} if model.use_lrd else set())
        assert set(losses) == want
        for name, v in losses.items():
            assert v.shape == () and torch.isfinite(v), name
        assert model.losses(batch, kge=False).keys() == want - {"kge"}
        total = sum(losses.values())
        total.backward()
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
        assert model.entity_emb.weight.grad.abs().sum() > 0
        if model.use_lrd:
            assert model.extractor.classifier.weight.grad.abs().sum() > 0

    def test_seed_determinism(self, cfg, demo_graph, demo_data):
        a = self.build(cfg, demo_graph, seed=3).eval()
        b = self.build(cfg, demo_graph, seed=3).eval()
        c = self.build(cfg, demo_graph, seed=4).eval()
        batch = make_batch(a, demo_data)
        with torch.no_grad():
            sa, sb, sc = (m(batch, batch["candidates"]) for m in (a, b, c))
        assert torch.equal(sa, sb)
        assert not torch.equal(sa, sc)
        for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items()):
            assert na == nb and torch.equal(pa, pb), na

    def test_reset_parameters(self, model, batch):
        with torch.no_grad():
            before = model(batch, batch["candidates"])
            for p in model.parameters():
                p.fill_(0.37)
        model.reset_parameters()
        for name, p in model.named_parameters():
            assert not torch.all(p == 0.37), f"{name} was not re-initialised"
        # the re-initialised model is a fresh draw from the same initialisation
        inits = {"item_bias": 0.0, "slots.norm.weight": 1.0, "slots.norm.bias": 0.0,
                 "evidence_weight": 1.0}
        for name, p in model.named_parameters():
            if name in inits:
                assert torch.all(p == inits[name]), name
            elif p.dim() > 0 and p.numel() > 8:
                assert p.abs().max() < 0.1, name  # N(0, 0.01)
        with torch.no_grad():
            after = model(batch, batch["candidates"])
        assert after.shape == before.shape and torch.isfinite(after).all()

    def test_state_dict_round_trip(self, model, cfg, demo_graph, batch):
        # train one step so the state differs from a fresh build
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=0.05)
        sum(model.losses(batch).values()).backward()
        opt.step()
        model.eval()
        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        buf.seek(0)
        state = torch.load(buf, weights_only=True)
        # the frozen text features and the relation index are not in the state dict
        assert not any(k == "features" or k.startswith("relation_index") for k in state)
        other = self.build(cfg, demo_graph, seed=99).eval()
        other.load_state_dict(state)
        with torch.no_grad():
            assert torch.equal(model(batch, batch["candidates"]), other(batch, batch["candidates"]))

    def test_dropout_only_in_training(self, cfg, demo_graph, demo_data):
        cfg = copy.deepcopy(cfg)
        cfg["model"]["dropout"] = 0.5
        model = self.build(cfg, demo_graph).eval()
        batch = make_batch(model, demo_data)
        with torch.no_grad():
            assert torch.equal(model(batch, batch["candidates"]), model(batch, batch["candidates"]))

    def test_training_steps_lower_rec_loss(self, model, batch):
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        first = None
        for _ in range(15):
            loss = model.rec_loss(batch)
            first = loss.item() if first is None else first
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert model.rec_loss(batch).item() < first

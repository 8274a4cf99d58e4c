"""Shared test cases of the sequence baselines (Caser, GRU4Rec, SASRec, TiSASRec).

A baseline's test module subclasses :class:`BaselineCase` once, setting ``model_name``, ``cls``
and ``repr_extra``; the case checks the recommender contract the trainer and the evaluator
rely on, the handling of end-padded histories, and a one-epoch run through the trainer.
"""
from __future__ import annotations

import copy
import io
import json
import math
from typing import Dict

import pytest
import torch

from scoring_contract import ScoringContract

#: settings on top of the shared TINY_SETTINGS: one epoch, one thread (the test machine is
#: small and shared; more threads only add contention)
BASELINE_SETTINGS = ["train.epochs=1", "train.num_threads=1"]


def make_batch(data, rows: str = "train", idx=None, num_neg: int = 2, seed: int = 0
               ) -> Dict[str, torch.Tensor]:
    """A batch of ``rows`` (default: the first 6 training instances) with sampled candidates."""
    from lrdgraph.train.data import NegativeSampler

    g = torch.Generator().manual_seed(seed)
    r = getattr(data, rows)
    idx = torch.arange(6) if idx is None else torch.as_tensor(idx)
    b = r.batch(idx, torch.device("cpu"))
    neg = NegativeSampler(data, g)
    b["candidates"] = torch.cat([b["item"].unsqueeze(1), neg.sample(b["user"], (num_neg,))], 1)
    return b


def pad_to(batch: Dict[str, torch.Tensor], width: int, pad: int) -> Dict[str, torch.Tensor]:
    """``batch`` with history and history_time widened to ``width`` columns of padding."""
    out = dict(batch)
    H = batch["history"].shape[1]
    out["history"] = torch.cat([batch["history"],
                                batch["history"].new_full((len(batch["history"]), width - H), pad)], 1)
    out["history_time"] = torch.cat([batch["history_time"],
                                     batch["history_time"].new_zeros(len(batch["history"]), width - H)], 1)
    return out


def row(batch: Dict[str, torch.Tensor], i: int, width: int | None = None) -> Dict[str, torch.Tensor]:
    """Row ``i`` of ``batch`` alone, its history cut to ``width`` columns."""
    out = {k: v[i:i + 1] for k, v in batch.items()}
    if width is not None:
        out["history"] = out["history"][:, :width]
        out["history_time"] = out["history_time"][:, :width]
    return out


class BaselineCase(ScoringContract):
    """Common contract of every sequence baseline."""

    model_name: str = ""
    cls: type = object
    repr_extra: str = ""

    @pytest.fixture(autouse=True)
    def one_thread(self):
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(before)

    @pytest.fixture
    def cfg(self, tiny_config):
        return tiny_config(self.model_name, *BASELINE_SETTINGS)

    def build(self, cfg, graph, seed: int = 0):
        from lrdgraph.models import build_model

        torch.manual_seed(seed)
        return build_model(cfg, graph)

    @pytest.fixture
    def model(self, cfg, demo_graph):
        return self.build(cfg, demo_graph).eval()

    @pytest.fixture
    def batch(self, demo_data):
        return make_batch(demo_data)

    # ------------------------------------------------------------------ construction
    def test_class_repr_and_config(self, model, cfg, demo_graph):
        from lrdgraph.models import MODELS

        ds = demo_graph.dataset
        assert type(model) is self.cls and MODELS[self.model_name] is self.cls
        assert repr(model) == (f"{self.cls.__name__}({ds.num_items}, num_users={ds.num_users}, "
                               f"emb_size=16, {self.repr_extra})")
        # a baseline: its yaml turns the KGE and LRD tasks off, the model has neither
        assert cfg["model"]["name"] == self.model_name
        assert cfg["lrd"]["enabled"] is False and cfg["kge"]["enabled"] is False
        assert model.use_lrd is False and model.supports_kge is False

    # ------------------------------------------------------------------ scoring and losses
    def test_scores_and_losses(self, model, batch):
        B, C = batch["candidates"].shape
        scores = model(batch, batch["candidates"])
        assert scores.shape == (B, C) and torch.isfinite(scores).all()
        model.train()
        for kge in (True, False):  # the contract's kge flag is accepted and ignored
            losses = model.losses(batch, kge=kge)
            assert set(losses) == {"rec"}
            assert losses["rec"].shape == () and torch.isfinite(losses["rec"])
            assert losses["rec"] > 0
        model.losses(batch)["rec"].backward()
        grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
        assert all(torch.isfinite(g).all() for g in grads.values())
        assert model.item_emb.weight.grad.abs().sum() > 0
        # the padding item gets no gradient: it stays the zero vector
        assert model.item_emb.weight.grad[model.num_items].abs().sum() == 0

    # ------------------------------------------------------------------ end-padded histories
    def test_last_valid_position_not_last_column(self, model, demo_data):
        """A short history scores the same alone, cut to its valid items, or padded wider (in
        a batch with longer histories): the model reads the last *valid* position."""
        hist = demo_data.train.history
        lengths = (hist < demo_data.num_items).sum(1)
        short = int(torch.nonzero((lengths >= 2) & (lengths <= 4))[0])
        long_ = int(torch.argmax(lengths))
        b = make_batch(demo_data, idx=[short, long_])
        n = int(lengths[short])
        assert b["history"].shape[1] > n + 2  # the batch pads the short row
        with torch.no_grad():
            in_batch = model(b, b["candidates"])[0]
            alone = model(row(b, 0, width=n), b["candidates"][:1])[0]
            wider = model(pad_to(row(b, 0, width=n), n + 7, demo_data.num_items), b["candidates"][:1])[0]
        torch.testing.assert_close(in_batch, alone, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(wider, alone, atol=1e-5, rtol=1e-5)
        # and it does read the most recent valid item
        changed = row(b, 0, width=n)
        changed["history"] = changed["history"].clone()
        changed["history"][0, n - 1] = (changed["history"][0, n - 1] + 1) % demo_data.num_items
        with torch.no_grad():
            assert not torch.allclose(model(changed, b["candidates"][:1])[0], alone)

    # ------------------------------------------------------------------ parameters
    def test_seed_determinism(self, cfg, demo_graph, batch):
        a = self.build(cfg, demo_graph, seed=3).eval()
        b = self.build(cfg, demo_graph, seed=3).eval()
        c = self.build(cfg, demo_graph, seed=4).eval()
        with torch.no_grad():
            sa, sb, sc = (m(batch, batch["candidates"]) for m in (a, b, c))
        assert torch.equal(sa, sb) and not torch.equal(sa, sc)

    def test_reset_parameters(self, model, batch):
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(0.37)
        model.reset_parameters()
        for name, p in model.named_parameters():
            assert not torch.all(p == 0.37), f"{name} was not re-initialised"
        assert model.item_emb.weight[model.num_items].abs().sum() == 0  # padding row
        assert model.item_emb.weight[:-1].abs().max() < 0.1  # N(0, 0.01)
        with torch.no_grad():
            assert torch.isfinite(model(batch, batch["candidates"])).all()

    def test_state_dict_round_trip(self, model, cfg, demo_graph, batch):
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=0.05)
        model.losses(batch)["rec"].backward()
        opt.step()
        model.eval()
        buf = io.BytesIO()
        torch.save(model.state_dict(), buf)
        buf.seek(0)
        other = self.build(cfg, demo_graph, seed=99).eval()
        other.load_state_dict(torch.load(buf, weights_only=True))
        with torch.no_grad():
            assert torch.equal(model(batch, batch["candidates"]), other(batch, batch["candidates"]))

    def test_dropout_only_in_training(self, cfg, demo_graph, batch):
        cfg = copy.deepcopy(cfg)
        cfg["model"]["dropout"] = 0.5
        model = self.build(cfg, demo_graph).eval()
        with torch.no_grad():
            assert torch.equal(model(batch, batch["candidates"]), model(batch, batch["candidates"]))

    def test_training_steps_lower_rec_loss(self, model, batch):
        # in eval mode (gradients flow; no dropout noise in the comparison)
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        first = float(model.rec_loss(batch).detach())
        for _ in range(15):
            loss = model.rec_loss(batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert float(model.rec_loss(batch).detach()) < first

    # ------------------------------------------------------------------ through the trainer
    def test_one_epoch_through_trainer(self, tiny_config, demo_graph_dir, tmp_path):
        """One epoch with the one trainer and evaluator, both protocols; the KGE and LRD tasks
        are skipped even when the config asks for them."""
        from lrdgraph.train.trainer import train

        cfg = tiny_config(self.model_name, *BASELINE_SETTINGS, "kge.enabled=true", "lrd.enabled=true")
        lines = []
        res = train(demo_graph_dir, cfg, tmp_path / "run", progress=False, log=lines.append)
        assert any("no kge or lrd task" in ln for ln in lines)
        assert res["gamma"] == 0.0 and res["lambda"] == 0.0
        assert set(res["protocols"]) == {"sampled", "full"}
        for p, m in res["protocols"].items():
            assert m["rows"] > 0
            for k in ("HR@5", "HR@10", "NDCG@5", "NDCG@10"):
                assert math.isfinite(m[k]) and 0 <= m[k] <= 1, (p, k)
            assert m["NDCG@5"] <= m["HR@5"] <= m["HR@10"]
        epoch = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
        assert set(epoch["loss"]) == {"rec", "total"}
        assert (tmp_path / "run" / "checkpoints" / "best.pt").exists()

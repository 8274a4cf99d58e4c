"""RCF: the shared recommender contract, plus what makes RCF RCF (no time decay)."""
from __future__ import annotations

import torch

from lrdgraph.models import RCF
from model_cases import RecommenderCase, make_batch


class TestRCF(RecommenderCase):
    model_name = "rcf"
    cls = RCF


def test_rcf_ignores_time(tiny_config, demo_graph, demo_data):
    from lrdgraph.models import build_model

    torch.manual_seed(0)
    model = build_model(tiny_config("rcf"), demo_graph).eval()
    batch = make_batch(model, demo_data)
    assert model.time_decay(batch, batch["history"]) is None
    shifted = dict(batch, history_time=batch["history_time"] - 10_000_000)
    with torch.no_grad():
        assert torch.equal(model(batch, batch["candidates"]), model(shifted, batch["candidates"]))


def test_rcf_config_defaults(tiny_config):
    cfg = tiny_config("rcf")
    assert cfg["model"]["name"] == "rcf"
    assert cfg["train"]["lr"] == 0.0001  # configs/rcf.yaml

"""GRU4Rec: the shared baseline contract, plus order sensitivity."""
from __future__ import annotations

import torch

from baseline_cases import BASELINE_SETTINGS, BaselineCase, make_batch, row
from lrdgraph.models import GRU4Rec


class TestGRU4Rec(BaselineCase):
    model_name = "gru4rec"
    cls = GRU4Rec
    repr_extra = "hidden_size=100"


def test_gru4rec_reads_the_order(tiny_config, demo_graph, demo_data):
    from lrdgraph.models import build_model

    torch.manual_seed(0)
    model = build_model(tiny_config("gru4rec", *BASELINE_SETTINGS), demo_graph).eval()
    lengths = (demo_data.train.history < demo_data.num_items).sum(1)
    i = int(torch.nonzero(lengths >= 4)[0])
    n = int(lengths[i])
    b = row(make_batch(demo_data, idx=[i]), 0, width=n)
    rev = dict(b, history=b["history"].flip(1))
    with torch.no_grad():
        assert not torch.allclose(model(rev, b["candidates"]), model(b, b["candidates"]))


def test_gru4rec_defaults(tiny_config):
    cfg = tiny_config("gru4rec")
    assert cfg["model"]["hidden_size"] == 100 and cfg["model"]["dropout"] == 0.0

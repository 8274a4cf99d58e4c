"""Caser: the shared baseline contract, plus what makes Caser Caser (the last L items only)."""
from __future__ import annotations

import torch

from baseline_cases import BASELINE_SETTINGS, BaselineCase, make_batch, row
from lrdgraph.models import Caser


class TestCaser(BaselineCase):
    model_name = "caser"
    cls = Caser
    repr_extra = "window=5, num_horizontal=16, num_vertical=4"


def test_caser_reads_only_the_last_window(tiny_config, demo_graph, demo_data):
    from lrdgraph.models import build_model

    torch.manual_seed(0)
    model = build_model(tiny_config("caser", *BASELINE_SETTINGS, "model.window=3"), demo_graph).eval()
    lengths = (demo_data.train.history < demo_data.num_items).sum(1)
    i = int(torch.nonzero(lengths >= 6)[0])
    b = row(make_batch(demo_data, idx=[i]), 0)
    n = int(lengths[i])
    older, recent = dict(b), dict(b)
    older["history"] = b["history"].clone()
    older["history"][0, n - 4] = (older["history"][0, n - 4] + 1) % demo_data.num_items
    recent["history"] = b["history"].clone()
    recent["history"][0, n - 3] = (recent["history"][0, n - 3] + 1) % demo_data.num_items
    with torch.no_grad():
        base = model(b, b["candidates"])
        assert torch.equal(model(older, b["candidates"]), base)  # outside the window of 3
        assert not torch.allclose(model(recent, b["candidates"]), base)  # inside it


def test_caser_defaults(tiny_config):
    cfg = tiny_config("caser")
    m = cfg["model"]
    assert (m["window"], m["num_horizontal"], m["num_vertical"], m["dropout"]) == (5, 16, 4, 0.5)

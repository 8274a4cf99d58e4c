"""SASRec: the shared baseline contract, plus causality and learned positions."""
from __future__ import annotations

import torch

from baseline_cases import BASELINE_SETTINGS, BaselineCase, make_batch, row
from lrdgraph.models import SASRec
from lrdgraph.models.sasrec import reverse_positions


class TestSASRec(BaselineCase):
    model_name = "sasrec"
    cls = SASRec
    repr_extra = "num_layers=1, num_heads=2"


def test_reverse_positions():
    pos = reverse_positions(torch.tensor([3, 1, 0, 5]), 5, 20)
    assert pos.tolist() == [[3, 2, 1, 0, 0], [1, 0, 0, 0, 0], [0, 0, 0, 0, 0], [5, 4, 3, 2, 1]]


def test_sasrec_outputs_are_causal(tiny_config, demo_graph, demo_data):
    """The output at position k depends on items 1..k only."""
    from lrdgraph.models import build_model

    torch.manual_seed(0)
    model = build_model(tiny_config("sasrec", *BASELINE_SETTINGS, "model.num_layers=2"),
                        demo_graph).eval()
    lengths = (demo_data.train.history < demo_data.num_items).sum(1)
    i = int(torch.nonzero(lengths >= 5)[0])
    n = int(lengths[i])
    b = row(make_batch(demo_data, idx=[i]), 0, width=n)
    later = dict(b, history=b["history"].clone())
    later["history"][0, n - 1] = (later["history"][0, n - 1] + 1) % demo_data.num_items
    with torch.no_grad():
        x, _ = model.sequence_output(b)
        y, _ = model.sequence_output(later)
    # positions count back from the most recent item, so compare with the positions fixed:
    # changing the last item leaves every earlier output unchanged
    torch.testing.assert_close(x[0, : n - 1], y[0, : n - 1])
    assert not torch.allclose(x[0, n - 1], y[0, n - 1])


def test_sasrec_defaults(tiny_config):
    m = tiny_config("sasrec")["model"]
    assert m["dropout"] == 0.2
    from lrdgraph.config import resolve_config

    m = resolve_config(model="sasrec")["model"]
    assert (m["num_layers"], m["num_heads"]) == (2, 1)

"""KDA: the shared recommender contract, plus the learned time-gap decay (reference §3)."""
from __future__ import annotations

import math

import torch

from lrdgraph.models import KDA, build_model
from model_cases import RecommenderCase, make_batch


class TestKDA(RecommenderCase):
    model_name = "kda"
    cls = KDA


def _model(tiny_config, demo_graph):
    torch.manual_seed(0)
    return build_model(tiny_config("kda"), demo_graph).eval()


def test_decay_shape_range_and_padding(tiny_config, demo_graph, demo_data):
    model = _model(tiny_config, demo_graph)
    assert model.n_freq == 33  # n_dft 64
    assert model.freq_real.shape == model.freq_imag.shape == (model.layout.num_relations, 33)
    batch = make_batch(model, demo_data, n=12)
    d = model.time_decay(batch, batch["history"])
    assert d.shape == (*batch["history"].shape, model.layout.num_relations)
    assert (d >= 0).all() and (d <= 1).all()
    pad = batch["history"] >= model.layout.num_items
    assert pad.any(), "the batch should contain padded history positions"
    assert (d[pad] == 0).all()


def test_decay_formula_by_hand(tiny_config, demo_graph):
    """D_r(tau) = clamp((1/2F) sum_j a_rj cos(2 pi f_j tau) - b_rj sin(2 pi f_j tau), 0, 1)
    with tau = max(log2(gap / 60 + 1e-6), 0)."""
    model = _model(tiny_config, demo_graph)
    torch.manual_seed(0)
    with torch.no_grad():
        model.freq_real.normal_(std=5.0)
        model.freq_imag.normal_(std=5.0)
    gaps = [0, 30, 60, 3600, 86400, 10**8]  # seconds
    batch = {"time": torch.tensor([10**9]), "history_time": torch.tensor([[10**9 - g for g in gaps]])}
    history = torch.zeros(1, len(gaps), dtype=torch.long)
    got = model.time_decay(batch, history)[0]
    F = model.n_freq
    for k, gap in enumerate(gaps):
        tau = max(math.log2(gap / 60 + 1e-6), 0.0)
        for r in range(model.layout.num_relations):
            s = sum(model.freq_real[r, j].item() * math.cos(2 * math.pi * j / (2 * (F - 1)) * tau)
                    - model.freq_imag[r, j].item() * math.sin(2 * math.pi * j / (2 * (F - 1)) * tau)
                    for j in range(F))
            want = min(max(s / (2 * F), 0.0), 1.0)
            assert abs(got[k, r].item() - want) < 1e-4, (gap, r)
    # gaps under a minute give tau = 0: equal up to rounding (the rows of one batched product
    # may take different kernel paths, so not always bit-equal)
    torch.testing.assert_close(got[0], got[1], rtol=0, atol=1e-6)


def test_kda_scores_depend_on_time(tiny_config, demo_graph, demo_data):
    model = _model(tiny_config, demo_graph)
    with torch.no_grad():
        model.freq_real.normal_(std=5.0)
    batch = make_batch(model, demo_data)
    shifted = dict(batch, history_time=batch["history_time"] - 10_000_000)
    with torch.no_grad():
        assert not torch.equal(model(batch, batch["candidates"]), model(shifted, batch["candidates"]))


def test_reset_restores_decay_init(tiny_config, demo_graph):
    model = _model(tiny_config, demo_graph)
    with torch.no_grad():
        model.freq_real.fill_(3.0)
    model.reset_parameters()
    assert model.freq_real.abs().max() < 0.1

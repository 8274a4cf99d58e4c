"""TiSASRec: the shared baseline contract, plus the time intervals."""
from __future__ import annotations

import numpy as np
import torch

from baseline_cases import BASELINE_SETTINGS, BaselineCase, make_batch
from lrdgraph.models import TiSASRec
from lrdgraph.models.tisasrec import interval_matrix, user_min_intervals, window_min_intervals


class TestTiSASRec(BaselineCase):
    model_name = "tisasrec"
    cls = TiSASRec
    repr_extra = "num_layers=1, num_heads=2, time_span=256"


def test_user_min_intervals():
    user = np.array([0, 0, 0, 1, 1, 2, 0])
    time = np.array([100, 130, 100, 7, 7, 5, 190])  # user 0 gaps 0, 30, 60; user 1 only 0
    assert user_min_intervals(user, time, 4).tolist() == [30, 1, 1, 1]


def test_interval_matrix_clips_and_uses_integers():
    t = torch.tensor([[1_700_000_000, 1_700_000_060, 1_700_003_000, 0]])
    m = interval_matrix(t, torch.tensor([60]), 10)
    assert m[0, :3, :3].tolist() == [[0, 1, 10], [1, 0, 10], [10, 10, 0]]
    valid = torch.tensor([[True, True, True, False]])
    assert window_min_intervals(t, valid).tolist() == [60]
    assert window_min_intervals(torch.tensor([[5, 5, 0]]), torch.tensor([[True, True, False]])).tolist() == [1]


def test_tisasrec_sees_intervals_not_absolute_time(tiny_config, demo_graph, demo_data):
    from lrdgraph.models import build_model

    torch.manual_seed(0)
    model = build_model(tiny_config("tisasrec", *BASELINE_SETTINGS), demo_graph).eval()
    b = make_batch(demo_data, rows="test", idx=list(range(8)))
    shifted = dict(b, history_time=b["history_time"] + 86_400 * 365)
    stretched = dict(b, history_time=b["history_time"] * 3)
    with torch.no_grad():
        base = model(b, b["candidates"])
        torch.testing.assert_close(model(shifted, b["candidates"]), base)
        assert not torch.allclose(model(stretched, b["candidates"]), base)
        # an ad-hoc history (no known user) takes its smallest interval from the history
        adhoc = dict(b, user_vec=torch.zeros(8, 16))
        assert torch.isfinite(model(adhoc, b["candidates"])).all()
    assert model.user_min_interval.shape == (demo_graph.dataset.num_users,)
    assert "user_min_interval" not in model.state_dict()


def test_uniform_dropout_is_dropout():
    """Same distribution as nn.Dropout: a fraction p zeroed, the rest scaled by 1/(1-p), the
    gradient through the same mask; identity in eval mode and for p = 0."""
    from lrdgraph.models.tisasrec import UniformDropout

    torch.manual_seed(0)
    x = torch.ones(200_000, requires_grad=True)
    drop = UniformDropout(0.2).train()
    y = drop(x)
    zero = (y == 0).float().mean().item()
    assert abs(zero - 0.2) < 0.005  # binomial sd 0.0009
    assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], 1.25))
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # d(sum)/dx = the scaled mask
    assert torch.equal(drop.eval()(x), x)
    assert torch.equal(UniformDropout(0.0).train()(x), x)
    assert torch.count_nonzero(UniformDropout(1.0).train()(x)) == 0

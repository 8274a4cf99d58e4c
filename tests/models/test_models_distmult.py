"""The one stateless DistMult interaction (paper Eq. 6)."""
from __future__ import annotations

import torch

from lrdgraph.models import DistMultInteraction, distmult


def test_by_hand():
    h, r, t = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0]), torch.tensor([5.0, 6.0])
    assert distmult(h, r, t).item() == 1 * 3 * 5 + 2 * 4 * 6


def test_stateless_and_repr():
    f = DistMultInteraction()
    assert list(f.parameters()) == [] and list(f.buffers()) == []
    assert f.state_dict() == {}
    assert repr(f) == "DistMultInteraction()"


def test_symmetric_and_broadcasting():
    g = torch.Generator().manual_seed(0)
    h = torch.randn(4, 1, 8, generator=g)
    r = torch.randn(3, 8, generator=g)
    t = torch.randn(4, 3, 8, generator=g)
    f = DistMultInteraction()
    s = f(h, r, t)
    assert s.shape == (4, 3)
    torch.testing.assert_close(s, f(t, r, h))  # phi(h, r, t) = phi(t, r, h)
    torch.testing.assert_close(s[2, 1], (h[2, 0] * r[1] * t[2, 1]).sum())

"""The slot self-attention's speed switches change speed, not the model."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lrdgraph.config import resolve_config
from lrdgraph.errors import ConfigError
from lrdgraph.models import build_model
from lrdgraph.models.slot_attention import SlotSelfAttention


def reference_pass(m: SlotSelfAttention, z: torch.Tensor) -> torch.Tensor:
    """One pass written out with nn.MultiheadAttention-free textbook attention."""
    M, R, V = z.shape
    h, d = m.num_heads, V // m.num_heads
    q, k, v = m.qkv(z).split(V, dim=-1)
    q, k, v = (x.view(M, R, h, d).transpose(1, 2) for x in (q, k, v))  # [M, h, R, d]
    a = torch.softmax(q @ k.transpose(-1, -2) / d ** 0.5, dim=-1)
    att = (a @ v).transpose(1, 2).reshape(M, R, V)
    return m.norm(z + m.w2(torch.relu(m.w1(att))))


@pytest.fixture
def block():
    torch.manual_seed(0)
    m = SlotSelfAttention(16, num_heads=4, num_layers=3).eval()
    for p in m.parameters():  # larger weights than the init so that the attention is not flat
        torch.nn.init.normal_(p, std=0.5)
    return m


def test_matches_textbook_attention(block):
    z = torch.randn(7, 5, 16)
    want = z
    for _ in range(block.num_layers):
        want = reference_pass(block, want)
    torch.testing.assert_close(block(z), want, atol=1e-5, rtol=1e-5)


def test_compiled_path_matches_eager(block, monkeypatch):
    z = torch.randn(6, 5, 16)
    want = block(z)
    # the einsum branch taken under torch.compile, called directly
    with monkeypatch.context() as mp:
        mp.setattr(torch.compiler, "is_compiling", lambda: True)
        got_att = block.attention(z)
    q, k, v = block.qkv(z).view(6, 5, 3, 4, 4).permute(2, 0, 3, 1, 4)
    sdpa = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(6, 5, 16)
    torch.testing.assert_close(got_att, sdpa, atol=1e-5, rtol=1e-5)
    block.compile()
    torch.testing.assert_close(block(z), want, atol=1e-5, rtol=1e-5)


def test_bf16_is_close_and_keeps_float32(block):
    z = torch.randn(9, 5, 16)
    want = block(z)
    block.precision = "bf16"
    got = block(z)
    assert got.dtype == torch.float32
    assert not torch.equal(got, want)  # it really ran in bfloat16
    torch.testing.assert_close(got, want, atol=0.1, rtol=0.05)


def test_bf16_backward_gives_float32_grads(block):
    block.train()
    block.precision = "bf16"
    z = torch.randn(4, 5, 16, requires_grad=True)
    block(z).square().sum().backward()
    assert z.grad.dtype == torch.float32 and torch.isfinite(z.grad).all()
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in block.parameters())


def test_bad_precision_is_refused():
    with pytest.raises(ValueError, match="precision"):
        SlotSelfAttention(16, precision="fp16")
    with pytest.raises(ConfigError, match="train.precision"):
        resolve_config(model="kda", overrides=["train.precision=half"])


def test_model_scores_bf16_close_to_fp32(demo_graph):
    cfg = resolve_config(model="kda")
    torch.manual_seed(1)
    m32 = build_model(cfg, demo_graph).eval()
    cfg16 = resolve_config(model="kda", overrides=["train.precision=bf16"])
    m16 = build_model(cfg16, demo_graph).eval()
    m16.load_state_dict(m32.state_dict())
    assert m16.slots.precision == "bf16"
    n = demo_graph.dataset.num_items
    batch = {"user": torch.tensor([0, 1]), "history": torch.tensor([[0, 1, 2, n], [3, 4, n, n]]),
             "history_time": torch.zeros(2, 4, dtype=torch.long), "time": torch.full((2,), 10**6)}
    cand = torch.arange(12).view(2, 6)
    with torch.no_grad():
        s32, s16 = m32(batch, cand), m16(batch, cand)
    assert s16.dtype == torch.float32
    torch.testing.assert_close(s16, s32, atol=2e-3, rtol=1e-2)

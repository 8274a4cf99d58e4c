"""SASRec: causal self-attention over the history (Kang & McAuley, ICDM 2018)."""
from __future__ import annotations

import math
from typing import Any, Dict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .sequential import SequentialRecommender, gather_last, history_lengths

__all__ = ["SASRec", "reverse_positions"]


def reverse_positions(lengths: Tensor, width: int, max_len: int) -> Tensor:
    """``[B, width]`` position of each history column counted from the most recent valid item
    (1 = most recent), 0 on padding. With histories padded at the end this gives every row's
    most recent item the same position, as the papers' front padding does."""
    pos = lengths.unsqueeze(1) - torch.arange(width, device=lengths.device)
    return pos.clamp(0, max_len)


class PointWiseFeedForward(nn.Module):
    """``x + Dropout(W2 Dropout(ReLU(W1 x)))`` (SASRec Eq. 4 with the residual of §III-C)."""

    def __init__(self, size: int, dropout: float) -> None:
        super().__init__()
        self.w1 = nn.Linear(size, size)
        self.w2 = nn.Linear(size, size)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.drop(self.w2(self.drop(F.relu(self.w1(x)))))


class SASRecBlock(nn.Module):
    """One self-attention block as the SASRec code: the query is layer-normalised, keys and
    values are not; residual on the normalised query; layer norm before the feed-forward."""

    def __init__(self, size: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.dropout = dropout
        self.ln_attn = nn.LayerNorm(size)
        self.q = nn.Linear(size, size)
        self.k = nn.Linear(size, size)
        self.v = nn.Linear(size, size)
        self.ln_ffn = nn.LayerNorm(size)
        self.ffn = PointWiseFeedForward(size, dropout)

    def forward(self, x: Tensor, valid: Tensor) -> Tensor:
        B, H, V = x.shape
        h = self.num_heads
        q_in = self.ln_attn(x)
        split = lambda t: t.view(B, H, h, V // h).transpose(1, 2)  # [B, h, H, d]
        # causal attention: a valid position sees only earlier positions, all valid because
        # histories are padded at the end, so no key-padding mask is needed (and no row of the
        # attention matrix is ever fully masked).
        a = F.scaled_dot_product_attention(split(self.q(q_in)), split(self.k(x)), split(self.v(x)),
                                           is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        x = q_in + a.transpose(1, 2).reshape(B, H, V)
        x = self.ffn(self.ln_ffn(x))
        return x * valid.unsqueeze(-1)


class SASRec(SequentialRecommender):
    r"""SASRec from Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018
    (`paper <https://arxiv.org/abs/1808.09781>`_).

    Item embeddings (scaled by :math:`\sqrt V`) plus learned position embeddings go through
    ``num_layers`` causal self-attention blocks (Eq. 2-5); the output at the most recent valid
    position :math:`F_n` is scored against the shared item embedding (Eq. 6):

    .. math::
        \hat y_{u,c} = F_n^\top e_c

    Note:
        Departures from the paper: trained with the shared BPR loss on one target per training
        instance (the trainer's instances are every prefix of the history, so the same pairs
        the paper's per-position binary cross-entropy sees, but one negative each and no
        shared forward pass); embedding size 64 and history 20 as the other models of the
        comparison (paper d = 50, n = 50 or 200). Positions count back from the most recent
        item (as ReChorus), equivalent to the paper's front-padded absolute positions.
        ReChorus uses one block, non-causal attention and post-layer-norm; we keep the
        paper's two causal blocks with one head and dropout 0.2.

    Args:
        num_items (int), num_users (int), emb_size (int): see
            :class:`~lrdgraph.models.sequential.SequentialRecommender`.
        num_layers (int): self-attention blocks (default 2, paper).
        num_heads (int): attention heads (default 1, paper).
        dropout (float): dropout rate (default 0.2, paper for MovieLens-1M).
        max_len (int): longest history, the size of the position table (default 20).
    """

    config_keys = ("num_layers", "num_heads", "dropout")

    def __init__(self, num_items: int, num_users: int, *, emb_size: int = 64, num_layers: int = 2,
                 num_heads: int = 1, dropout: float = 0.2, max_len: int = 20) -> None:
        super().__init__(num_items, num_users, emb_size=emb_size)
        if emb_size % num_heads:
            raise ValueError("num_heads must divide emb_size")
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.max_len = max_len
        self.pos_emb = nn.Embedding(max_len + 1, emb_size, padding_idx=0)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(SASRecBlock(emb_size, num_heads, dropout)
                                    for _ in range(num_layers))
        self.ln_out = nn.LayerNorm(emb_size)
        self.reset_parameters()

    @classmethod
    def extra_config(cls, cfg: Dict[str, Any], graph) -> Dict[str, Any]:
        return {"max_len": cfg["train"]["history"]}

    def sequence_output(self, batch: Dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """``([B, H, V] block outputs, [B] history lengths)``."""
        history = batch["history"]
        lengths = history_lengths(history, self.num_items)
        valid = (history < self.num_items).float()
        pos = reverse_positions(lengths, history.shape[1], self.max_len)
        x = self.item_emb(history) * math.sqrt(self.emb_size) + self.pos_emb(pos)
        x = self.drop(x) * valid.unsqueeze(-1)
        for block in self.blocks:
            x = block(x, valid)
        return self.ln_out(x), lengths

    def encode(self, batch: Dict[str, Tensor]) -> Tensor:
        x, lengths = self.sequence_output(batch)
        return gather_last(x, lengths)

    def extra_repr_args(self) -> str:
        return f"num_layers={self.num_layers}, num_heads={self.num_heads}"

"""Caser: convolutional sequence embedding (Tang & Wang, WSDM 2018)."""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .sequential import SequentialRecommender, last_items

__all__ = ["Caser"]


class Caser(SequentialRecommender):
    r"""Caser from Tang & Wang, "Personalized Top-N Sequential Recommendation via Convolutional
    Sequence Embedding", WSDM 2018 (`paper <https://arxiv.org/abs/1809.07426>`_).

    The last L items form an image :math:`E \in \mathbb{R}^{L \times V}`. Horizontal filters of
    heights h = 1..L (``num_horizontal`` each, ReLU, max-pooled over positions) catch union-level
    patterns, vertical filters :math:`L \times 1` (``num_vertical``) weighted sums of the L
    embeddings; after dropout a fully connected layer gives z (paper Eq. 5-7), and

    .. math::
        \hat y_{u,c} = W'_c \, [z ; P_u] + b'_c

    with item output vectors :math:`W'_c \in \mathbb{R}^{2V}` apart from the input embeddings
    (paper Eq. 8).

    Note:
        Departures from the paper: trained with the shared BPR loss and the trainer's negatives
        (one by default) instead of binary cross-entropy with 3 negatives; one target per
        training instance (T = 1) instead of the next T = 3 items; embedding size 64 and lr
        1e-3 as the other models of the comparison (paper d = 50). The L items are the *last L
        valid* ones, padded at the front with a zero item when the history is shorter, as the
        original code does. ReChorus departs further (L = 4, vertical filters spanning the
        whole history, shared input/output embeddings); we keep the paper's layer.

    Args:
        num_items (int), num_users (int), emb_size (int): see
            :class:`~lrdgraph.models.sequential.SequentialRecommender`.
        window (int): L, the number of most recent items convolved (default 5, paper).
        num_horizontal (int): horizontal filters per height (default 16, paper).
        num_vertical (int): vertical filters (default 4, paper).
        dropout (float): dropout before the fully connected layer (default 0.5, paper).
    """

    config_keys = ("window", "num_horizontal", "num_vertical", "dropout")

    def __init__(self, num_items: int, num_users: int, *, emb_size: int = 64, window: int = 5,
                 num_horizontal: int = 16, num_vertical: int = 4, dropout: float = 0.5) -> None:
        super().__init__(num_items, num_users, emb_size=emb_size)
        self.window = window
        self.num_horizontal = num_horizontal
        self.num_vertical = num_vertical
        self.user_emb = nn.Embedding(num_users, emb_size)
        self.conv_v = nn.Conv2d(1, num_vertical, (window, 1)) if num_vertical else None
        self.conv_h = nn.ModuleList(nn.Conv2d(1, num_horizontal, (h, emb_size))
                                    for h in range(1, window + 1)) if num_horizontal else None
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(num_vertical * emb_size + num_horizontal * window, emb_size)
        self.out_emb = nn.Embedding(num_items + 1, 2 * emb_size)  # W'
        self.out_bias = nn.Embedding(num_items + 1, 1)  # b'
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        nn.init.zeros_(self.out_bias.weight)

    def encode(self, batch: Dict[str, Tensor]) -> Tensor:
        items = last_items(batch["history"], self.num_items, self.window)  # [B, L]
        E = self.item_emb(items).unsqueeze(1)  # [B, 1, L, V]
        parts = []
        if self.conv_v is not None:
            parts.append(self.conv_v(E).flatten(1))  # [B, n_v * V]
        if self.conv_h is not None:
            for conv in self.conv_h:
                c = F.relu(conv(E).squeeze(3))  # [B, n_h, L - h + 1]
                parts.append(c.max(dim=2).values)  # [B, n_h]
        z = F.relu(self.fc(self.drop(torch.cat(parts, dim=1))))  # [B, V]
        return torch.cat([z, self.user_emb(batch["user"])], dim=1)  # [B, 2V]

    def forward(self, batch: Dict[str, Tensor], candidates: Tensor) -> Tensor:
        s = self.encode(batch)
        return (torch.einsum("bd,bcd->bc", s, self.out_emb(candidates))
                + self.out_bias(candidates).squeeze(-1))

    def extra_repr_args(self) -> str:
        return (f"window={self.window}, num_horizontal={self.num_horizontal}, "
                f"num_vertical={self.num_vertical}")

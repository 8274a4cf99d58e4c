"""GRU4Rec: a recurrent network over the history (Hidasi et al., ICLR 2016)."""
from __future__ import annotations

from typing import Dict

from torch import Tensor, nn

from .sequential import SequentialRecommender, gather_last, history_lengths

__all__ = ["GRU4Rec"]


class GRU4Rec(SequentialRecommender):
    r"""GRU4Rec from Hidasi et al., "Session-based Recommendations with Recurrent Neural
    Networks", ICLR 2016 (`paper <https://arxiv.org/abs/1511.06939>`_).

    A GRU reads the history's item embeddings; its hidden state after the last valid item,
    projected to the embedding size, is scored against the candidate's embedding:

    .. math::
        \hat y_{u,c} = (W h_n + b)^\top e_c, \qquad h_k = \mathrm{GRU}(e_{i_k}, h_{k-1})

    Note:
        As ReChorus, and unlike the paper: the user's whole history (the last H items) is one
        sequence, so there are no session-parallel mini-batches and no hidden state carried
        between batches; the output layer is the shared item embedding table behind a linear
        projection (ReChorus) rather than a separate output matrix; the loss is the shared BPR
        with the trainer's negatives instead of TOP1 with in-batch negatives; embeddings are
        64-d inputs rather than one-hot. Hidden size 100 and one GRU layer follow the paper;
        no dropout (ReChorus' default). Histories are padded at the end, so the GRU output is
        taken at each row's last valid position (the same state a packed sequence would give).

    Args:
        num_items (int), num_users (int), emb_size (int): see
            :class:`~lrdgraph.models.sequential.SequentialRecommender`.
        hidden_size (int): GRU hidden units (default 100, paper).
        dropout (float): dropout on the item embeddings (default 0).
    """

    config_keys = ("hidden_size", "dropout")

    def __init__(self, num_items: int, num_users: int, *, emb_size: int = 64,
                 hidden_size: int = 100, dropout: float = 0.0) -> None:
        super().__init__(num_items, num_users, emb_size=emb_size)
        self.hidden_size = hidden_size
        self.drop = nn.Dropout(dropout)
        self.gru = nn.GRU(emb_size, hidden_size, batch_first=True)
        self.out = nn.Linear(hidden_size, emb_size)
        self.reset_parameters()

    def encode(self, batch: Dict[str, Tensor]) -> Tensor:
        history = batch["history"]
        out, _ = self.gru(self.drop(self.item_emb(history)))  # [B, H, hidden]
        return self.out(gather_last(out, history_lengths(history, self.num_items)))

    def extra_repr_args(self) -> str:
        return f"hidden_size={self.hidden_size}"

"""What the sequence baselines (Caser, GRU4Rec, SASRec, TiSASRec) share: the recommender
contract of :class:`~lrdgraph.models.relational.RelationalRecommender` without the KGE and LRD
tasks, and the handling of end-padded histories."""
from __future__ import annotations

from typing import Any, Dict

import torch
from torch import Tensor, nn

from .losses import bpr_loss, weighted_bpr_loss

__all__ = ["SequentialRecommender", "history_lengths", "gather_last", "last_items"]


def history_lengths(history: Tensor, pad: int) -> Tensor:
    """``[B]`` number of valid items of each row of ``history [B, H]``. Histories are
    chronological and padded at the *end* with ``pad``, so the valid items are a prefix."""
    return (history < pad).sum(dim=1)


def gather_last(x: Tensor, lengths: Tensor) -> Tensor:
    """``x [B, H, ...]`` at each row's last valid position ``lengths - 1`` (position 0 for an
    empty history), not at the last column, which is padding for every shorter row."""
    idx = (lengths - 1).clamp_min(0)
    return x[torch.arange(x.shape[0], device=x.device), idx]


def last_items(history: Tensor, pad: int, L: int) -> Tensor:
    """``[B, L]`` the last ``L`` valid items of each row, right-aligned (most recent in column
    ``L - 1``) and padded with ``pad`` at the front where a row has fewer than ``L`` items."""
    lengths = history_lengths(history, pad)
    pos = lengths.unsqueeze(1) - L + torch.arange(L, device=history.device)  # [B, L]
    valid = pos >= 0
    if history.shape[1] == 0:
        return history.new_full((history.shape[0], L), pad)
    out = history.gather(1, pos.clamp_min(0).clamp_max(history.shape[1] - 1))
    return out.masked_fill(~valid, pad)


class SequentialRecommender(nn.Module):
    r"""Base of the sequence baselines: a history encoder :math:`s_u = f(h_1..h_n)` scored by an
    inner product with the candidate's embedding, :math:`\hat y_{u,c} = s_u^\top e_c`.

    Answers the calls of :class:`~lrdgraph.models.relational.RelationalRecommender`:
    ``forward(batch, candidates) -> [B, C]``, ``losses(batch, kge=...) -> {"rec": BPR}``,
    ``reset_parameters()``; ``use_lrd`` and ``supports_kge`` are False, so the trainer runs
    neither the KGE nor the LRD task. Item ``num_items`` is the padding item (a zero row).

    Args:
        num_items (int): number of items N.
        num_users (int): number of users.
        emb_size (int): item embedding size V.
    """

    use_lrd = False
    supports_kge = False
    #: model.* config keys the constructor takes besides emb_size (see from_config)
    config_keys: tuple = ()

    def __init__(self, num_items: int, num_users: int, *, emb_size: int = 64) -> None:
        super().__init__()
        self.num_items = num_items
        self.num_users = num_users
        self.emb_size = emb_size
        self.layout = None  # no entity / relation layout: no KGE task
        self.item_emb = nn.Embedding(num_items + 1, emb_size, padding_idx=num_items)

    @classmethod
    def from_config(cls, cfg: Dict[str, Any], graph) -> "SequentialRecommender":
        """Build from a resolved config's ``model`` section and a graph (its data set)."""
        m = cfg["model"]
        ds = graph.dataset
        kwargs = {k: m[k] for k in cls.config_keys}
        kwargs.update(cls.extra_config(cfg, graph))
        return cls(ds.num_items, ds.num_users, emb_size=m["emb_size"], **kwargs)

    @classmethod
    def extra_config(cls, cfg: Dict[str, Any], graph) -> Dict[str, Any]:
        """Constructor arguments taken from elsewhere than ``model.*`` (none here)."""
        return {}

    def reset_parameters(self) -> None:
        """Re-initialise every parameter in place: embeddings N(0, 0.01) as ReChorus, the
        padding row zero, other layers with their PyTorch defaults."""
        for mod in self.modules():
            if mod is not self and isinstance(mod, nn.Embedding):
                nn.init.normal_(mod.weight, std=0.01)
                if mod.padding_idx is not None:
                    with torch.no_grad():
                        mod.weight[mod.padding_idx].zero_()
            elif mod is not self and hasattr(mod, "reset_parameters"):
                mod.reset_parameters()

    # ------------------------------------------------------------------ scoring
    def encode(self, batch: Dict[str, Tensor]) -> Tensor:
        """``[B, D]`` the sequence representation :math:`s_u`."""
        raise NotImplementedError

    def candidate_vectors(self, candidates: Tensor) -> Tensor:
        """``[B, C, D]`` the vectors the sequence representation is scored against."""
        return self.item_emb(candidates)

    def forward(self, batch: Dict[str, Tensor], candidates: Tensor) -> Tensor:
        """Scores ``[B, C]`` of ``candidates [B, C]`` for the histories in ``batch`` (``user [B]``,
        ``history [B, H]`` padded at the end with ``num_items``, ``history_time [B, H]``,
        ``time [B]``)."""
        s = self.encode(batch)
        return torch.einsum("bd,bcd->bc", s, self.candidate_vectors(candidates))

    # ------------------------------------------------------------------ losses
    def rec_loss(self, batch: Dict[str, Tensor]) -> Tensor:
        """BPR on ``batch['candidates'] = [positive, negatives...]`` (ReChorus' weighted BPR with
        several negatives)."""
        scores = self(batch, batch["candidates"])
        pos, neg = scores[:, 0], scores[:, 1:]
        return bpr_loss(pos, neg[:, 0]) if neg.shape[1] == 1 else weighted_bpr_loss(pos, neg)

    def losses(self, batch: Dict[str, Tensor], *, kge: bool = True) -> Dict[str, Tensor]:
        """``{"rec": ...}``; ``kge`` is accepted for the common contract and ignored."""
        return {"rec": self.rec_loss(batch)}

    def extra_repr_args(self) -> str:
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr_args()
        return (f"{self.__class__.__name__}({self.num_items}, num_users={self.num_users}, "
                f"emb_size={self.emb_size}{', ' + extra if extra else ''})")

"""Latent relation discovery (LRD): the relation extractor and its reconstruction objectives."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .distmult import distmult_all_relations


__all__ = ["RelationExtractor", "lrd_loss_paper", "lrd_loss_reference", "lrd_loss_mi"]


class RelationExtractor(nn.Module):
    r"""The relation classifier :math:`q(r \mid v_i, v_j)` of LRD (paper Eq. 3 and 4).

    .. math::
        e_i = W_1 x_i + b_1, \qquad
        q(r \mid v_i, v_j) = \mathrm{softmax}\big(W_2 [e_i ; e_j] + b_2\big)

    where :math:`x_i` is item i's frozen language-model feature. The distribution covers every
    relation slot (virtual, predefined and latent), as in the reference (§4.2).

    Because :math:`W_2 [e_i ; e_j] = W_2^{(a)} e_i + W_2^{(b)} e_j`, :meth:`pair_logits` scores
    all (history, candidate) pairs of a batch by broadcasting two ``[., R]`` halves instead of
    concatenating ``B x C x H`` pairs; that is exact, not an approximation.

    Args:
        in_dim (int): feature size P (384 for MiniLM, 1536 for ada-002; V for ID features).
        emb_dim (int): projection size V.
        num_relations (int): R, the number of relation slots.
    """

    def __init__(self, in_dim: int, emb_dim: int, num_relations: int) -> None:
        super().__init__()
        self.in_dim, self.emb_dim, self.num_relations = in_dim, emb_dim, num_relations
        self.proj = nn.Linear(in_dim, emb_dim)
        self.classifier = nn.Linear(2 * emb_dim, num_relations)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (self.proj, self.classifier):
            nn.init.normal_(lin.weight, std=0.01)
            nn.init.normal_(lin.bias, std=0.01)

    def project(self, x: Tensor) -> Tensor:
        """Eq. 3: ``[..., P] -> [..., V]``."""
        return self.proj(x)

    def halves(self, e: Tensor) -> tuple[Tensor, Tensor]:
        """The contributions of ``e`` as first (history) and as second (target) item."""
        w = self.classifier.weight
        V = self.emb_dim
        return e @ w[:, :V].t(), e @ w[:, V:].t()

    def logits(self, x_i: Tensor, x_j: Tensor) -> Tensor:
        """Eq. 4 logits for aligned pairs: ``[..., P] x [..., P] -> [..., R]``."""
        e = torch.cat([self.project(x_i), self.project(x_j)], dim=-1)
        return self.classifier(e)

    def forward(self, x_i: Tensor, x_j: Tensor) -> Tensor:
        """q(r | i, j) for aligned pairs."""
        return torch.softmax(self.logits(x_i, x_j), dim=-1)

    def pair_logits(self, x_hist: Tensor, x_cand: Tensor) -> Tensor:
        """Logits for every (candidate, history) pair: ``[B, H, P], [B, C, P] -> [B, C, H, R]``."""
        a, _ = self.halves(self.project(x_hist))
        _, b = self.halves(self.project(x_cand))
        return a.unsqueeze(1) + b.unsqueeze(2) + self.classifier.bias

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}({self.in_dim}, emb_dim={self.emb_dim}, "
                f"num_relations={self.num_relations})")


def _scores_all_relations(head: Tensor, neg_head: Tensor, tail: Tensor,
                          relations: Tensor) -> tuple[Tensor, Tensor]:
    """DistMult φ(h, r, t) (Eq. 6) for every relation, ``[B, H, R]``, positives and negatives."""
    t = tail.unsqueeze(1)
    return distmult_all_relations(head, relations, t), distmult_all_relations(neg_head, relations, t)


def lrd_loss_paper(logits: Tensor, head: Tensor, neg_head: Tensor, tail: Tensor,
                   relations: Tensor, mask: Tensor, alpha: float) -> Tensor:
    r"""The paper's LRD objective (Eq. 8 and 14), negated for minimisation.

    .. math::
        \mathcal{L}_{lrd} = -\frac{1}{|P|}\sum_{(i,j) \in P} \Big[
            \sum_r q(r\mid i,j)\big(\log\sigma(\phi(e_i, r, e_j)) + \log\sigma(-\phi(e_n, r, e_j))\big)
            + \alpha\, \mathcal{H}(q(\cdot \mid i, j)) \Big]

    The expectation under q of the pointwise log-likelihood of reconstructing history item i
    from target j through relation r (one sampled negative n replaces i), plus α times the
    entropy, which rewards *more uniform* q as the paper's bound says. Entropy and averages run
    over valid pairs only (the reference also averages over padded positions).

    Args:
        logits: ``[B, H, R]`` extractor logits for (history k, target) pairs.
        head, neg_head: ``[B, H, V]`` ID embeddings of history items and their negatives.
        tail: ``[B, V]`` ID embeddings of the targets.
        relations: ``[R, V]`` relation embeddings.
        mask: ``[B, H]`` bool, valid history positions.
        alpha: entropy coefficient α.
    """
    logq = torch.log_softmax(logits, dim=-1)
    q = logq.exp()
    pos, neg = _scores_all_relations(head, neg_head, tail, relations)  # [B, H, R]
    ll = (q * (F.logsigmoid(pos) + F.logsigmoid(-neg))).sum(-1)
    ent = -(q * logq).sum(-1)
    obj = (ll + alpha * ent)[mask]
    return -obj.mean() if obj.numel() else logits.sum() * 0.0


def lrd_loss_reference(logits: Tensor, head: Tensor, neg_head: Tensor, tail: Tensor,
                       relations: Tensor, mask: Tensor, alpha: float,
                       skip_virtual: bool = False) -> Tensor:
    r"""What the reference code optimises (``lrd-reference.md`` §4.5), for comparison.

    q scales the relation vector inside the score, the score has two extra linear terms, the
    history average sits inside the log and the entropy is *added* to the loss (so it sharpens
    q)::

        ψ(a, t, r̃) = Σ a⊙r̃⊙t + Σ a⊙r̃ + Σ t⊙r̃,   r̃ = q_{k,r} r_r
        L = −mean_{b,r} log( mean_{k valid} σ(ψ(h_k, t, r̃) − ψ(n_k, t, r̃)) ) + α mean(−q log q)

    Differences kept on purpose: the entropy is averaged over valid positions only, and the log
    of the mean is computed with ``logsumexp`` so it cannot reach ``log 0``. ``skip_virtual``
    drops relation slot 0 from the reconstruction terms (the reference's ``leave_one_latent``).
    """
    logq = torch.log_softmax(logits, dim=-1)
    q = logq.exp()  # [B, H, R]
    r = q.unsqueeze(-1) * relations.view(1, 1, *relations.shape)  # [B, H, R, V]
    t = tail.unsqueeze(1).unsqueeze(2)
    diff = (head - neg_head).unsqueeze(2)  # the t⊙r̃ term cancels in the difference
    d = (diff * r * t).sum(-1) + (diff * r).sum(-1)  # [B, H, R]
    if skip_virtual:
        d = d[..., 1:]
    ls = F.logsigmoid(d).masked_fill(~mask.unsqueeze(-1), float("-inf"))
    n_valid = mask.sum(1, keepdim=True).clamp_min(1).to(d.dtype)  # [B, 1]
    log_mean = torch.logsumexp(ls, dim=1) - torch.log(n_valid)  # [B, R]
    has = mask.any(1)
    rec = -log_mean[has].mean()
    ent = (-(q * logq).sum(-1))[mask].sum() / (mask.sum().clamp_min(1) * logits.shape[-1])
    return rec + alpha * ent


def lrd_loss_mi(logits: Tensor, head: Tensor, neg_head: Tensor, tail: Tensor,
                relations: Tensor, mask: Tensor, alpha: float, beta: float) -> Tensor:
    r"""Our variant: the paper's reconstruction term with a mutual-information regulariser.

    .. math::
        \mathcal{L} = -\frac{1}{|P|}\sum_{(i,j)} \sum_r q(r\mid i,j)\big(\log\sigma(\phi^+_r)
            + \log\sigma(-\phi^-_r)\big)
            + \alpha \frac{1}{|P|}\sum_{(i,j)} \mathcal{H}(q(\cdot\mid i,j))
            - \beta\, \mathcal{H}\Big(\frac{1}{|P|}\sum_{(i,j)} q(\cdot\mid i,j)\Big)

    Why: with the paper's sign (+α·H rewarding uniform q per pair) q stays uniform, every
    relation receives the same gradient and all relation embeddings collapse onto one vector
    (measured on the demo and on Office: pairwise cosine 1.00). The reference's sign sharpens q
    but lets it collapse onto a single relation. Sharpening each pair's q (α) while keeping the
    batch's marginal usage of relations spread out (β) maximises the mutual information between
    pair and relation, the usual cure in discrete-latent models. With α = β this is
    :math:`-\alpha\, I(r; (i,j))` estimated on the batch.
    """
    logq = torch.log_softmax(logits, dim=-1)
    q = logq.exp()
    pos, neg = _scores_all_relations(head, neg_head, tail, relations)
    ll = (q * (F.logsigmoid(pos) + F.logsigmoid(-neg))).sum(-1)[mask]
    if ll.numel() == 0:
        return logits.sum() * 0.0
    cond_ent = (-(q * logq).sum(-1))[mask].mean()
    marginal = q[mask].mean(0)
    marg_ent = -(marginal * torch.log(marginal.clamp_min(1e-12))).sum()
    return -ll.mean() + alpha * cond_ent - beta * marg_ent

"""The one triplet scorer shared by the recommender, the KGE task and LRD (paper Eq. 6)."""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["DistMultInteraction", "distmult", "distmult_all_relations"]


def distmult(h: Tensor, r: Tensor, t: Tensor) -> Tensor:
    r"""DistMult score :math:`\phi(h, r, t) = \sum_d h_d \, r_d \, t_d` (paper Eq. 6).

    Broadcasts over leading dimensions; the last dimension is the embedding.
    """
    return (h * r * t).sum(dim=-1)


def distmult_all_relations(h: Tensor, relations: Tensor, t: Tensor) -> Tensor:
    r""":func:`distmult` for every relation at once: ``[..., V] x [R, V] x [..., V] -> [..., R]``,
    computed as :math:`(h \odot t) R^\top`, a matrix product instead of a ``[..., R, V]``
    temporary."""
    return (h * t) @ relations.t()


class DistMultInteraction(torch.nn.Module):
    r"""Stateless DistMult interaction (`Yang et al., ICLR 2015
    <https://arxiv.org/abs/1412.6575>`_), the paper's Eq. 6:

    .. math::
        \phi(h, r, t) = \langle \mathbf{h}, \mathbf{r}, \mathbf{t} \rangle

    It has no parameters: embeddings belong to the model, so the same scorer serves the
    recommender's relation intensity (Eq. 11), the KGE loss (Eq. 15) and the LRD
    reconstruction (Eq. 7).
    """

    def forward(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        return distmult(h, r, t)

    def __repr__(self) -> str:
        return "DistMultInteraction()"

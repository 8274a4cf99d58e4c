"""RCF as the LRD reference defines it (``lrd-reference.md`` §2)."""
from __future__ import annotations

from .relational import RelationalRecommender

__all__ = ["RCF"]


class RCF(RelationalRecommender):
    r"""Relational Collaborative Filtering as used in LRD (Yang et al., SIGIR 2024), after Xin
    et al., SIGIR 2019 (`paper <https://arxiv.org/abs/1904.12796>`_).

    Note:
        As in the LRD reference, this "RCF" is KDA without the time decay: relation intensities
        are learned DistMult scores softmaxed over the history, the relation-type level is
        weight-tied self-attention over the relation slots with mean pooling. The original RCF's
        hard relation-existence masks are not used (our ``relation_evidence='graph'`` switch
        adds soft graph evidence instead). See :class:`RelationalRecommender` for arguments.
    """

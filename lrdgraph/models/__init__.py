"""Recommenders and the pieces they share. ``build_model`` makes one from a config and a graph."""
from __future__ import annotations

from typing import Any, Dict

from torch import nn

from .caser import Caser
from .distmult import DistMultInteraction, distmult
from .kda import KDA
from .layout import EntityLayout
from .gru4rec import GRU4Rec
from .lrd import RelationExtractor, lrd_loss_paper, lrd_loss_reference
from .rcf import RCF
from .relational import RelationalRecommender
from .sasrec import SASRec
from .sequential import SequentialRecommender
from .slot_attention import SlotSelfAttention
from .tisasrec import TiSASRec

__all__ = ["DistMultInteraction", "distmult", "EntityLayout", "RelationExtractor",
           "lrd_loss_paper", "lrd_loss_reference", "RCF", "KDA", "RelationalRecommender",
           "SlotSelfAttention", "SequentialRecommender", "Caser", "GRU4Rec", "SASRec",
           "TiSASRec", "MODELS", "build_model"]

#: every recommender by its ``model.name`` (keep ``lrdgraph.config.MODEL_NAMES`` in step)
MODELS = {"rcf": RCF, "kda": KDA, "caser": Caser, "gru4rec": GRU4Rec, "sasrec": SASRec,
          "tisasrec": TiSASRec}


def build_model(cfg: Dict[str, Any], graph) -> nn.Module:
    """Instantiate the recommender named by ``cfg['model']['name']`` for ``graph`` (an
    :class:`~lrdgraph.graph.ItemGraph`). With ``lrd.enabled: false`` there are no latent slots.
    The sequence baselines (:class:`SequentialRecommender`) build themselves from ``model.*``
    and ignore the ``lrd`` and ``kge`` sections."""
    m, lrd = cfg["model"], cfg["lrd"]
    cls = MODELS[m["name"]]
    if issubclass(cls, SequentialRecommender):
        return cls.from_config(cfg, graph)
    ds = graph.dataset
    num_latent = lrd["num_latent"] if lrd["enabled"] else 0
    layout = EntityLayout.from_dataset(ds, num_latent)
    kwargs: Dict[str, Any] = dict(
        emb_size=m["emb_size"], num_heads=m["num_heads"], num_layers=m["num_layers"],
        init_std=float(m["init_std"]),
        dropout=m["dropout"], pooling=m["pooling"], relation_evidence=m["relation_evidence"],
        lrd=bool(lrd["enabled"]), lrd_objective=lrd["objective"], lrd_features=lrd["features"],
        lrd_alpha=float(lrd["alpha"]), lrd_skip_virtual=bool(lrd["skip_virtual"]),
        lrd_beta=float(lrd["beta"]), lrd_relation_grad=lrd.get("relation_grad", "all"),
        precision=cfg["train"].get("precision", "fp32"))
    if cls is KDA:
        kwargs["n_dft"] = m["n_dft"]
    model = cls(layout, ds.num_users, layout.value_entities(ds), graph.features, **kwargs)
    if m["relation_evidence"] == "graph":
        from ..graph.relation_index import RelationIndex
        model.attach_relation_index(RelationIndex.from_dataset(ds))
    return model

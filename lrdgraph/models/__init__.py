"""Recommenders and the pieces they share. ``build_model`` makes one from a config and a graph."""
from __future__ import annotations

from typing import Any, Dict

from .distmult import DistMultInteraction, distmult
from .kda import KDA
from .layout import EntityLayout
from .lrd import RelationExtractor, lrd_loss_paper, lrd_loss_reference
from .rcf import RCF
from .relational import RelationalRecommender
from .slot_attention import SlotSelfAttention

__all__ = ["DistMultInteraction", "distmult", "EntityLayout", "RelationExtractor",
           "lrd_loss_paper", "lrd_loss_reference", "RCF", "KDA", "RelationalRecommender",
           "SlotSelfAttention", "MODELS", "build_model"]

MODELS = {"rcf": RCF, "kda": KDA}


def build_model(cfg: Dict[str, Any], graph) -> RelationalRecommender:
    """Instantiate the recommender named by ``cfg['model']['name']`` for ``graph`` (an
    :class:`~lrdgraph.graph.ItemGraph`). With ``lrd.enabled: false`` there are no latent slots."""
    m, lrd = cfg["model"], cfg["lrd"]
    ds = graph.dataset
    num_latent = lrd["num_latent"] if lrd["enabled"] else 0
    layout = EntityLayout.from_dataset(ds, num_latent)
    cls = MODELS[m["name"]]
    kwargs: Dict[str, Any] = dict(
        emb_size=m["emb_size"], num_heads=m["num_heads"], num_layers=m["num_layers"],
        dropout=m["dropout"], pooling=m["pooling"], relation_evidence=m["relation_evidence"],
        lrd=bool(lrd["enabled"]), lrd_objective=lrd["objective"], lrd_features=lrd["features"],
        lrd_alpha=float(lrd["alpha"]), lrd_skip_virtual=bool(lrd["skip_virtual"]))
    if cls is KDA:
        kwargs["n_dft"] = m["n_dft"]
    model = cls(layout, ds.num_users, layout.value_entities(ds), graph.features, **kwargs)
    if m["relation_evidence"] == "graph":
        from ..graph.relation_index import RelationIndex
        model.attach_relation_index(RelationIndex.from_dataset(ds))
    return model

"""The relation-aware sequential recommender shared by RCF and KDA (``lrd-reference.md`` §2)."""
from __future__ import annotations

from typing import Dict, Optional

import torch
from torch import Tensor, nn

from .distmult import distmult
from .layout import EntityLayout
from .losses import bpr_loss, weighted_bpr_loss
from .lrd import RelationExtractor, lrd_loss_mi, lrd_loss_paper, lrd_loss_reference
from .slot_attention import SlotSelfAttention

__all__ = ["RelationalRecommender"]

POOLINGS = ("average", "max", "attention")
EVIDENCE = ("none", "graph")
LRD_OBJECTIVES = ("paper", "reference", "mi")
LRD_FEATURES = ("text", "id")


class RelationalRecommender(nn.Module):
    r"""Relation-aware sequential recommender with optional latent relation discovery.

    For user u with history items :math:`h_1..h_H` and candidate item c (paper §3.2, Eq. 9-12;
    ``lrd-reference.md`` §2.2):

    1. relation vectors :math:`\rho_{c,r} = r_r + e_{val(c,r)}` (the candidate's attribute value
       for "same attribute" slots, the null entity otherwise);
    2. intensities :math:`s_{c,k,r} = \phi(h_k, \rho_{c,r}, t_c)` (DistMult, Eq. 6/11), softmaxed
       over the history (Eq. 12), times a time-gap decay in KDA;
    3. slot vectors :math:`z_{c,r} = \sum_k \alpha_{c,k,r} h_k`, refined by weight-tied
       self-attention over the R slots and pooled to :math:`m_c`;
    4. score :math:`\hat y_{u,c} = (u + m_c)^\top t_c + b_c` (Eq. 9).

    Both 5-D products are einsums that never materialise ``B x C x H x R x V``.

    Note:
        Departures from the reference, each a switch: ``relation_evidence='graph'`` adds a
        learned per-relation weight times the graph's evidence (predefined edge present, shared
        attribute, latent weight q(r|i,j)) to the intensity logits; ``num_latent=0`` gives the
        vanilla model with no latent slots at all; multi-valued attributes use the mean of the
        candidate's value embeddings; items without a value use a per-attribute "missing"
        entity.

    Args:
        layout (EntityLayout): entity and relation ids.
        num_users (int): number of users.
        value_entities (Dict[str, Tensor]): per attribute, ``[N + 1, m]`` value entity ids.
        features (Tensor, optional): frozen item text features ``[N, P]`` for LRD.
        emb_size (int): V. num_heads, num_layers, dropout: the slot self-attention.
        pooling (str): ``average`` (reference default), ``max`` or ``attention``.
        relation_evidence (str): ``none`` (reference) or ``graph``.
        lrd (bool): train the relation extractor with the LRD objective.
        lrd_objective (str): ``paper``, ``reference`` or ``mi`` (ours, see
            :func:`~lrdgraph.models.lrd.lrd_loss_mi`); lrd_features: ``text`` or ``id``.
        lrd_beta (float): weight of the marginal-entropy term of the ``mi`` objective.
        lrd_alpha (float): entropy coefficient α; lrd_skip_virtual: reference's
            ``leave_one_latent``.
        lrd_relation_grad (str): ``all`` (paper and reference: the LRD loss updates every
            relation embedding) or ``latent`` (ours: it updates only the latent ones; the
            virtual and predefined relations are shaped by the recommendation and KGE losses
            alone). Why: with ``all``, the near-uniform q of the paper objective hands every
            relation the same reconstruction gradient. On Office, without LRD the predefined
            relations differ in norm (13.6-24.9) and point away from the virtual one (cosine
            -0.75 to -0.85); with it all ten relations end within cosine 0.93-1.00 of each
            other (``docs/results.md``).
        precision (str): ``fp32`` or ``bf16`` for the slot self-attention (see
            :class:`~lrdgraph.models.slot_attention.SlotSelfAttention`).
        init_std (float): standard deviation of the normal initialisation of the user, entity
            and relation embeddings (the reference uses 0.01 for every parameter).
    """

    uses_time_decay = False

    def __init__(self, layout: EntityLayout, num_users: int, value_entities: Dict[str, Tensor],
                 features: Optional[Tensor] = None, *, emb_size: int = 64, num_heads: int = 4,
                 num_layers: int = 5, dropout: float = 0.0, pooling: str = "average",
                 relation_evidence: str = "none", lrd: bool = True, lrd_objective: str = "paper",
                 lrd_features: str = "text", lrd_alpha: float = 0.1,
                 lrd_skip_virtual: bool = False, init_std: float = 0.01,
                 lrd_beta: float = 1.0, lrd_relation_grad: str = "all",
                 precision: str = "fp32") -> None:
        super().__init__()
        self.init_std = init_std
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}")
        if relation_evidence not in EVIDENCE:
            raise ValueError(f"relation_evidence must be one of {EVIDENCE}")
        if lrd_objective not in LRD_OBJECTIVES or lrd_features not in LRD_FEATURES:
            raise ValueError("bad LRD objective or features")
        if lrd_relation_grad not in ("all", "latent"):
            raise ValueError("lrd_relation_grad must be 'all' or 'latent'")
        if lrd and lrd_features == "text" and features is None:
            raise ValueError("LRD with text features needs the item features")
        self.layout = layout
        self.num_users = num_users
        self.emb_size = emb_size
        self.pooling = pooling
        self.relation_evidence = relation_evidence
        self.use_lrd = lrd
        self.lrd_objective = lrd_objective
        self.lrd_features = lrd_features
        self.lrd_alpha = lrd_alpha
        self.lrd_beta = lrd_beta
        self.lrd_skip_virtual = lrd_skip_virtual
        self.lrd_relation_grad = lrd_relation_grad
        R = layout.num_relations
        self.user_emb = nn.Embedding(num_users, emb_size)
        self.entity_emb = nn.Embedding(layout.num_entities, emb_size)
        self.relation_emb = nn.Embedding(R, emb_size)
        self.item_bias = nn.Parameter(torch.zeros(layout.num_items + 1))
        self.slots = SlotSelfAttention(emb_size, num_heads, num_layers, dropout, precision)
        if pooling == "attention":
            self.pool_a = nn.Linear(emb_size, emb_size)
            self.pool_out = nn.Linear(emb_size, 1, bias=False)
        if relation_evidence == "graph":
            self.evidence_weight = nn.Parameter(torch.ones(R))
        self.attribute_names = list(value_entities)
        for name, ent in value_entities.items():
            self.register_buffer(f"values_{name}", ent.clone(), persistent=False)
        # The frozen text features are not part of the state dict: they come from the graph.
        if features is not None:
            pad = torch.zeros(1, features.shape[1], dtype=torch.float32)
            self.register_buffer("features", torch.cat([features.float(), pad]), persistent=False)
        else:
            self.features = None
        self.extractor: Optional[RelationExtractor] = None
        if lrd or (relation_evidence == "graph" and layout.num_latent > 0):
            in_dim = emb_size if lrd_features == "id" or features is None else features.shape[1]
            self.extractor = RelationExtractor(in_dim, emb_size, R)
        self.relation_index = None  # set with attach_relation_index() for evidence='graph'
        self.reset_parameters()

    # ------------------------------------------------------------------ parameters
    def reset_parameters(self) -> None:
        for emb in (self.user_emb, self.entity_emb, self.relation_emb):
            nn.init.normal_(emb.weight, std=self.init_std)
        nn.init.zeros_(self.item_bias)
        self.slots.reset_parameters()
        if self.pooling == "attention":
            nn.init.normal_(self.pool_a.weight, std=0.01)
            nn.init.normal_(self.pool_a.bias, std=0.01)
            nn.init.normal_(self.pool_out.weight, std=0.01)
        if self.relation_evidence == "graph":
            nn.init.ones_(self.evidence_weight)
        if self.extractor is not None:
            self.extractor.reset_parameters()

    def attach_relation_index(self, index) -> None:
        """Give the model the graph's relation index (needed for ``relation_evidence='graph'``)."""
        self.relation_index = index

    # ------------------------------------------------------------------ pieces
    def value_vectors(self, items: Tensor) -> Tensor:
        """``[..., R, V]``: the value entity vector of every relation slot for each item."""
        L = self.layout
        null = self.entity_emb.weight[L.null]
        out = null.expand(*items.shape, L.num_relations, self.emb_size)
        if not self.attribute_names:
            return out
        out = out.clone()
        for k, name in enumerate(self.attribute_names):
            ent = getattr(self, f"values_{name}")[items]  # [..., m]
            valid = ent >= 0
            vec = self.entity_emb(ent.clamp_min(0)) * valid.unsqueeze(-1)
            vec = vec.sum(-2) / valid.sum(-1, keepdim=True).clamp_min(1)
            out[..., L.attribute_slot(k), :] = vec
        return out

    def item_features(self, items: Tensor) -> Tensor:
        """Extractor input for items: frozen text features, or ID embeddings (``w/o LLM``)."""
        if self.lrd_features == "id" or self.features is None:
            return self.entity_emb(items)
        return self.features[items]

    def time_decay(self, batch: Dict[str, Tensor], history: Tensor) -> Optional[Tensor]:
        """``[B, H, R]`` multiplicative weights on the item-level attention (KDA); None here."""
        return None

    def evidence(self, history: Tensor, candidates: Tensor) -> Tensor:
        """``[B, C, H, R]`` graph evidence: 1/0 for predefined relations, q(r|i,j) for latent
        slots, 0 for the virtual slot."""
        L = self.layout
        B, H = history.shape
        C = candidates.shape[1]
        ev = history.new_zeros(B, C, H, L.num_relations, dtype=torch.float32)
        if self.relation_index is None:
            raise RuntimeError("relation_evidence='graph' needs attach_relation_index()")
        ev[..., L.predefined_slice] = self.relation_index(history, candidates).float()
        if L.num_latent and self.extractor is not None:
            n = L.num_items
            logits = self.extractor.pair_logits(self.item_features(history.clamp_max(n)),
                                                self.item_features(candidates.clamp_max(n)))
            ev[..., L.latent_slice] = torch.softmax(logits, dim=-1)[..., L.latent_slice]
        return ev

    def _pool(self, z: Tensor, user: Tensor) -> Tensor:
        if self.pooling == "average":
            return z.mean(dim=-2)
        if self.pooling == "max":
            return z.max(dim=-2).values
        u = user.view(user.shape[0], 1, 1, -1)
        a = self.pool_out(torch.tanh(self.pool_a(z * u))).softmax(dim=-2)
        return (a * z).sum(-2)

    # ------------------------------------------------------------------ scoring
    def _attend(self, batch: Dict[str, Tensor], candidates: Tensor
                ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Steps 1-3 of the class docstring: ``(user [B, V], t [B, C, V], alpha [B, C, H, R],
        z [B, C, R, V])`` with alpha the item-level attention (times the decay in KDA) and z
        the slot vectors after the slot self-attention. ``batch['user_vec'] [B, V]``, when
        given, replaces the user embedding lookup (an ad-hoc user)."""
        L = self.layout
        history = batch["history"]
        user = batch["user_vec"] if "user_vec" in batch else self.user_emb(batch["user"])  # [B, V]
        mask = history < L.num_items  # [B, H]
        h = self.entity_emb(history)  # [B, H, V]
        t = self.entity_emb(candidates)  # [B, C, V]
        rho = self.relation_emb.weight + self.value_vectors(candidates)  # [B, C, R, V]
        s = torch.einsum("bhv,bcrv->bchr", h, rho * t.unsqueeze(2))  # Eq. 11
        if self.relation_evidence == "graph":
            s = s + self.evidence_weight * self.evidence(history, candidates)
        s = s.masked_fill(~mask.view(mask.shape[0], 1, -1, 1), float("-inf"))
        alpha = torch.softmax(s, dim=2).nan_to_num(0.0)  # Eq. 12, over history items
        decay = self.time_decay(batch, history)
        if decay is not None:
            alpha = alpha * decay.unsqueeze(1)
        z = torch.einsum("bchr,bhv->bcrv", alpha, h)
        B, C, R, V = z.shape
        z = self.slots(z.reshape(B * C, R, V)).view(B, C, R, V)
        return user, t, alpha, z

    def forward(self, batch: Dict[str, Tensor], candidates: Tensor) -> Tensor:
        """Scores ``[B, C]`` of ``candidates [B, C]`` for the users and histories in ``batch``
        (``user [B]``, ``history [B, H]`` padded with ``num_items``, ``history_time [B, H]``,
        ``time [B]``)."""
        user, t, _, z = self._attend(batch, candidates)
        m = self._pool(z, user)
        return ((user.unsqueeze(1) + m) * t).sum(-1) + self.item_bias[candidates]

    @torch.no_grad()
    def explain(self, batch: Dict[str, Tensor], candidates: Tensor) -> Dict[str, Tensor]:
        r"""Why each candidate scores as it does: which history items, through which slots.

        Returns a dict of tensors:

        - ``score [B, C]``: as :meth:`forward`;
        - ``alpha [B, C, H, R]``: the item-level attention (Eq. 12, times the decay in KDA);
        - ``slot_score [B, C, R]``: slot r's exact share of :math:`m_c^\top t_c` (pooling
          weight times :math:`z_{c,r}^\top t_c`; for max pooling, the dimensions slot r wins),
          so ``score = (user * t).sum(-1) + slot_score.sum(-1) + bias``;
        - ``relation_importance [B, C, R]``: softmax over slots of ``slot_score``;
        - ``contribution [B, C, H, R]``: ``alpha * relation_importance``, the weight of (history
          item k, slot r) in the candidate's score.

        Note:
            The slot self-attention mixes slots before pooling, so ``slot_score`` is the share
            of the *refined* slot r; ``alpha`` is taken before the mixing.
        """
        user, t, alpha, z = self._attend(batch, candidates)
        zt = z * t.unsqueeze(2)  # [B, C, R, V]
        R = z.shape[2]
        if self.pooling == "average":
            slot_score = zt.sum(-1) / R
        elif self.pooling == "max":
            wins = z == z.max(dim=-2, keepdim=True).values
            wins = wins / wins.sum(-2, keepdim=True)  # split ties
            slot_score = (zt * wins).sum(-1)
        else:
            u = user.view(user.shape[0], 1, 1, -1)
            a = self.pool_out(torch.tanh(self.pool_a(z * u))).softmax(dim=-2)  # [B, C, R, 1]
            slot_score = (zt * a).sum(-1)
        score = (user.unsqueeze(1) * t).sum(-1) + slot_score.sum(-1) + self.item_bias[candidates]
        importance = torch.softmax(slot_score, dim=-1)
        return {"score": score, "alpha": alpha, "slot_score": slot_score,
                "relation_importance": importance,
                "contribution": alpha * importance.unsqueeze(2)}

    # ------------------------------------------------------------------ losses
    def rec_loss(self, batch: Dict[str, Tensor]) -> Tensor:
        """Eq. 13 on ``batch['candidates'] = [positive, negatives...]``."""
        scores = self(batch, batch["candidates"])
        pos, neg = scores[:, 0], scores[:, 1:]
        return bpr_loss(pos, neg[:, 0]) if neg.shape[1] == 1 else weighted_bpr_loss(pos, neg)

    def kge_loss(self, batch: Dict[str, Tensor]) -> Tensor:
        r"""Eq. 15: DistMult with the value shift, :math:`\phi = \langle h, r + e_v, t\rangle`,
        BPR against corrupted triples (``kg_head, kg_rel, kg_tail, kg_value, kg_neg_head,
        kg_neg_tail``)."""
        E, Rm = self.entity_emb, self.relation_emb
        r = Rm(batch["kg_rel"]) + E(batch["kg_value"])
        pos = distmult(E(batch["kg_head"]), r, E(batch["kg_tail"]))
        neg = distmult(E(batch["kg_neg_head"]), r, E(batch["kg_neg_tail"]))
        return bpr_loss(pos, neg)

    def lrd_relations(self) -> Tensor:
        """``[R, V]`` relation embeddings as the LRD loss sees them: with
        ``lrd_relation_grad='latent'`` the non-latent rows are detached (same values, no
        gradient from L_lrd)."""
        rel = self.relation_emb.weight
        if self.lrd_relation_grad == "all":
            return rel
        latent = torch.zeros(rel.shape[0], 1, dtype=torch.bool, device=rel.device)
        latent[self.layout.latent_slice] = True
        return torch.where(latent, rel, rel.detach())

    def lrd_loss(self, batch: Dict[str, Tensor]) -> Tensor:
        """Eq. 8/14 (or the reference objective) on the (history item, target) pairs of the
        training batch, with ``lrd_neg [B, H]`` replacing history items."""
        assert self.extractor is not None
        history, target = batch["history"], batch["candidates"][:, 0]
        n = self.layout.num_items
        mask = history < n
        # Eq. 4 on (history item, target) pairs; the target's half is computed once per row
        a, _ = self.extractor.halves(self.extractor.project(self.item_features(history.clamp_max(n))))
        _, b = self.extractor.halves(self.extractor.project(self.item_features(target)))
        logits = a + b.unsqueeze(1) + self.extractor.classifier.bias
        args = (logits, self.entity_emb(history), self.entity_emb(batch["lrd_neg"]),
                self.entity_emb(target), self.lrd_relations(), mask, self.lrd_alpha)
        if self.lrd_objective == "paper":
            return lrd_loss_paper(*args)
        if self.lrd_objective == "mi":
            return lrd_loss_mi(*args, beta=self.lrd_beta)
        return lrd_loss_reference(*args, skip_virtual=self.lrd_skip_virtual)

    def losses(self, batch: Dict[str, Tensor], *, kge: bool = True) -> Dict[str, Tensor]:
        out = {"rec": self.rec_loss(batch)}
        if kge and "kg_head" in batch:
            out["kge"] = self.kge_loss(batch)
        if self.use_lrd:
            out["lrd"] = self.lrd_loss(batch)
        return out

    # ------------------------------------------------------------------ analysis
    @torch.no_grad()
    def latent_distribution(self, heads: Tensor, tails: Tensor) -> Tensor:
        """q(r | i, j) over all relation slots for aligned item pairs ``[P] x [P] -> [P, R]``."""
        assert self.extractor is not None
        return self.extractor(self.item_features(heads), self.item_features(tails))

    def __repr__(self) -> str:
        L = self.layout
        return (f"{self.__class__.__name__}({L.num_items}, num_users={self.num_users}, "
                f"num_relations={L.num_relations}, num_latent={L.num_latent}, "
                f"emb_size={self.emb_size})")

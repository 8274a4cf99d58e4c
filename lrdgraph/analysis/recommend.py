"""``recommend``: top-k items for a known user or an ad-hoc history, with reasons.

* A **known user** (original user id): the history is the user's train, dev and test items in
  order, the most recent ``train.history`` (20) of them; the user's learned embedding is used;
  the query time is the user's last interaction (KDA's time-gap decay sees real gaps).
* An **ad-hoc history** (original item ids, oldest first): there is no learned embedding for
  such a user, so the **mean of all user embeddings** stands in for it; there are no timestamps
  either, so every time gap is taken as zero.

Items in the history (for a known user: every item the user interacted with) are never
recommended. ``explain`` adds, per recommended item, the (history item, relation slot) pairs
weighted by ``alpha[c, k, r] * importance[c, r]`` from
:meth:`~lrdgraph.models.RelationalRecommender.explain`: the item-level attention (softmax over
the history of the DistMult intensity, times the KDA decay) times the relation slot's share of
the score (softmax over slots). The reasons are the history items with the largest total
weight, each with its heaviest relation slots; a slot also says whether its predefined relation
actually holds between the two items (the model's attention does not require it), or the
extractor's q for a latent relation.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from ..errors import ConfigError, InputError
from .candidates import SPLITS
from .trained import load_trained, read_relation_names, relation_labels, relation_sources

__all__ = ["recommend", "format_recommendations"]


def _known_user(ds, user: str, H: int) -> tuple[int, List[int], List[int], set]:
    index = {u: k for k, u in enumerate(ds.user_ids)}
    if user not in index:
        raise InputError(f"unknown user id {user!r} (user ids are those of users.csv in the "
                         "graph directory)")
    u = index[user]
    items, times, order = [], [], []
    for code, s in enumerate(SPLITS):
        sp = getattr(ds, s)
        sel = np.flatnonzero(sp.user == u)
        items.append(sp.item[sel]); times.append(sp.time[sel])
        order.append(np.full(len(sel), code))
    it, tm, cd = (np.concatenate(x) for x in (items, times, order))
    o = np.lexsort((np.arange(len(it)), tm, cd))
    it, tm = it[o], tm[o]
    return u, it[-H:].tolist(), tm[-H:].tolist(), set(it.tolist())


def _adhoc(ds, history: Sequence[str], H: int) -> tuple[List[int], set]:
    index = {i: k for k, i in enumerate(ds.item_ids)}
    ids = [h.strip() for h in history if h.strip()]
    if not ids:
        raise InputError("the history is empty")
    unknown = [h for h in ids if h not in index]
    if unknown:
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise InputError("unknown item id(s) in the history: "
                         + ", ".join(repr(u) for u in unknown[:5]) + more)
    items = [index[h] for h in ids]
    return items[-H:], set(items)


@torch.no_grad()
def recommend(run_dir: str | Path, *, user: Optional[str] = None,
              history: Optional[Sequence[str]] = None, k: int = 10, explain: bool = False,
              reasons: int = 3, slots_per_reason: int = 2, chunk_size: int = 4_000_000,
              loaded: Optional[tuple] = None) -> Dict[str, Any]:
    """Top-``k`` recommendations for ``user`` (an original user id) or ``history`` (original
    item ids, oldest first); see the module docstring.

    Args:
        reasons (int): with ``explain``, the number of history items given as reasons per
            recommended item (those with the largest total weight over the slots).
        slots_per_reason (int): the relation slots shown per reason (largest weight first).
        chunk_size (int): bound on ``candidates x history x slots x emb`` floats per forward.
        loaded: ``(cfg, graph, model)`` from :func:`load_trained`, to skip loading.
    """
    if (user is None) == (history is None):
        raise ConfigError("give either a user id or a history, not both")
    if k < 1:
        raise ConfigError("k must be at least 1")
    cfg, graph, model = loaded or load_trained(run_dir)
    ds = graph.dataset
    L = model.layout
    H = int(cfg["train"]["history"])
    pad = L.num_items
    if user is not None:
        u, items, times, seen = _known_user(ds, user, H)
        batch = {"user": torch.tensor([u])}
        now = times[-1] if times else 0
        emb = "learned"
    else:
        items, seen = _adhoc(ds, history, H)
        times = [0] * len(items)
        now = 0
        batch = {"user": torch.zeros(1, dtype=torch.long),
                 "user_vec": model.user_emb.weight.mean(0, keepdim=True)}
        emb = "mean of all users"
    Hn = max(len(items), 1)
    batch["history"] = torch.tensor([items + [pad] * (Hn - len(items))])
    batch["history_time"] = torch.tensor([times + [0] * (Hn - len(times))])
    batch["time"] = torch.tensor([now])
    candidates = torch.tensor(sorted(set(range(L.num_items)) - seen), dtype=torch.long)
    if candidates.numel() == 0:
        raise InputError("every item is already in the history: nothing left to recommend")
    step = max(1, chunk_size // (Hn * L.num_relations * model.emb_size))
    scores = torch.cat([model(batch, candidates[s:s + step].unsqueeze(0))[0]
                        for s in range(0, candidates.numel(), step)])
    k = min(k, candidates.numel())
    # stable top-k: highest score first, ties by item index
    order = np.lexsort((candidates.numpy(), -scores.numpy()))[:k]
    top = candidates[order]
    labels = relation_labels(L, read_relation_names(run_dir) if run_dir else {})
    sources = relation_sources(L)
    out: Dict[str, Any] = {
        "user": user, "user_embedding": emb,
        "history": [{"item_id": ds.item_ids[i], "text": ds.item_text[i]} for i in items],
        "recommendations": [],
    }
    ex = model.explain(batch, top.unsqueeze(0)) if explain else None
    uniq = list(dict.fromkeys(items))
    pos_to_uniq = torch.tensor([uniq.index(i) for i in items], dtype=torch.long)
    ev = q = None
    if explain:
        hist = batch["history"]
        if L.predefined:
            from ..graph.relation_index import RelationIndex
            ev = RelationIndex.from_dataset(ds)(hist, top.unsqueeze(0))[0]  # [k, H, R']
        if L.num_latent and model.extractor is not None:
            f = model.item_features
            q = torch.softmax(model.extractor.pair_logits(f(hist.clamp_max(pad)),
                                                          f(top.unsqueeze(0))), -1)[0]  # [k, H, R]
    for rank, (c, s) in enumerate(zip(top.tolist(), scores[order].tolist()), start=1):
        rec: Dict[str, Any] = {"rank": rank, "item_id": ds.item_ids[c], "score": round(s, 6),
                               "text": ds.item_text[c]}
        if ex is not None:
            # a repeated history item is one reason: its positions' weights add up
            contrib = torch.zeros(len(uniq), L.num_relations).index_add_(
                0, pos_to_uniq, ex["contribution"][0, rank - 1, :len(items)])  # [U, R]
            alpha = torch.zeros(len(uniq), L.num_relations).index_add_(
                0, pos_to_uniq, ex["alpha"][0, rank - 1, :len(items)])
            last = {u: p for p, u in enumerate(pos_to_uniq.tolist())}  # latest position
            per_item = contrib.sum(1)
            n = min(reasons, int((per_item > 0).sum()))
            why = []
            for j in per_item.topk(n).indices.tolist() if n else []:
                item, h = uniq[j], last[j]
                slots = []
                for r in contrib[j].topk(min(slots_per_reason, L.num_relations)).indices.tolist():
                    slot = {"relation": labels[r], "source": sources[r],
                            "weight": round(float(contrib[j, r]), 6),
                            "attention": round(float(alpha[j, r]), 6),
                            "relation_importance":
                                round(float(ex["relation_importance"][0, rank - 1, r]), 6)}
                    if sources[r] == "predefined" and ev is not None:
                        slot["holds"] = bool(ev[rank - 1, h, r - 1])
                    if sources[r] == "latent" and q is not None:
                        slot["q"] = round(float(q[rank - 1, h, r]), 6)
                    slots.append(slot)
                why.append({"history_item": ds.item_ids[item], "history_text": ds.item_text[item],
                            "weight": round(float(per_item[j]), 6), "relations": slots})
            rec["reasons"] = why
        out["recommendations"].append(rec)
    return out


def _short(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def format_recommendations(res: Dict[str, Any], width: int = 60) -> str:
    """The table ``lrdgraph recommend --format table`` prints."""
    who = f"user {res['user']}" if res["user"] is not None else "ad-hoc history"
    lines = [f"{who} (user embedding: {res['user_embedding']}); history, most recent last:"]
    lines += [f"  {h['item_id']:<10} {_short(h['text'], width)}" for h in res["history"]]
    lines.append("")
    lines.append(f"{'rank':>4}  {'item':<10} {'score':>8}  text")
    for r in res["recommendations"]:
        lines.append(f"{r['rank']:>4}  {r['item_id']:<10} {r['score']:>8.3f}  {_short(r['text'], width)}")
        for w in r.get("reasons", []):
            slots = []
            for sl in w["relations"]:
                extra = ""
                if "holds" in sl:
                    extra = " edge" if sl["holds"] else " no edge"
                elif "q" in sl:
                    extra = f" q={sl['q']:.2f}"
                slots.append(f"{sl['relation']} {sl['weight']:.3f}{extra}")
            lines.append(f"{'':>6}<- {w['history_item']:<10} {w['weight']:.3f} via "
                         + ", ".join(slots) + f"  {_short(w['history_text'], width - 25)}")
    return "\n".join(lines)

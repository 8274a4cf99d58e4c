"""``relations``: what each relation slot of a trained run stands for.

For every slot (the virtual ``any``, the predefined relations and the latent ones), over the
candidate pairs of :mod:`~lrdgraph.analysis.candidates` scored by the extractor q(r | i, j):

* ``top_pairs``: the pairs with the highest q(r | i, j), at most two per head and per tail item
  so that one item with a strong projection cannot fill the list;
* ``wins``: how many candidate pairs have r as their arg-max slot;
* ``overlap``: of the pairs r wins, the fraction that hold a predefined relation (an item-item
  edge in either direction or a shared attribute value, checked with
  :class:`~lrdgraph.graph.RelationIndex`), overall and per predefined relation, beside the same
  fraction over all candidate pairs (``base_rate``).

Also the cosine similarity between the relation embeddings (``model.relation_emb``), drawn as a
heat map, and, when the data set has planted item groups (the demo's workflows,
``report['planted_group']``), the normalised mutual information between the pair's planted
group (pairs within one group get that group; pairs across groups one ``cross`` label) and the
arg-max **latent** slot, on held-out pairs (from the dev and test histories, never shown to the
extractor in training). Two baselines are measured the same way: the extractor re-initialised as
training starts it (``reset_parameters``), and randomly projected extractors (PyTorch's default
``nn.Linear`` initialisation, mean over seeds), a function of the text with no training.
"""
from __future__ import annotations

import copy
import io
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from ..io import DirLock, atomic_write, atomic_write_json, output_dir
from .candidates import candidate_pairs, heldout_pairs, iter_scored
from .defaults import DEFAULT_CHUNK, DEFAULT_KNN, DEFAULT_MAX_PAIRS, DEFAULT_WINDOW
from .trained import load_trained, read_relation_names, relation_labels, relation_sources

__all__ = ["analyse_relations", "planted_group_nmi", "similarity_heatmap", "relation_similarity",
           "heatmap_of", "write_relations", "format_relations", "apply_names", "relations_report"]

CROSS = "cross"
#: the number of top pairs per latent relation the namers read
NAMING_PAIRS = 20


def relation_similarity(model) -> tuple[np.ndarray, np.ndarray]:
    """``[R, R]`` cosine similarities between the relation embeddings: as they are, and after
    removing their mean vector (relation embeddings often share one large common direction,
    which hides their differences in the first)."""
    w = model.relation_emb.weight.detach().float().cpu()
    norm = torch.nn.functional.normalize
    a, c = norm(w, dim=1), norm(w - w.mean(0, keepdim=True), dim=1)
    return (a @ a.t()).numpy(), (c @ c.t()).numpy()


def similarity_heatmap(sim: np.ndarray, labels: List[str], centred: Optional[np.ndarray] = None,
                       *, title: str = "Cosine similarity of relation embeddings") -> bytes:
    """A PNG heat map (matplotlib, object API: no global backend state); with ``centred``, a
    second panel shows the similarities after removing the mean relation vector."""
    from matplotlib.figure import Figure

    R = len(labels)
    panels = [(sim, "as learned")] + ([(centred, "mean relation vector removed")]
                                      if centred is not None else [])
    side = max(4.0, 0.5 * R + 2.2)
    fig = Figure(figsize=(side * len(panels) + 1.0, side + 0.1), dpi=110, layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    im = None
    for ax, (m, sub) in zip(axes, panels):
        im = ax.imshow(m, cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_xticks(range(R), labels, rotation=45, ha="right", rotation_mode="anchor")
        ax.set_yticks(range(R), labels)
        if R <= 16:
            for i in range(R):
                for j in range(R):
                    v = m[i, j]
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center",
                            fontsize=7.5 if R <= 12 else 6,
                            color="white" if abs(v) > 0.6 else "black")
        ax.set_title(sub, fontsize=11)
    fig.colorbar(im, ax=list(axes), shrink=0.8, label="cosine similarity")
    fig.suptitle(title, fontsize=13)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _group_labels(groups: List[str], pairs: torch.Tensor) -> np.ndarray:
    g = np.asarray(groups, dtype=object)
    h, t = g[pairs[0].numpy()], g[pairs[1].numpy()]
    same = (h == t) & (h != "")
    return np.where(same, h, CROSS).astype(str)


def _latent_argmax(extractor, model, pairs: torch.Tensor) -> np.ndarray:
    L = model.layout
    f = model.item_features
    with torch.no_grad():
        logits = extractor.logits(f(pairs[0]), f(pairs[1]))
    return logits[:, L.latent_slice].argmax(1).numpy()


def planted_group_nmi(model, dataset, *, window: int = DEFAULT_WINDOW,
                      random_seeds: int = 5) -> Optional[Dict[str, Any]]:
    """NMI between planted groups and the arg-max latent slot on held-out pairs (see the
    module docstring), with the two random baselines; None without planted groups or latent
    slots."""
    from sklearn.metrics import normalized_mutual_info_score as nmi

    groups = (dataset.report or {}).get("planted_group")
    L = model.layout
    if not groups or len(groups) != dataset.num_items or not L.num_latent or model.extractor is None:
        return None
    pairs = heldout_pairs(dataset, window=window)
    if pairs.shape[1] == 0:
        return None
    lab = _group_labels(groups, pairs)
    within = lab != CROSS

    def measure(extractor) -> Dict[str, float]:
        a = _latent_argmax(extractor, model, pairs)
        return {"nmi": float(nmi(lab, a)),
                "nmi_within": float(nmi(lab[within], a[within])) if within.sum() > 1 else 0.0,
                "slots_used": int(len(np.unique(a)))}

    trained = measure(model.extractor)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        fresh = copy.deepcopy(model.extractor).cpu()
        fresh.reset_parameters()
        reinit = measure(fresh)
        proj = []
        for seed in range(random_seeds):
            torch.manual_seed(seed)
            rnd = copy.deepcopy(model.extractor).cpu()
            for lin in (rnd.proj, rnd.classifier):
                torch.nn.Linear.reset_parameters(lin)
            proj.append(measure(rnd))
    a = _latent_argmax(model.extractor, model, pairs)
    table: Dict[str, Dict[str, int]] = {}
    for g, k in zip(lab, a):
        row = table.setdefault(str(g), {})
        name = f"latent_{k}"
        row[name] = row.get(name, 0) + 1
    return {
        "pairs": int(pairs.shape[1]), "within_group_pairs": int(within.sum()),
        "groups": int(len(set(lab) - {CROSS})), "window": window,
        "trained": trained, "reinitialised": reinit,
        "random_projection": {k: float(np.mean([p[k] for p in proj])) for k in ("nmi", "nmi_within")},
        "contingency": {g: table[g] for g in sorted(table)},
    }


def _diverse_top(q: np.ndarray, heads: np.ndarray, tails: np.ndarray, n: int,
                 per_item: int = 2) -> List[int]:
    """Indices of the ``n`` highest ``q``, each head and each tail used at most ``per_item``
    times (falls back to plain order when that leaves too few)."""
    order = np.argsort(-q, kind="stable")
    used_h: Dict[int, int] = {}
    used_t: Dict[int, int] = {}
    out: List[int] = []
    for i in order:
        h, t = int(heads[i]), int(tails[i])
        if used_h.get(h, 0) >= per_item or used_t.get(t, 0) >= per_item:
            continue
        out.append(int(i))
        used_h[h] = used_h.get(h, 0) + 1
        used_t[t] = used_t.get(t, 0) + 1
        if len(out) == n:
            return out
    rest = [int(i) for i in order if int(i) not in set(out)]
    return out + rest[: n - len(out)]


@torch.no_grad()
def analyse_relations(run_dir: str | Path, *, top: int = 10, window: int = DEFAULT_WINDOW,
                      knn: int = DEFAULT_KNN, chunk_size: int = DEFAULT_CHUNK,
                      max_pairs: Optional[int] = DEFAULT_MAX_PAIRS, progress: bool = False,
                      loaded: Optional[tuple] = None,
                      names: Optional[Dict[str, Dict[str, str]]] = None) -> Dict[str, Any]:
    """The per-slot statistics, the similarity matrix and the planted-group NMI of a run (see
    the module docstring) as a JSON-ready dict. ``names`` overrides the run's stored names."""
    from ..graph.relation_index import RelationIndex

    cfg, graph, model = loaded or load_trained(run_dir)
    ds = graph.dataset
    L = model.layout
    R = L.num_relations
    names = read_relation_names(run_dir) if names is None else names
    labels = relation_labels(L, names)
    sources = relation_sources(L)
    pred = L.predefined
    index = RelationIndex.from_dataset(ds)
    if model.extractor is not None:
        pairs = candidate_pairs(graph, window=window, knn=knn, chunk_size=chunk_size,
                                max_pairs=max_pairs, progress=progress)
    else:  # no q to score pairs with: only the relation embeddings are analysed
        pairs = torch.zeros(2, 0, dtype=torch.long)
    P = int(pairs.shape[1])
    pool = max(10 * top, 100)
    best_q = [np.zeros(0, np.float32) for _ in range(R)]
    best_i = [np.zeros(0, np.int64) for _ in range(R)]
    wins = np.zeros(R, np.int64)
    win_any = np.zeros(R, np.int64)
    win_rel = np.zeros((R, len(pred)), np.int64)
    base_any = 0
    base_rel = np.zeros(len(pred), np.int64)
    if model.extractor is not None:
        for off, h, t, q in iter_scored(model, pairs, chunk_size=chunk_size, progress=progress,
                                        desc="relation statistics"):
            arg = q.argmax(1).numpy()
            wins += np.bincount(arg, minlength=R)
            holds = index(h.view(-1, 1), t.view(-1, 1))[:, 0, 0, :].numpy()  # [n, R']
            anyh = holds.any(1) if holds.shape[1] else np.zeros(len(arg), bool)
            base_any += int(anyh.sum())
            base_rel += holds.sum(0)
            np.add.at(win_any, arg, anyh)
            np.add.at(win_rel, arg, holds)
            qn = q.numpy()
            for r in range(R):
                m = min(pool, len(qn))
                cand = np.argpartition(-qn[:, r], m - 1)[:m]
                allq = np.concatenate([best_q[r], qn[cand, r]])
                alli = np.concatenate([best_i[r], cand + off])
                keep = np.argsort(-allq, kind="stable")[:pool]
                best_q[r], best_i[r] = allq[keep], alli[keep]
    heads, tails = pairs[0].numpy(), pairs[1].numpy()
    slots = []
    for r in range(R):
        slot = f"latent_{r - L.latent_slice.start}" if sources[r] == "latent" else labels[r]
        entry: Dict[str, Any] = {"slot": slot, "label": labels[r], "source": sources[r]}
        if slot in names:
            entry["name"] = names[slot].get("name", labels[r])
            entry["description"] = names[slot].get("description", "")
        entry["max_q"] = round(float(best_q[r][0]), 6) if len(best_q[r]) else None
        entry["wins"] = int(wins[r])
        entry["wins_fraction"] = float(wins[r] / P) if P else 0.0
        entry["overlap"] = {
            "any_predefined": float(win_any[r] / wins[r]) if wins[r] else None,
            **{p: float(win_rel[r, j] / wins[r]) if wins[r] else None for j, p in enumerate(pred)}}
        pick = _diverse_top(best_q[r], heads[best_i[r]], tails[best_i[r]], top) if len(best_i[r]) else []
        entry["top_pairs"] = [
            {"head": ds.item_ids[heads[best_i[r][k]]], "tail": ds.item_ids[tails[best_i[r][k]]],
             "head_text": ds.item_text[heads[best_i[r][k]]],
             "tail_text": ds.item_text[tails[best_i[r][k]]], "q": round(float(best_q[r][k]), 6)}
            for k in pick]
        slots.append(entry)
    sim, centred = relation_similarity(model)
    out: Dict[str, Any] = {
        "run": str(run_dir), "extractor": model.extractor is not None, "candidate_pairs": P,
        "candidates": {"window": window, "knn": knn},
        "base_rate": {"any_predefined": float(base_any / P) if P else None,
                      **{p: float(base_rel[j] / P) if P else None for j, p in enumerate(pred)}},
        "relations": slots,
        "similarity": {"labels": labels, "matrix": np.round(sim, 6).tolist(),
                       "centred_matrix": np.round(centred, 6).tolist()},
        "planted_groups": planted_group_nmi(model, ds, window=window),
    }
    return out


def heatmap_of(result: Dict[str, Any]) -> bytes:
    """The heat map PNG of an :func:`analyse_relations` result."""
    sim = result["similarity"]
    return similarity_heatmap(np.asarray(sim["matrix"]), sim["labels"],
                              np.asarray(sim["centred_matrix"]))


def write_relations(result: Dict[str, Any], out: str | Path, *, overwrite: bool = False) -> List[Path]:
    """Write ``relations.json``, ``relation_similarity.png`` and ``top_pairs.csv`` into the
    directory ``out`` (atomically, holding the output lock)."""
    out = Path(out)
    with DirLock(out):
        return _write_relations(result, out, overwrite)


def _write_relations(result: Dict[str, Any], out: Path, overwrite: bool) -> List[Path]:
    """:func:`write_relations` for a caller that holds the output lock."""
    import csv

    with output_dir(out, overwrite=overwrite, lock=False) as tmp:
        atomic_write_json(tmp / "relations.json", result)
        with atomic_write(tmp / "relation_similarity.png", "wb") as fh:
            fh.write(heatmap_of(result))
        with atomic_write(tmp / "top_pairs.csv") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["relation", "source", "rank", "head", "tail", "q", "head_text", "tail_text"])
            for rel in result["relations"]:
                for k, p in enumerate(rel["top_pairs"], start=1):
                    w.writerow([rel["label"], rel["source"], k, p["head"], p["tail"], p["q"],
                                p["head_text"], p["tail_text"]])
        names = sorted(p.name for p in tmp.iterdir())
    return [out / n for n in names]


def _short(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def format_relations(result: Dict[str, Any], pairs: int = 3, width: int = 38) -> str:
    """The summary ``lrdgraph relations`` prints."""
    if not result.get("extractor", True):
        return ("this run has no relation extractor (trained with --no-lrd and no latent "
                "relations): there is no q(r | i, j) to analyse; see relation_similarity.png "
                "for the relation embeddings")
    lines = [f"{result['candidate_pairs']:,} candidate pairs (window {result['candidates']['window']}, "
             f"knn {result['candidates']['knn']}); base rate of a predefined relation: "
             + (f"{result['base_rate']['any_predefined']:.1%}"
                if result["base_rate"]["any_predefined"] is not None else "n/a"), ""]
    lines.append(f"{'relation':<28} {'source':<10} {'wins':>8} {'share':>6} {'overlap':>8} {'max q':>7}")
    for r in result["relations"]:
        ov = r["overlap"]["any_predefined"]
        mq = "-" if r.get("max_q") is None else f"{r['max_q']:.4f}"
        lines.append(f"{r['label'][:28]:<28} {r['source']:<10} {r['wins']:>8,} "
                     f"{r['wins_fraction']:>6.1%} {'-' if ov is None else f'{ov:.1%}':>8} {mq:>7}")
        if r.get("description"):
            lines.append(f"    {r['description']}")
        for p in r["top_pairs"][:pairs]:
            lines.append(f"    {p['q']:.4f}  {_short(p['head_text'], width)}  ->  "
                         f"{_short(p['tail_text'], width)}")
    pg = result.get("planted_groups")
    if pg:
        t, z, rp = pg["trained"], pg["reinitialised"], pg["random_projection"]
        lines += ["", f"planted groups: {pg['pairs']:,} held-out pairs ({pg['within_group_pairs']:,} "
                  f"within one group, {pg['groups']} groups)",
                  f"  NMI(group, arg-max latent)   trained {t['nmi']:.3f}   re-initialised "
                  f"{z['nmi']:.3f}   random projection {rp['nmi']:.3f}",
                  f"  NMI on within-group pairs    trained {t['nmi_within']:.3f}   re-initialised "
                  f"{z['nmi_within']:.3f}   random projection {rp['nmi_within']:.3f}"]
    return "\n".join(lines)


def apply_names(result: Dict[str, Any], names: Dict[str, Dict[str, str]]) -> Dict[str, Any]:
    """Put latent relation names (from :func:`~lrdgraph.analysis.naming.name_relations`) into an
    :func:`analyse_relations` result, in place."""
    for entry in result["relations"]:
        n = names.get(entry["slot"])
        if entry["source"] == "latent" and n:
            entry["label"] = n.get("label") or entry["label"]
            entry["name"] = n.get("name", entry["label"])
            entry["description"] = n.get("description", "")
    result["similarity"]["labels"] = [e["label"] for e in result["relations"]]
    return result


def relations_report(run_dir: str | Path, out: str | Path, *, top: int = 10,
                     window: int = DEFAULT_WINDOW, knn: int = DEFAULT_KNN,
                     chunk_size: int = DEFAULT_CHUNK, max_pairs: Optional[int] = DEFAULT_MAX_PAIRS,
                     name: bool = False, naming: str = "auto", base_url: Optional[str] = None,
                     chat_model: Optional[str] = None, overwrite: bool = False,
                     progress: bool = True, warn=lambda m: None) -> Dict[str, Any]:
    """``lrdgraph relations``: analyse a run, optionally name its latent relations (stored in
    the run directory as ``relation_names.json``), and write the results to ``out``."""
    from ..errors import OutputError

    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not overwrite)):
        raise OutputError("output directory is not empty; pass --overwrite to replace it", path=out)
    # held from the start: a second command writing the same --out refuses before any work
    # (and before any paid call to a chat model)
    with DirLock(out):
        return _relations_report(run_dir, out, top=top, window=window, knn=knn,
                                 chunk_size=chunk_size, max_pairs=max_pairs, name=name,
                                 naming=naming, base_url=base_url, chat_model=chat_model,
                                 overwrite=overwrite, progress=progress, warn=warn)


def _relations_report(run_dir, out: Path, *, top, window, knn, chunk_size, max_pairs, name,
                      naming, base_url, chat_model, overwrite, progress, warn) -> Dict[str, Any]:
    from .naming import DEFAULT_CHAT_MODEL, name_relations
    from .trained import write_relation_names

    loaded = load_trained(run_dir)
    # names are drawn from at least NAMING_PAIRS pairs per relation, whatever --top shows
    result = analyse_relations(run_dir, top=max(top, NAMING_PAIRS) if name else top,
                               window=window, knn=knn, chunk_size=chunk_size,
                               max_pairs=max_pairs, progress=progress, loaded=loaded)
    if name:
        latent = [e for e in result["relations"] if e["source"] == "latent"]
        if not latent:
            warn("this run has no latent relations: nothing to name")
        else:
            reserved = [e["label"] for e in result["relations"] if e["source"] != "latent"]
            reserved += [f"has_{a}" for a in loaded[1].dataset.attributes]
            names, method = name_relations({e["slot"]: e["top_pairs"] for e in latent},
                                           method=naming, base_url=base_url,
                                           chat_model=chat_model or DEFAULT_CHAT_MODEL,
                                           reserved=reserved, warn=warn)
            write_relation_names(run_dir, names, method)
            apply_names(result, names)
            result["naming"] = method
    for entry in result["relations"]:
        entry["top_pairs"] = entry["top_pairs"][:top]
    result["files"] = [str(p) for p in _write_relations(result, out, overwrite)]
    return result

"""How much of a graph's item relations its raw text features already carry.

    .venv/bin/python benchmarks/text_probe.py GRAPH [GRAPH ...] [--pairs 200000] [--seed 0]

For each graph (for instance the same data set encoded with two text encoders), the ROC AUC
of the cosine similarity of two items' text features as a detector of:

- each attribute relation (``same_<attr>``): random item pairs, positive when the two items
  share a value of the attribute;
- each predefined item-item relation: its edges against popularity-matched random pairs
  (heads and tails drawn from the edges' own heads and tails);
- ``consecutive``: two successive, distinct items of one user's *train* sequence against
  popularity-matched random pairs. The dev and test splits are never read.

0.5 means the features carry nothing of the relation, 1.0 that their cosine alone separates it.
This is a property of the frozen features only: LRD learns a projection on top of them (Eq. 3)
and can use more than a cosine. Prints one markdown table.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Dict

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lrdgraph.graph.item_graph import load_graph  # noqa: E402
from lrdgraph.graph.relation_index import RelationIndex  # noqa: E402


def cosine_auc(x: torch.Tensor, pos: tuple, neg: tuple) -> float:
    """ROC AUC of cos(x[a], x[b]) for positive pairs ``pos`` against negative pairs ``neg``."""
    from sklearn.metrics import roc_auc_score

    def cos(a, b):
        return (x[torch.as_tensor(a)] * x[torch.as_tensor(b)]).sum(1).numpy()

    p, n = cos(*pos), cos(*neg)
    return float(roc_auc_score(np.r_[np.ones(len(p)), np.zeros(len(n))], np.r_[p, n]))


def matched_random(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> tuple:
    """Random pairs whose heads and tails follow the marginal distributions of ``(a, b)``."""
    return a[rng.integers(0, len(a), len(a))], b[rng.integers(0, len(b), len(b))]


def probe(path: str, pairs: int, seed: int) -> Dict[str, float]:
    """The AUCs of the graph directory ``path`` (see :func:`probe_data`)."""
    return probe_data(load_graph(path).to_hetero(), pairs, seed)


def probe_data(data, pairs: int, seed: int) -> Dict[str, float]:
    """AUC per relation (``same_<attr>``, item-item relation names, ``consecutive``) and the
    feature size (``dim``) of a graph's ``HeteroData``."""
    x = torch.nn.functional.normalize(data["item"].x.float(), dim=1)
    n = x.shape[0]
    rng = np.random.default_rng(seed)
    out: Dict[str, float] = {}
    a, b = rng.integers(0, n, pairs), rng.integers(0, n, pairs)
    keep = a != b
    a, b = a[keep], b[keep]
    attributes = {}
    for (src, rel, dst) in data.edge_types:
        ei = data[src, rel, dst].edge_index.numpy()
        if src == "item" and dst != "item" and rel.startswith("has_"):
            attributes[rel[4:]] = (ei[0], ei[1])
        elif src == "item" and dst == "item":
            out[rel] = cosine_auc(x, (ei[0], ei[1]), matched_random(ei[0], ei[1], rng))
    # "same <attribute>" as the models see it (any shared value of a multi-valued attribute)
    index = RelationIndex(n, {}, attributes)
    shared = index(torch.as_tensor(a)[:, None], torch.as_tensor(b)[:, None])[:, 0, 0].numpy()
    for r, name in enumerate(index.attribute_names):
        share = shared[:, r]
        if 0 < share.sum() < len(share):
            out[f"same_{name}"] = cosine_auc(x, (a[share], b[share]), (a[~share], b[~share]))
    inter = data["user", "interacts", "item"]
    train = inter.split == 0
    u, i, t = (inter.edge_index[0][train].numpy(), inter.edge_index[1][train].numpy(),
               inter.time[train].numpy())
    order = np.lexsort((t, u))
    u, i = u[order], i[order]
    succ = (u[1:] == u[:-1]) & (i[1:] != i[:-1])
    h, t = i[:-1][succ], i[1:][succ]
    out["consecutive"] = cosine_auc(x, (h, t), matched_random(h, t, rng))
    out["dim"] = x.shape[1]
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("graphs", nargs="+")
    ap.add_argument("--pairs", type=int, default=200_000, help="random pairs for attributes")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    results = {g: probe(g, args.pairs, args.seed) for g in args.graphs}
    cols = []
    for r in results.values():
        cols += [k for k in r if k != "dim" and k not in cols]
    print("| graph | encoder dim | " + " | ".join(cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for g, r in results.items():
        cells = [f"{r[c]:.3f}" if c in r else "–" for c in cols]
        print(f"| {g} | {r['dim']} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

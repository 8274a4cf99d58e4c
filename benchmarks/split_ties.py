"""How much the tie order of a leave-one-out split changes the split, and a result on it.

    .venv/bin/python benchmarks/split_ties.py GRAPH [GRAPH ...]

For each graph directory (built with ``build-graph --ties input`` or ``--ties shuffle
--tie-seed N``): its tie order, the users whose last time is tied, how many test and dev items
differ from the first graph's, and the test metrics of a model-free ranker, most popular first
(score = the item's train interactions), under both protocols through the library's own
evaluation (:func:`lrdgraph.train.evaluate.evaluate`, pessimistic ties). The ranker has no
training noise, so its spread over tie orders is the split's part alone. Prints one markdown
table. The negatives of graphs built with the same ``--seed`` are the same lists, which the
script checks.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lrdgraph.graph import load_graph  # noqa: E402
from lrdgraph.train.data import SequenceData  # noqa: E402
from lrdgraph.train.evaluate import evaluate  # noqa: E402

METRICS = ("HR@5", "NDCG@5", "HR@10", "NDCG@10")


class MostPopular(torch.nn.Module):
    """Scores every candidate by its number of train interactions, whoever the user is."""

    def __init__(self, counts: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("counts", torch.as_tensor(counts, dtype=torch.float32))

    def reset_parameters(self) -> None:  # nothing to learn
        pass

    def forward(self, batch: dict, candidates: torch.Tensor) -> torch.Tensor:
        return self.counts[candidates]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("graphs", nargs="+", type=Path)
    args = ap.parse_args(argv)
    first = None
    head = ["graph", "ties", "tied users", "test items moved", "dev items moved"]
    head += [f"{p} {m}" for p in ("sampled", "full") for m in METRICS]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for path in args.graphs:
        ds = load_graph(path).dataset
        ties = ds.report.get("ties", {})
        if first is None:
            first = ds
        if not np.array_equal(ds.test.user, first.test.user):
            raise SystemExit(f"{path}: other users than {args.graphs[0]}'s; compare splits of "
                             "one data set only")
        if ds.test.neg_items is not None and not np.array_equal(ds.test.neg_items,
                                                                first.test.neg_items):
            print(f"note: {path} has other negatives than {args.graphs[0]}", file=sys.stderr)
        counts = np.bincount(ds.train.item, minlength=ds.num_items)
        res = evaluate(MostPopular(counts), SequenceData(ds), "test", ks=(5, 10))
        order = ties.get("order", "?") + (f" {ties['seed']}" if "seed" in ties else "")
        row = [str(path), order, str(ties.get("users_with_tied_last_time", "?")),
               str(int((ds.test.item != first.test.item).sum())),
               str(int((ds.dev.item != first.dev.item).sum()))]
        row += [f"{res[p][m]:.4f}" for p in ("sampled", "full") for m in METRICS]
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

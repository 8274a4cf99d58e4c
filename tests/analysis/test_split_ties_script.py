"""benchmarks/split_ties.py on two tiny graphs that differ only in their tie order."""
from __future__ import annotations

import numpy as np

from lrdgraph.api import build_graph_dir
from lrdgraph.graph import load_graph


def _ranks(ds) -> np.ndarray:
    """Pessimistic rank of each test item among its negatives by train popularity, by hand."""
    counts = np.bincount(ds.train.item, minlength=ds.num_items)
    pos = counts[ds.test.item][:, None]
    return 1 + (counts[ds.test.neg_items] >= pos).sum(1)


def test_moved_items_and_most_popular_metrics(tmp_path, capsys, benchmark_script):
    rows = [f"u{u},i{k},{min(k, 3)}" for u in range(6) for k in range(1, 4 + u % 3)]
    rows += [f"z{u},j{k},{k}" for u in range(3) for k in range(1, 5)]
    (tmp_path / "interactions.csv").write_text("user,item,timestamp\n" + "\n".join(rows) + "\n")
    graphs = []
    for name, opts in (("in", {"ties": "input"}), ("sh", {"ties": "shuffle", "tie_seed": 5})):
        build_graph_dir("csv", {"interactions": tmp_path, "n_neg": 9, **opts}, tmp_path / name,
                        encoder="tfidf", dim=4, cache_dir=tmp_path / "cache", progress=False)
        graphs.append(tmp_path / name)
    assert benchmark_script("split_ties").main([str(g) for g in graphs]) == 0
    lines = [line.strip("| ").split(" | ") for line in capsys.readouterr().out.splitlines()]
    head, table = lines[0], {r[0]: dict(zip(lines[0], r)) for r in lines[2:]}
    assert head[:5] == ["graph", "ties", "tied users", "test items moved", "dev items moved"]
    a, b = (load_graph(g).dataset for g in graphs)
    assert table[str(graphs[0])]["ties"] == "input"
    assert table[str(graphs[1])]["ties"] == "shuffle 5"
    # u1 and u4 end on two items at time 3, u2 and u5 on three; u0 and u3 have no tie
    assert table[str(graphs[1])]["tied users"] == "4"
    moved = int((a.test.item != b.test.item).sum())
    assert moved > 0 and table[str(graphs[1])]["test items moved"] == str(moved)
    assert table[str(graphs[0])]["test items moved"] == "0"
    for ds, g in ((a, graphs[0]), (b, graphs[1])):
        r = _ranks(ds)
        assert 0 < (r <= 5).mean() < 1  # 9 negatives: HR@5 can miss
        assert float(table[str(g)]["sampled HR@5"]) == round(float((r <= 5).mean()), 4)
        ndcg = np.where(r <= 5, 1 / np.log2(r + 1), 0).mean()
        assert float(table[str(g)]["sampled NDCG@5"]) == round(float(ndcg), 4)

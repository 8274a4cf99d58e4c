"""Collect finished run directories into the markdown tables of docs/results.md.

Usage:
    python benchmarks/collect_results.py RUN_DIR [RUN_DIR ...] > docs/results-table.md

Each run directory is one trained model (``lrdgraph train``). Runs are grouped by (data set,
model, LRD on/off, objective); with several seeds the table gives mean ± std over seeds. Every
row says how many seeds, how many epochs ran and where the best dev epoch was, so partial
results are never mistaken for finished ones.
"""
from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import yaml

METRICS = ["HR@5", "HR@10", "NDCG@5", "NDCG@10"]


def label(cfg: dict) -> str:
    m = cfg["model"]["name"].upper()
    if cfg["model"]["name"] in ("rcf", "kda") and cfg["model"].get("num_layers", 5) != 5:
        m += f" [{cfg['model']['num_layers']} attention passes]"
    if cfg["model"]["name"] in ("rcf", "kda") and cfg["lrd"]["enabled"]:
        m += f"+LRD (K={cfg['lrd']['num_latent']}, λ={cfg['lrd']['lambda']}, {cfg['lrd']['objective']})"
    return m


def _epochs(res: dict) -> str:
    """'epochs run (best epoch)'; a run stopped before early stopping is marked as such."""
    if "epochs_run" in res:
        return f"{res['epochs_run']} ({res['best_epoch']})"
    return f"{res['_epochs']} ({res['_best']}), stopped"


def main(paths: list[str]) -> None:
    groups: dict = defaultdict(list)
    for p in map(Path, paths):
        res_path = p / "results.json"
        if not res_path.exists():
            print(f"<!-- skipped {p}: no results.json (unfinished) -->")
            continue
        res = json.loads(res_path.read_text())
        cfg = yaml.safe_load((p / "config.yaml").read_text())
        if "epochs_run" not in res:  # stopped early, test metrics from `lrdgraph evaluate`
            lines = [json.loads(x) for x in (p / "metrics.jsonl").read_text().splitlines()]
            metric = cfg["eval"]["metric"]
            best = max(lines, key=lambda r: r["dev"][cfg["eval"]["dev_protocol"]][metric])
            res["_epochs"], res["_best"] = len(lines), best["epoch"]
        data = Path(cfg["data"]["graph"]).name
        groups[(data, label(cfg))].append((cfg, res))
    for proto in ("sampled", "full"):
        print(f"\n### Test, {proto} protocol\n")
        print("| data | model | seeds | epochs run (best) | " + " | ".join(METRICS) + " |")
        print("|---|---|---|---|" + "---|" * len(METRICS))
        for (data, name), runs in sorted(groups.items()):
            have = [r for _, r in runs if proto in r["protocols"]]
            if not have:
                continue
            cells = []
            for m in METRICS:
                vals = [r["protocols"][proto][m] for r in have]
                sd = f" ± {statistics.stdev(vals):.4f}" if len(vals) > 1 else ""
                cells.append(f"{statistics.mean(vals):.4f}{sd}")
            ep = ", ".join(_epochs(r) for r in have)
            seeds = ", ".join(str(c["train"]["seed"]) for c, r in runs if proto in r["protocols"])
            print(f"| {data} | {name} | {seeds} | {ep} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])

"""Mean ± std over seeds and paired t-tests from a long per-seed CSV of test metrics.

Usage:
    python benchmarks/seed_stats.py TABLE.csv --add LABEL RUN_DIR [RUN_DIR ...]
    python benchmarks/seed_stats.py TABLE.csv --versus "KDA+LRD" "KDA"

TABLE.csv has one row per (model, seed, protocol, metric): ``model,seed,protocol,metric,value,
source``. ``--add`` appends the test metrics of finished run directories (``results.json``,
both protocols, HR/NDCG at 5 and 10) under LABEL, with the run directory's name as
``source``; a (model, seed, protocol, metric) already in the table is refused. Without
``--add`` the script prints, per protocol, each model's mean ± std over its seeds, and for
``--versus A B`` the relative change of A's mean over B's and the two-sided paired t-test over
the seeds both have (``lrdgraph.experiment.paired_improvement``), per metric.

It exists for results whose run directories are gone but whose per-seed numbers were recorded
(``docs/results.md`` keeps per-seed tables): such rows say where they were transcribed from in
``source``, so a table can grow by new seeds without re-running the old ones.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import yaml

from lrdgraph.experiment import paired_improvement

COLUMNS = ["model", "seed", "protocol", "metric", "value", "source"]
METRICS = ["HR@5", "HR@10", "NDCG@5", "NDCG@10"]


def read_table(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            sys.exit(f"{path}:1: no column {', '.join(missing)}")
        rows = []
        for row in reader:
            try:
                row["seed"], row["value"] = int(row["seed"]), float(row["value"])
            except ValueError as exc:
                sys.exit(f"{path}:{reader.line_num}: {exc}")
            rows.append(row)
        return rows


def add_runs(path: Path, label: str, runs: list[Path]) -> None:
    rows = read_table(path)
    have = {(r["model"], r["seed"], r["protocol"], r["metric"]) for r in rows}
    new = []
    for run in runs:
        res = json.loads((run / "results.json").read_text())
        seed = yaml.safe_load((run / "config.yaml").read_text())["train"]["seed"]
        for proto, metrics in res["protocols"].items():
            for m in METRICS:
                key = (label, seed, proto, m)
                if key in have:
                    sys.exit(f"{path}: {key} is already in the table")
                have.add(key)
                new.append({"model": label, "seed": seed, "protocol": proto, "metric": m,
                            "value": metrics[m], "source": f"run {run.name}"})
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows + new)
    tmp.replace(path)
    print(f"{path}: {len(new)} rows added")


def report(path: Path, versus: list[tuple[str, str]]) -> None:
    rows = read_table(path)
    vals: dict = defaultdict(dict)  # (model, protocol, metric) -> {seed: value}
    for r in rows:
        vals[(r["model"], r["protocol"], r["metric"])][r["seed"]] = r["value"]
    models = list(dict.fromkeys(r["model"] for r in rows))
    for proto in ("sampled", "full"):
        metrics = [m for m in METRICS if any((mo, proto, m) in vals for mo in models)]
        if not metrics:
            continue
        print(f"\n#### Test, {proto} protocol\n")
        print("| model | " + " | ".join(metrics) + " |")
        print("|---|" + "---|" * len(metrics))
        for mo in models:
            cells = []
            for m in metrics:
                v = vals.get((mo, proto, m), {})
                if not v:
                    cells.append("–")
                    continue
                sd = f" ± {statistics.stdev(v.values()):.4f}" if len(v) > 1 else ""
                cells.append(f"{statistics.mean(v.values()):.4f}{sd} (n={len(v)})")
            print(f"| {mo} | " + " | ".join(cells) + " |")
        for a, b in versus:
            cells = []
            for m in metrics:
                rel, p, _, _, n = paired_improvement(vals.get((a, proto, m), {}),
                                                     vals.get((b, proto, m), {}))
                if n == 0:
                    cells.append("–")
                    continue
                cells.append(f"{rel * 100:+.1f} %" + (f" (p={p:.3f}, n={n})" if n > 1 else ""))
            print(f"| {a} vs {b}, paired | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("table", type=Path)
    ap.add_argument("--add", nargs="+", metavar=("LABEL", "RUN_DIR"),
                    help="append the test metrics of these run directories under LABEL")
    ap.add_argument("--versus", nargs=2, metavar=("A", "B"), action="append", default=[])
    a = ap.parse_args()
    if a.add:
        if len(a.add) < 2:
            ap.error("--add needs LABEL and at least one RUN_DIR")
        add_runs(a.table, a.add[0], [Path(r) for r in a.add[1:]])
    else:
        report(a.table, [tuple(v) for v in a.versus])

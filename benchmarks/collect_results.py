"""Collect finished run directories into the markdown tables of docs/results.md.

Usage:
    python benchmarks/collect_results.py RUN_DIR [RUN_DIR ...] > docs/results-table.md
    python benchmarks/collect_results.py --curves 5,10,20 RUN_DIR [RUN_DIR ...]

Below the tables, each LRD group is set against the vanilla group of the same model and data
set, over the seeds both have: the relative change of the mean and a two-sided paired t-test
(``lrdgraph.experiment.paired_improvement``).

``--versus A B`` adds the same comparison between any two variants: each group whose label
contains A against the group whose label has B in its place (``--versus 'K=1,' 'K=5,'``: one
latent relation against five; ``--versus ', ID features' ''``: the "w/o LLM" ablation against
text features). It may be given more than once.

``--curves`` adds the dev model-selection metric at those epochs (mean ± std over seeds per
group, from ``metrics.jsonl``); with exactly two groups of the same seeds it adds the paired
t-test p-value per epoch (scipy), so runs stopped at different epochs are compared at equal
epochs rather than at their different stopping points.

Each run directory is one trained model (``lrdgraph train``). Runs are grouped by data set and
variant (model, LRD with K, λ and objective, the ablation switches: ``label``). The data set is
the name in the graph's ``manifest.json`` where the graph folder is at hand, else the folder's
name. With several seeds the table gives mean ± std over seeds. Every row says how many
seeds, how many epochs ran and where the best dev epoch was, so partial results are never
mistaken for finished ones.
"""
from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import yaml

from lrdgraph.experiment import paired_improvement

METRICS = ["HR@5", "HR@10", "NDCG@5", "NDCG@10"]


def label(cfg: dict) -> str:
    """The group a run belongs to: the model and every setting that makes it another variant
    (attention passes, LRD with K, λ and objective, and the ablation switches)."""
    m = cfg["model"]["name"].upper()
    relational = cfg["model"]["name"] in ("rcf", "kda")  # the baselines have no LRD or KGE
    if relational and cfg["model"].get("num_layers", 5) != 5:
        m += f" [{cfg['model']['num_layers']} attention passes]"
    if relational and cfg["lrd"]["enabled"]:
        extra = ""
        if cfg["lrd"].get("relation_grad", "all") == "latent":
            extra += ", latent-only grad"
        if cfg["lrd"].get("features", "text") == "id":
            extra += ", ID features"
        m += (f"+LRD (K={cfg['lrd']['num_latent']}, λ={cfg['lrd']['lambda']}, "
              f"{cfg['lrd']['objective']}{extra})")
    if relational and not cfg.get("kge", {}).get("enabled", True):
        m += " w/o KGE"
    return m


def _epochs(res: dict) -> str:
    """'epochs run (best epoch)'; a run stopped before early stopping is marked as such."""
    if "epochs_run" in res:
        return f"{res['epochs_run']} ({res['best_epoch']})"
    mark = "" if res["_patience_spent"] else ", stopped"
    return f"{res['_epochs']} ({res['_best']}){mark}"


def dev_curve(run: Path, cfg: dict) -> dict:
    """Dev model-selection metric per epoch of one run."""
    ev = cfg["eval"]
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return {r["epoch"]: r["dev"][ev["dev_protocol"]][ev["metric"]] for r in lines}


def print_curves(groups: dict, epochs: list[int]) -> None:
    metric = next(iter(groups.values()))[0][0]["eval"]["metric"]
    print(f"\n### Dev {metric} at equal epochs (mean ± std over seeds)\n")
    print("| model | seeds | " + " | ".join(str(e) for e in epochs) + " |")
    print("|---|---|" + "---|" * len(epochs))
    curves = {}
    for (data, name), runs in sorted(groups.items()):
        by_seed = {c["train"]["seed"]: c["_curve"] for c, _ in runs}
        curves[(data, name)] = by_seed
        cells = []
        for e in epochs:
            vals = [cv[e] for cv in by_seed.values() if e in cv]
            if not vals:
                cells.append("")
                continue
            sd = f" ± {statistics.stdev(vals):.3f}" if len(vals) > 1 else ""
            n = "" if len(vals) == len(by_seed) else f" (n={len(vals)})"
            cells.append(f"{statistics.mean(vals):.3f}{sd}{n}")
        print(f"| {data} {name} | {len(by_seed)} | " + " | ".join(cells) + " |")
    if len(curves) == 2:
        from scipy.stats import ttest_rel

        (ka, a), (kb, b) = curves.items()
        seeds = sorted(set(a) & set(b))
        cells = []
        for e in epochs:
            pairs = [(a[s][e], b[s][e]) for s in seeds if e in a[s] and e in b[s]]
            if len(pairs) < 2:
                cells.append("")
                continue
            x, y = zip(*pairs)
            cells.append(f"p={ttest_rel(y, x).pvalue:.3f}")
        print(f"| paired t-test, second vs first | {len(seeds)} | " + " | ".join(cells) + " |")


def vanilla_label(name: str) -> str | None:
    """'KDA' for 'KDA+LRD (K=5, ...)'; None for a model without LRD."""
    return name.split("+LRD", 1)[0] if "+LRD" in name else None


def print_comparisons(groups: dict, partner, title: str) -> None:
    """Each group against ``partner(name)``, the group of the same data set it is measured
    against (None: no partner): relative change of the mean, two-sided paired t-test over the
    seeds both have."""
    lines = []
    for proto in ("sampled", "full"):
        for (data, name), runs in sorted(groups.items()):
            base = partner(name)
            if base is None or base == name or (data, base) not in groups:
                continue
            by_seed = {}
            for key in ((data, name), (data, base)):
                by_seed[key] = {c["train"]["seed"]: r["protocols"][proto]
                                for c, r in groups[key] if proto in r["protocols"]}
            a, b = by_seed[(data, name)], by_seed[(data, base)]
            seeds = sorted(set(a) & set(b))
            if not seeds:  # nothing paired: the tables above already show both
                continue
            cells = []
            for m in METRICS:
                rel, p, _, _, n = paired_improvement({s: a[s][m] for s in seeds},
                                                     {s: b[s][m] for s in seeds})
                cells.append(f"{rel * 100:+.1f} %" + ("" if n < 2 else f" (p={p:.3f})"))
            lines.append(f"| {proto} | {data} | {name} vs {base} | {', '.join(map(str, seeds))} | "
                         + " | ".join(cells) + " |")
    if lines:
        print(f"\n### {title} (over the seeds both have: relative change of the mean, two-sided "
              "paired t-test from 2 pairs on)\n")
        print("| protocol | data | comparison | paired seeds | " + " | ".join(METRICS) + " |")
        print("|---|---|---|---|" + "---|" * len(METRICS))
        print("\n".join(lines))


def data_name(graph: str) -> str:
    """The data set a run was trained on: the graph's manifest name where the graph is at hand
    (the same graph built into two folders, or moved to another machine, is one data set),
    else the graph folder's name."""
    try:
        return json.loads((Path(graph) / "manifest.json").read_text())["name"]
    except (OSError, ValueError, KeyError, TypeError):
        return Path(graph).name


def main(paths: list[str], curves: list[int] | None = None,
         versus: Sequence[tuple[str, str]] = ()) -> None:
    groups: dict = defaultdict(list)
    for p in map(Path, paths):
        res_path = p / "results.json"
        if not res_path.exists():
            print(f"<!-- skipped {p}: no results.json (unfinished) -->")
            continue
        res = json.loads(res_path.read_text())
        cfg = yaml.safe_load((p / "config.yaml").read_text())
        curve = dev_curve(p, cfg)
        if "epochs_run" not in res:  # test metrics from `lrdgraph evaluate`
            # cut short by a limit, or trained to early stopping and tested afterwards
            res["_epochs"], res["_best"] = max(curve), max(curve, key=curve.get)
            res["_patience_spent"] = res["_epochs"] - res["_best"] >= cfg["train"]["patience"]
        data = data_name(cfg["data"]["graph"])
        cfg["_curve"] = curve
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
    print_comparisons(groups, vanilla_label, "LRD against the vanilla model")
    for a, b in versus:
        print_comparisons(groups, lambda n: n.replace(a, b) if a in n else None,
                          f"'{a}' against '{b}'")
    if curves and groups:
        print_curves(groups, curves)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="run directories")
    ap.add_argument("--curves", default=None, help="comma-separated epochs, e.g. 5,10,20")
    ap.add_argument("--versus", nargs=2, metavar=("A", "B"), action="append", default=[],
                    help="also compare each group whose label contains A with the group whose "
                         "label has B in its place, e.g. --versus 'K=1,' 'K=5,' (repeatable)")
    a = ap.parse_args()
    main(a.runs, [int(e) for e in a.curves.split(",")] if a.curves else None,
         [tuple(v) for v in a.versus])

"""The report of an experiment directory: CSVs, tables and figures from its finished cells."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from .cells import Cell, safe_part
from .figures import plot_ablation, plot_sensitivity
from .results import DEV, collect_results, metric_order, write_csv
from .spec import ExperimentSpec
from .stats import SeedStats
from .tables import (reference_markdown, reference_rows, significance_rows, table_markdown,
                     time_markdown, versus_markdown, versus_rows)


def write_report(spec: ExperimentSpec, cells: Sequence[Cell], out: str | Path,
                 merged: Optional[Mapping[str, List[Dict[str, Any]]]] = None,
                 log: Optional[Callable[[str], None]] = None) -> List[Path]:
    """Write results.csv, summary.csv, significance.csv, the tables and (when the spec has
    them) the ablation and sensitivity CSVs and plots. Returns the files written. ``merged``:
    rows of other experiments' results (:func:`read_merged_rows`) for cells not finished here.
    ``log``: where to warn of stalled seeds (:meth:`SeedStats.stalled`), once the report is
    written."""
    from ..io import atomic_write_text

    out = Path(out)
    rows = collect_results(cells, out, merged)
    metric_cols = metric_order(k for r in rows for k in r if "@" in k)
    files: List[Path] = []
    write_csv(out / "results.csv", rows,
               ["cell", "dataset", "model", "model_name", "variant", "seed", "protocol", "status",
                *metric_cols, "eval_rows", "best_epoch", "epochs_run", "train_seconds", "device",
                "run_dir", "config"] + (["source"] if any(r.get("source") for r in rows) else []))
    files.append(out / "results.csv")
    stats = SeedStats(rows)
    summary = stats.summary()
    # the dev rows (the numbers model selection saw) get a table of their own when there are any
    protocols = [*spec.protocols, *([DEV] if any(r.get("protocol") == DEV for r in rows) else [])]
    order = {"dataset": list(spec.datasets), "model": list(spec.models),
             "variant": list(spec.variants), "protocol": ["sampled", "full", DEV],
             "metric": metric_order(r["metric"] for r in summary)}
    summary.sort(key=lambda r: tuple(order[k].index(r[k]) if r[k] in order[k] else 99
                                     for k in ("dataset", "variant", "protocol", "model", "metric")))
    write_csv(out / "summary.csv", summary,
               ["dataset", "model", "variant", "protocol", "metric", "mean", "std", "n", "seeds"])
    files.append(out / "summary.csv")
    sig = significance_rows(spec, stats, protocols)
    if sig:
        write_csv(out / "significance.csv", sig, ["dataset", "variant", "protocol", "metric", "model",
                                                    "baseline", "mean", "baseline_mean",
                                                    "improvement", "p_value", "n_pairs"])
        files.append(out / "significance.csv")
    versus = versus_rows(spec, stats, protocols)
    if versus:
        write_csv(out / "versus.csv", versus, ["dataset", "model", "variant", "versus", "protocol",
                                               "metric", "mean", "versus_mean", "change",
                                               "p_value", "n_pairs"])
        atomic_write_text(out / "table_versus.md", versus_markdown(spec, versus, protocols))
        files += [out / "versus.csv", out / "table_versus.md"]
    reference = reference_rows(spec, stats)
    if reference:
        write_csv(out / "reference.csv", reference, ["dataset", "model", "variant", "protocol",
                                                     "metric", "mean", "std", "n", "reference",
                                                     "gap", "p_value"])
        atomic_write_text(out / "table_reference.md", reference_markdown(spec, reference))
        files += [out / "reference.csv", out / "table_reference.md"]
    for p in protocols:
        path = out / f"table_{p}.md"
        atomic_write_text(path, table_markdown(spec, stats, p))
        files.append(path)
    atomic_write_text(out / "table_time.md", time_markdown(spec, rows))
    files.append(out / "table_time.md")
    if spec.ablation:
        abl = [r for r in summary if r["variant"] in spec.ablation]
        write_csv(out / "ablation.csv", abl,
                   ["dataset", "model", "variant", "protocol", "metric", "mean", "std", "n", "seeds"])
        files.append(out / "ablation.csv")
        for p in spec.protocols:
            files.append(plot_ablation(spec, stats, p, out / f"ablation_{p}.png"))
    if spec.sensitivity:
        sweeps = spec.sweep_variants()
        sens = [{"key": sweeps[r["variant"]][0], "value": sweeps[r["variant"]][1], **r}
                for r in summary if r["variant"] in sweeps]
        write_csv(out / "sensitivity.csv", sens,
                   ["key", "value", "dataset", "model", "variant", "protocol", "metric", "mean",
                    "std", "n", "seeds"])
        files.append(out / "sensitivity.csv")
        for key in spec.sensitivity:
            for p in spec.protocols:
                files.append(plot_sensitivity(spec, stats, key, p,
                                               out / f"sensitivity_{safe_part(key).replace('.', '_')}_{p}.png"))
    for r in stats.stalled() if log else []:
        log(f"warning: {r['dataset']} {r['model']} {r['variant']} seed {r['seed']} stalled: "
            f"dev {r['metric']} {r['value']:.4f}, {r['under'] * 100:.0f} % under the median "
            f"of its row's other seeds ({r['median_others']:.4f}); it stays in the tables")
    return files

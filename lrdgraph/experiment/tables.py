"""Markdown tables: Table 3 per protocol and variant (mean ± std over seeds, improvement and
p-value of each LRD row over its vanilla row) and the training-time table."""
from __future__ import annotations

import math
import statistics
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .results import DEV
from .spec import LRD_SUFFIX, ExperimentSpec
from .stats import STALL_DROP, SeedStats, mean_std, one_sample_t_test, paired_improvement


def _fmt(mean: float, std: float) -> str:
    return f"{mean:.4f}" if math.isnan(std) else f"{mean:.4f} ± {std:.4f}"


def significance_rows(spec: ExperimentSpec, stats: SeedStats,
                      protocols: Optional[Sequence[str]] = None) -> List[Dict[str, Any]]:
    """Each ``*_LRD`` row against its vanilla row, per data set, variant, protocol (default:
    the spec's) and metric: relative improvement and paired p-value over the shared seeds."""
    rows = []
    for label in spec.models:
        base = label[:-len(LRD_SUFFIX)] if label.endswith(LRD_SUFFIX) else None
        if not base or base not in spec.models:
            continue
        for d in spec.datasets:
            for v in spec.variants:
                for p in protocols or spec.protocols:
                    for metric in spec.metrics:
                        a, b = stats.get(d, label, v, p, metric), stats.get(d, base, v, p, metric)
                        if not a or not b:
                            continue
                        rel, pval, ma, mb, n = paired_improvement(a, b)
                        rows.append({"dataset": d, "variant": v, "protocol": p, "metric": metric,
                                     "model": label, "baseline": base, "mean": ma, "baseline_mean": mb,
                                     "improvement": rel, "p_value": pval, "n_pairs": n})
    return rows


def format_table(spec: ExperimentSpec, stats: SeedStats, protocol: str, variant: str) -> List[str]:
    """Markdown lines of one Table 3: rows = models (with "Improv." after each *_LRD row that
    has a vanilla row), columns = each data set's metrics; mean ± std over seeds."""
    cols = [(d, m) for d in spec.datasets for m in spec.metrics]
    header = "| Model | " + " | ".join(f"{d} {m}" for d, m in cols) + " |"
    lines = [header, "|---|" + "---|" * len(cols)]
    means = {(label, d, m): mean_std(list(stats.get(d, label, variant, protocol, m).values()))
             for label in spec.models for d, m in cols
             if stats.get(d, label, variant, protocol, m)}
    best = {}
    for d, m in cols:
        vals = [means[(label, d, m)][0] for label in spec.models if (label, d, m) in means]
        if vals:
            best[(d, m)] = max(vals)
    for label in spec.models:
        base = label[:-len(LRD_SUFFIX)] if label.endswith(LRD_SUFFIX) else None
        paired = base is not None and base in spec.models
        cells, improv = [], []
        for d, m in cols:
            if (label, d, m) not in means:
                cells.append("–")
                improv.append("–")
                continue
            mean, std = means[(label, d, m)]
            n = len(stats.get(d, label, variant, protocol, m))
            text = _fmt(mean, std)
            mark = ""
            if paired and (base, d, m) in means:
                a = stats.get(d, label, variant, protocol, m)
                b = stats.get(d, base, variant, protocol, m)
                rel, pval, _, _, n_pairs = paired_improvement(a, b)
                if not math.isnan(pval) and rel > 0:
                    mark = "‡" if pval <= 0.01 else "†" if pval <= 0.05 else ""
                if n_pairs == 0:
                    improv.append("no shared seed")
                else:
                    text_rel = "n/a" if math.isnan(rel) else f"{rel * 100:+.2f}%"
                    notes = [] if math.isnan(pval) else [f"p={pval:.3g}"]
                    if n_pairs < max(len(a), len(b)):  # the rows' means cover other seeds too
                        notes.append(f"{n_pairs} paired seed{'s' if n_pairs > 1 else ''}")
                    improv.append(text_rel + (f" ({', '.join(notes)})" if notes else ""))
            elif paired:
                improv.append("–")
            if best.get((d, m)) == mean:
                text = f"**{text}**"
            # a cell with fewer finished seeds than the spec says so (a grid still running)
            cells.append(text + mark + (f" (n={n})" if n < len(spec.seeds) else ""))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
        if paired:
            lines.append("| Improv. | " + " | ".join(improv) + " |")
    return lines


def table_markdown(spec: ExperimentSpec, stats: SeedStats, protocol: str) -> str:
    """``table_<protocol>.md``: a caption and one Table 3 per variant."""
    what = {"sampled": "1 positive + sampled negatives (the paper's protocol)",
            "full": "ranked against every item, the user's known items masked",
            DEV: "the dev split at each run's selected epoch, under the model-selection protocol: "
                 "the numbers early stopping chose on, and the ones to compare settings by "
                 "(results written before these rows existed have none)"}[protocol]
    seeds = ", ".join(str(s) for s in spec.seeds)
    title = ("dev metrics at the selected epoch" if protocol == DEV
             else f"test metrics, {protocol} protocol")
    lines = [f"# {spec.name}: {title}", "",
             f"Protocol `{protocol}`: {what}. Mean ± sample standard deviation over seeds "
             f"({seeds}; a cell with fewer finished seeds shows their number n); **bold**: best "
             f"mean of the column. Improv.: relative improvement of the "
             f"mean of each `*{LRD_SUFFIX}` row over its vanilla row on the seeds both have "
             "(their number is given when the rows' own means cover more), with the p-value of a "
             "two-sided paired t-test over those seeds (scipy.stats.ttest_rel); ‡ p ≤ 0.01, "
             "† p ≤ 0.05 on the improved row. –: no finished cell.", ""]
    many = len(spec.variants) > 1
    stalled = stats.stalled()
    for v, sets in spec.variants.items():
        if many:
            shown = sets and v not in spec.sweep_variants()
            lines += [f"## Variant `{v}`" + (f" ({', '.join(sets)})" if shown else ""), ""]
        lines += format_table(spec, stats, protocol, v) + [""]
        lines += stalled_notes(spec, stalled, v)
    return "\n".join(lines)


def stalled_notes(spec: ExperimentSpec, stalled: Sequence[Dict[str, Any]], variant: str
                  ) -> List[str]:
    """Markdown lines under one variant's table naming its stalled seeds (``stalled``: rows of
    :meth:`SeedStats.stalled`), in the spec's data set and model order; none when there are
    none."""
    order = {(d, m): i for i, (d, m) in enumerate((d, m) for d in spec.datasets for m in spec.models)}
    found = sorted((r for r in stalled if r["variant"] == variant),
                   key=lambda r: (order.get((r["dataset"], r["model"]), len(order)), r["seed"]))
    lines = [f"Stalled: {r['dataset']} {r['model']} seed {r['seed']}: dev {r['metric']} "
             f"{r['value']:.4f}, {r['under'] * 100:.0f} % under the median of its row's other "
             f"seeds ({r['median_others']:.4f}; a stall is more than {STALL_DROP * 100:.0f} % "
             f"under). It stays in the means above." for r in found]
    return lines + [""] if lines else []


def _number(value: Any) -> Optional[float]:
    """A results.csv cell as a float (None when empty or not a number)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


def _span(values: Sequence[float], fmt: str = "{:.0f}") -> str:
    lo, hi = min(values), max(values)
    return fmt.format(lo) if fmt.format(lo) == fmt.format(hi) else f"{fmt.format(lo)}-{fmt.format(hi)}"


def format_time_table(spec: ExperimentSpec, rows: Sequence[Dict[str, Any]]) -> List[str]:
    """Markdown lines of the cost table the paper does not give: per data set, model and
    variant, the finished seeds, epochs run and best epoch (ranges over seeds), the training
    time of one run (the trainer's ``train_total``: training steps without dev and test
    evaluation; median and range over seeds) and the median seconds per epoch, with the devices
    the runs trained on (``–`` for merged rows of older results that do not say)."""
    runs: Dict[Tuple[str, str, str], Dict[int, Dict[str, Any]]] = {}
    for r in rows:
        if r.get("status") == "done":  # one row per protocol: keep one per seed
            runs.setdefault((r["dataset"], r["model"], r["variant"]), {}).setdefault(int(r["seed"]), r)
    lines = ["| Data set | Model | Variant | n | epochs run | best epoch | training time, min "
             "(median, range) | s per epoch (median) | device |",
             "|---|---|---|---|---|---|---|---|---|"]
    for d in spec.datasets:
        for label in spec.models:
            for v in spec.variants:
                by_seed = runs.get((d, label, v))
                if not by_seed:
                    continue
                rs = list(by_seed.values())
                parsed = [(_number(r.get("epochs_run")), _number(r.get("best_epoch")),
                          _number(r.get("train_seconds"))) for r in rs]
                epochs = [e for e, _, _ in parsed if e is not None]
                best = [b for _, b, _ in parsed if b is not None]
                secs = [t for _, _, t in parsed if t is not None]
                per_epoch = [t / e for e, _, t in parsed if t is not None and e]
                devices = sorted({dev.strip() for r in rs
                                  for dev in str(r.get("device") or "").split(",") if dev.strip()})
                if devices and any(not r.get("device") for r in rs):
                    devices.append("unknown")
                minutes = [t / 60 for t in secs]
                time_text = (f"{statistics.median(minutes):.1f} ({_span(minutes, '{:.1f}')})"
                             if minutes else "–")
                lines.append(" | ".join([
                    f"| {d}", label, v, str(len(rs)), _span(epochs) if epochs else "–",
                    _span(best) if best else "–", time_text,
                    f"{statistics.median(per_epoch):.1f}" if per_epoch else "–",
                    ", ".join(devices) if devices else "–"]) + " |")
    return lines


def time_markdown(spec: ExperimentSpec, rows: Sequence[Dict[str, Any]]) -> str:
    """``table_time.md``: a caption and :func:`format_time_table`."""
    return "\n".join([
        f"# {spec.name}: training time", "",
        "Per finished cell (`results.csv`): epochs run to early stopping and the best dev epoch "
        "(ranges over seeds), and the time of the training steps of one run, without the dev "
        "passes of each epoch and the test pass (`train_seconds`). Times depend on the machine, "
        "its load and the thread count of each run; `device` lists the devices the runs "
        "trained on (a run resumed on another device adds both devices' seconds; `results.csv` "
        "has each run's own), `–` where the rows come from results that did not record it.", "",
        *format_time_table(spec, rows), ""])


def versus_rows(spec: ExperimentSpec, stats: SeedStats, protocols: Sequence[str]
                ) -> List[Dict[str, Any]]:
    """``report.versus``: every other variant against that one, per data set, model, protocol
    and metric: the two means and the relative change over the seeds both have, with the
    p-value of a paired t-test over those seeds (the comparison of settings that Table 3, which
    compares models, does not make). Empty without ``report.versus``."""
    if not spec.versus:
        return []
    rows = []
    for d in spec.datasets:
        for label in spec.models:
            for v in spec.variants:
                if v == spec.versus:
                    continue
                for p in protocols:
                    for metric in spec.metrics:
                        a = stats.get(d, label, v, p, metric)
                        b = stats.get(d, label, spec.versus, p, metric)
                        if not a or not b:
                            continue
                        rel, pval, ma, mb, n = paired_improvement(a, b)
                        rows.append({"dataset": d, "model": label, "variant": v,
                                     "versus": spec.versus, "protocol": p, "metric": metric,
                                     "mean": ma, "versus_mean": mb, "change": rel,
                                     "p_value": pval, "n_pairs": n})
    return rows


def versus_markdown(spec: ExperimentSpec, rows: Sequence[Dict[str, Any]],
                    protocols: Sequence[str]) -> str:
    """``table_versus.md``: :func:`versus_rows` as one table per protocol; a cell reads
    "+3.02% (p=0.018)", the relative change of the variant's mean over ``report.versus``'s."""
    lines = [f"# {spec.name}: each variant against `{spec.versus}`", "",
             f"Relative change of each variant's mean over the mean of variant `{spec.versus}`, "
             "same data set and model, on the seeds both have (n), with the p-value of a "
             "two-sided paired t-test over them (scipy.stats.ttest_rel; none with fewer than two "
             "seeds or when every seed differs by the same amount). Protocol `dev`: the dev "
             "metrics at each run's selected epoch, the split to choose settings on.", ""]
    by_key = {(r["dataset"], r["model"], r["variant"], r["protocol"], r["metric"]): r for r in rows}
    for p in protocols:
        keys = [(d, label, v) for d in spec.datasets for label in spec.models
                for v in spec.variants if v != spec.versus
                and any((d, label, v, p, m) in by_key for m in spec.metrics)]
        if not keys:
            continue
        lines += [f"## Protocol `{p}`", "",
                  "| Data set | Model | Variant | n | " + " | ".join(spec.metrics) + " |",
                  "|---|---|---|---|" + "---|" * len(spec.metrics)]
        for d, label, v in keys:
            cells, n = [], 0
            for m in spec.metrics:
                r = by_key.get((d, label, v, p, m))
                if r is None:
                    cells.append("–")
                    continue
                n = max(n, r["n_pairs"])
                text = "n/a" if math.isnan(r["change"]) else f"{r['change'] * 100:+.2f}%"
                if not math.isnan(r["p_value"]):
                    text += f" (p={r['p_value']:.3g})"
                cells.append(text)
            lines.append(f"| {d} | {label} | {v} | {n} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def reference_rows(spec: ExperimentSpec, stats: SeedStats) -> List[Dict[str, Any]]:
    """``report.reference``: each measured mean beside the published number, per data set,
    model, variant and metric under the reference's protocol: mean ± std over the finished
    seeds, the relative gap (mean − reference) / reference, and the p-value of a one-sample
    t-test of the seeds against the reference. Empty without ``report.reference``."""
    ref = spec.reference
    if ref is None:
        return []
    rows = []
    for d, by_model in ref.values.items():
        for label, metrics in by_model.items():
            for v in spec.variants:
                for metric, x in metrics.items():
                    by_seed = stats.get(d, label, v, ref.protocol, metric)
                    if not by_seed:
                        continue
                    values = [by_seed[s] for s in sorted(by_seed)]
                    mean, std = mean_std(values)
                    rows.append({"dataset": d, "model": label, "variant": v,
                                 "protocol": ref.protocol, "metric": metric, "mean": mean,
                                 "std": std, "n": len(values), "reference": x,
                                 "gap": (mean - x) / x if x else float("nan"),
                                 "p_value": one_sample_t_test(values, x)})
    return rows


def reference_markdown(spec: ExperimentSpec, rows: Sequence[Dict[str, Any]]) -> str:
    """``table_reference.md``: :func:`reference_rows` as one table per variant with a finished
    cell; a cell reads "0.5684 / 0.6066 (-6.30%, p=0.004)": measured mean, published number,
    relative gap, p; "– / 0.4826" where no seed has finished."""
    ref = spec.reference
    assert ref is not None
    lines = [f"# {spec.name}: measured against {ref.label}", "",
             f"Protocol `{ref.protocol}`. Each cell: our mean over the finished seeds (n) / the "
             f"number of {ref.label}, the relative gap of our mean, and the p-value of a "
             "two-sided one-sample t-test of the seeds against that number "
             "(scipy.stats.ttest_1samp; none with fewer than two seeds). A small p says the "
             "gap is larger than the spread over seeds explains.", ""]
    metrics = [m for m in spec.metrics
               if any(m in ms for by_model in ref.values.values() for ms in by_model.values())]
    metrics += sorted({m for by_model in ref.values.values() for ms in by_model.values()
                       for m in ms} - set(metrics))
    by_key = {(r["dataset"], r["model"], r["variant"], r["metric"]): r for r in rows}
    keys = [(d, label) for d, by_model in ref.values.items() for label in by_model]
    for v in spec.variants:
        if not any((d, label, v, m) in by_key for d, label in keys for m in metrics):
            continue
        if len(spec.variants) > 1:
            lines += [f"## Variant `{v}`", ""]
        lines += ["| Data set | Model | n | " + " | ".join(metrics) + " |",
                  "|---|---|---|" + "---|" * len(metrics)]
        for d, label in keys:
            cells, n = [], 0
            for m in metrics:
                r = by_key.get((d, label, v, m))
                if r is None:
                    x = ref.values[d][label].get(m)
                    cells.append("–" if x is None else f"– / {x:.4f}")
                    continue
                n = max(n, r["n"])
                text = f"{r['mean']:.4f} / {r['reference']:.4f} ({r['gap'] * 100:+.2f}%"
                text += ")" if math.isnan(r["p_value"]) else f", p={r['p_value']:.3g})"
                cells.append(text)
            lines.append(f"| {d} | {label} | {n} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)

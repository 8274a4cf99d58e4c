"""The ablation (Figure 2) and sensitivity (Figure 6) plots, written as PNG."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Dict, List, Tuple

from .spec import ExperimentSpec, scalar_text, sweep_name
from .stats import SeedStats, mean_std


def _figure(nrows: int, ncols: int):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2 * ncols, 3.2 * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _save(fig, path: Path) -> Path:
    from ..io import atomic_write

    with atomic_write(path, "wb", encoding=None) as fh:
        fig.savefig(fh, format="png", dpi=130)
    return path


#: one colour per variant (ablation) or model (sensitivity), the same in every panel
_COLOURS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]


def plot_ablation(spec: ExperimentSpec, stats: SeedStats, protocol: str, path: Path) -> Path:
    """Figure 2: per data set and metric, bars of each model under each ablation variant.

    A bar is the mean over the seeds that finished it, with the std as an error bar where
    there are two or more. While the grid is incomplete the bars of one panel can rest on
    different seeds, so each seed's value is also drawn as a dot beside its bar, and where the
    seed counts of a panel's bars differ, each bar says its n."""
    models, variants = list(spec.models), list(spec.ablation)
    fig, axes = _figure(len(spec.datasets), len(spec.plot_metrics))
    width = 0.8 / max(len(variants), 1)
    for i, d in enumerate(spec.datasets):
        for j, metric in enumerate(spec.plot_metrics):
            ax = axes[i][j]
            lo = []
            bars = []  # (x, mean, std or nan, top of its error bar and dots, {seed: value})
            for k, v in enumerate(variants):
                xs, ys = [], []
                for x, m in enumerate(models):
                    vals = stats.get(d, m, v, protocol, metric)
                    if vals:
                        mean, std = mean_std(list(vals.values()))
                        half = 0.0 if math.isnan(std) else std
                        xs.append(x + (k - (len(variants) - 1) / 2) * width)
                        ys.append(mean)
                        bars.append((xs[-1], mean, std, max(mean + half, *vals.values()), vals))
                        lo.append(min(mean - half, *vals.values()))
                ax.bar(xs, ys, width, label=v, color=_COLOURS[k % len(_COLOURS)])
            spread = [(x, y, e) for x, y, e, _, _ in bars if not math.isnan(e)]
            if spread:  # no error bar on a single seed: its spread is unknown, not zero
                sx, sy, se = zip(*spread)
                ax.errorbar(sx, sy, yerr=se, fmt="none", ecolor="black", capsize=2)
            if len({len(vals) for *_, vals in bars}) > 1:
                for x, _, _, top, vals in bars:
                    ax.annotate(f"n={len(vals)}", (x, top), xytext=(0, 2),
                                textcoords="offset points", ha="center", fontsize=6)
            for x, _, _, _, vals in bars:  # beside the error bar, not on it
                for seed, val in vals.items():
                    ax.plot([x + width / 4], [val], linestyle="none", marker=".", markersize=3,
                            color="0.15", alpha=0.6, gid=f"seed {seed}")
            ax.set_xticks(range(len(models)), models)
            ax.set_title(f"{d}: {metric}")
            ax.set_ylabel(metric)
            if lo:  # zoom in on the differences, as the paper's bars do
                top = ax.get_ylim()[1]
                ax.set_ylim(max(0.0, min(lo) - 0.15 * (top - min(lo))), top)
            else:
                ax.set_yticks([])
                ax.text(0.5, 0.5, "no finished cell", ha="center", va="center",
                        transform=ax.transAxes, color="0.4")
            ax.grid(axis="y", alpha=0.3)
    # the legend from explicit patches: a panel without bars would give it no colours
    from matplotlib.patches import Patch

    axes[0][-1].legend(handles=[Patch(color=_COLOURS[k % len(_COLOURS)], label=v)
                                for k, v in enumerate(variants)], fontsize="small", loc="best")
    fig.suptitle(f"{spec.name}: ablation ({protocol} protocol)\n"
                 "bars: mean ± std over the n seeds of each bar; dots: one seed each")
    return _save(fig, path)


def plot_sensitivity(spec: ExperimentSpec, stats: SeedStats, key: str, protocol: str,
                      path: Path) -> Path:
    """Figure 6: per data set and metric, each model's metric against the swept value.

    A point is the mean ± std over the seeds that finished it. While a sweep is incomplete its
    points can rest on different seeds, and the seed-to-seed spread can exceed the effect of
    the swept value; so each seed also gets a thin line of its own (the paired view: compare
    along one seed), and where the number of seeds differs between points, each point says
    its n."""
    values = spec.sensitivity[key]
    fig, axes = _figure(len(spec.datasets), len(spec.plot_metrics))
    for i, d in enumerate(spec.datasets):
        for j, metric in enumerate(spec.plot_metrics):
            ax = axes[i][j]
            for mi, m in enumerate(spec.models):
                colour = _COLOURS[mi % len(_COLOURS)]
                xs, ys, es, ns = [], [], [], []
                by_seed: Dict[int, Tuple[List[int], List[float]]] = {}
                for x, val in enumerate(values):
                    vals = stats.get(d, m, sweep_name(key, val), protocol, metric)
                    if vals:
                        mean, std = mean_std(list(vals.values()))
                        xs.append(x)
                        ys.append(mean)
                        es.append(0.0 if math.isnan(std) else std)
                        ns.append(len(vals))
                        for seed, v in vals.items():
                            seed_xs, seed_ys = by_seed.setdefault(seed, ([], []))
                            seed_xs.append(x)
                            seed_ys.append(v)
                if len(by_seed) > 1:  # one seed alone is the mean line itself
                    for seed in sorted(by_seed):
                        sx, sy = by_seed[seed]
                        ax.plot(sx, sy, color=colour, alpha=0.3, linewidth=0.8, marker=".",
                                markersize=3, gid=f"seed {seed}")
                if xs:
                    ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=m, color=colour)
                    if len(set(ns)) > 1:
                        for x, y, n in zip(xs, ys, ns):
                            ax.annotate(f"n={n}", (x, y), xytext=(4, 4), textcoords="offset points",
                                        fontsize=6, color=colour)
            ax.set_xticks(range(len(values)), [scalar_text(v) for v in values])
            ax.set_xlim(-0.5, len(values) - 0.5)  # every swept value, finished or not
            ax.set_xlabel(key)
            ax.set_ylabel(metric)
            ax.set_title(f"{d}: {metric}")
            ax.grid(alpha=0.3)
    from matplotlib.lines import Line2D

    axes[0][-1].legend(handles=[Line2D([], [], color=_COLOURS[mi % len(_COLOURS)], marker="o",
                                       label=m) for mi, m in enumerate(spec.models)],
                       fontsize="small", loc="best")
    fig.suptitle(f"{spec.name}: sensitivity to {key} ({protocol} protocol)\n"
                 "mean ± std over the n seeds of each point; thin lines: one seed each")
    return _save(fig, path)

"""``report``: one self-contained HTML page about a trained run.

Sections: the run (model, data, best epoch), test results for both protocols (from
``results.json``; a protocol that was not evaluated says how to get it), learning curves (every
loss term and the dev metrics per epoch, from ``metrics.jsonl``), the relation-embedding heat
map, the planted-group NMI when the data set has planted groups, and every relation slot with
its name, statistics and top pairs (from :func:`~lrdgraph.analysis.relations.analyse_relations`),
then the resolved config. Images are PNGs embedded as base64 ``data:`` URIs: the file needs
nothing beside it.
"""
from __future__ import annotations

import base64
import html
import io
import json
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from ..errors import InputError, OutputError
from ..io import DirLock, atomic_write_text
from .defaults import DEFAULT_CHUNK, DEFAULT_KNN, DEFAULT_MAX_PAIRS, DEFAULT_WINDOW

__all__ = ["build_report", "write_report", "learning_curves"]

PROTOCOLS = ("sampled", "full")

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       margin: 2em auto; max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd;
     padding-bottom: 0.2em; margin-top: 1.8em; } h3 { margin-bottom: 0.3em; }
.sub { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em; }
th, td { border: 1px solid #ddd; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; border: 1px solid #eee; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.tag { display: inline-block; padding: 0 0.45em; border-radius: 3px; font-size: 0.8em;
       background: #eee; } .latent { background: #e3ecfa; } .predefined { background: #e8f4e4; }
.note { color: #666; font-size: 0.9em; }
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _png(data: bytes, alt: str) -> str:
    return (f'<img alt="{_e(alt)}" src="data:image/png;base64,'
            f'{base64.b64encode(data).decode("ascii")}">')


def _read_metrics(run_dir: Path) -> List[Dict[str, Any]]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError:
                raise InputError("malformed metrics line", path=path, line=n)
    return rows


def learning_curves(history: List[Dict[str, Any]]) -> Optional[bytes]:
    """A PNG: one panel per loss term and one with the dev metrics, per epoch; the best epoch
    marked. None without epochs."""
    if not history:
        return None
    from matplotlib.figure import Figure

    epochs = [r["epoch"] for r in history]
    terms = list(dict.fromkeys(k for r in history for k in r.get("loss", {})))
    best = [r["epoch"] for r in history if r.get("best")]
    best_epoch = best[-1] if best else None
    dev_protocol = next(iter(history[-1].get("dev", {})), None)
    metrics = list(history[-1]["dev"][dev_protocol]) if dev_protocol else []
    metrics = [m for m in metrics if m != "rows"]
    panels = len(terms) + (1 if metrics else 0)
    cols = min(panels, 3)
    rows = (panels + cols - 1) // cols
    fig = Figure(figsize=(4.2 * cols, 3.0 * rows), dpi=100, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, term in zip(axes, terms):
        ax.plot(epochs, [r["loss"].get(term, float("nan")) for r in history], marker="o", ms=3)
        ax.set_title(f"loss: {term}")
        ax.set_xlabel("epoch")
    if metrics:
        ax = axes[len(terms)]
        for m in metrics:
            ax.plot(epochs, [r["dev"][dev_protocol].get(m, float("nan")) for r in history],
                    marker="o", ms=3, label=m)
        ax.set_title(f"dev metrics ({dev_protocol})")
        ax.set_xlabel("epoch")
        ax.legend(fontsize=7, ncol=2)
    for ax in axes[:panels]:
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", ls="--", lw=0.8)
        ax.grid(alpha=0.3)
    for ax in axes[panels:]:
        ax.set_visible(False)
    fig.suptitle("Learning curves" + (f" (dashed: best epoch {best_epoch})" if best_epoch else ""))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _results_table(results: Dict[str, Any], run_dir: Path) -> str:
    prot = results.get("protocols", {})
    if not prot:
        return '<p class="note">No test results yet (results.json missing or empty).</p>'
    metrics = list(dict.fromkeys(k for p in prot.values() for k in p if k != "rows"))
    head = "".join(f"<th>{_e(m)}</th>" for m in metrics)
    rows = []
    for p in PROTOCOLS:
        if p in prot:
            cells = "".join(f'<td class="num">{prot[p][m]:.4f}</td>' if m in prot[p] else "<td></td>"
                            for m in metrics)
            rows.append(f"<tr><th>{_e(p)}</th>{cells}<td class=\"num\">{prot[p].get('rows', '')}</td></tr>")
        else:
            rows.append(f'<tr><th>{_e(p)}</th><td colspan="{len(metrics) + 1}" class="note">not '
                        f"evaluated: run <code>lrdgraph evaluate {_e(run_dir)} --protocol {p}</code>"
                        "</td></tr>")
    return f"<table><tr><th>protocol</th>{head}<th>rows</th></tr>{''.join(rows)}</table>"


def _pct(x: Optional[float]) -> str:
    return "–" if x is None else f"{x:.1%}"


def _relations_section(rel: Dict[str, Any]) -> str:
    if not rel.get("extractor", True):
        return ('<p class="note">This run has no relation extractor (trained with --no-lrd and '
                "no latent relations): there is no q(r | i, j) to analyse.</p>")
    parts = [f'<p class="note">{rel["candidate_pairs"]:,} candidate pairs (co-occurrence within '
             f'{rel["candidates"]["window"]} positions in train histories, {rel["candidates"]["knn"]} '
             f"text neighbours per item), scored with the extractor's q(r | i, j) over all "
             f"{len(rel['relations'])} slots (uniform: {1 / max(len(rel['relations']), 1):.4f}). "
             f"<i>wins</i>: pairs whose arg-max slot it is; "
             f"<i>overlap</i>: of those, the share holding a predefined relation (base rate over "
             f'all candidates: {_pct(rel["base_rate"]["any_predefined"])}).</p>']
    parts.append("<table><tr><th>relation</th><th>source</th><th>wins</th><th>share</th>"
                 "<th>overlap</th><th>max q</th></tr>")
    for r in rel["relations"]:
        parts.append(f'<tr><td>{_e(r["label"])}</td><td><span class="tag {_e(r["source"])}">'
                     f'{_e(r["source"])}</span></td><td class="num">{r["wins"]:,}</td>'
                     f'<td class="num">{r["wins_fraction"]:.1%}</td>'
                     f'<td class="num">{_pct(r["overlap"]["any_predefined"])}</td>'
                     f'<td class="num">{"–" if r.get("max_q") is None else format(r["max_q"], ".4f")}'
                     "</td></tr>")
    parts.append("</table>")
    for r in rel["relations"]:
        title = _e(r["label"])
        if r.get("name") and r["name"] != r["label"]:
            title += f' <span class="note">({_e(r["name"])})</span>'
        parts.append(f'<h3>{title} <span class="tag {_e(r["source"])}">{_e(r["source"])}</span></h3>')
        if r.get("description"):
            parts.append(f"<p>{_e(r['description'])}</p>")
        if not r["top_pairs"]:
            parts.append('<p class="note">no pairs</p>')
            continue
        parts.append("<table><tr><th>q</th><th>first item</th><th>second item</th></tr>")
        for p in r["top_pairs"]:
            parts.append(f'<tr><td class="num">{p["q"]:.4f}</td><td>{_e(p["head"])}: '
                         f'{_e(p["head_text"])}</td><td>{_e(p["tail"])}: {_e(p["tail_text"])}</td></tr>')
        parts.append("</table>")
    return "\n".join(parts)


def _planted_section(pg: Optional[Dict[str, Any]]) -> str:
    if not pg:
        return ""
    t, z, rp = pg["trained"], pg["reinitialised"], pg["random_projection"]
    return f"""<h2>Planted groups</h2>
<p>Normalised mutual information between the planted group of a held-out pair (from the dev and
test histories, never shown to the extractor; pairs across groups share one label) and its
arg-max latent relation: {pg['pairs']:,} pairs, {pg['within_group_pairs']:,} within one of
{pg['groups']} groups.</p>
<table><tr><th></th><th>trained</th><th>re-initialised extractor</th><th>random projection</th></tr>
<tr><th>NMI, all held-out pairs</th><td class="num">{t['nmi']:.3f}</td><td class="num">{z['nmi']:.3f}</td>
<td class="num">{rp['nmi']:.3f}</td></tr>
<tr><th>NMI, within-group pairs</th><td class="num">{t['nmi_within']:.3f}</td>
<td class="num">{z['nmi_within']:.3f}</td><td class="num">{rp['nmi_within']:.3f}</td></tr></table>"""


def build_report(run_dir: str | Path, *, top: int = 5, window: int = DEFAULT_WINDOW,
                 knn: int = DEFAULT_KNN, chunk_size: int = DEFAULT_CHUNK,
                 max_pairs: Optional[int] = DEFAULT_MAX_PAIRS, progress: bool = False) -> str:
    """The report's HTML text."""
    import yaml

    from ..train.trainer import read_results
    from .relations import analyse_relations, heatmap_of
    from .trained import load_trained

    run_dir = Path(run_dir)
    cfg, graph, model = load_trained(run_dir)
    rpath = run_dir / "results.json"
    results = read_results(rpath) if rpath.exists() else {}
    history = _read_metrics(run_dir)
    rel = analyse_relations(run_dir, top=top, window=window, knn=knn, chunk_size=chunk_size,
                            max_pairs=max_pairs, progress=progress, loaded=(cfg, graph, model))
    curves = learning_curves(history)
    info = graph.info()
    best = results.get("best_epoch", "–")
    stats = ", ".join(f"{k} {v:,}" for k, v in info["nodes"].items())
    parts = [f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>lrdgraph report: {_e(run_dir.name)}</title><style>{CSS}</style></head><body>
<h1>lrdgraph report: {_e(run_dir.name)}</h1>
<p class="sub">{_e(repr(model))} on data set <b>{_e(info['name'])}</b> ({_e(stats)});
best epoch {_e(best)} of {_e(results.get('epochs_run', len(history)))};
generated {_e(time.strftime('%Y-%m-%d %H:%M'))} from <code>{_e(run_dir.resolve())}</code>.</p>
<h2>Test results</h2>
{_results_table(results, run_dir)}
<p class="note">sampled: the target ranked against its fixed negatives; full: against every item,
the user's known items masked. Ties ranked pessimistically.</p>
<h2>Learning curves</h2>
{_png(curves, 'learning curves') if curves else '<p class="note">no metrics.jsonl</p>'}
<h2>Relation embeddings</h2>
{_png(heatmap_of(rel), 'relation similarity heat map')}
{_planted_section(rel.get('planted_groups'))}
<h2>Relations</h2>
{_relations_section(rel)}
<h2>Configuration</h2>
<pre>{_e(yaml.safe_dump(cfg, sort_keys=False))}</pre>
</body></html>
"""]
    return "".join(parts)


def write_report(run_dir: str | Path, out: str | Path, *, overwrite: bool = False,
                 **options: Any) -> Path:
    """Write the report to ``out`` atomically (see :func:`build_report` for ``options``)."""
    out = Path(out)
    if out.is_dir():
        raise OutputError("--out is a directory; give an HTML file name", path=out)
    if out.exists() and not overwrite:
        raise OutputError("output file exists; pass --overwrite to replace it", path=out)
    with DirLock(out):  # a second command writing the same file refuses
        text = build_report(run_dir, **options)
        atomic_write_text(out, text)
    return out

"""Norms and pairwise cosine similarities of a trained run's relation embeddings.

    .venv/bin/python benchmarks/relation_geometry.py RUN [RUN ...] [--checkpoint best]

For each run: one markdown table, one row per relation slot (``any`` = the virtual relation,
the predefined relations, the latent ones) with its norm and its cosine similarity to every
other slot, then a summary line (smallest and largest cosine among the predefined relations,
and between the virtual relation and the predefined ones), and for KDA the slots' learned
time-gap decay (mean per slot, cosine range among the latent slots' curves). Reads only the
checkpoint and the run's config; ``lrdgraph relations`` gives the full analysis with extractor
scores.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lrdgraph.models.kda import dft_decay  # noqa: E402
from lrdgraph.models.layout import EntityLayout  # noqa: E402
from lrdgraph.train.trainer import load_checkpoint, load_run  # noqa: E402


def cosine_matrix(x: torch.Tensor) -> torch.Tensor:
    """Pairwise cosine similarity of the rows of ``x``."""
    n = torch.nn.functional.normalize(x, dim=1)
    return n @ n.t()


def pair_range(cos: torch.Tensor, rows: slice) -> tuple[float, float] | None:
    """Smallest and largest cosine among the distinct pairs of ``rows`` (None: under two)."""
    block = cos[rows, rows]
    i, j = torch.triu_indices(len(block), len(block), offset=1)
    vals = block[i, j]
    return (float(vals.min()), float(vals.max())) if len(vals) else None


def geometry(run: Path, checkpoint: str, graph: str | None) -> str:
    cfg, g = load_run(run, graph)
    k = cfg["lrd"]["num_latent"] if cfg["lrd"]["enabled"] else 0
    layout = EntityLayout.from_dataset(g.dataset, k)
    ck = load_checkpoint(run / "checkpoints" / f"{checkpoint}.pt")
    w = ck["model"]["relation_emb.weight"].float()
    names = layout.relation_names
    cos = cosine_matrix(w)
    lines = [f"{run} ({checkpoint}.pt, epoch {ck['epoch']})", "",
             "| slot | norm | " + " | ".join(names) + " |",
             "|---|---|" + "---|" * len(names)]
    for i, name in enumerate(names):
        lines.append(f"| {name} | {w[i].norm():.2f} | " + " | ".join(f"{c:.2f}" for c in cos[i].tolist()) + " |")
    pp = pair_range(cos, layout.predefined_slice)
    if pp is not None:
        vp = cos[0, layout.predefined_slice]
        lines += ["", f"predefined pairs: cosine {pp[0]:.2f} to {pp[1]:.2f}; "
                  f"virtual vs predefined: {vp.min():.2f} to {vp.max():.2f}"]
    if "freq_real" in ck["model"]:
        lines += ["", decay_summary(ck["model"], layout)]
    return "\n".join(lines) + "\n"


def decay_summary(state: dict, layout: EntityLayout) -> str:
    """KDA: how alike the slots' learned time-gap decay curves are. Each slot's curve D_r(τ) is
    sampled at 251 gaps τ from 0 to 25 (log2 minutes: up to about 60 years) and compared by
    cosine; two slots with one relation vector still weight history differently if their
    curves differ."""
    tau = torch.linspace(0, 25, 251)
    d = dft_decay(tau, state["freq_real"].float(), state["freq_imag"].float()).t()  # [R, T]
    means = ", ".join(f"{n} {m:.3f}" for n, m in zip(layout.relation_names, d.mean(1).tolist()))
    out = f"time-gap decay, mean over τ in [0, 25]: {means}"
    lc = pair_range(cosine_matrix(d), layout.latent_slice)
    if lc is not None:
        out += f"\nlatent slots' decay curves: pairwise cosine {lc[0]:.2f} to {lc[1]:.2f}"
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--checkpoint", default="best", choices=["best", "last"])
    p.add_argument("--graph", default=None, help="the runs' graph directory, if it has moved")
    a = p.parse_args()
    print("\n".join(geometry(r, a.checkpoint, a.graph) for r in a.runs))


if __name__ == "__main__":
    main()

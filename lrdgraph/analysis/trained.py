"""Loading a trained run for analysis, and the labels of its relation slots.

A run directory (written by ``lrdgraph train``) holds ``config.yaml`` (which names the graph
directory), ``checkpoints/best.pt`` and, once ``lrdgraph relations --name`` has run,
``relation_names.json``: a short name and a one-line description per latent relation. Every
analysis command labels relation slots through :func:`relation_labels`, so names given once show
up in exported edges, explanations and reports alike.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..errors import InputError
from ..io import atomic_write_json

__all__ = ["load_trained", "relation_labels", "relation_sources", "read_relation_names",
           "write_relation_names", "slugify", "NAMES_FILE"]

NAMES_FILE = "relation_names.json"
NAMES_FORMAT = 1


def load_trained(run_dir: str | Path, *, checkpoint: str = "best",
                 device: str = "cpu") -> Tuple[Dict[str, Any], Any, Any]:
    """``(cfg, graph, model)`` of a run: the model built with
    :func:`~lrdgraph.models.build_model` and loaded from ``checkpoints/<checkpoint>.pt``
    (``weights_only``), in eval mode on ``device``.

    Raises:
        InputError: not a run directory, its graph directory is gone, or no checkpoint.
    """
    from ..models import build_model
    from ..train.trainer import load_checkpoint, load_run

    run_dir = Path(run_dir)
    cfg, graph = load_run(run_dir)
    path = run_dir / "checkpoints" / f"{checkpoint}.pt"
    if not path.exists():
        raise InputError(f"the run has no {checkpoint} checkpoint yet (train it first)", path=path)
    ck = load_checkpoint(path)
    model = build_model(cfg, graph)
    try:
        model.load_state_dict(ck["model"])
    except (RuntimeError, KeyError) as exc:
        raise InputError("the checkpoint does not fit the run's config and graph: "
                         f"{str(exc).splitlines()[0][:200]}", path=path)
    model.to(device).eval()
    return cfg, graph, model


def slugify(text: str, max_len: int = 40) -> str:
    """``'Printing supplies!'`` -> ``'printing_supplies'``: a label safe in every export format."""
    s = re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")
    return s[:max_len].rstrip("_")


def read_relation_names(run_dir: str | Path) -> Dict[str, Dict[str, str]]:
    """``{'latent_0': {'name': .., 'label': .., 'description': ..}, ...}`` from the run's
    ``relation_names.json``; empty when the relations were never named."""
    path = Path(run_dir) / NAMES_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        rel = data["relations"]
        if not isinstance(rel, dict):
            raise TypeError("'relations' is not an object")
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"malformed relation names file ({exc}); delete it or run "
                         "'lrdgraph relations --name' again", path=path)
    return {str(k): {kk: str(vv) for kk, vv in v.items()} for k, v in rel.items()
            if isinstance(v, dict)}


def write_relation_names(run_dir: str | Path, names: Dict[str, Dict[str, str]],
                         method: Dict[str, Any]) -> Path:
    """Store latent relation names atomically in the run directory. Each entry gets a
    ``label`` (a slug of its name, unique, never clashing with other slot names)."""
    path = Path(run_dir) / NAMES_FILE
    atomic_write_json(path, {"format": NAMES_FORMAT, "method": method, "relations": names})
    return path


def relation_labels(layout, names: Optional[Dict[str, Dict[str, str]]] = None) -> List[str]:
    """One label per relation slot, in slot order: ``any``, the predefined names, then each
    latent slot's stored label (or ``latent_k`` when unnamed). Labels are unique: a stored
    label that repeats another slot's label gets the slot name appended."""
    names = names or {}
    labels = list(layout.relation_names)
    taken = set(labels)
    for k in range(layout.num_latent):
        slot = f"latent_{k}"
        stored = (names.get(slot) or {}).get("label") or slugify((names.get(slot) or {}).get("name", ""))
        if not stored or stored == slot:
            continue
        if stored in taken:
            stored = f"{stored}_{slot}"
        taken.discard(slot)
        taken.add(stored)
        labels[layout.latent_slice.start + k] = stored
    return labels


def relation_sources(layout) -> List[str]:
    """``virtual`` / ``predefined`` / ``latent`` per relation slot."""
    return (["virtual"] + ["predefined"] * len(layout.predefined)
            + ["latent"] * layout.num_latent)

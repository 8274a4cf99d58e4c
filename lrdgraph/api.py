"""The typed Python API behind the command line."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

from .io import sha256_file

__all__ = ["build_graph_dir"]


def _input_files(kind: str, options: Dict[str, Any]) -> Dict[str, str]:
    files = []
    for key in ("data_dir", "interactions", "items", "relations"):
        p = options.get(key)
        if p is None:
            continue
        p = Path(p)
        files += sorted(q for q in p.iterdir() if q.is_file()) if p.is_dir() else [p]
    return {str(f): sha256_file(f) for f in files}


def build_graph_dir(kind: str, options: Dict[str, Any], out: str | Path, *, encoder: str = "local",
                    encoder_model: Optional[str] = None, base_url: Optional[str] = None,
                    dim: Optional[int] = None, cache_dir: Optional[str | Path] = None,
                    overwrite: bool = False, progress: bool = True) -> Dict[str, Any]:
    """Read a data set, encode its item text and write a graph directory (``build-graph``).

    Returns the graph's :meth:`~lrdgraph.graph.ItemGraph.info`.
    """
    from .data import load_dataset
    from .graph.build import build_graph
    from .graph.item_graph import save_graph
    from .io import DirLock

    out = Path(out)
    # refuse a bad output before doing any work
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not overwrite)):
        from .errors import OutputError
        raise OutputError("output directory is not empty; pass --overwrite to replace it", path=out)
    # the output lock is held from the start: a second build of the same --out refuses before
    # reading or encoding anything (an openai encoder costs money)
    with DirLock(out):
        dataset = load_dataset(kind, **options)
        graph = build_graph(dataset, encoder=encoder, encoder_model=encoder_model,
                            base_url=base_url, cache_dir=cache_dir, progress=progress, dim=dim)
        manifest = {"inputs": {"kind": kind,
                               "options": {k: str(v) for k, v in options.items()},
                               "files": _input_files(kind, options)}}
        save_graph(graph, out, overwrite=overwrite, extra_manifest=manifest, lock=False)
    return graph.info()

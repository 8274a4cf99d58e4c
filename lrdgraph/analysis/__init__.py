"""Analysis of trained runs: edge export, recommendations with reasons, relation reports.

See ``docs/analysis.md``. Names are imported lazily, so ``import lrdgraph.analysis`` (and the
command line's ``--help``) stays free of torch.
"""
from __future__ import annotations

__all__ = ["load_trained", "export_edges", "collect_edges", "write_edges", "recommend",
           "analyse_relations", "relations_report", "name_relations", "build_report",
           "write_report"]

_WHERE = {
    "load_trained": "trained", "export_edges": "export", "collect_edges": "export",
    "write_edges": "export", "recommend": "recommend", "analyse_relations": "relations",
    "relations_report": "relations", "name_relations": "naming", "build_report": "report",
    "write_report": "report",
}


def __getattr__(name):
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(name)

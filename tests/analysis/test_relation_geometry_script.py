"""benchmarks/relation_geometry.py on the analysis tests' trained demo run."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


def test_table_matches_the_checkpoint(demo_run, loaded):
    spec = importlib.util.spec_from_file_location("relation_geometry",
                                                  ROOT / "benchmarks" / "relation_geometry.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = mod.geometry(demo_run, "best", None)
    _, _, model = loaded
    w = model.relation_emb.weight.detach()
    names = model.layout.relation_names
    rows = [line for line in out.splitlines() if line.startswith("| ") and not line.startswith("| slot")]
    assert [r.split(" | ")[0][2:] for r in rows] == names
    cos = torch.nn.functional.normalize(w, dim=1) @ torch.nn.functional.normalize(w, dim=1).t()
    for i, row in enumerate(rows):
        cells = row.strip("| ").split(" | ")
        assert float(cells[1]) == round(float(w[i].norm()), 2)
        assert [float(c) for c in cells[2:]] == [round(float(c), 2) for c in cos[i]]
    assert "predefined pairs: cosine" in out

"""``report``: one self-contained HTML page."""
from __future__ import annotations

import base64
import json
import re

from click.testing import CliRunner

from lrdgraph.analysis.report import learning_curves
from lrdgraph_cli.main import cli

PNG = b"\x89PNG\r\n\x1a\n"


def test_report_is_self_contained(demo_run, tmp_path):
    out = tmp_path / "r.html"
    r = CliRunner().invoke(cli, ["report", str(demo_run), "--out", str(out), "--top", "2",
                                 "--window", "1", "--knn", "2", "--quiet"])
    assert r.exit_code == 0, r.output
    html = out.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    # nothing loaded from elsewhere: every image is an embedded PNG
    srcs = re.findall(r'src="([^"]+)"', html)
    assert len(srcs) == 2 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert all(base64.b64decode(s.split(",", 1)[1]).startswith(PNG) for s in srcs)
    assert "<link" not in html and "<script" not in html
    results = json.loads((demo_run / "results.json").read_text())
    ndcg = results["protocols"]["sampled"]["NDCG@5"]
    assert f"{ndcg:.4f}" in html
    assert "--protocol full" in html  # the tiny run evaluated the sampled protocol only
    for section in ("Learning curves", "Relation embeddings", "Planted groups", "Relations",
                    "Configuration"):
        assert f"<h2>{section}</h2>" in html
    for label in ("also_bought", "same_brand", "latent_4"):
        assert f"<h3>{label} " in html
    r = CliRunner().invoke(cli, ["report", str(demo_run), "--out", str(out), "--quiet"])
    assert r.exit_code == 2 and "--overwrite" in r.output


def test_learning_curves(demo_run):
    rows = [json.loads(x) for x in (demo_run / "metrics.jsonl").read_text().splitlines()]
    png = learning_curves(rows)
    assert png.startswith(PNG) and len(png) > 10_000
    assert learning_curves([]) is None

"""benchmarks/seed_stats.py: per-seed rows (transcribed or from run directories) to mean ± std
and paired t-tests."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from scipy.stats import ttest_rel

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "seed_stats.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          cwd=ROOT)


def make_run(path: Path, seed: int, ndcg5: float) -> Path:
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump({"train": {"seed": seed}}))
    m = {"HR@5": 2 * ndcg5, "HR@10": 3 * ndcg5, "NDCG@5": ndcg5, "NDCG@10": 1.5 * ndcg5, "rows": 9}
    (path / "results.json").write_text(json.dumps({"protocols": {"sampled": m, "full": m}}))
    return path


def test_add_runs_then_report(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("model,seed,protocol,metric,value,source\n"
                     "A,1,sampled,NDCG@5,0.2,transcribed\nB,1,sampled,NDCG@5,0.1,transcribed\n")
    r = run(str(table), "--add", "A", str(make_run(tmp_path / "a2", 2, 0.5)),
            str(make_run(tmp_path / "a3", 3, 0.3)))
    assert r.returncode == 0, r.stderr
    r = run(str(table), "--add", "B", str(make_run(tmp_path / "b2", 2, 0.3)))
    assert r.returncode == 0, r.stderr
    rows = table.read_text().splitlines()
    assert len(rows) == 1 + 2 + 2 * 8 + 8 and "A,2,sampled,NDCG@5,0.5,run a2" in rows
    # adding the same seed again is refused and leaves the table as it was
    r = run(str(table), "--add", "B", str(tmp_path / "b2"))
    assert r.returncode != 0 and "already in the table" in r.stderr
    assert table.read_text().splitlines() == rows

    out = run(str(table), "--versus", "A", "B").stdout
    # A, sampled: HR@5 of seeds 2-3 is 1.0, 0.6 (mean 0.8, std 0.2828); NDCG@5 of seeds 1-3
    # is 0.2, 0.5, 0.3 (mean 0.3333, std 0.1528)
    assert ("| A | 0.8000 ± 0.2828 (n=2) | 1.2000 ± 0.4243 (n=2) | 0.3333 ± 0.1528 (n=3) "
            "| 0.6000 ± 0.2121 (n=2) |") in out
    # HR@5 pairs seed 2 only: 1.0 against 0.6, no test from one pair
    assert "| A vs B, paired | +66.7 % | +66.7 % | +75.0 % (p=" in out
    # paired over seeds 1 and 2 only (B has no seed 3): means 0.35 vs 0.2 -> +75.0 %
    p = ttest_rel([0.2, 0.5], [0.1, 0.3]).pvalue
    assert f"+75.0 % (p={p:.3f}, n=2)" in out
    assert "#### Test, full protocol" in out


def test_bad_table_names_file_and_line(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("model,seed,protocol,metric,value,source\nA,x,sampled,NDCG@5,0.2,s\n")
    r = run(str(table))
    assert r.returncode != 0 and f"{table}:2:" in r.stderr
    table.write_text("model,seed\n")
    r = run(str(table))
    assert r.returncode != 0 and "no column protocol, metric, value, source" in r.stderr

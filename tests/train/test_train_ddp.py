"""Two processes (torchrun, gloo on CPU) with the same global batch follow the single-process
loss curve within a tolerance, and write one complete run directory."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ARGS = ["--model", "kda", "--lrd", "--epochs", "3", "--patience", "0", "--seed", "3", "--quiet",
        "--set", "model.emb_size=16", "--set", "model.num_layers=1", "--set", "model.num_heads=2",
        "--set", "eval.protocols=[sampled]", "--set", "train.batch_size=256",
        "--set", "train.num_threads=1"]


def _curve(run: Path) -> list:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_processes_follow_single_process_curve(demo_graph_dir, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", LRDGRAPH_CACHE=str(tmp_path / "cache"))
    single, double = tmp_path / "single", tmp_path / "double"
    cli = ["-m", "lrdgraph_cli.main", "train", str(demo_graph_dir)]
    subprocess.run([sys.executable, *cli, "--out", str(single), *ARGS], env=env, check=True,
                   capture_output=True, timeout=600)
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc-per-node", "2", *cli, "--out", str(double), *ARGS],
                         env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    a, b = _curve(single), _curve(double)
    assert len(a) == len(b) == 3
    for x, y in zip(a, b):
        for term in ("rec", "kge", "lrd"):
            assert y["loss"][term] == pytest.approx(x["loss"][term], rel=2e-2, abs=2e-3), (term, x, y)
        for k, v in x["dev"]["sampled"].items():
            if k != "rows":
                assert y["dev"]["sampled"][k] == pytest.approx(v, abs=0.05), k
        assert y["dev"]["sampled"]["rows"] == x["dev"]["sampled"]["rows"]
    results = json.loads((double / "results.json").read_text())
    assert results["processes"] == 2
    assert results["protocols"]["sampled"]["rows"] == json.loads(
        (single / "results.json").read_text())["protocols"]["sampled"]["rows"]
    assert (double / "checkpoints" / "best.pt").exists()

"""Interruptions and concurrency: SIGKILL at several moments leaves earlier outputs intact and
no half-written file under a final name; resume continues to the uninterrupted result; a second
writer to the same output refuses."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from lrdgraph.io import DirLock

TINY = ["--set", "model.emb_size=16", "--set", "model.num_layers=1", "--set", "model.num_heads=2",
        "--set", "eval.protocols=[sampled]", "--set", "train.batch_size=128"]


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from lrdgraph_cli.main import main; main()", *args]


def _env(tmp: Path) -> dict:
    return dict(os.environ, LRDGRAPH_CACHE=str(tmp / "cache"), PYTHONUNBUFFERED="1")


def _kill_when(cmd: list[str], env: dict, ready, then: float = 0.3, timeout: float = 600) -> int:
    """Start a command and SIGKILL it ``then`` seconds after ``ready()`` first holds (unless it
    ended by itself): the moment is set by the command's progress, not by the clock, so a
    loaded machine (slow imports) still interrupts it where the test means to."""
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + timeout
    while p.poll() is None and not ready():
        assert time.monotonic() < end, f"no progress within {timeout}s: {cmd}"
        time.sleep(0.05)
    time.sleep(then)
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
    return p.wait()


def _kill_after(cmd: list[str], delay: float, env: dict) -> int:
    return _kill_when(cmd, env, lambda: True, then=delay)


def _epochs_written(run: Path) -> int:
    try:
        return len((run / "metrics.jsonl").read_text().splitlines())
    except FileNotFoundError:
        return 0


def _assert_complete_or_absent_graph(out: Path) -> None:
    if not out.exists():
        return
    names = {p.name for p in out.iterdir()}
    assert {"graph.pt", "manifest.json", "items.csv", "users.csv"} <= names, names
    torch.load(out / "graph.pt", weights_only=True)
    json.loads((out / "manifest.json").read_text())


def _no_temp_under_final_names(root: Path) -> None:
    for p in root.rglob("*"):
        if p.name.endswith(".tmp"):
            # temporaries are hidden siblings, never a final name
            assert p.name.startswith("."), p


@pytest.mark.slow
def test_kill_build_graph_at_several_moments(tmp_path):
    env = _env(tmp_path)
    out = tmp_path / "g"
    for delay in (0.5, 2.0, 3.5):
        _kill_after(_cli("build-graph", "--dataset", "demo", "--encoder", "tfidf", "--out", str(out),
                         "--overwrite", "--quiet"), delay, env)
        _assert_complete_or_absent_graph(out)
        _no_temp_under_final_names(tmp_path)
    # a complete build afterwards still works (a stale lock of a killed process is taken over)
    subprocess.run(_cli("build-graph", "--dataset", "demo", "--encoder", "tfidf", "--out", str(out),
                        "--overwrite", "--quiet"), env=env, check=True, capture_output=True)
    _assert_complete_or_absent_graph(out)


@pytest.fixture(scope="module")
def demo_graph(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("interrupt")
    out = tmp / "g"
    subprocess.run(_cli("build-graph", "--dataset", "demo", "--encoder", "tfidf", "--out", str(out),
                        "--quiet"), env=_env(tmp), check=True, capture_output=True)
    return out


def _check_run_files(run: Path) -> None:
    if (run / "config.yaml").exists():
        yaml.safe_load((run / "config.yaml").read_text())
    if (run / "metrics.jsonl").exists():
        for line in (run / "metrics.jsonl").read_text().splitlines():
            json.loads(line)
    for ck in ("best.pt", "last.pt"):
        if (run / "checkpoints" / ck).exists():
            torch.load(run / "checkpoints" / ck, weights_only=True)
    if (run / "results.json").exists():
        json.loads((run / "results.json").read_text())


@pytest.mark.slow
def test_kill_train_then_resume_matches_uninterrupted(demo_graph, tmp_path):
    env = _env(tmp_path)
    common = ["--model", "rcf", "--epochs", "4", "--patience", "0", "--deterministic", "--seed", "7",
              "--quiet", *TINY]
    ref = tmp_path / "ref"
    subprocess.run(_cli("train", str(demo_graph), "--out", str(ref), *common), env=env, check=True,
                   capture_output=True)
    ref_results = json.loads((ref / "results.json").read_text())

    run = tmp_path / "run"
    epochs_seen = []
    # kill while the first epoch runs, then after one and after two more epochs were written
    moments = [lambda: (run / "config.yaml").exists(), lambda: _epochs_written(run) >= 1,
               lambda: _epochs_written(run) >= 3]
    codes = []
    for ready in moments:
        cmd = (_cli("train", str(demo_graph), "--out", str(run), *common) if not run.exists()
               else _cli("train", "--resume", str(run), "--quiet"))
        codes.append(_kill_when(cmd, env, ready))
        _check_run_files(run)
        _no_temp_under_final_names(tmp_path)
        if (run / "metrics.jsonl").exists():
            epochs_seen.append(len((run / "metrics.jsonl").read_text().splitlines()))
        if (run / "results.json").exists():
            break
    if not (run / "results.json").exists():
        subprocess.run(_cli("train", "--resume", str(run), "--quiet"), env=env, check=True,
                       capture_output=True)
    res = json.loads((run / "results.json").read_text())
    assert res["protocols"] == ref_results["protocols"]
    assert res["best_epoch"] == ref_results["best_epoch"]
    ref_lines = [json.loads(x) for x in (ref / "metrics.jsonl").read_text().splitlines()]
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["dev"] for x in lines] == [x["dev"] for x in ref_lines]
    assert [x["loss"] for x in lines] == [x["loss"] for x in ref_lines]
    assert epochs_seen == sorted(epochs_seen)  # earlier epochs never lost
    assert -signal.SIGKILL in codes, codes  # at least one run was really interrupted


def test_second_writer_refuses(demo_graph, tmp_path):
    from click.testing import CliRunner

    from lrdgraph_cli.main import cli

    out = tmp_path / "busy"
    with DirLock(out):  # another command holds the output
        res = CliRunner().invoke(cli, ["train", str(demo_graph), "--out", str(out), "--epochs", "1",
                                       "--quiet", *TINY])
        assert res.exit_code == 2, res.output
        assert "another lrdgraph command" in res.output and "Traceback" not in res.output
        res = CliRunner().invoke(cli, ["build-graph", "--dataset", "demo", "--encoder", "tfidf",
                                       "--out", str(out), "--quiet"])
        assert res.exit_code == 2, res.output
        assert "another lrdgraph command" in res.output
    assert not out.exists() or not any(out.iterdir())

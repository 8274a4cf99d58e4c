"""A NaN loss in one process of a multi-process run: every process stops with the same one-line
error naming the process, at once (not after a collective's timeout, not with the other
processes' "connection closed by peer"), and the last good checkpoint stays intact."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

RANK_SCRIPT = r"""
import os, sys
from lrdgraph.models.relational import RelationalRecommender
from lrdgraph.train.trainer import Trainer

state = {"epoch": 0}
original_epoch, original_rec = Trainer.train_epoch, RelationalRecommender.rec_loss

def train_epoch(self):
    state["epoch"] = self.epoch + 1
    return original_epoch(self)

def rec_loss(self, batch):  # only process 1's share of the batch goes bad, from epoch 2 on
    loss = original_rec(self, batch)
    return loss * float("nan") if state["epoch"] >= 2 and os.environ["RANK"] == "1" else loss

Trainer.train_epoch, RelationalRecommender.rec_loss = train_epoch, rec_loss
from lrdgraph_cli.main import main
sys.argv = ["lrdgraph", *sys.argv[1:]]
main()
"""

ARGS = ["--model", "rcf", "--epochs", "3", "--quiet", "--device", "cpu",
        "--set", "model.emb_size=16", "--set", "model.num_layers=1", "--set", "model.num_heads=2",
        "--set", "eval.protocols=[sampled]", "--set", "train.num_threads=1",
        "--set", "train.batch_size=128"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_nan_in_one_process_stops_every_process(demo_graph_dir, tmp_path):
    """Launched as torchrun would (the environment variables), without torchrun's agent: no
    one kills the other process for us."""
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    run = tmp_path / "run"
    port = _free_port()
    procs = []
    for r in range(2):
        env = dict(os.environ, WORLD_SIZE="2", RANK=str(r), LOCAL_RANK=str(r),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
        procs.append(subprocess.Popen([sys.executable, str(script), "train", str(demo_graph_dir),
                                       "--out", str(run), *ARGS], env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    errors = []
    try:
        for p in procs:
            _, err = p.communicate(timeout=120)  # a hang raises TimeoutExpired here
            errors.append(err)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for r, (p, err) in enumerate(zip(procs, errors)):
        assert p.returncode == 1, (r, err[-2000:])
        lines = [ln for ln in err.splitlines() if ln.startswith("lrdgraph: error:")]
        assert len(lines) == 1, (r, err[-2000:])
        assert "the rec loss became nan in process 1 of 2 in epoch 2" in lines[0], lines[0]
        assert str(run / "checkpoints" / "last.pt") in lines[0]
        assert "Traceback" not in err and "closed by peer" not in err
    # the epoch-1 checkpoint (written by process 0) is intact; the lock was released
    from lrdgraph.train.trainer import load_checkpoint

    assert load_checkpoint(run / "checkpoints" / "last.pt")["epoch"] == 1
    assert [json.loads(x)["epoch"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1]
    assert not list(tmp_path.glob(".*.lock"))

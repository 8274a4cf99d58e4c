"""EpochWatcher: one line per new epoch of each cell, read from the cells' metrics.jsonl."""
from __future__ import annotations

import json

from lrdgraph.experiment.progress import EpochWatcher


def _epoch(e, score, best, train=30.0, ev=5.0):
    return {"epoch": e, "loss": {"rec": 0.5}, "dev": {"sampled": {"NDCG@5": score, "HR@5": 0.9}},
            "seconds": {"train": train, "dev_eval": ev}, "best": best}


def _write(run_dir, records, tail=""):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records) + tail)


def test_new_epochs_only_in_order_with_the_best_so_far(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    done = [_epoch(1, 0.30, True), _epoch(2, 0.35, True)]
    _write(a, done)  # a resumed cell: its first two epochs were shown by an earlier run
    lines = []
    watch = EpochWatcher([("A", a, "NDCG@5", "sampled"), ("B", b, "NDCG@5", "sampled")],
                         log=lines.append, every=0)
    assert watch.poll() == 0 and lines == []
    _write(a, done + [_epoch(3, 0.33, False, 31.25, 4.5), _epoch(4, 0.41, True)])
    assert watch.poll() == 2
    assert lines == ["A: epoch 3  dev NDCG@5=0.3300  best 0.3500 @ 2  (31.2s + 4.5s eval)",
                     "A: epoch 4  dev NDCG@5=0.4100 *  best 0.4100 @ 4  (30.0s + 5.0s eval)"]
    assert watch.poll() == 0 and len(lines) == 2
    # B starts later; a half-written last line waits for the next read
    _write(b, [_epoch(1, 0.2, True)], tail='{"epoch": 2, "dev": {"samp')
    assert watch.poll() == 1 and lines[-1].startswith("B: epoch 1  dev NDCG@5=0.2000 *  best 0.2000 @ 1")
    _write(b, [_epoch(1, 0.2, True), _epoch(2, 0.1, False)])
    assert watch.poll() == 1 and lines[-1].startswith("B: epoch 2  dev NDCG@5=0.1000  best 0.2000 @ 1")


def test_background_thread_reads_until_stopped(tmp_path):
    a = tmp_path / "a"
    lines = []
    with EpochWatcher([("A", a, "NDCG@5", "sampled")], log=lines.append, every=0.01) as watch:
        _write(a, [_epoch(1, 0.3, True)])
        for _ in range(500):
            if lines:
                break
            watch._stop.wait(0.01)
        assert lines and lines[0].startswith("A: epoch 1")
        _write(a, [_epoch(1, 0.3, True), _epoch(2, 0.31, True)])
    # leaving the block reads once more: nothing is lost between the last tick and the stop
    assert [m.split("  ")[0] for m in lines] == ["A: epoch 1", "A: epoch 2"]
    assert watch._thread is None

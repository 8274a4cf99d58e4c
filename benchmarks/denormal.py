"""Subnormal floats in trained weights: CPU time with and without flush-to-zero.

Loads a run directory's checkpoint (weights *and* optimiser state) and times ``--batches``
training batches and a sampled evaluation of ``--users`` dev users with
``torch.set_flush_denormal`` off and on, ``--repeats`` times each (median). Prints a markdown
table and the number of subnormal values found in the checkpoint.

    .venv/bin/python benchmarks/denormal.py runs/office-kda-lrd               # 1 thread
    .venv/bin/python benchmarks/denormal.py runs/office-kda-lrd --threads 2   # 2 threads

The flush mode is per thread, and torch's intra-op worker threads copy it once, when they start
(``lrdgraph.train.trainer.configure_cpu``). So with one thread the two modes alternate in one
process, beside a freshly initialised model of the same config as the reference; with several
threads each mode runs in a process of its own, on the trained weights only.

Each training measurement restarts from the checkpoint, so every repeat trains the same
weights. Nothing is written to the run directory. Subnormals also arise in intermediate results
(products and softmax tails of trained, larger-magnitude weights), so a checkpoint written with
flushing on, which holds none, still runs slowly with flushing off.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lrdgraph.train.evaluate import sampled_rank_tensor  # noqa: E402
from lrdgraph.train.trainer import Trainer, configure_cpu, load_checkpoint, load_run  # noqa: E402


def count_subnormal(state: dict) -> tuple[int, int]:
    tiny = torch.finfo(torch.float32).tiny
    sub = total = 0

    def visit(x):
        nonlocal sub, total
        if torch.is_tensor(x) and x.dtype == torch.float32:
            sub += int(((x != 0) & (x.abs() < tiny)).sum())
            total += x.numel()
        elif isinstance(x, dict):
            for v in x.values():
                visit(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                visit(v)

    visit(state)
    return sub, total


class Bench:
    """A run's trainer on the first ``batches`` training batches and ``users`` dev users."""

    def __init__(self, a: argparse.Namespace, flush: bool) -> None:
        # before anything starts the thread pool, so that its workers take this mode
        configure_cpu({"flush_denormal": flush, "num_threads": a.threads})
        cfg, graph = load_run(a.run, a.graph)
        self.cfg = copy.deepcopy(cfg)
        self.cfg["train"].update(num_threads=a.threads, flush_denormal=flush)
        self.ck_path = Path(a.run) / "checkpoints" / "last.pt"
        self.ck = load_checkpoint(self.ck_path)
        self.tr = Trainer(graph, self.cfg, Path(tempfile.mkdtemp()), progress=False,
                          log=lambda s: None)
        self.fresh = {"model": copy.deepcopy(self.tr.model.state_dict()),
                      "optimizer": copy.deepcopy(self.tr.opt.state_dict())}
        self.trained = {"model": self.ck["model"], "optimizer": self.ck["optimizer"]}
        data = self.tr.data
        n = min(a.batches * int(self.cfg["train"]["batch_size"]), len(data.train))
        data.train = data.train.subset(torch.arange(n))
        self.dev = data.dev.subset(torch.arange(min(a.users, len(data.dev))))

    def _load(self, state: dict) -> None:
        self.tr.model.load_state_dict(state["model"])
        self.tr.opt.load_state_dict(state["optimizer"])

    def train(self, state: dict) -> float:
        self._load(state)
        t0 = time.perf_counter()
        self.tr.train_epoch()
        return time.perf_counter() - t0

    def eval(self, state: dict) -> float:
        self._load(state)
        t0 = time.perf_counter()
        sampled_rank_tensor(self.tr.model, self.dev, batch_size=int(self.cfg["eval"]["batch_size"]))
        return time.perf_counter() - t0


def one_process(a: argparse.Namespace) -> tuple[Bench, dict]:
    """One thread: both modes alternate in this process, fresh and trained weights."""
    b = Bench(a, flush=False)
    times: dict = {}
    b.train(b.fresh)  # warm-up
    for _ in range(a.repeats):
        for weights, state in (("fresh", b.fresh), ("trained", b.trained)):
            for flush in (False, True):
                torch.set_flush_denormal(flush)
                times.setdefault(("train", weights, flush), []).append(b.train(state))
                times.setdefault(("eval", weights, flush), []).append(b.eval(state))
    torch.set_flush_denormal(False)
    return b, times


def child(a: argparse.Namespace) -> None:
    """One mode in this process (several threads): medians on the trained weights, as JSON."""
    b = Bench(a, flush=a.child == "on")
    b.train(b.trained)  # warm-up
    tt = [b.train(b.trained) for _ in range(a.repeats)]
    te = [b.eval(b.trained) for _ in range(a.repeats)]
    print(json.dumps({"train": statistics.median(tt), "eval": statistics.median(te)}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="a run directory with checkpoints/last.pt")
    p.add_argument("--graph", default=None, help="the run's graph directory, if it has moved")
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--users", type=int, default=512)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--child", choices=["on", "off"], help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        child(a)
        return

    if a.threads == 1:
        b, times = one_process(a)
        medians = {k: statistics.median(v) for k, v in times.items()}
        rows = [(w, weights) for w in ("train", "eval") for weights in ("fresh", "trained")]
        how = "one process"
    else:
        medians = {}
        for mode in ("off", "on"):
            cmd = [sys.executable, __file__, *sys.argv[1:], "--child", mode]
            out = json.loads(subprocess.run(cmd, capture_output=True, text=True,
                                            check=True).stdout.splitlines()[-1])
            for work in ("train", "eval"):
                medians[(work, "trained", mode == "on")] = out[work]
        b = None
        rows = [("train", "trained"), ("eval", "trained")]
        how = "one process per mode"

    ck_path = Path(a.run) / "checkpoints" / "last.pt"
    ck = b.ck if b is not None else load_checkpoint(ck_path)
    sub, total = count_subnormal({"model": ck["model"], "optimizer": ck["optimizer"]})
    print(f"checkpoint {ck_path} (epoch {ck['epoch']}): {sub:,} subnormal of {total:,} float32 "
          f"values (weights and Adam state); torch {torch.__version__}, {a.threads} thread(s), "
          f"median of {a.repeats}, {how}\n")
    print("| work | weights | flush off (s) | flush on (s) | off / on |")
    print("|---|---|---|---|---|")
    names = {"train": f"{a.batches} training batches",
             "eval": f"sampled evaluation, {a.users} dev users"}
    for work, weights in rows:
        off, on = medians[(work, weights, False)], medians[(work, weights, True)]
        print(f"| {names[work]} | {weights} | {off:.2f} | {on:.2f} | {off / on:.2f}x |")


if __name__ == "__main__":
    main()

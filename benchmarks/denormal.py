"""Subnormal floats in trained weights: CPU time with and without flush-to-zero.

Loads a run directory's checkpoint (weights *and* optimiser state) and times, in one process,
``--batches`` training batches and a sampled evaluation of ``--users`` dev users, alternating
``torch.set_flush_denormal`` off and on, ``--repeats`` times each. A freshly initialised model
of the same config is timed the same way as the reference. Prints a markdown table and the
number of subnormal values found in the checkpoint.

    .venv/bin/python benchmarks/denormal.py runs/office-kda-lrd

One thread only: the flush mode is per thread, and torch's intra-op worker threads copy it once,
when they start, so a process cannot switch it off and on for its workers.

Each training measurement restarts from the checkpoint, so every repeat trains the same
weights. Nothing is written to the run directory. Subnormals also arise in intermediate results
(products and softmax tails of trained, larger-magnitude weights), so a checkpoint written with
flushing on, which holds none, still runs slowly with flushing off.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lrdgraph.train.evaluate import sampled_rank_tensor  # noqa: E402
from lrdgraph.train.trainer import Trainer, load_checkpoint, load_run  # noqa: E402


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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", help="a run directory with checkpoints/last.pt")
    p.add_argument("--graph", default=None, help="the run's graph directory, if it has moved")
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--users", type=int, default=512)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    a.threads = 1
    torch.set_num_threads(1)
    cfg, graph = load_run(a.run, a.graph)
    cfg = copy.deepcopy(cfg)
    cfg["train"]["num_threads"] = a.threads
    cfg["train"]["flush_denormal"] = False
    ck_path = Path(a.run) / "checkpoints" / "last.pt"
    ck = load_checkpoint(ck_path)
    tr = Trainer(graph, cfg, Path(tempfile.mkdtemp()), progress=False, log=lambda s: None)
    fresh = {"model": copy.deepcopy(tr.model.state_dict()), "optimizer": copy.deepcopy(tr.opt.state_dict())}
    trained = {"model": ck["model"], "optimizer": ck["optimizer"]}
    bs = int(cfg["train"]["batch_size"])
    full = tr.data.train
    tr.data.train = type(full)(**{k: (v[: a.batches * bs] if hasattr(v, "shape") else v)
                                  for k, v in vars(full).items()})
    dev = tr.data.dev
    dev = type(dev)(**{k: (v[: a.users] if hasattr(v, "shape") else v) for k, v in vars(dev).items()})

    def load(state):
        tr.model.load_state_dict(state["model"])
        tr.opt.load_state_dict(state["optimizer"])

    def t_train(state) -> float:
        load(state)
        t0 = time.perf_counter()
        tr.train_epoch()
        return time.perf_counter() - t0

    def t_eval(state) -> float:
        load(state)
        t0 = time.perf_counter()
        sampled_rank_tensor(tr.model, dev, batch_size=int(cfg["eval"]["batch_size"]))
        return time.perf_counter() - t0

    times: dict = {}
    t_train(fresh)  # warm-up
    for _ in range(a.repeats):
        for weights, state in (("fresh", fresh), ("trained", trained)):
            for flush in (False, True):
                torch.set_flush_denormal(flush)
                times.setdefault(("train", weights, flush), []).append(t_train(state))
                times.setdefault(("eval", weights, flush), []).append(t_eval(state))
    torch.set_flush_denormal(False)

    sub, total = count_subnormal(trained)
    name = cfg["model"]["name"] + ("+LRD" if cfg["lrd"]["enabled"] else "")
    print(f"{name}, checkpoint {ck_path} (epoch {ck['epoch']}): {sub:,} subnormal of {total:,} "
          f"float32 values (weights and Adam state); torch {torch.__version__}, {a.threads} thread(s), "
          f"median of {a.repeats}\n")
    print("| work | weights | flush off (s) | flush on (s) | off / on |")
    print("|---|---|---|---|---|")
    for work, what in (("train", f"{a.batches} training batches"), ("eval", f"sampled evaluation, {len(dev)} dev users")):
        for weights in ("fresh", "trained"):
            off = statistics.median(times[(work, weights, False)])
            on = statistics.median(times[(work, weights, True)])
            print(f"| {what} | {weights} | {off:.2f} | {on:.2f} | {off / on:.2f}x |")


if __name__ == "__main__":
    main()

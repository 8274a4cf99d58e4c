"""Subnormal flushing with several threads: one process per mode.

    .venv/bin/python benchmarks/denormal_pool.py RUN [--threads 2]

The flush mode reaches torch's worker threads only if it is set before they start, so each
mode runs in a fresh process (``configure_cpu`` first), timing 20 training batches from the
run's ``last.pt`` (weights and optimiser state restored before each repeat) and a sampled
evaluation of 512 dev users, median of 3. ``benchmarks/denormal.py`` does the same on one
thread in one process, with a fresh model beside it.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def measure(run: Path, flush: bool, threads: int) -> str:
    from lrdgraph.train.trainer import Trainer, configure_cpu, load_checkpoint, load_run

    configure_cpu({"flush_denormal": flush, "num_threads": threads})
    from lrdgraph.train.evaluate import sampled_rank_tensor

    cfg, g = load_run(run)
    cfg = copy.deepcopy(cfg)
    cfg["train"].update(flush_denormal=flush, num_threads=threads)
    tr = Trainer(g, cfg, Path(tempfile.mkdtemp()), progress=False, log=lambda s: None)
    ck = load_checkpoint(run / "checkpoints" / "last.pt")

    def head(rows, n):
        return type(rows)(**{k: (v[:n] if hasattr(v, "shape") else v) for k, v in vars(rows).items()})

    tr.data.train = head(tr.data.train, 20 * int(cfg["train"]["batch_size"]))
    dev = head(tr.data.dev, 512)
    tt, te = [], []
    for _ in range(3):
        tr.model.load_state_dict(ck["model"])
        tr.opt.load_state_dict(ck["optimizer"])
        t0 = time.perf_counter()
        tr.train_epoch()
        tt.append(time.perf_counter() - t0)
        tr.model.load_state_dict(ck["model"])
        t0 = time.perf_counter()
        sampled_rank_tensor(tr.model, dev, batch_size=int(cfg["eval"]["batch_size"]))
        te.append(time.perf_counter() - t0)
    return f"{statistics.median(tt):.2f} {statistics.median(te):.2f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--mode", choices=["on", "off"], help=argparse.SUPPRESS)  # child process
    a = p.parse_args()
    if a.mode:
        print(measure(a.run, a.mode == "on", a.threads))
        return
    res = {}
    for mode in ("off", "on"):
        out = subprocess.run([sys.executable, __file__, str(a.run), "--threads", str(a.threads),
                              "--mode", mode], capture_output=True, text=True, check=True).stdout
        res[mode] = [float(x) for x in out.split()[-2:]]
    print(f"{a.run} (last.pt), {a.threads} threads, median of 3, one process per mode\n")
    print("| work | flush off (s) | flush on (s) | off / on |\n|---|---|---|---|")
    for i, what in enumerate(("20 training batches", "sampled evaluation, 512 dev users")):
        off, on = res["off"][i], res["on"][i]
        print(f"| {what} | {off:.2f} | {on:.2f} | {off / on:.2f}x |")


if __name__ == "__main__":
    main()

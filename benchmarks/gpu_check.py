"""The GPU path, checked and timed in one short script (the device check of the speed issue).

    python benchmarks/gpu_check.py --graph g/office [--out gpu.json]

1. Agreement: the same tiny KDA+LRD training (demo data built here with the tfidf encoder,
   a few steps, deterministic) on CPU and on CUDA; prints the per-step losses of both and their
   largest relative difference, and fails if it exceeds ``--tol``.
2. Timing on CUDA, on ``--graph`` (an Office graph built with ``lrdgraph build-graph``): one
   KDA+LRD training epoch (K = 8), the sampled evaluation of all dev users (evaluation batch
   256, as on CPU, and 2048) and the full ranking of all dev users, in fp32 and with
   ``train.precision=bf16``; each after a warm-up.
3. The same fp32 epoch on the GPU machine's own CPU (all its cores), for a same-machine ratio,
   and last, if time is left, bf16 with ``train.compile=true`` on CUDA.

Phases that would start after ``--budget`` seconds are skipped (and say so); the JSON summary
is rewritten after every phase, so a run stopped from outside still leaves what it measured.

Runs on CPU too (``--device cpu``: the agreement check then compares CPU with CPU, useful only
to test the script). Nothing is downloaded; writes a JSON summary to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch


def make_trainer(graph, sets, run_dir, device):
    from lrdgraph.config import resolve_config
    from lrdgraph.train.trainer import Trainer

    cfg = resolve_config(model="kda", options={"lrd.enabled": True, "lrd.num_latent": 8},
                         overrides=[f"train.device={device}", *sets])
    cfg["data"] = {"graph": "in-memory"}
    return Trainer(graph, cfg, Path(run_dir), progress=False, log=lambda s: None)


def losses_for(graph, device: str, steps: int, tmp: Path) -> list[float]:
    tr = make_trainer(graph, ["train.deterministic=true", "train.seed=7", "train.batch_size=64",
                              "model.dropout=0.0"], tmp / f"agree-{device}", device)
    data = tr.data.train
    keep = min(len(data), steps * 64)
    tr.data.train = type(data)(**{k: (v[:keep] if hasattr(v, "shape") else v)
                                  for k, v in vars(data).items()})
    out = []
    orig = tr.loss_module.forward

    def record(b, kge):
        res = orig(b, kge)
        out.append({k: float(v.detach()) for k, v in res.items()})
        return res

    tr.loss_module.forward = record
    tr.train_epoch()
    return out


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_office(graph, device: str, sets: list[str], tmp: Path, evals: bool = True) -> dict:
    from lrdgraph.train.evaluate import full_rank_tensor, sampled_rank_tensor

    tr = make_trainer(graph, sets + ["eval.batch_size=256", "eval.full_pairs=500000"],
                      tmp / ("time-" + "-".join(s.replace("=", "") for s in sets)), device)
    res = {}
    full_data = tr.data.train
    tr.data.train = type(full_data)(**{k: (v[:2048] if hasattr(v, "shape") else v)
                                       for k, v in vars(full_data).items()})
    tr.train_epoch()  # warm-up
    tr.data.train = full_data
    sync(device)
    t0 = time.perf_counter()
    tr.train_epoch()
    sync(device)
    res["train_epoch_s"] = time.perf_counter() - t0
    res["train_instances"] = len(full_data)
    if not evals:
        return res
    ev = tr.cfg["eval"]
    dev_rows = tr.data.dev
    sampled_rank_tensor(tr.model, dev_rows.subset(torch.arange(256)), batch_size=ev["batch_size"],
                        device=tr.device)
    for bs in (ev["batch_size"], 2048):
        sync(device)
        t0 = time.perf_counter()
        ranks = sampled_rank_tensor(tr.model, dev_rows, batch_size=bs, device=tr.device)
        sync(device)
        res[f"sampled_eval_all_dev_bs{bs}_s"] = time.perf_counter() - t0
    # the ranks of an untrained-but-one-epoch model, to compare with the CPU side if wanted
    res["sampled_dev_mean_rank"] = float(ranks.float().mean())
    t0 = time.perf_counter()
    full_rank_tensor(tr.model, tr.data, dev_rows, "dev", max_pairs=ev["full_pairs"], device=tr.device)
    sync(device)
    res["full_ranking_all_dev_s"] = time.perf_counter() - t0
    res["dev_users"] = len(dev_rows)
    if device.startswith("cuda"):
        res["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2 ** 20
        torch.cuda.reset_peak_memory_stats()
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graph", default=None, help="Office graph directory for the timings")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--out", default=None)
    ap.add_argument("--budget", type=float, default=420.0,
                    help="seconds after which no further phase is started")
    a = ap.parse_args()
    start = time.perf_counter()
    from lrdgraph.api import build_graph_dir
    from lrdgraph.graph import load_graph

    summary = {"torch": torch.__version__, "machine": platform.node(),
               "device_name": torch.cuda.get_device_name(0) if a.device.startswith("cuda") else "cpu",
               "cpu_threads": torch.get_num_threads(), "skipped": []}

    def save() -> None:
        summary["elapsed_s"] = time.perf_counter() - start
        if a.out:
            Path(a.out).write_text(json.dumps(summary, indent=1))

    def phase(name: str, fn) -> None:
        if time.perf_counter() - start > a.budget:
            summary["skipped"].append(name)
            print(f"{name}: skipped (past the {a.budget:.0f} s budget)", flush=True)
        else:
            t0 = time.perf_counter()
            summary[name] = r = fn()
            r["phase_s"] = time.perf_counter() - t0
            print(f"{name}: " + ", ".join(f"{k}={v:,.3f}" for k, v in r.items()), flush=True)
        save()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        build_graph_dir("demo", {}, tmp / "demo", encoder="tfidf", cache_dir=tmp / "cache",
                        overwrite=True, progress=False)
        demo = load_graph(tmp / "demo")
        cpu = losses_for(demo, "cpu", a.steps, tmp)
        dev = losses_for(demo, a.device, a.steps, tmp)
        worst = max(abs(x[k] - y[k]) / max(abs(x[k]), 1e-8) for x, y in zip(cpu, dev) for k in x)
        summary["agreement"] = {"cpu": cpu, a.device: dev, "max_rel_diff": worst, "tol": a.tol}
        print(f"CPU vs {a.device}: {len(cpu)} steps, largest relative loss difference {worst:.2e}",
              flush=True)
        save()
        if a.graph:
            g = load_graph(a.graph)
            phase("office_fp32", lambda: time_office(g, a.device, [], tmp))
            phase("office_bf16", lambda: time_office(g, a.device, ["train.precision=bf16"], tmp))
            if a.device != "cpu":
                phase("office_fp32_host_cpu",
                      lambda: time_office(g, "cpu", [f"train.num_threads={torch.get_num_threads()}"],
                                          tmp, evals=False))
                phase("office_bf16_compile",
                      lambda: time_office(g, a.device, ["train.precision=bf16", "train.compile=true"],
                                          tmp, evals=False))
    save()
    if worst > a.tol:
        raise SystemExit(f"CPU and {a.device} disagree: {worst:.2e} > {a.tol}")


if __name__ == "__main__":
    main()

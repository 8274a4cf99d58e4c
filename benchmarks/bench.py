"""Speed and memory benchmarks of lrdgraph; prints a markdown table (never part of the tests).

Each measurement runs in its own subprocess so its peak memory (ru_maxrss) is its own. Usage:

    python benchmarks/bench.py --office ../shared/data/office --ml100k ../shared/data/ml-100k \
        --threads 2 [--quick] > docs/performance-table.md

Training time per epoch is measured on ``--train-batches`` batches and scaled to the epoch's
batch count; evaluation throughput on ``--eval-users`` users; both are stated in the table.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def markdown_table(header: list[str], rows: list) -> str:
    """A markdown table of ``rows`` (sequences of cell strings) under ``header``."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def child(task: str, args: dict) -> dict:
    """Run one measurement in a fresh interpreter; returns its JSON result plus peak RSS."""
    code = f"import sys; sys.path.insert(0, {str(HERE)!r}); import bench; bench._run_child()"
    env = dict(os.environ, BENCH_TASK=task, BENCH_ARGS=json.dumps(args))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _run_child() -> None:
    import resource

    import torch

    args = json.loads(os.environ["BENCH_ARGS"])
    torch.set_num_threads(args.get("threads", 2))
    res = TASKS[os.environ["BENCH_TASK"]](args)
    res["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(res))


# ----------------------------------------------------------------------------- tasks
def t_build(a: dict) -> dict:
    from lrdgraph.api import build_graph_dir

    out = Path(a["out"])
    t0 = time.perf_counter()
    build_graph_dir(a["kind"], {"data_dir": a["data_dir"]}, out, encoder=a["encoder"],
                    cache_dir=a["cache"], overwrite=True, progress=False)
    return {"seconds": time.perf_counter() - t0}


def _setup(a: dict, model: str, lrd: bool):
    import torch

    from lrdgraph.config import resolve_config
    from lrdgraph.graph import load_graph
    from lrdgraph.train.trainer import Trainer

    cfg = resolve_config(model=model, options={"lrd.enabled": lrd, "lrd.num_latent": a.get("k", 5)},
                         overrides=[f"train.num_threads={a.get('threads', 2)}"] + a.get("set", []))
    cfg["data"] = {"graph": a["graph"]}
    g = load_graph(a["graph"])
    tr = Trainer(g, cfg, Path(tempfile.mkdtemp()), progress=False, log=lambda s: None)
    return tr, torch


def t_train(a: dict) -> dict:
    tr, torch = _setup(a, a["model"], a["lrd"])
    n = len(tr.data.train)
    nb = int(a["batches"])
    bs = tr.cfg["train"]["batch_size"]
    full_batches = (n + bs - 1) // bs
    # run a truncated epoch: same code path, fewer instances
    tr.data.train = type(tr.data.train)(**{k: (v[: nb * bs] if hasattr(v, "shape") else v)
                                           for k, v in vars(tr.data.train).items()})
    t0 = time.perf_counter()
    tr.train_epoch()  # warm-up (and compilation with train.compile)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    tr.train_epoch()
    dt = time.perf_counter() - t0
    return {"seconds_per_epoch": dt * full_batches / nb, "batches": nb, "instances": n,
            "warmup_seconds": warm}


def t_eval(a: dict) -> dict:
    from lrdgraph.train.evaluate import full_rank_tensor, sampled_rank_tensor

    tr, torch = _setup(a, a["model"], a["lrd"])
    rows = tr.data.dev
    n = min(int(a["users"]), len(rows))
    ev = tr.cfg["eval"]

    def take(m: int):
        return type(rows)(**{k: (v[:m] if hasattr(v, "shape") else v) for k, v in vars(rows).items()})

    def rank(sub):
        if a["protocol"] == "sampled":
            sampled_rank_tensor(tr.model, sub, batch_size=ev["batch_size"])
        else:
            full_rank_tensor(tr.model, tr.data, sub, "dev", max_pairs=ev["full_pairs"])

    t0 = time.perf_counter()
    rank(take(ev["batch_size"] if a["protocol"] == "sampled" else 8))  # warm-up / compilation
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    rank(take(n))
    dt = time.perf_counter() - t0
    return {"users_per_second": n / dt, "users": n, "all_users": len(rows),
            "seconds_all_users": dt * len(rows) / n, "warmup_seconds": warm}


def t_relindex(a: dict) -> dict:
    import torch

    from lrdgraph.graph import load_graph
    from lrdgraph.graph.relation_index import RelationIndex

    ds = load_graph(a["graph"]).dataset
    ri = RelationIndex.from_dataset(ds)
    g = torch.Generator().manual_seed(0)
    h = torch.randint(0, ds.num_items, (256, 20), generator=g)
    c = torch.randint(0, ds.num_items, (256, 100), generator=g)
    ri(h, c)
    t0 = time.perf_counter()
    reps = 5
    for _ in range(reps):
        ri(h, c)
    fast = reps * h.numel() * 100 / (time.perf_counter() - t0)
    # baseline: Python sets of tuples, as the reference keeps its triplets
    edges = {(r, int(a_), int(b)) for r, ei in enumerate(ds.relations.values()) for a_, b in ei.T}
    vals = [dict() for _ in ds.attributes]
    for k, at in enumerate(ds.attributes.values()):
        for i, v in zip(at.item.tolist(), at.value.tolist()):
            vals[k].setdefault(i, set()).add(v)
    hs, cs = h[:16].tolist(), c[:16].tolist()
    t0 = time.perf_counter()
    for b in range(16):
        for x in cs[b]:
            for y in hs[b]:
                [((r, y, x) in edges) or ((r, x, y) in edges) for r in range(len(ds.relations))]
                [bool(vk.get(x, set()) & vk.get(y, set())) for vk in vals]
    slow = 16 * 100 * 20 / (time.perf_counter() - t0)
    return {"pairs_per_second": fast, "python_pairs_per_second": slow}


def t_kge(a: dict) -> dict:
    tr, torch = _setup(a, "kda", False)
    n = 50000
    t0 = time.perf_counter()
    kg = tr.kg.sample(n)
    t_sample = time.perf_counter() - t0
    m = tr.model
    t0 = time.perf_counter()
    for s in range(0, n, 256):
        b = {k: v[s:s + 256] for k, v in kg.items()}
        loss = m.kge_loss(b)
        loss.backward()
    t_loss = time.perf_counter() - t0
    return {"sampled_triples_per_second": n / t_sample, "scored_triples_per_second": n / t_loss}


def t_intensity(a: dict) -> dict:
    """The 5-D intensity + aggregation: einsum vs the broadcast formulation (§7)."""
    import torch

    B, C, H, R, V = 256, 100, 20, 10, 64
    g = torch.Generator().manual_seed(0)
    h = torch.randn(B, H, V, generator=g)
    rt = torch.randn(B, C, R, V, generator=g)
    with torch.no_grad():
        if a["variant"] == "broadcast":
            t0 = time.perf_counter()
            s = (h.view(B, 1, H, 1, V) * rt.view(B, C, 1, R, V)).sum(-1)
            alpha = s.softmax(2)
            z = (alpha.unsqueeze(-1) * h.view(B, 1, H, 1, V)).sum(2)
        else:
            t0 = time.perf_counter()
            s = torch.einsum("bhv,bcrv->bchr", h, rt)
            alpha = s.softmax(2)
            z = torch.einsum("bchr,bhv->bcrv", alpha, h)
        dt = time.perf_counter() - t0
    return {"seconds_per_batch": dt, "z": float(z.sum())}


TASKS = {"build": t_build, "train": t_train, "eval": t_eval, "relindex": t_relindex,
         "kge": t_kge, "intensity": t_intensity}


# ----------------------------------------------------------------------------- main
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--office", default=str(HERE.parent.parent / "shared" / "data" / "office"))
    p.add_argument("--ml100k", default=str(HERE.parent.parent / "shared" / "data" / "ml-100k"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--work", default=None, help="scratch directory for graphs and caches")
    p.add_argument("--train-batches", type=int, default=30)
    p.add_argument("--eval-users", type=int, default=512)
    p.add_argument("--quick", action="store_true", help="Office only, tfidf only")
    p.add_argument("--k", type=int, default=8,
                   help="latent relations where LRD is on (the issue's reference figures: 8)")
    p.add_argument("--no-speed-switches", action="store_true",
                   help="skip the bf16 / compile variants of KDA+LRD")
    p.add_argument("--passes", default="",
                   help="comma-separated slot self-attention pass counts (model.num_layers) to time "
                        "for KDA+LRD besides the default 5, e.g. '2,1': a smaller model, not a "
                        "speed switch (its quality is measured in docs/results.md)")
    a = p.parse_args()
    work = Path(a.work or tempfile.mkdtemp(prefix="lrdgraph-bench-"))
    cache = str(work / "cache")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True,
                            text=True).stdout.strip()
    if subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "."], cwd=HERE.parent).returncode:
        commit += " + uncommitted changes"
    rows = []

    def row(what, data, res, key, unit, note=""):
        val = res.get(key)
        rows.append((what, data, "error: " + res["error"] if "error" in res else f"{val:,.1f} {unit}",
                     f"{res.get('peak_rss_mib', float('nan')):,.0f}", note))
        print(f"  {what} [{data}]: {rows[-1][2]}", file=sys.stderr, flush=True)

    sets = [("office", "rechorus", a.office)] + ([] if a.quick else [("ml-100k", "ml-100k", a.ml100k)])
    encoders = ["tfidf"] if a.quick else ["tfidf", "local"]
    for name, kind, path in sets:
        for enc in encoders:
            out = work / f"{name}-{enc}"
            res = child("build", {"kind": kind, "data_dir": path, "out": str(out), "encoder": enc,
                                  "cache": cache + "-" + enc + "-cold", "threads": a.threads})
            row(f"build-graph ({enc}, cold cache)", name, res, "seconds", "s")
        graph = str(work / f"{name}-{encoders[-1]}")
        switches = [("fp32", [])] + ([] if a.no_speed_switches else [
            ("bf16", ["train.precision=bf16"]),
            ("bf16+compile", ["train.precision=bf16", "train.compile=true"])])
        switches += [(f"fp32, {n} pass{'' if n == 1 else 'es'}", [f"model.num_layers={n}"])
                     for n in (int(x) for x in a.passes.split(",") if x.strip())]
        for model in ("rcf", "kda"):
            for lrd in (False, True):
                for label, sets in (switches if (model, lrd) == ("kda", True) else switches[:1]):
                    res = child("train", {"graph": graph, "model": model, "lrd": lrd, "k": a.k,
                                          "threads": a.threads, "batches": a.train_batches,
                                          "set": sets})
                    row(f"train epoch {model}{f'+LRD (K={a.k})' if lrd else ''}, {label}", name, res,
                        "seconds_per_epoch", "s", f"{a.train_batches} batches scaled to the epoch; "
                        f"warm-up epoch {res.get('warmup_seconds', float('nan')):,.1f} s")
        for model in ("caser", "gru4rec", "sasrec", "tisasrec"):
            res = child("train", {"graph": graph, "model": model, "lrd": False, "threads": a.threads,
                                  "batches": a.train_batches})
            row(f"train epoch {model} (baseline)", name, res, "seconds_per_epoch", "s",
                f"{a.train_batches} batches scaled to the epoch")
        for proto in ("sampled", "full"):
            for label, sets in switches:
                res = child("eval", {"graph": graph, "model": "kda", "lrd": True, "k": a.k,
                                     "threads": a.threads, "set": sets,
                                     "users": a.eval_users if proto == "sampled" else a.eval_users // 8,
                                     "protocol": proto})
                row(f"evaluation {proto} (kda+LRD, K={a.k}), {label}", name, res, "users_per_second",
                    "users/s", f"all dev users: {res.get('seconds_all_users', float('nan')):,.1f} s; "
                    f"warm-up {res.get('warmup_seconds', float('nan')):,.1f} s")
        res = child("relindex", {"graph": graph, "threads": a.threads})
        row("relation index", name, res, "pairs_per_second", "pairs/s",
            f"Python sets: {res.get('python_pairs_per_second', float('nan')):,.0f} pairs/s")
        res = child("kge", {"graph": graph, "threads": a.threads})
        row("KGE triples (sample)", name, res, "sampled_triples_per_second", "triples/s",
            f"loss+backward: {res.get('scored_triples_per_second', float('nan')):,.0f} triples/s")
    for variant in ("broadcast", "einsum"):
        res = child("intensity", {"variant": variant, "threads": a.threads})
        row(f"intensity+aggregation, {variant}", "B256 C100 H20 R10 V64", res, "seconds_per_batch", "s")

    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{a.threads} torch threads; commit {commit}; {time.strftime('%Y-%m-%d')}\n")
    print(markdown_table(["measurement", "data", "result", "peak RSS (MiB)", "note"], rows))


if __name__ == "__main__":
    main()

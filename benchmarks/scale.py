"""Electronics-sized run on one machine: generate, build-graph (tfidf), one KDA+LRD training
epoch, sampled evaluation of every user, latent-edge export. Each step runs as its own
``lrdgraph`` command under ``/usr/bin/time -v`` (when present) and reports wall time and peak
memory; prints a markdown table.

    python benchmarks/scale.py --work /tmp/scale [--fraction 1.0] [--threads 2] [--fast]

``--fraction`` scales users, items and interactions (1.0 = the paper's Electronics counts).
The train command selects on 2,000 dev users (``eval.dev_max_users``) and then ranks every test
user with the sampled protocol; the table splits its time into the epoch, the dev pass and the
test pass (from the run's ``results.json``); its peak memory covers all three. ``--fast`` adds
``train.precision=bf16`` and ``train.compile=true``.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench import markdown_table  # this folder is on sys.path when the script runs

STEPS = ["synth", "build-graph", "train (1 epoch KDA+LRD, dev pass, test pass)",
         "export-edges (latent)"]


def run(cmd: list[str], env: dict) -> tuple[float, float, int, str]:
    timer = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    full = ([timer, "-v"] if timer else []) + cmd
    t0 = time.perf_counter()
    p = subprocess.run(full, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    rss = int(m.group(1)) / 1024 ** 2 if m else float("nan")
    tail = (p.stdout + p.stderr).strip().splitlines()
    return dt, rss, p.returncode, "\n".join(tail[-5:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True)
    ap.add_argument("--fraction", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--num-latent", type=int, default=8)
    ap.add_argument("--fast", action="store_true", help="bf16 slot attention + torch.compile")
    ap.add_argument("--skip", default="", help="comma-separated steps to skip, reusing their "
                    "output in --work from an earlier run (synth,build-graph)")
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, LRDGRAPH_CACHE=str(work / "cache"))
    lrd = [sys.executable, "-m", "lrdgraph_cli.main"]
    f = a.fraction
    users, items, inter = int(192_403 * f), int(63_001 * f), int(1_682_498 * f)
    cmds = [
        lrd + ["synth", "--out", str(work / "data"), "--users", str(users), "--items", str(items),
               "--interactions", str(inter), "--overwrite"],
        lrd + ["build-graph", "--dataset", "csv", "--data-dir", str(work / "data"),
               "--attr-cols", "category,brand", "--text-cols", "title", "--encoder", "tfidf",
               "--out", str(work / "graph"), "--overwrite", "--quiet"],
        lrd + ["train", str(work / "graph"), "--model", "kda", "--lrd", "--num-latent",
               str(a.num_latent), "--epochs", "1", "--set", "eval.protocols=[sampled]",
               "--set", f"train.num_threads={a.threads}", "--set", "kge.gamma=1.0",
               "--set", "eval.dev_max_users=2000"]
        + (["--set", "train.precision=bf16", "--set", "train.compile=true"] if a.fast else [])
        + ["--out", str(work / "run"), "--overwrite", "--quiet"],
        # after one epoch q(r|i,j) is still close to uniform (1/R), so the default --min-weight
        # 0.2 would keep nothing: keep each item's 5 heaviest edges per latent relation instead
        lrd + ["export-edges", str(work / "run"), "--format", "csv", "--latent-only",
               "--min-weight", "0", "--top-k", "5",
               "--out", str(work / "latent_edges.csv"), "--overwrite", "--quiet"],
    ]
    rows = []
    skip = {x.strip() for x in a.skip.split(",") if x.strip()}
    for name, cmd in zip(STEPS, cmds):
        if name in skip:
            rows.append((name, "skipped", "", "output of an earlier run reused"))
            continue
        dt, rss, rc, tail = run(cmd, env)
        status = "ok" if rc == 0 else f"failed ({rc})"
        rows.append((name, f"{dt:,.1f}", f"{rss:,.2f}", status))
        print(f"{name}: {dt:.1f} s, {rss:.2f} GiB, {status}\n{tail}\n", file=sys.stderr, flush=True)
        if rc != 0:
            break
        if name.startswith("train") and (work / "run" / "results.json").exists():
            res = json.loads((work / "run" / "results.json").read_text())
            sec = res.get("seconds", {})
            n = res.get("dev", {}).get("sampled", {}).get("rows")
            dev_rows = f"{n:,}" if isinstance(n, int) else "?"
            for what, key in (("  of which: the training epoch", "train_total"),
                              (f"  of which: dev pass ({dev_rows} users)", "dev_eval_total"),
                              ("  of which: sampled test pass, all users", "test_eval")):
                rows.append((what, f"{sec.get(key, float('nan')):,.1f}", "", ""))
    print(f"Electronics-shaped data at fraction {f}: {users:,} users, {items:,} items, "
          f"{inter:,} interactions; {a.threads} threads\n")
    print(markdown_table(["step", "seconds", "peak RSS (GiB)", "status"], rows))


if __name__ == "__main__":
    main()

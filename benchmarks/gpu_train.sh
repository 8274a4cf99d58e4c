#!/usr/bin/env bash
# Several full trainings at once on one GPU machine. Each run is a Python process that leaves
# the GPU mostly idle on its own, so a handful share one card. This gives multi-seed results
# within a short device lease. Same image assumptions as gpu_check.sh; nothing is fetched.
#
#   (device tool) run: bash benchmarks/gpu_train.sh g/office 420 "2019 2020 2021 2022 2023"
#                 carry: ["g/office"]   timeout_s: 570
#
# Arguments: GRAPH_DIR, LIMIT_S (wall-clock limit of the trainings), SEEDS, then any extra
# `lrdgraph train` options shared by all runs.
#
# Environment:
#   VARIANTS  ';'-separated `lrdgraph train` model options, one run per variant and seed
#             (default "kda --no-lrd;kda --lrd").
#   KEEP=1    bring the checkpoints back (last.pt, and best.pt cut down to the model weights) so
#             the runs can be resumed elsewhere: `lrdgraph train GRAPH_DIR --resume RUN`. The
#             archive is split into 15 MiB parts (the device tool returns at most 8 files of
#             16 MiB); about 8.3 MB a run on Office, so at most 6 runs. Reassemble with
#             `cat runs.tar.part-* | tar -x`.
#   RESUME=D  resume the run directories under D (carried along) instead of starting new ones.
#
# A run still going at LIMIT_S is stopped. Its best checkpoint (chosen on dev, as always) is
# evaluated on test with `lrdgraph evaluate` into test_at_limit.json, and its metrics.jsonl
# says how many epochs it had. Without KEEP, everything small (config, metrics, results; no
# checkpoints) comes back in $OUT/runs.tar.gz.
set -uo pipefail
graph="${1:-g/office}"; limit="${2:-420}"; seeds="${3:-2019 2020 2021 2022 2023}"; shift 3 || true
export PYTHONUNBUFFERED=1
pp=$(mktemp -d); ln -s "$PWD/cli" "$pp/lrdgraph_cli"
export PYTHONPATH="$PWD:$pp${PYTHONPATH:+:$PYTHONPATH}"
lrd() { python3 -c "from lrdgraph_cli.main import main; main()" "$@"; }
out="${OUT:-.}"; runs=$(mktemp -d)/runs; mkdir -p "$runs"
common=(--quiet --set train.num_threads=1 --set eval.batch_size=256 --set eval.full_pairs=200000)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
start=$(date +%s)
if [ -n "${RESUME:-}" ]; then
  cp -r "$RESUME"/. "$runs"/
  for d in "$runs"/*/; do
    name=$(basename "$d")
    [ -f "$d/results.json" ] && [ ! -f "$d/test_at_limit.json" ] && continue  # finished
    rm -f "$d/results.json" "$d/test_at_limit.json"  # stale test results of a stopped run
    timeout "$limit" python3 -c "from lrdgraph_cli.main import main; main()" train "$graph" \
      --resume "$d" --set train.device=auto "${common[@]}" >>"$runs/$name.log" 2>&1 &
  done
else
  IFS=';' read -r -a variants <<<"${VARIANTS:-kda --no-lrd;kda --lrd}"
  for s in $seeds; do
    for m in "${variants[@]}"; do
      name="$(echo "$m" | tr -s ' ' '_' | tr -d -- '-')-s$s"
      # shellcheck disable=SC2086
      timeout "$limit" python3 -c "from lrdgraph_cli.main import main; main()" train "$graph" \
        --model $m --seed "$s" --out "$runs/$name" --device auto "${common[@]}" "$@" \
        >"$runs/$name.log" 2>&1 &
    done
  done
fi
sleep 60; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv | tee "$runs/nvidia-smi.txt"
wait
echo "trainings ended after $(( $(date +%s) - start )) s"
for d in "$runs"/*/; do
  if [ ! -f "$d/results.json" ] && [ -f "$d/checkpoints/best.pt" ]; then
    echo "$(basename "$d"): stopped at the time limit; evaluating its best checkpoint on test"
    ( lrd evaluate "$d" --protocol both --format json --quiet >"$d/test_at_limit.json" \
      2>>"${d%/}.log" || echo "$(basename "$d"): evaluate failed" ) &
  fi
done
wait
echo "all done after $(( $(date +%s) - start )) s"
if [ "${KEEP:-0}" = 1 ]; then
  python3 - "$runs" <<'PY'
import pathlib, sys, torch
for best in pathlib.Path(sys.argv[1]).glob("*/checkpoints/best.pt"):
    ck = torch.load(best, map_location="cpu", weights_only=True)
    torch.save({k: v for k, v in ck.items() if k not in ("optimizer", "rng")}, best)
PY
  tar -cf - -C "$(dirname "$runs")" runs | split -b 15m - "$out/runs.tar.part-"
  ls -l "$out"/runs.tar.part-*
else
  for d in "$runs"/*/; do rm -rf "$d/checkpoints"; done
  tar -czf "$out/runs.tar.gz" -C "$(dirname "$runs")" runs
fi
python3 - "$runs" <<'PY'
import json, pathlib, sys
for d in sorted(p for p in pathlib.Path(sys.argv[1]).iterdir() if p.is_dir()):
    f = d / "results.json" if (d / "results.json").exists() else d / "test_at_limit.json"
    epochs = sum(1 for _ in open(d / "metrics.jsonl")) if (d / "metrics.jsonl").exists() else 0
    try:
        r = json.loads(f.read_text())
        r = r.get("protocols", r)
        print(f"{d.name}: {epochs} epochs ({f.name}); sampled HR@5 {r['sampled']['HR@5']:.4f} "
              f"NDCG@5 {r['sampled']['NDCG@5']:.4f}; full NDCG@5 {r['full']['NDCG@5']:.4f}")
    except Exception as e:  # a run that left nothing readable is reported, not hidden
        print(f"{d.name}: {epochs} epochs; no test result ({type(e).__name__}: {e})")
PY

#!/usr/bin/env bash
# Cells of the experiment specs trained at once on one GPU machine, one `lrdgraph experiment`
# process per cell, each into its own folder, so that a short device lease advances many cells
# of the paper's grids. Same image assumptions as gpu_check.sh (torch, torch-geometric,
# pandas, scikit-learn, networkx, click, pyyaml on the machine; nothing is fetched).
#
#   (device tool) run: bash benchmarks/gpu_experiment.sh 430 \
#                        benchmarks/paper_office.yaml:RCF:2022 benchmarks/paper_ml100k.yaml:TiSASRec:2020
#                 carry: ["g/office", "g/ml100k"]   timeout_s: 540
#
# Arguments: LIMIT_S (wall-clock limit of the trainings), then cells as SPEC:MODEL:SEED, or
# SPEC:MODEL:SEED:VARIANT for a spec with variants ("benchmarks/paper_ablation.yaml:RCF:2019:w/o KGE",
# "benchmarks/paper_sensitivity.yaml:KDA_LRD:2019:lrd.lambda=0.1"). Where a spec has several data
# sets, such a cell runs on each of them in turn unless DATASET=NAME is set (for all cells).
# Environment: THREADS (torch threads per cell, default 2); RESUME=DIR (a `cells` folder brought
# back by an earlier lease, carried along: its cells go on from their last checkpoints, with
# `data.graph` pointed at the graph on this machine).
#
# Every cell runs as `lrdgraph experiment SPEC --out DIR --model MODEL --seed SEED` with
# `train.device=auto` (a runtime setting: the cell's configuration, and so its place in the
# spec's table, is the same as on a CPU). A cell still training at LIMIT_S is stopped; its
# folder keeps `checkpoints/last.pt` (and `best.pt`, cut down to the model weights), so that the
# same command on any machine resumes it: `lrdgraph experiment SPEC --out DIR --model MODEL
# --seed SEED`, after pointing `data.graph` in its config.yaml at the graph there. Finished
# cells come back without checkpoints. Everything comes back as $OUT/cells.tar.part-* (15 MiB
# parts; `cat cells.tar.part-* | tar -x`); their `results.csv` files merge into the spec's
# report with `--merge`.
set -uo pipefail
limit="${1:?LIMIT_S}"; shift
export PYTHONUNBUFFERED=1
pp=$(mktemp -d); ln -s "$PWD/cli" "$pp/lrdgraph_cli"
export PYTHONPATH="$PWD:$pp${PYTHONPATH:+:$PYTHONPATH}"
out="${OUT:-.}"; cells=$(mktemp -d)/cells; mkdir -p "$cells"
if [ -n "${RESUME:-}" ]; then  # cells brought back from an earlier lease: go on with them here
  cp -r "$RESUME"/. "$cells"/
  sed -i "s#^  graph: .*/\(g/[^/]*\)\$#  graph: $PWD/\1#" "$cells"/*/runs/*/config.yaml
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
python3 -c "import torch, torch_geometric; print('torch', torch.__version__, 'pyg', torch_geometric.__version__, 'cuda', torch.cuda.is_available())"
start=$(date +%s)
for cell in "$@"; do
  IFS=: read -r spec model seed variant <<<"$cell"
  name="$(basename "$spec" .yaml)__${model}__$seed${variant:+__$(printf %s "$variant" | tr -c 'A-Za-z0-9.=_-' '-')}"
  timeout "$limit" python3 -c "from lrdgraph_cli.main import main; main()" experiment "$spec" \
    --out "$cells/$name" --model "$model" --seed "$seed" ${variant:+--variant "$variant"} \
    ${DATASET:+--dataset "$DATASET"} --threads "${THREADS:-2}" \
    --set train.device=auto >"$cells/$name.log" 2>&1 &
done
sleep $(( limit < 180 ? limit / 2 : 90 )); nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv | tee "$cells/nvidia-smi.txt"
wait
echo "trainings ended after $(( $(date +%s) - start )) s"
python3 - "$cells" <<'PY'
import json, pathlib, sys, torch
for run in sorted(p for p in pathlib.Path(sys.argv[1]).glob("*/runs/*") if p.is_dir()):
    ck = run / "checkpoints"
    rows = [json.loads(l) for l in open(run / "metrics.jsonl")] if (run / "metrics.jsonl").exists() else []
    dev = [r for r in rows if "dev" in r]
    best = next((r for r in reversed(dev) if r.get("best")), None)  # the trainer's own choice
    state = "finished" if (run / "results.json").exists() else "stopped"
    line = f"{run.name}: {state}, {len(dev)} epochs"
    if best:
        line += f", best dev NDCG@5 {best['dev']['sampled']['NDCG@5']:.4f} at epoch {best['epoch']}"
    if state == "finished":
        r = json.loads((run / "results.json").read_text())["protocols"]
        line += f"; test sampled NDCG@5 {r['sampled']['NDCG@5']:.4f}, full {r['full']['NDCG@5']:.4f}"
        for f in ck.glob("*.pt"):
            f.unlink()
    elif (ck / "best.pt").exists():
        c = torch.load(ck / "best.pt", map_location="cpu", weights_only=True)
        torch.save({k: v for k, v in c.items() if k not in ("optimizer", "rng")}, ck / "best.pt")
    print(line)
PY
tar -cf - --exclude='.*.lock' -C "$(dirname "$cells")" cells | split -b 15m - "$out/cells.tar.part-"
ls -l "$out"/cells.tar.part-*
echo "all done after $(( $(date +%s) - start )) s"

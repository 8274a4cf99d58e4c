#!/usr/bin/env bash
# The device check of the speed issue, as one command on a GPU machine whose image already holds
# torch, torch-geometric, pandas, scikit-learn, networkx, click and pyyaml (nothing is fetched).
# From the repository root, with an Office graph built here first and carried along:
#   lrdgraph build-graph --dataset rechorus --data-dir ../shared/data/office --out g/office
#   (device tool) run: bash benchmarks/gpu_check.sh   carry: ["g/office"]   timeout_s: 480
# Phases that would start after 300 s are skipped; the JSON is rewritten after each phase.
set -euo pipefail
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 CUBLAS_WORKSPACE_CONFIG=:4096:8
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
python3 -c "import torch, torch_geometric; print('torch', torch.__version__, 'pyg', torch_geometric.__version__)"
out="${OUT:-.}/gpu_check.json"
timeout 440 python3 benchmarks/gpu_check.py --graph "${1:-g/office}" --out "$out" --budget 300 2>&1 | tee "${OUT:-.}/gpu_check.log"

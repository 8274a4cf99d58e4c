#!/usr/bin/env bash
# Create (idempotently) the separate virtual environment that holds infinity-emb, the
# OpenAI-compatible embedding server used by tests/text/test_openai_server.py.
#
# infinity-emb pins older numpy / sentence-transformers than lrdgraph, so it never goes into the
# project's own venv. The tests find it through $LRDGRAPH_INFINITY_BIN or at
# <repo>/.cache/infinity-venv/bin/infinity_emb and skip when neither exists.
#
# Usage: bash .ci/install-infinity.sh [VENV_DIR]     (default: <repo>/.cache/infinity-venv)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${1:-$repo/.cache/infinity-venv}"
python="${PYTHON:-python3}"
# torch pinned to the version the project uses, so the server computes the same vectors as the
# local backend; the CPU build comes from the machine's pip configuration (its find-links
# wheel folder), exactly as for the project's own venv.
infinity_spec="infinity-emb[server,torch]==0.0.78"
torch_spec="torch==2.13.0"
stamp="$venv/.lrdgraph-installed"
want="$infinity_spec $torch_spec"

if [[ -x "$venv/bin/infinity_emb" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
    && "$venv/bin/python" -c "import sys" 2>/dev/null; then
    echo "install-infinity: $venv already has $want"
    exit 0
fi

echo "install-infinity: creating $venv with $want"
mkdir -p "$(dirname "$venv")"
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
rm -f "$stamp"
# (The grep drops pip's warnings about this machine's unused local index folders.)
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "$infinity_spec" "$torch_spec" \
    2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
"$venv/bin/infinity_emb" --help >/dev/null
echo "$want" > "$stamp"
echo "install-infinity: done ($venv/bin/infinity_emb)"

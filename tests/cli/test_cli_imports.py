"""``lrdgraph --help`` answers without importing torch or other heavy libraries."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "torch_geometric", "sentence_transformers", "sklearn", "openai", "pandas")

CODE = """
import json, sys
from lrdgraph_cli.main import cli
try:
    cli({args!r}, prog_name="lrdgraph")
except SystemExit as exc:
    code = exc.code
print(json.dumps({{"code": code, "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["build-graph", "--help"],
                                  ["--version"]])
def test_help_imports_nothing_heavy(args):
    proc = subprocess.run([sys.executable, "-c", CODE.format(args=args, heavy=HEAVY)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert last["code"] in (0, None)
    assert last["heavy"] == [], f"lrdgraph {' '.join(args)} imported {last['heavy']}"


def test_console_script_help():
    exe = Path(sys.executable).with_name("lrdgraph")
    if not exe.exists():
        pytest.skip("the lrdgraph console script is not installed beside this python")
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for command in ("build-graph", "graph-info", "train", "evaluate"):
        assert command in proc.stdout

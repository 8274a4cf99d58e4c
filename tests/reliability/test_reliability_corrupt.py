"""Damaged files that lrdgraph itself wrote (a disk error, a copy cut short, a hand edit): every
command that reads them stops with one line naming the file (exit code 2), never a traceback,
and writes nothing. Atomic writes mean lrdgraph never leaves such files itself; these tests
are about the files it is given."""
from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from lrdgraph_cli.main import cli

TINY = ["model.emb_size=16", "model.num_layers=1", "model.num_heads=2", "train.num_threads=1",
        "train.batch_size=128", "eval.protocols=[sampled]", "eval.batch_size=128",
        "lrd.num_latent=2", "train.epochs=1"]


@pytest.fixture(scope="module")
def pristine(demo_graph_dir, tmp_path_factory) -> Path:
    """A graph directory and a one-epoch run on it (the run's config names this graph)."""
    from lrdgraph.config import resolve_config
    from lrdgraph.train.trainer import train

    root = tmp_path_factory.mktemp("corrupt")
    shutil.copytree(demo_graph_dir, root / "graph")
    cfg = resolve_config(model="rcf", overrides=TINY)
    train(root / "graph", cfg, root / "run", progress=False, log=lambda m: None)
    return root


def _truncate(frac: float):
    def damage(p: Path) -> None:
        data = p.read_bytes()
        p.write_bytes(data[: int(len(data) * frac)])
    return damage


def _replace(content: bytes):
    return lambda p: p.write_bytes(content)


def _drop_last_lines(n: int):
    def damage(p: Path) -> None:
        lines = p.read_bytes().splitlines(keepends=True)
        p.write_bytes(b"".join(lines[:-n]))
    return damage


HALF, EMPTY = _truncate(0.5), _truncate(0.0)
EVALUATE = ["evaluate", "{run}", "--protocol", "sampled", "--quiet"]
GRAPH_INFO = ["graph-info", "{graph}"]

# (damaged file, damage, command, words the message must hold)
CASES = [
    ("run/checkpoints/best.pt", HALF, EVALUATE, "truncated or damaged"),
    ("run/checkpoints/best.pt", EMPTY, EVALUATE, "truncated or damaged"),
    ("run/checkpoints/best.pt", _replace(b"PK\x03\x04" + b"\0" * 64), EVALUATE, "checkpoint"),
    ("run/checkpoints/best.pt", HALF, ["export-edges", "{run}", "--format", "csv", "--out",
                                       "{out}", "--quiet"], "truncated or damaged"),
    ("run/checkpoints/best.pt", HALF, ["recommend", "{run}", "--user", "1"], "truncated or damaged"),
    ("run/checkpoints/last.pt", HALF, ["train", "--resume", "{run}", "--quiet"], "truncated or damaged"),
    ("run/config.yaml", _replace(b"model: [\n  emb_size: 16\n"), EVALUATE, "damaged run configuration"),
    ("run/config.yaml", EMPTY, EVALUATE, "damaged run configuration"),
    ("run/config.yaml", _replace(b"- just\n- a list\n"), ["train", "--resume", "{run}", "--quiet"],
     "damaged run configuration"),
    ("run/config.yaml", _replace(b"\xff\xfe not utf-8"), EVALUATE, "damaged run configuration"),
    ("run/results.json", HALF, EVALUATE, "damaged results file"),
    ("run/results.json", _replace(b"[1, 2]"), EVALUATE, "damaged results file"),
    ("run/results.json", HALF, ["report", "{run}", "--out", "{out}", "--quiet"], "damaged results file"),
    ("run/metrics.jsonl", _truncate(0.7), ["report", "{run}", "--out", "{out}", "--quiet"],
     "malformed metrics line"),
    ("run/relation_names.json", _replace(b'{"relations": '), ["export-edges", "{run}", "--format",
                                                            "csv", "--out", "{out}", "--quiet"],
     "malformed relation names"),
    ("graph/graph.pt", HALF, GRAPH_INFO, "truncated or damaged"),
    ("graph/graph.pt", EMPTY, GRAPH_INFO, "truncated or damaged"),
    ("graph/graph.pt", _replace(b"\x80\x04not a pickle at all"), GRAPH_INFO,
     "damaged or not a torch file"),
    ("graph/graph.pt", HALF, EVALUATE, "truncated or damaged"),  # a run whose graph is damaged
    ("graph/manifest.json", HALF, GRAPH_INFO, "damaged graph manifest"),
    ("graph/manifest.json", _replace(b"{}"), GRAPH_INFO, "damaged graph manifest"),
    ("graph/items.csv", HALF, GRAPH_INFO, "items"),
    ("graph/items.csv", _drop_last_lines(3), GRAPH_INFO, "truncated or was edited"),
    ("graph/items.csv", _replace(b"id,name\n1,x\n"), GRAPH_INFO, "column 'item_id' is missing"),
    ("graph/items.csv", _replace(b"item_id,text\n\xff\xfe,x\n"), GRAPH_INFO, "damaged file"),
    ("graph/users.csv", _drop_last_lines(5), GRAPH_INFO, "truncated or was edited"),
    ("graph/attribute_values.json", HALF, GRAPH_INFO, "damaged attribute value list"),
]


def _id(case) -> str:
    name, _, cmd, _ = case
    return f"{name.split('/', 1)[1]}-{cmd[0]}-{CASES.index(case)}"


@pytest.mark.parametrize("name, damage, command, needle", CASES, ids=[_id(c) for c in CASES])
def test_damaged_file_is_one_clear_line(pristine, tmp_path, name, damage, command, needle):
    from lrdgraph.io import sha256_file

    shutil.copytree(pristine / "graph", tmp_path / "graph")
    shutil.copytree(pristine / "run", tmp_path / "run")
    cfg = tmp_path / "run" / "config.yaml"  # the copy names the copied graph
    cfg.write_text(cfg.read_text().replace(str(pristine / "graph"), str(tmp_path / "graph")))
    if name.endswith("relation_names.json"):
        (tmp_path / name).write_text("{}")
    target = tmp_path / name
    damage(target)
    hashes = {p: sha256_file(p) for p in tmp_path.rglob("*") if p.is_file()}
    out = tmp_path / "out"
    args = [a.format(run=tmp_path / "run", graph=tmp_path / "graph", out=out) for a in command]
    res = CliRunner().invoke(cli, args, prog_name="lrdgraph")
    assert res.exit_code == 2, (res.exit_code, res.output)
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("lrdgraph: error: "), res.output
    assert str(target) in lines[0] and needle in lines[0], lines[0]
    assert "Traceback" not in res.output
    # nothing was written or changed, and no lock was left behind
    assert not out.exists()
    assert {p: sha256_file(p) for p in tmp_path.rglob("*") if p.is_file()} == hashes


class _Encoder:
    backend, model, dim = "fake", "fake-v1", 4

    def encode(self, texts, *, batch_size=None, progress=False):
        return np.ones((len(texts), 4), np.float32)


@pytest.mark.parametrize("damage", ["truncate", "garbage-page"])
def test_damaged_feature_cache(tmp_path, damage):
    """A feature cache cut short or with a damaged page: one error naming it and saying what
    to do (delete it), not sqlite's exception."""
    from lrdgraph.errors import OutputError
    from lrdgraph.text import TextEncoder, encode_cached
    from lrdgraph.text.cache import CACHE_FILE

    enc = type("Enc", (_Encoder, TextEncoder), {})()
    texts = [f"item {i} " + "x" * 200 for i in range(400)]
    encode_cached(enc, texts, tmp_path)
    db = tmp_path / CACHE_FILE
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(db.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        page = 4096
        data[2 * page: 3 * page] = b"\xa5" * page
    db.write_bytes(bytes(data))
    with pytest.raises(OutputError) as err:
        encode_cached(enc, texts, tmp_path)
    msg = str(err.value)
    assert str(db) in msg and "feature cache is unusable" in msg and "\n" not in msg, msg

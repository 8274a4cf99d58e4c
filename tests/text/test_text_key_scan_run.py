"""The API key never appears in anything a whole run writes: graph directory, feature cache,
run directory (config, metrics, results, checkpoints) and the commands' output."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner

from lrdgraph_cli.main import cli


def test_key_absent_from_every_file_of_a_run(fault_server: Any, api_key: str, tmp_path: Path,
                                             monkeypatch) -> None:
    monkeypatch.setenv("LRDGRAPH_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()
    graph, run = tmp_path / "g", tmp_path / "run"
    res = runner.invoke(cli, ["build-graph", "--dataset", "demo", "--encoder", "openai",
                              "--encoder-model", "test-embed", "--base-url", fault_server.url,
                              "--out", str(graph), "--quiet"])
    assert res.exit_code == 0, res.output
    assert fault_server.requests, "the server was never called"
    outputs = [res.output]
    res = runner.invoke(cli, ["train", str(graph), "--model", "rcf", "--epochs", "1", "--quiet",
                              "--set", "model.emb_size=16", "--set", "model.num_layers=1",
                              "--set", "eval.protocols=[sampled]", "--out", str(run)])
    assert res.exit_code == 0, res.output
    outputs.append(res.output)
    res = runner.invoke(cli, ["graph-info", str(graph), "--format", "json"])
    outputs.append(res.output)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "manifest.json" for p in files)
    assert any(p.name == "results.json" for p in files)
    assert any(p.suffix == ".sqlite" for p in files)
    for p in files:
        assert api_key.encode() not in p.read_bytes(), p
    for out in outputs:
        assert api_key not in out

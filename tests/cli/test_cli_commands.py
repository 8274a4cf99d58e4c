"""The command line: build-graph, graph-info, train and evaluate, end to end and on bad input."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from lrdgraph_cli.main import cli

TINY = ["--set", "model.emb_size=16", "--set", "model.num_layers=1", "--set", "model.num_heads=2",
        "--set", "lrd.num_latent=2", "--set", "train.num_threads=1", "--set", "eval.ks=[5,10]",
        "--device", "cpu", "--quiet"]


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def assert_usage_error(result, *needles: str) -> str:
    """Exit code 2, a message on stderr, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    err = result.stderr
    assert "Traceback" not in result.output
    for n in needles:
        assert n in err, err
    return err


def assert_one_line_error(result, *needles: str) -> str:
    err = assert_usage_error(result, *needles)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lrdgraph: error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def cli_run(demo_graph_dir, tmp_path_factory) -> Path:
    """``lrdgraph train`` of one epoch on the demo graph (read-only for tests)."""
    out = tmp_path_factory.mktemp("cli-runs") / "rcf"
    result = CliRunner().invoke(cli, ["train", str(demo_graph_dir), "--model", "rcf", "--epochs", "1",
                                      *TINY, "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"results in {out / 'results.json'}" in result.stdout
    return out


# ---------------------------------------------------------------------------- build-graph
def test_build_graph_demo(tmp_path):
    out = tmp_path / "g"
    args = ["build-graph", "--dataset", "demo", "--encoder", "tfidf", "--dim", "16",
            "--cache-dir", tmp_path / "cache", "--quiet", "--out", out]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert "data set: demo" in result.stdout
    assert "encoder: tfidf" in result.stdout and "(dim 16)" in result.stdout
    assert f"graph written to {out}" in result.stdout
    from lrdgraph.graph import load_graph

    g = load_graph(out)
    assert g.num_users == 600 and g.features.shape[1] == 16
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"]["kind"] == "demo"
    # a second build into the same, now non-empty, directory is refused
    again = invoke(*args)
    assert_one_line_error(again, "not empty", "--overwrite")
    assert load_graph(out).num_users == 600


def test_build_graph_tie_order(tmp_path):
    """--ties shuffle --tie-seed reach the reader: the manifest records them, and the seed
    decides which of a user's tied last interactions is the test item."""
    from lrdgraph.graph import load_graph

    (tmp_path / "interactions.csv").write_text(
        "user,item,timestamp\n" + "".join(f"u{u},i{k},{min(k, 3)}\n" for u in range(4)
                                          for k in range(1, 7))
        + "".join(f"z,j{k},{k}\n" for k in range(1, 4)))  # items the others can be ranked against
    tests = set()
    for seed in (1, 2, 3, 4):
        out = tmp_path / f"g{seed}"
        result = invoke("build-graph", "--dataset", "csv", "--data-dir", tmp_path, "--encoder",
                        "tfidf", "--ties", "shuffle", "--tie-seed", seed, "--quiet", "--out", out)
        assert result.exit_code == 0, result.output
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["inputs"]["options"]["ties"] == "shuffle"
        assert manifest["inputs"]["options"]["tie_seed"] == str(seed)
        assert manifest["report"]["ties"] == {"order": "shuffle", "seed": seed,
                                              "users_with_tied_last_time": 4}
        tests.add(tuple(load_graph(out).dataset.test.item.tolist()))
    assert len(tests) > 1


@pytest.mark.parametrize("args, needle", [
    (["--dataset", "rechorus"], "needs --data-dir"),
    (["--dataset", "ml-100k"], "needs --data-dir"),
    (["--dataset", "demo", "--encoder", "tfidf", "--base-url", "http://x"], "--base-url applies"),
    (["--dataset", "demo", "--encoder", "local", "--dim", "8"], "--dim applies"),
    (["--dataset", "demo", "--encoder", "tfidf", "--k-core", "5"], "--k-core applies"),
    (["--dataset", "demo", "--encoder", "tfidf", "--user-col", "u"], "apply to --dataset csv only"),
])
def test_build_graph_bad_usage(tmp_path, args, needle):
    result = invoke("build-graph", *args, "--out", tmp_path / "g")
    assert_usage_error(result, needle)
    assert not (tmp_path / "g").exists()


def test_build_graph_mutually_exclusive_inputs(tmp_path):
    f = tmp_path / "inter.csv"
    f.write_text("user,item,timestamp\n")
    result = invoke("build-graph", "--dataset", "csv", "--interactions", f, "--data-dir", tmp_path,
                    "--encoder", "tfidf", "--out", tmp_path / "g")
    assert_usage_error(result, "not both")


def test_build_graph_missing_data_dir(tmp_path):
    result = invoke("build-graph", "--dataset", "rechorus", "--data-dir", tmp_path / "nope",
                    "--encoder", "tfidf", "--out", tmp_path / "g")
    assert_usage_error(result, "does not exist")
    assert not (tmp_path / "g").exists()


# ---------------------------------------------------------------------------- graph-info
def test_graph_info_table_and_json(demo_graph_dir, demo_graph):
    table = invoke("graph-info", demo_graph_dir)
    assert table.exit_code == 0, table.output
    assert "data set: demo" in table.stdout
    assert "item-also_bought-item" in table.stdout
    assert "relations: also_bought, also_viewed, same_category, same_brand" in table.stdout
    as_json = invoke("graph-info", demo_graph_dir, "--format", "json")
    assert as_json.exit_code == 0, as_json.output
    info = json.loads(as_json.stdout)
    ds = demo_graph.dataset
    assert info["nodes"]["item"] == ds.num_items and info["nodes"]["user"] == ds.num_users
    assert info["edges"]["user-interacts-item"] == ds.num_interactions
    assert info["splits"] == {"train": len(ds.train), "dev": len(ds.dev), "test": len(ds.test)}
    assert info["encoder"]["backend"] == "tfidf"
    assert info["text_coverage"]["fraction"] == 1.0
    tri = ds.triplet_counts()
    assert info["triplets"] == tri
    edges, shared = sum(tri["item_item"].values()), sum(tri["share_attribute"].values())
    assert edges > 0 and shared > 0
    assert f"triplets: {edges + shared:,} (item-item {edges:,}, share-attribute {shared:,}" \
        in table.stdout


def test_graph_info_errors(tmp_path):
    assert_usage_error(invoke("graph-info", tmp_path / "nope"), "does not exist")
    assert_one_line_error(invoke("graph-info", tmp_path), "not a graph directory")


# ---------------------------------------------------------------------------- train / evaluate
def test_train_end_to_end(cli_run):
    res = json.loads((cli_run / "results.json").read_text())
    assert set(res["protocols"]) == {"sampled", "full"}
    assert res["config"]["model"]["name"] == "rcf"
    assert res["config"]["model"]["emb_size"] == 16 and res["config"]["model"]["num_layers"] == 1
    assert res["epochs_run"] == 1
    assert len((cli_run / "metrics.jsonl").read_text().splitlines()) == 1
    assert (cli_run / "checkpoints" / "best.pt").is_file()


def test_evaluate_sampled(cli_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(cli_run, run)
    before = json.loads((run / "results.json").read_text())
    result = invoke("evaluate", run, "--protocol", "sampled", "--quiet")
    assert result.exit_code == 0, result.output
    line = result.stdout.strip()
    assert line.startswith("sampled ") and "HR@5=" in line and "NDCG@10=" in line
    assert f"({before['protocols']['sampled']['rows']} rows)" in line
    as_json = invoke("evaluate", run, "--protocol", "sampled", "--format", "json", "--quiet")
    got = json.loads(as_json.stdout)
    assert list(got) == ["sampled"]
    assert got["sampled"] == pytest.approx(before["protocols"]["sampled"])


def test_train_bad_set_key(demo_graph_dir, tmp_path):
    result = invoke("train", demo_graph_dir, "--set", "model.emb_sise=16", "--out", tmp_path / "r")
    line = assert_one_line_error(result, "unknown setting 'model.emb_sise'")
    assert "did you mean 'model.emb_size'" in line
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("setting, needle", [
    ("model.pooling=sum", "model.pooling"),
    ("lrd.objective=mine", "lrd.objective"),
])  # a --set without '=' is click's usage error: tests/cli/test_cli_validation.py
def test_train_bad_set_value(demo_graph_dir, tmp_path, setting, needle):
    result = invoke("train", demo_graph_dir, "--set", setting, "--out", tmp_path / "r")
    assert_one_line_error(result, needle)


def test_train_refuses_non_empty_out(demo_graph_dir, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = invoke("train", demo_graph_dir, "--epochs", "1", *TINY, "--out", out)
    assert_one_line_error(result, "not empty", "--overwrite")
    assert (out / "notes.txt").read_text() == "mine"


def test_train_resume_excludes_other_options(cli_run, demo_graph_dir, tmp_path):
    result = invoke("train", "--resume", cli_run, "--out", tmp_path / "r")
    assert_usage_error(result, "--resume takes the run directory (its config is reused)")
    # GRAPH_DIR with --resume: the graph has moved; it must be the run's graph
    import shutil

    other = shutil.copytree(demo_graph_dir, tmp_path / "other")
    (other / "users.csv").write_text((other / "users.csv").read_text() + "extra\n")
    result = invoke("train", other, "--resume", cli_run)
    assert_one_line_error(result, "not the graph this run was trained on", "users.csv differs")


def test_train_needs_out_and_graph(demo_graph_dir, tmp_path):
    assert_usage_error(invoke("train", demo_graph_dir, *TINY), "--out is required")
    assert_usage_error(invoke("train", *TINY, "--out", tmp_path / "r"), "GRAPH_DIR")
    assert_usage_error(invoke("train", tmp_path / "nope", "--out", tmp_path / "r"), "does not exist")


def test_train_not_a_graph(tmp_path):
    (tmp_path / "g").mkdir()
    result = invoke("train", tmp_path / "g", *TINY, "--out", tmp_path / "r")
    assert_one_line_error(result, "not a graph directory")


def test_evaluate_not_a_run(tmp_path):
    assert_one_line_error(invoke("evaluate", tmp_path), "not a run directory")


def test_train_from_a_run_config(cli_run, tmp_path):
    """A run's config.yaml (which names its graph in data.graph) drives a new run."""
    out = tmp_path / "again"
    result = invoke("train", "--config", cli_run / "config.yaml", "--epochs", "1", "--quiet",
                    "--out", out)
    assert result.exit_code == 0, result.output
    first = json.loads((cli_run / "results.json").read_text())
    again = json.loads((out / "results.json").read_text())
    assert again["config"]["data"] == first["config"]["data"]
    assert again["config"]["model"] == first["config"]["model"]


def test_train_resume_takes_only_runtime_settings(cli_run, tmp_path):
    run = tmp_path / "copy"
    shutil.copytree(cli_run, run)
    before = (run / "config.yaml").read_text()
    result = invoke("train", "--resume", run, "--set", "lrd.lambda=5")
    assert_usage_error(result, "not lrd.lambda")
    result = invoke("train", "--resume", run, "--set", "eval.batch_size=7", "--quiet")
    assert result.exit_code == 0, result.output
    assert (run / "config.yaml").read_text() == before
    results = json.loads((run / "results.json").read_text())
    assert results["config"]["eval"]["batch_size"] == 7

"""The trainer end to end: run directory, resume, divergence, safe checkpoints, no test leak."""
from __future__ import annotations

import json
import os
import pickle
import re
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from lrdgraph.errors import InputError, OutputError
from lrdgraph.graph import ItemGraph, save_graph
from lrdgraph.models import build_model
from lrdgraph.models.relational import RelationalRecommender
from lrdgraph.train.trainer import (Trainer, TrainingDiverged, evaluate_run, load_checkpoint,
                                    resume, train)

KS = [5, 10]


def quiet(_msg: str) -> None:
    pass


def metric_names(ks):
    return {f"{m}@{k}" for k in ks for m in ("HR", "NDCG")}


@pytest.fixture(scope="module")
def run_dir(demo_graph_dir, tiny_config, tmp_path_factory) -> Path:
    """One 2-epoch KDA run with LRD and KGE on the demo graph (read-only for tests)."""
    out = tmp_path_factory.mktemp("runs") / "kda"
    cfg = tiny_config("kda")
    train(demo_graph_dir, cfg, out, progress=False, log=quiet)
    return out


def test_run_directory_layout(run_dir, demo_graph_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert names == {"config.yaml", "metrics.jsonl", "results.json", "checkpoints", "items.csv", "users.csv"}
    assert {p.name for p in (run_dir / "checkpoints").iterdir()} == {"best.pt", "last.pt"}
    for name in ("items.csv", "users.csv"):  # the id maps travel with the run
        assert (run_dir / name).read_bytes() == (demo_graph_dir / name).read_bytes()
    assert not list(run_dir.parent.glob(".*.lock"))


def test_config_yaml(run_dir, demo_graph_dir, tiny_config):
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    want = tiny_config("kda")
    want["data"] = {"graph": str(demo_graph_dir.resolve())}
    assert cfg == want


def test_metrics_jsonl(run_dir):
    lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    for epoch, line in enumerate(lines, start=1):
        rec = json.loads(line)
        assert rec["epoch"] == epoch
        assert set(rec["loss"]) == {"rec", "kge", "lrd", "total"}
        assert all(isinstance(v, float) and v == v for v in rec["loss"].values())
        dev = rec["dev"]["sampled"]
        assert metric_names(KS) <= set(dev) and set(dev) - metric_names(KS) <= {"rows"}
        assert all(0.0 <= dev[m] <= 1.0 for m in metric_names(KS))
        assert set(rec["seconds"]) == {"train", "dev_eval"}
        assert isinstance(rec["best"], bool)
        assert rec["device"] == "cpu"
    assert json.loads(lines[0])["best"] is True


def test_results_json(run_dir):
    res = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    assert set(res["protocols"]) == {"sampled", "full"}
    for name, metrics in res["protocols"].items():
        # metric names exactly HR@K / NDCG@K (plus the number of rows evaluated)
        assert {k for k in metrics if "@" in k} == metric_names(KS), name
        assert set(metrics) - metric_names(KS) <= {"rows"}
        assert all(re.fullmatch(r"(HR|NDCG)@\d+", k) for k in metrics if k != "rows")
        assert all(0.0 <= metrics[m] <= 1.0 for m in metric_names(KS))
        assert metrics["NDCG@5"] <= metrics["HR@5"] <= metrics["HR@10"]
    # the sampled protocol (1 + 99 candidates) is easier than ranking all ~270 items
    assert res["protocols"]["sampled"]["HR@10"] >= res["protocols"]["full"]["HR@10"]
    assert res["best_epoch"] in (1, 2) and res["epochs_run"] == 2
    assert res["selection"] == {"metric": "NDCG@5", "split": "dev", "protocol": "sampled"}
    assert res["config"]["model"]["emb_size"] == 16
    assert res["gamma"] > 0 and res["lambda"] == 1.0  # the default λ
    assert res["device"] == "cpu" and res["devices"] == ["cpu"]


def test_checkpoints(run_dir, demo_graph):
    last = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    best = load_checkpoint(run_dir / "checkpoints" / "best.pt")
    for ck in (last, best):
        assert {"model", "optimizer", "epoch", "best_score", "best_epoch", "rng"} <= set(ck)
        assert set(ck["rng"]) >= {"sampler", "torch"}
        assert ck["optimizer"]["state"], "the optimizer state is saved"
    assert last["epoch"] == 2
    res = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    assert best["epoch"] == res["best_epoch"]
    assert best["best_score"] == pytest.approx(res["dev"]["sampled"]["NDCG@5"])
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    model = build_model(cfg, demo_graph)
    model.load_state_dict(last["model"])  # strict: every key matches


def test_evaluate_run_reproduces_results(run_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    before = json.loads((run / "results.json").read_text(encoding="utf-8"))
    got = evaluate_run(run, ["sampled", "full"], progress=False, log=quiet)
    for p in ("sampled", "full"):
        assert got[p] == pytest.approx(before["protocols"][p])
    after = json.loads((run / "results.json").read_text(encoding="utf-8"))
    for p in ("sampled", "full"):
        assert after["protocols"][p] == pytest.approx(before["protocols"][p])
    assert after["best_epoch"] == before["best_epoch"]


def test_refuses_non_empty_run_dir(demo_graph_dir, tiny_config, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="not empty"):
        train(demo_graph_dir, tiny_config("rcf"), out, progress=False, log=quiet)
    assert (out / "notes.txt").read_text() == "mine"


def test_run_directory_appears_whole(demo_graph_dir, tiny_config, tmp_path, monkeypatch):
    """An interruption while the run directory is being set up leaves no run directory (so a
    killed start is never a half-made run that --resume cannot read); the next train works."""
    import shutil

    import lrdgraph.train.trainer as trainer_mod

    out = tmp_path / "run"
    real = shutil.copyfile

    def interrupted(src, dst, *a, **k):
        if str(src).endswith("users.csv"):  # after config.yaml and items.csv
            raise KeyboardInterrupt
        return real(src, dst, *a, **k)

    monkeypatch.setattr(trainer_mod.shutil, "copyfile", interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(demo_graph_dir, tiny_config("rcf"), out, progress=False, log=quiet)
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    monkeypatch.setattr(trainer_mod.shutil, "copyfile", real)
    out.mkdir()  # an empty directory made beforehand is fine too
    train(demo_graph_dir, tiny_config("rcf", "train.epochs=1"), out, progress=False, log=quiet)
    assert {"config.yaml", "items.csv", "users.csv", "results.json"} <= {p.name for p in out.iterdir()}


def _strip_seconds(path: Path):
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        rec.pop("seconds")
        out.append(rec)
    return out


def test_resume_equals_one_go(demo_graph_dir, tiny_config, tmp_path, restore_torch_determinism):
    cfg = tiny_config("rcf", "train.deterministic=true", "train.epochs=4", "train.lr=0.01",
                      "eval.protocols=[sampled]", "model.dropout=0.2")
    train(demo_graph_dir, cfg, tmp_path / "one", progress=False, log=quiet)
    cfg2 = dict(cfg, train=dict(cfg["train"], epochs=2))
    train(demo_graph_dir, cfg2, tmp_path / "two", progress=False, log=quiet)
    assert len((tmp_path / "two" / "metrics.jsonl").read_text().splitlines()) == 2
    resume(tmp_path / "two", epochs=4, progress=False, log=quiet)
    a = json.loads((tmp_path / "one" / "results.json").read_text())
    b = json.loads((tmp_path / "two" / "results.json").read_text())
    assert a["protocols"] == b["protocols"]
    assert (a["best_epoch"], a["epochs_run"]) == (b["best_epoch"], b["epochs_run"]) and a["epochs_run"] == 4
    assert b["devices"] == ["cpu"]  # the epochs before and after the resume
    assert _strip_seconds(tmp_path / "one" / "metrics.jsonl") == _strip_seconds(tmp_path / "two" / "metrics.jsonl")
    wa = load_checkpoint(tmp_path / "one" / "checkpoints" / "last.pt")["model"]
    wb = load_checkpoint(tmp_path / "two" / "checkpoints" / "last.pt")["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_resume_a_run_moved_with_its_graph(demo_graph_dir, tiny_config, tmp_path,
                                          restore_torch_determinism):
    """A run and its graph moved elsewhere (another machine): without GRAPH_DIR resume names
    the missing graph and the command to use; with GRAPH_DIR it continues to the same result
    as the unmoved run and records the new path; another graph is refused."""
    import shutil

    import yaml

    from lrdgraph.errors import InputError

    cfg = tiny_config("rcf", "train.deterministic=true", "train.epochs=3", "train.lr=0.01",
                      "eval.protocols=[sampled]")
    train(demo_graph_dir, cfg, tmp_path / "one", progress=False, log=quiet)
    graph = shutil.copytree(demo_graph_dir, tmp_path / "old" / "graph")
    cfg2 = dict(cfg, train=dict(cfg["train"], epochs=1))
    train(graph, cfg2, tmp_path / "two", progress=False, log=quiet)
    moved_graph = shutil.move(str(graph), str(tmp_path / "new-graph"))
    moved_run = Path(shutil.move(str(tmp_path / "two"), str(tmp_path / "moved-run")))
    with pytest.raises(InputError, match="pass the graph directory to resume") as err:
        resume(moved_run, epochs=3, progress=False, log=quiet)
    assert f"lrdgraph train GRAPH_DIR --resume {moved_run}" in str(err.value)

    other = tmp_path / "other-graph"
    shutil.copytree(demo_graph_dir, other)
    (other / "items.csv").write_text((other / "items.csv").read_text().replace("P0001", "PX001"))
    with pytest.raises(InputError, match="its items.csv differs"):
        resume(moved_run, epochs=3, progress=False, log=quiet, graph_dir=other)

    logged = []
    resume(moved_run, epochs=3, progress=False, log=logged.append, graph_dir=moved_graph)
    assert any(m.startswith("graph moved: ") for m in logged)
    stored = yaml.safe_load((moved_run / "config.yaml").read_text())
    assert stored["data"]["graph"] == str(Path(moved_graph).resolve())
    a = json.loads((tmp_path / "one" / "results.json").read_text())
    b = json.loads((moved_run / "results.json").read_text())
    assert a["protocols"] == b["protocols"] and b["epochs_run"] == 3


def test_nan_loss_stops_with_a_clear_error(demo_graph_dir, demo_graph, tiny_config, tmp_path, monkeypatch):
    epoch = {"now": 0}
    original_epoch = Trainer.train_epoch
    original_rec = RelationalRecommender.rec_loss

    def train_epoch(self):
        epoch["now"] = self.epoch + 1
        return original_epoch(self)

    def rec_loss(self, batch):
        loss = original_rec(self, batch)
        return loss * float("nan") if epoch["now"] >= 2 else loss

    monkeypatch.setattr(Trainer, "train_epoch", train_epoch)
    monkeypatch.setattr(RelationalRecommender, "rec_loss", rec_loss)
    out = tmp_path / "run"
    cfg = tiny_config("kda", "train.epochs=3")
    with pytest.raises(TrainingDiverged) as err:
        train(demo_graph_dir, cfg, out, progress=False, log=quiet)
    msg = str(err.value)
    last = out / "checkpoints" / "last.pt"
    assert "epoch 2" in msg and "rec loss" in msg and "nan" in msg
    assert str(last) in msg and "none written yet" not in msg
    assert err.value.exit_code == 1
    # the epoch-1 checkpoint is intact and loadable
    ck = load_checkpoint(last)
    assert ck["epoch"] == 1
    model = build_model(cfg, demo_graph)
    model.load_state_dict(ck["model"])
    assert all(torch.isfinite(v).all() for v in ck["model"].values() if v.is_floating_point())
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 1
    assert not list(tmp_path.glob(".*.lock"))  # the output lock was released


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_checkpoint_refuses_pickle_that_runs_code(run_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    marker = tmp_path / "pwned"
    ck = run / "checkpoints" / "best.pt"
    state = load_checkpoint(ck)
    state["evil"] = _RunsCode(marker)
    with open(ck, "wb") as fh:
        torch.save(state, fh)
    with pytest.raises(InputError, match="refusing to load") as err:
        load_checkpoint(ck)
    assert "system" in str(err.value)
    with pytest.raises(InputError, match="refusing to load"):
        evaluate_run(run, ["sampled"], progress=False, log=quiet)
    with open(ck, "wb") as fh:
        pickle.dump({"evil": _RunsCode(marker)}, fh, protocol=2)
    with pytest.raises(InputError):
        load_checkpoint(ck)
    assert not marker.exists()


def test_missing_checkpoint(tmp_path):
    with pytest.raises(InputError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pt")


def test_test_split_never_touches_training(demo_graph, demo_graph_dir, tiny_config, tmp_path):
    """Change every test item and test negative: the dev metrics of every epoch and the
    trained weights stay identical (only the final test numbers may move)."""
    from test_train_data import _with_other_test_items

    changed = ItemGraph(dataset=_with_other_test_items(demo_graph.dataset),
                        features=demo_graph.features, encoder=dict(demo_graph.encoder))
    changed_dir = save_graph(changed, tmp_path / "changed-graph")
    cfg = tiny_config("kda", "eval.dev_protocol=full", "eval.protocols=[sampled]", "train.lr=0.01")
    train(demo_graph_dir, cfg, tmp_path / "a", progress=False, log=quiet)
    train(changed_dir, cfg, tmp_path / "b", progress=False, log=quiet)
    dev_a = [r["dev"] for r in _strip_seconds(tmp_path / "a" / "metrics.jsonl")]
    dev_b = [r["dev"] for r in _strip_seconds(tmp_path / "b" / "metrics.jsonl")]
    assert dev_a == dev_b and len(dev_a) == 2
    for name in ("best.pt", "last.pt"):
        wa = load_checkpoint(tmp_path / "a" / "checkpoints" / name)["model"]
        wb = load_checkpoint(tmp_path / "b" / "checkpoints" / name)["model"]
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), name


def test_compiled_bf16_run_writes_ordinary_checkpoints(demo_graph_dir, demo_graph, tiny_config, tmp_path):
    """train.compile + train.precision=bf16 run end to end, and the checkpoint loads into a
    plain (uncompiled, fp32) model: compiling does not rename the state-dict keys."""
    cfg = tiny_config("kda", "train.epochs=1", "train.compile=true", "train.precision=bf16",
                      "eval.protocols=[sampled]")
    out = tmp_path / "run"
    train(demo_graph_dir, cfg, out, progress=False, log=quiet)
    state = torch.load(out / "checkpoints" / "best.pt", weights_only=True)["model"]
    assert not any("_orig_mod" in k for k in state)
    plain = build_model(tiny_config("kda"), demo_graph)
    plain.load_state_dict(state)
    assert (out / "results.json").exists()
    assert json.loads((out / "results.json").read_text())["config"]["train"]["compile"] is True


def test_dev_max_users_selects_on_a_fixed_subset(demo_graph_dir, tiny_config, tmp_path):
    from lrdgraph.train.evaluate import evaluate

    cfg = tiny_config("rcf", "train.epochs=2", "eval.dev_max_users=7", "eval.protocols=[sampled]")
    out = tmp_path / "run"
    train(demo_graph_dir, cfg, out, progress=False, log=quiet)
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["dev"]["sampled"]["rows"] for r in lines] == [7, 7]
    results = json.loads((out / "results.json").read_text())
    assert results["protocols"]["sampled"]["rows"] > 7  # the test pass ranks every test user
    # the recorded dev metric is the metric of those 7 rows, the same rows in every epoch
    from lrdgraph.train.trainer import Trainer, load_run
    cfg2, graph = load_run(out)
    tr = Trainer(graph, cfg2, out, progress=False, log=quiet)
    tr.load_state(out / "checkpoints" / "last.pt")
    assert tr.dev_rows is not None and tr.dev_rows.numel() == 7
    again = evaluate(tr.model, tr.data, "dev", ["sampled"], cfg2["eval"]["ks"],
                     batch_size=cfg2["eval"]["batch_size"], row_subset=tr.dev_rows)["sampled"]
    assert again["NDCG@5"] == pytest.approx(lines[-1]["dev"]["sampled"]["NDCG@5"])


def test_trainer_flushes_subnormal_floats_unless_told_not_to(demo_graph, tiny_config, tmp_path):
    supported = torch.set_flush_denormal(False)  # False where the CPU cannot flush
    if not supported:
        pytest.skip("this CPU has no flush-to-zero mode")
    tiny = torch.tensor([1e-20])
    try:
        assert (tiny * tiny).item() > 0  # 1e-40 is a subnormal float32
        Trainer(demo_graph, tiny_config("rcf"), tmp_path / "a", progress=False, log=quiet)
        assert (tiny * tiny).item() == 0.0
        Trainer(demo_graph, tiny_config("rcf", "train.flush_denormal=false"), tmp_path / "b",
                progress=False, log=quiet)
        assert (tiny * tiny).item() > 0
    finally:
        torch.set_flush_denormal(False)


_POOL_PROBE = """
import sys, torch
from lrdgraph.train.trainer import configure_cpu
if sys.argv[1] == "late":  # the thread pool starts before flushing is asked for
    torch.set_num_threads(2)
    torch.ones(1 << 22).sum()
configure_cpu({"flush_denormal": True, "num_threads": 2})
tiny = torch.full((1 << 22,), 1e-20)
print(int(((tiny * tiny) != 0).sum()))  # 1e-40 is subnormal: 0 everywhere if every thread flushes
"""


@pytest.mark.parametrize("order", ["first", "late"])
def test_configure_cpu_flushes_in_every_worker_thread(order):
    """Flushing is per thread and worker threads copy it when they start: configure_cpu, called
    before the pool exists, reaches the workers; called after, it cannot (which is why train,
    resume and evaluate_run call it before loading anything)."""
    import subprocess
    import sys

    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU has no flush-to-zero mode")
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, "-c", _POOL_PROBE, order], capture_output=True,
                         text=True, env=env, timeout=120, check=True).stdout
    nonzero = int(out.split()[-1])
    if order == "first":
        assert nonzero == 0
    else:
        assert nonzero > 0  # the worker thread kept its mode: the order matters


def test_aux_warmup_ramps_the_kge_and_lrd_weights(demo_graph_dir, demo_graph, tiny_config, tmp_path):
    """``train.aux_warmup = 2``: γ and λ count 0 in epoch 1, half in epoch 2, fully from epoch 3;
    the logged total is the rec loss plus the scaled KGE and LRD losses."""
    cfg = tiny_config("kda", "train.epochs=3", "train.aux_warmup=2", "eval.protocols=[sampled]")
    out = tmp_path / "run"
    train(demo_graph_dir, cfg, out, progress=False, log=quiet)
    res = json.loads((out / "results.json").read_text())
    gamma, lam = res["gamma"], res["lambda"]
    assert gamma > 0 and lam > 0  # both tasks are on in this config
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["aux_scale"] for r in lines] == [0.0, 0.5, 1.0]
    for r in lines:
        L = r["loss"]
        want = L["rec"] + r["aux_scale"] * (gamma * L["kge"] + lam * L["lrd"])
        assert L["total"] == pytest.approx(want, rel=1e-5)
    assert lines[0]["loss"]["total"] == pytest.approx(lines[0]["loss"]["rec"], rel=1e-6)
    # the scale follows the completed epochs, so a resumed run picks it up where it stopped
    tr = Trainer(demo_graph, cfg, tmp_path / "other", progress=False, log=quiet)
    assert [tr.aux_scale() for tr.epoch in range(4)] == [0.0, 0.5, 1.0, 1.0]
    tr.cfg = tiny_config("kda", "train.aux_warmup=0")
    assert tr.aux_scale() == 1.0  # off: constant weights (the paper)


def test_no_warmup_by_default(run_dir):
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    assert cfg["train"]["aux_warmup"] == 0
    res = json.loads((run_dir / "results.json").read_text())
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        r = json.loads(line)
        assert "aux_scale" not in r
        L = r["loss"]
        assert L["total"] == pytest.approx(L["rec"] + res["gamma"] * L["kge"] + res["lambda"] * L["lrd"], rel=1e-5)

"""The experiment runner on a tiny demo grid: 2 models x 2 seeds, one epoch, tiny models."""
from __future__ import annotations

import csv
import json
import math
import re

import pytest
import yaml

from lrdgraph.errors import ConfigError, OutputError

TINY = ["model.emb_size=16", "model.num_heads=2", "model.num_layers=1", "lrd.num_latent=3",
        "train.device=cpu", "train.batch_size=128", "train.epochs=1", "train.num_threads=1",
        "eval.ks=[5,10]", "eval.batch_size=128"]


def tiny_spec(graph_dir, **extra):
    spec = {"name": "tiny", "datasets": {"demo": str(graph_dir)},
            "models": {"KDA": {"model": "kda", "set": ["lrd.enabled=false"]}, "KDA_LRD": "kda"},
            "seeds": [1, 2], "set": list(TINY)}
    spec.update(extra)
    return spec


def quiet(msg: str) -> None:
    pass


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def finished(demo_graph_dir, tmp_path_factory):
    from lrdgraph.experiment import run_experiment

    out = tmp_path_factory.mktemp("experiment") / "out"
    messages = []
    res = run_experiment(tiny_spec(demo_graph_dir), out, log=messages.append)
    return out, {**res, "messages": messages}


@pytest.fixture
def count_training(monkeypatch):
    """Count the trainer's train() and resume() calls (the runner imports them per cell)."""
    import lrdgraph.train.trainer as trainer

    calls = {"train": 0, "resume": 0}
    for name in calls:
        real = getattr(trainer, name)

        def wrapper(*a, _real=real, _name=name, **k):
            calls[_name] += 1
            return _real(*a, **k)

        monkeypatch.setattr(trainer, name, wrapper)
    return calls


def test_every_cell_trained_into_its_run_directory(finished):
    out, res = finished
    names = [c.name for c in res["cells"]]
    assert names == ["demo__KDA__default__seed1", "demo__KDA__default__seed2",
                     "demo__KDA_LRD__default__seed1", "demo__KDA_LRD__default__seed2"]
    assert [o["how"] for o in res["outcomes"]] == ["trained"] * 4
    for n in names:
        run = out / "runs" / n
        assert (run / "results.json").exists() and (run / "config.yaml").exists()
        assert (out / "logs" / f"{n}.log").read_text().count("epoch   1") == 1
    cfg = yaml.safe_load((out / "runs" / names[0] / "config.yaml").read_text())
    assert cfg["lrd"]["enabled"] is False and cfg["train"]["seed"] == 1
    assert yaml.safe_load((out / "runs" / names[3] / "config.yaml").read_text())["lrd"]["enabled"] is True
    assert (out / "spec.yaml").exists()


def test_terminal_shows_each_epoch_of_each_cell_before_its_result(finished):
    """The trainer's own lines go to the cell's log file; the experiment's log gets one line
    per epoch of each cell (from its metrics.jsonl) and then the cell's result line."""
    out, res = finished
    messages = res["messages"]
    for k, c in enumerate(res["cells"], start=1):
        rec = json.loads((out / "runs" / c.name / "metrics.jsonl").read_text().splitlines()[0])
        score = rec["dev"]["sampled"]["NDCG@5"]
        epoch = [i for i, m in enumerate(messages)
                 if m.startswith(f"{c.name}: epoch 1  dev NDCG@5={score:.4f} *  best {score:.4f} @ 1  (")]
        result = [i for i, m in enumerate(messages) if m.startswith(f"[{k}/4] {c.name}: trained")]
        assert len(epoch) == 1 and len(result) == 1, messages
        assert epoch[0] < result[0]


def test_results_csv_has_every_cell_and_its_config(finished):
    out, _ = finished
    rows = read_csv(out / "results.csv")
    assert len(rows) == 12  # 4 cells x (2 test protocols + the dev metrics at the best epoch)
    assert {(r["model"], r["seed"], r["protocol"]) for r in rows} == {
        (m, s, p) for m in ("KDA", "KDA_LRD") for s in ("1", "2")
        for p in ("sampled", "full", "dev")}
    for r in rows:
        assert r["status"] == "done" and r["dataset"] == "demo" and r["variant"] == "default"
        assert r["model_name"] == "kda" and r["best_epoch"] == "1" and r["epochs_run"] == "1"
        assert float(r["train_seconds"]) >= 0
        for k in ("HR@5", "HR@10", "NDCG@5", "NDCG@10"):
            assert 0 <= float(r[k]) <= 1
        stored = yaml.safe_load((out / r["run_dir"] / "config.yaml").read_text())
        assert json.loads(r["config"]) == stored
        res = json.loads((out / r["run_dir"] / "results.json").read_text())
        if r["protocol"] == "dev":  # the selected epoch's line of metrics.jsonl
            epochs = [json.loads(line) for line in
                      (out / r["run_dir"] / "metrics.jsonl").read_text().splitlines()]
            best = next(e for e in epochs if e["epoch"] == int(r["best_epoch"]))
            assert float(r["NDCG@5"]) == best["dev"]["sampled"]["NDCG@5"]
            assert int(r["eval_rows"]) == best["dev"]["sampled"]["rows"]
        else:
            assert float(r["NDCG@5"]) == res["protocols"][r["protocol"]]["NDCG@5"]


CELL = re.compile(r"^(?:\*\*)?([0-9.]+) ± ([0-9.]+)(?:\*\*)?[‡†]?$")


def parse_table(text: str):
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    body = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:]]
    return header, body


@pytest.mark.parametrize("protocol", ["sampled", "full", "dev"])
def test_table_layout_and_numbers_match_results_csv(finished, protocol):
    from scipy.stats import ttest_rel

    out, _ = finished
    header, body = parse_table((out / f"table_{protocol}.md").read_text())
    metrics = ["HR@5", "HR@10", "NDCG@5", "NDCG@10"]
    assert header == ["Model"] + [f"demo {m}" for m in metrics]
    assert [r[0] for r in body] == ["KDA", "KDA_LRD", "Improv."]
    rows = [r for r in read_csv(out / "results.csv") if r["protocol"] == protocol]
    for label, cells in zip(("KDA", "KDA_LRD"), body):
        for m, cell in zip(metrics, cells[1:]):
            vals = [float(r[m]) for r in rows if r["model"] == label]
            mean = sum(vals) / 2
            std = math.sqrt(sum((v - mean) ** 2 for v in vals))  # n - 1 = 1
            got = CELL.match(cell)
            assert got, cell
            assert got.group(1) == f"{mean:.4f}" and got.group(2) == f"{std:.4f}"
    for m, cell in zip(metrics, body[2][1:]):
        van = {r["seed"]: float(r[m]) for r in rows if r["model"] == "KDA"}
        lrd = {r["seed"]: float(r[m]) for r in rows if r["model"] == "KDA_LRD"}
        mv, ml = sum(van.values()) / 2, sum(lrd.values()) / 2
        if mv == 0:
            assert cell.startswith("n/a")
            continue
        assert cell.startswith(f"{(ml - mv) / mv * 100:+.2f}%")
        diffs = [lrd[s] - van[s] for s in "12"]
        p = ttest_rel([lrd[s] for s in "12"], [van[s] for s in "12"]).pvalue
        if abs(diffs[0] - diffs[1]) <= 1e-12 * max(1.0, *map(abs, diffs)):
            assert "(p=" not in cell  # no variance in the differences: no test
        elif math.isfinite(p):
            assert cell.endswith(f"(p={p:.3g})")
    sig = [r for r in read_csv(out / "significance.csv") if r["protocol"] == protocol]
    assert {r["metric"] for r in sig} == set(metrics)
    assert all(r["model"] == "KDA_LRD" and r["baseline"] == "KDA" and r["n_pairs"] == "2" for r in sig)


def test_dev_table_is_titled_as_dev_and_absent_for_older_results(finished, demo_graph_dir,
                                                                  tmp_path):
    """table_dev.md says it holds dev metrics; results merged from a results.csv written
    before the dev rows existed give the test tables only."""
    from lrdgraph.experiment import run_experiment

    out, _ = finished
    assert (out / "table_dev.md").read_text().startswith(
        "# tiny: dev metrics at the selected epoch\n")
    assert (out / "table_sampled.md").read_text().startswith("# tiny: test metrics, sampled")
    older = _rewrite(out / "results.csv", tmp_path / "older.csv",
                     lambda rows: rows.__setitem__(slice(None),
                                                   [r for r in rows if r["protocol"] != "dev"]))
    run_experiment(tiny_spec(demo_graph_dir), tmp_path / "o", report_only=True, merge=[older],
                   log=quiet)
    assert {r["protocol"] for r in read_csv(tmp_path / "o" / "results.csv")} == {"sampled", "full"}
    assert (tmp_path / "o" / "table_sampled.md").exists()
    assert not (tmp_path / "o" / "table_dev.md").exists()


def test_time_table_matches_results_csv(finished):
    out, _ = finished
    header, body = parse_table((out / "table_time.md").read_text())
    assert header[:4] == ["Data set", "Model", "Variant", "n"] and header[-1] == "device"
    assert [r[:4] for r in body] == [["demo", "KDA", "default", "2"], ["demo", "KDA_LRD", "default", "2"]]
    rows = [r for r in read_csv(out / "results.csv") if r["protocol"] == "sampled"]
    for row in body:
        secs = sorted(float(r["train_seconds"]) for r in rows if r["model"] == row[1])
        assert row[4] == "1" and row[5] == "1"  # one epoch each, best at 1
        median = (secs[0] + secs[1]) / 2
        assert row[6].startswith(f"{median / 60:.1f} (")
        assert row[7] == f"{median:.1f}"  # one epoch: seconds per epoch = training time
        assert row[8] == "cpu"
    assert all(r["device"] == "cpu" for r in rows)


def test_time_table_by_hand():
    from lrdgraph.experiment import format_time_table, load_spec

    spec = load_spec({"name": "t", "datasets": {"A": "g"}, "seeds": [1, 2, 3],
                      "models": {"M": "kda", "N": "rcf"}})

    def row(model, seed, protocol, epochs, best, secs, device):
        return {"dataset": "A", "model": model, "variant": "default", "seed": str(seed),
                "protocol": protocol, "status": "done", "epochs_run": str(epochs),
                "best_epoch": str(best), "train_seconds": str(secs), "device": device}

    rows = [row("M", 1, "sampled", 40, 30, 600, "cpu"), row("M", 1, "full", 40, 30, 600, "cpu"),
            row("M", 2, "sampled", 50, 40, 1200, "cuda, cpu"),
            row("M", 3, "sampled", 20, 10, 120, ""),
            {"dataset": "A", "model": "N", "variant": "default", "seed": "1", "protocol": "",
             "status": "partial"}]
    lines = format_time_table(spec, rows)
    assert len(lines) == 3  # header, rule, M only (N has no finished seed)
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    # per epoch: 15, 24, 6 s -> median 15; times 10, 20, 2 min -> median 10
    assert cells == ["A", "M", "default", "3", "20-50", "10-40", "10.0 (2.0-20.0)", "15.0",
                     "cpu, cuda, unknown"]


def test_improvement_compares_only_the_seeds_both_rows_have(demo_graph_dir):
    """A vanilla row with four seeds against an LRD row with one: the Improv. cell and
    significance.csv compare seed 2019 alone (not the four-seed mean), and say so."""
    from lrdgraph.experiment import SeedStats, format_table, load_spec, significance_rows

    spec = load_spec({"name": "t", "datasets": {"demo": str(demo_graph_dir)},
                      "models": {"RCF": "rcf", "RCF_LRD": "rcf", "KDA": "kda", "KDA_LRD": "kda"},
                      "seeds": [2019, 2020, 2021, 2022], "report": {"metrics": ["HR@5"]}})

    def row(model, seed, value):
        return {"status": "done", "dataset": "demo", "model": model, "variant": "default",
                "protocol": "sampled", "seed": seed, "HR@5": value}

    rows = [row("RCF", 2019, 0.50), row("RCF", 2020, 0.40), row("RCF", 2021, 0.40),
            row("RCF", 2022, 0.40), row("RCF_LRD", 2019, 0.55),
            # disjoint seeds: nothing to compare
            row("KDA", 2019, 0.50), row("KDA_LRD", 2020, 0.60)]
    stats = SeedStats(rows)
    _, body = parse_table("\n".join(format_table(spec, stats, "sampled", "default")))
    cells = {r[0]: r[1] for r in body if r[0] != "Improv."}
    improv = [r[1] for r in body if r[0] == "Improv."]
    assert cells["RCF"] == "0.4250 ± 0.0500"  # the row itself keeps all four of its seeds
    # +10.00 % on seed 2019 (0.55 against 0.50), not +29.41 % against the four-seed mean
    assert improv == ["+10.00% (1 paired seed)", "no shared seed"]
    sig = {r["model"]: r for r in significance_rows(spec, stats)}
    assert sig["RCF_LRD"]["n_pairs"] == 1
    assert sig["RCF_LRD"]["baseline_mean"] == pytest.approx(0.50)
    assert sig["RCF_LRD"]["improvement"] == pytest.approx(0.10)
    assert sig["KDA_LRD"]["n_pairs"] == 0 and math.isnan(sig["KDA_LRD"]["improvement"])


def test_summary_csv(finished):
    out, _ = finished
    summary = read_csv(out / "summary.csv")
    assert len(summary) == 2 * 3 * 4  # models x (sampled, full, dev) x metrics
    assert all(r["n"] == "2" and r["seeds"] == "1 2" for r in summary)


def test_rerun_does_not_retrain_finished_cells(finished, demo_graph_dir, count_training):
    from lrdgraph.experiment import run_experiment

    out, _ = finished
    results = sorted((out / "runs").glob("*/results.json"))
    before = {p: p.stat().st_mtime_ns for p in results}
    table = (out / "table_sampled.md").read_text()
    res = run_experiment(tiny_spec(demo_graph_dir), out, log=quiet)
    assert count_training == {"train": 0, "resume": 0}
    assert res["outcomes"] == [] and set(res["states"].values()) == {"done"}
    assert {p: p.stat().st_mtime_ns for p in results} == before
    assert (out / "table_sampled.md").read_text() == table


def test_interrupted_cell_resumes(demo_graph_dir, tmp_path, monkeypatch, count_training):
    """A runner interrupted in epoch 2 of a cell resumes that cell from its checkpoint after
    epoch 1, and does not restart it."""
    from lrdgraph.experiment import cell_states, grid_status, load_spec, plan_cells, run_experiment
    import lrdgraph.train.trainer as trainer

    spec = tiny_spec(demo_graph_dir, models={"GRU4Rec": "gru4rec"}, seeds=[5],
                     set=[*TINY, "train.epochs=2", "train.patience=0"])
    out = tmp_path / "out"
    (cell,) = plan_cells(load_spec(spec))
    run = out / "runs" / cell.name
    counting_train = trainer.train

    def interrupted_train(graph, cfg, run_dir, *, log, **kw):
        def log_then_stop(msg: str) -> None:
            log(msg)
            if msg.startswith("epoch   1"):  # written after the epoch's checkpoint
                raise KeyboardInterrupt

        return counting_train(graph, cfg, run_dir, log=log_then_stop, **kw)

    monkeypatch.setattr(trainer, "train", interrupted_train)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(spec, out, log=quiet)
    first_epoch = (run / "metrics.jsonl").read_text()
    assert not (run / "results.json").exists() and (run / "checkpoints" / "last.pt").exists()
    assert cell_states([cell], out) == {cell.name: "partial"}
    assert count_training == {"train": 1, "resume": 0}
    (row,) = grid_status(load_spec(spec), out)  # what --dry-run prints
    score = json.loads(first_epoch)["dev"]["sampled"]["NDCG@5"]
    assert (row["cell"].name, row["state"]) == (cell.name, "partial")
    assert row["detail"] == f"1 epoch of at most 2, best dev NDCG@5 {score:.4f} @ 1"

    monkeypatch.setattr(trainer, "train", counting_train)
    res = run_experiment(spec, out, log=quiet)
    assert count_training == {"train": 1, "resume": 1}
    assert res["outcomes"][0]["how"] == "resumed"
    results = json.loads((run / "results.json").read_text())
    assert results["epochs_run"] == 2
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2 and lines[0] + "\n" == first_epoch  # epoch 1 kept, not re-run
    assert "resuming after epoch 1" in (out / "logs" / f"{cell.name}.log").read_text()


def test_changed_config_is_refused(finished, demo_graph_dir):
    from lrdgraph.experiment import cell_states, load_spec, plan_cells

    out, _ = finished
    changed = tiny_spec(demo_graph_dir, set=[*TINY, "train.lr=0.05"])
    with pytest.raises(ConfigError, match=r"train.lr \(run has 0.001, spec gives 0.05\)"):
        cell_states(plan_cells(load_spec(changed)), out)


def test_runs_older_than_a_new_setting_still_count(finished, demo_graph_dir, tmp_path):
    """A run directory written before a setting existed (its config.yaml lacks the key) used
    what is now that setting's default: it stays done, unless the spec asks for another value."""
    import shutil

    from lrdgraph.experiment import cell_states, load_spec, plan_cells

    out = tmp_path / "out"
    shutil.copytree(finished[0], out)
    for path in (out / "runs").glob("*/config.yaml"):
        cfg = yaml.safe_load(path.read_text())
        del cfg["lrd"]["relation_grad"], cfg["train"]["flush_denormal"]
        path.write_text(yaml.safe_dump(cfg))
    cells = plan_cells(load_spec(tiny_spec(demo_graph_dir)))
    assert set(cell_states(cells, out).values()) == {"done"}
    # runtime settings may differ from the run's
    threads = tiny_spec(demo_graph_dir, set=[*TINY, "train.num_threads=2"])
    assert set(cell_states(plan_cells(load_spec(threads)), out).values()) == {"done"}
    other = tiny_spec(demo_graph_dir, set=[*TINY, "lrd.relation_grad=latent"])
    with pytest.raises(ConfigError, match=r"lrd.relation_grad \(run has 'all', spec gives 'latent'\)"):
        cell_states(plan_cells(load_spec(other)), out)


def test_settings_a_cell_ignores_may_differ(finished, demo_graph_dir, tmp_path):
    """LRD settings do not matter to a cell without LRD, nor LRD and KGE settings to a
    sequence baseline: a new default for them leaves those cells done. They still matter where
    they are used."""
    import copy
    import shutil

    from lrdgraph.experiment import cell_states, load_spec, plan_cells

    out = tmp_path / "out"
    shutil.copytree(finished[0], out)
    lam = tiny_spec(demo_graph_dir, set=[*TINY, "lrd.lambda=7", "lrd.alpha=0.3"])
    with pytest.raises(ConfigError, match=r"KDA_LRD__default__seed1: lrd.lambda"):
        cell_states(plan_cells(load_spec(lam)), out)
    vanilla = tiny_spec(demo_graph_dir, set=[*TINY, "lrd.lambda=7", "lrd.alpha=0.3"],
                        models={"KDA": {"model": "kda", "set": ["lrd.enabled=false"]}})
    assert set(cell_states(plan_cells(load_spec(vanilla)), out).values()) == {"done"}
    # a baseline cell whose run was made with other LRD and KGE settings than the spec's
    base = tiny_spec(demo_graph_dir, models={"GRU4Rec": "gru4rec"})
    cells = plan_cells(load_spec(base))
    for c in cells:
        run = out / "runs" / c.name
        run.mkdir(parents=True)
        stored = copy.deepcopy(c.config)
        stored["lrd"]["lambda"], stored["kge"]["gamma"] = 10.0, 2.5
        (run / "config.yaml").write_text(yaml.safe_dump(stored))
        (run / "results.json").write_text("{}")
    assert set(cell_states(cells, out).values()) == {"done"}
    # ... but not one trained with another setting of its own
    other = tiny_spec(demo_graph_dir, models={"GRU4Rec": "gru4rec"},
                      set=[*TINY, "model.dropout=0.5"])
    with pytest.raises(ConfigError, match=r"model.dropout"):
        cell_states(plan_cells(load_spec(other)), out)


def test_refuses_a_directory_that_is_not_an_experiment(demo_graph_dir, tmp_path):
    from lrdgraph.experiment import run_experiment

    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="holds no experiment"):
        run_experiment(tiny_spec(demo_graph_dir), out, log=quiet)
    assert (out / "notes.txt").read_text() == "mine"


def test_missing_graph_names_the_build_command(tmp_path):
    from lrdgraph.experiment import run_experiment

    spec = tiny_spec(tmp_path / "nowhere")
    spec["datasets"] = {"demo": {"graph": str(tmp_path / "nowhere"),
                                 "build": "lrdgraph build-graph --dataset demo --out nowhere"}}
    with pytest.raises(ConfigError, match="build it with: lrdgraph build-graph --dataset demo"):
        run_experiment(spec, tmp_path / "out", log=quiet)


def test_a_failing_cell_is_reported_and_the_others_still_run(demo_graph_dir, tmp_path, monkeypatch):
    from lrdgraph.experiment import ExperimentFailed, run_experiment
    import lrdgraph.train.trainer as trainer

    real = trainer.train

    def flaky(graph, cfg, out, **kw):
        if cfg["train"]["seed"] == 1:
            raise RuntimeError("boom")
        return real(graph, cfg, out, **kw)

    monkeypatch.setattr(trainer, "train", flaky)
    out = tmp_path / "out"
    spec = tiny_spec(demo_graph_dir, models={"GRU4Rec": "gru4rec"})
    with pytest.raises(ExperimentFailed, match="1 of 2 cells failed"):
        run_experiment(spec, out, log=quiet)
    rows = read_csv(out / "results.csv")
    assert {(r["seed"], r["status"]) for r in rows} == {("1", "missing"), ("2", "done")}
    assert "RuntimeError: boom" in (out / "logs" / "demo__GRU4Rec__default__seed1.log").read_text()
    assert "0." in (out / "table_sampled.md").read_text()  # the finished seed is reported


@pytest.mark.slow
def test_parallel_jobs_give_the_sequential_results(demo_graph_dir, tmp_path):
    """--jobs 2: two spawned worker processes, one torch thread each, the same numbers as one
    job (slow: each worker imports torch and loads the graph)."""
    from lrdgraph.experiment import run_experiment

    spec = tiny_spec(demo_graph_dir, models={"GRU4Rec": "gru4rec"})
    run_experiment(spec, tmp_path / "seq", log=quiet)
    messages = []
    res = run_experiment(spec, tmp_path / "par", jobs=2, threads=1, log=messages.append)
    assert sorted(o["how"] for o in res["outcomes"]) == ["trained", "trained"]
    # the workers' epochs reach the parent's log through the cells' metrics.jsonl
    assert sorted(m.split(":")[0] for m in messages if ": epoch 1  dev" in m) == \
        [c.name for c in res["cells"]]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "train_seconds"} for r in rows]
    assert strip(read_csv(tmp_path / "par" / "results.csv")) == strip(read_csv(tmp_path / "seq" / "results.csv"))


def test_selection_trains_a_slice_and_the_rest_resumes_later(demo_graph_dir, tmp_path,
                                                              count_training):
    """--model/--seed train only the chosen cells; the report covers what is finished; a run
    without the filters then trains the remaining cells and leaves the finished one alone."""
    from lrdgraph.experiment import run_experiment

    spec = tiny_spec(demo_graph_dir, models={"GRU4Rec": "gru4rec", "Caser": "caser"})
    out = tmp_path / "out"
    res = run_experiment(spec, out, models=["Caser"], seeds=[2], log=quiet)
    assert [o["name"] for o in res["outcomes"]] == ["demo__Caser__default__seed2"]
    assert count_training["train"] == 1
    rows = read_csv(out / "results.csv")
    assert {r["cell"] for r in rows if r["status"] == "done"} == {"demo__Caser__default__seed2"}
    first = (out / "runs" / "demo__Caser__default__seed2" / "results.json").stat().st_mtime_ns
    table = (out / "table_sampled.md").read_text()
    caser = next(line for line in table.splitlines() if line.startswith("| Caser |"))
    assert caser.count("(n=1)") == 4  # every metric of the one finished seed (the spec has 2)
    assert next(line for line in table.splitlines() if line.startswith("| GRU4Rec |")).count("–") == 4

    res = run_experiment(spec, out, log=quiet)
    assert sorted(o["name"] for o in res["outcomes"]) == [
        "demo__Caser__default__seed1", "demo__GRU4Rec__default__seed1",
        "demo__GRU4Rec__default__seed2"]
    assert count_training["train"] == 4
    assert "(n=" not in (out / "table_sampled.md").read_text()
    assert (out / "runs" / "demo__Caser__default__seed2" / "results.json").stat().st_mtime_ns == first


@pytest.mark.parametrize("kw, message", [({"models": ["Casr"]}, "model Casr not in the spec"),
                                         ({"seeds": [7]}, "seed 7 not in the spec"),
                                         ({"datasets": ["office"]}, "dataset office not in the spec"),
                                         ({"variants": ["w/o KGE"]}, "variant w/o KGE not in the spec")])
def test_selection_names_must_exist(demo_graph_dir, tmp_path, kw, message):
    from lrdgraph.experiment import run_experiment

    with pytest.raises(ConfigError, match=message):
        run_experiment(tiny_spec(demo_graph_dir), tmp_path / "out", log=quiet, **kw)
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------- --merge
def test_merge_fills_unfinished_cells_without_training(finished, demo_graph_dir, tmp_path,
                                                       count_training):
    """A grid split in two (seed 1 here, seed 2 elsewhere): merging the other half's
    results.csv reports all four cells, trains nothing, and the merged rows are the other
    half's numbers, marked with their source."""
    from lrdgraph.experiment import run_experiment

    other, _ = finished
    out = tmp_path / "half"
    run_experiment(tiny_spec(demo_graph_dir), out, seeds=[1], log=quiet)
    before = dict(count_training)
    res = run_experiment(tiny_spec(demo_graph_dir), out, merge=[other / "results.csv"], log=quiet)
    assert count_training == before and res["outcomes"] == []
    rows = read_csv(out / "results.csv")
    assert {r["status"] for r in rows} == {"done"} and len(rows) == 12
    theirs = {(r["cell"], r["protocol"]): r for r in read_csv(other / "results.csv")}
    for r in rows:
        if r["seed"] == "2":
            assert r["source"] == str(other / "results.csv")
            assert r["NDCG@5"] == theirs[(r["cell"], r["protocol"])]["NDCG@5"]
        else:
            assert r["source"] == "" and (out / r["run_dir"] / "results.json").exists()
    summary = {(r["model"], r["protocol"], r["metric"]): r for r in read_csv(out / "summary.csv")}
    assert summary[("KDA", "sampled", "NDCG@5")]["n"] == "2"
    # a merged table regenerated from its own results.csv keeps the merged rows
    res = run_experiment(tiny_spec(demo_graph_dir), out, report_only=True,
                         merge=[out / "results.csv"], log=quiet)
    assert len([r for r in read_csv(out / "results.csv") if r["status"] == "done"]) == 12


def test_merge_with_relative_graph_path_and_local_cells_win(finished, demo_graph_dir, tmp_path):
    """A committed copy has the graph path rewritten; a cell finished here keeps its own rows."""
    from lrdgraph.experiment import run_experiment

    other, _ = finished
    rows = read_csv(other / "results.csv")
    for r in rows:
        cfg = json.loads(r["config"])
        cfg["data"]["graph"] = "g/demo"
        r["config"] = json.dumps(cfg)
        r["NDCG@5"] = "0.999"  # marks the copied rows
    copy_path = tmp_path / "copy.csv"
    with open(copy_path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    out = tmp_path / "half"
    run_experiment(tiny_spec(demo_graph_dir), out, seeds=[1], log=quiet)
    run_experiment(tiny_spec(demo_graph_dir), out, report_only=True, merge=[copy_path], log=quiet)
    got = read_csv(out / "results.csv")
    assert {r["NDCG@5"] == "0.999" for r in got if r["seed"] == "2"} == {True}
    assert {r["NDCG@5"] == "0.999" for r in got if r["seed"] == "1"} == {False}


def _rewrite(src, dst, edit):
    rows = read_csv(src)
    edit(rows)
    with open(dst, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return dst


def test_merge_refuses_other_configs_and_bad_files(finished, demo_graph_dir, tmp_path):
    from lrdgraph.experiment import run_experiment

    other, _ = finished
    src = other / "results.csv"

    def lr(rows):  # rows: 3 per cell (sampled, full, dev); rows[3] is the second cell's first
        cfg = json.loads(rows[3]["config"])
        cfg["train"]["lr"] = 0.5
        rows[3]["config"] = json.dumps(cfg)

    with pytest.raises(ConfigError,
                       match=r"copy\.csv:5: cell demo__KDA__default__seed2 .*train\.lr"):
        run_experiment(tiny_spec(demo_graph_dir), tmp_path / "a", report_only=True,
                       merge=[_rewrite(src, tmp_path / "copy.csv", lr)], log=quiet)

    def broken(rows):
        rows[0]["config"] = "{not json"

    with pytest.raises(ConfigError, match=r"bad\.csv:2: field 'config' .* not a JSON config"):
        run_experiment(tiny_spec(demo_graph_dir), tmp_path / "b", report_only=True,
                       merge=[_rewrite(src, tmp_path / "bad.csv", broken)], log=quiet)
    # the same run merged twice (a committed table and its source) is taken once ...
    run_experiment(tiny_spec(demo_graph_dir), tmp_path / "once", report_only=True,
                   merge=[src], log=quiet)
    run_experiment(tiny_spec(demo_graph_dir), tmp_path / "c", report_only=True,
                   merge=[src, src], log=quiet)
    twice = read_csv(tmp_path / "c" / "results.csv")
    assert twice == read_csv(tmp_path / "once" / "results.csv")
    assert len(twice) == 12 and {r["status"] for r in twice} == {"done"}

    # ... the same cell with other numbers is a conflict, named with both places
    def ndcg(rows):
        rows[3]["NDCG@5"] = "0.123456"

    with pytest.raises(ConfigError, match=r"changed\.csv:5: cell demo__KDA__default__seed2 "
                       r"\(\w+\) is given twice, with other numbers: also at .*results\.csv:5"):
        run_experiment(tiny_spec(demo_graph_dir), tmp_path / "c2", report_only=True,
                       merge=[src, _rewrite(src, tmp_path / "changed.csv", ndcg)], log=quiet)
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match=r"other\.csv:1: not an experiment's results\.csv"):
        run_experiment(tiny_spec(demo_graph_dir), tmp_path / "d", report_only=True,
                       merge=[tmp_path / "other.csv"], log=quiet)
    with pytest.raises(ConfigError, match="cannot read the results file"):
        run_experiment(tiny_spec(demo_graph_dir), tmp_path / "e", report_only=True,
                       merge=[tmp_path / "nope.csv"], log=quiet)


def test_merge_matches_another_specs_cells_by_configuration(finished, demo_graph_dir, tmp_path,
                                                          count_training):
    """An ablation grid takes its "vanilla" and "full LRD" cells from a Table-3 grid's KDA and
    KDA_LRD rows (same configuration, other cell names); a variant no row matches stays
    unfinished, and so does another data set label with the same configuration."""
    from lrdgraph.experiment import run_experiment

    other, _ = finished
    src = other / "results.csv"
    ablation = tiny_spec(demo_graph_dir, models={"KDA": "kda"},
                         variants={"vanilla": ["lrd.enabled=false"], "w/o KGE": ["kge.enabled=false"],
                                   "full LRD": []})
    out = tmp_path / "abl"
    before = dict(count_training)
    run_experiment(ablation, out, report_only=True, merge=[src, src], log=quiet)
    assert count_training == before
    theirs = {(r["cell"], r["protocol"]): r for r in read_csv(src)}
    rows = read_csv(out / "results.csv")
    done = {(r["cell"], r["protocol"]): r for r in rows if r["status"] == "done"}
    assert len(done) == 12
    for seed in (1, 2):
        for variant, model in (("vanilla", "KDA"), ("full-LRD", "KDA_LRD")):
            for protocol in ("sampled", "full", "dev"):
                r = done[(f"demo__KDA__{variant}__seed{seed}", protocol)]
                mine = theirs[(f"demo__{model}__default__seed{seed}", protocol)]
                assert r["NDCG@5"] == mine["NDCG@5"] and r["variant"] == variant.replace("-", " ")
                assert r["source"] == f"{src} (demo__{model}__default__seed{seed})"
    assert {r["status"] for r in rows if "w-o-KGE" in r["cell"]} == {"missing"}
    # a named table without dev rows (an older one) takes them from matched rows of that run
    def no_dev(rows):
        rows[:] = [r for r in rows if r["protocol"] != "dev"]
    older = _rewrite(out / "results.csv", tmp_path / "abl_older.csv", no_dev)
    run_experiment(ablation, tmp_path / "abl_dev", report_only=True, merge=[older, src], log=quiet)
    filled = {(r["cell"], r["protocol"]): r for r in read_csv(tmp_path / "abl_dev" / "results.csv")
              if r["status"] == "done"}
    assert filled.keys() == done.keys()
    assert all(r["NDCG@5"] == done[key]["NDCG@5"] for key, r in filled.items())
    # a cell given by name keeps its own rows over rows matched by configuration
    def mark(rows):
        for r in rows:
            r["NDCG@5"] = "0.999"
    copy = _rewrite(out / "results.csv", tmp_path / "abl_copy.csv", mark)
    run_experiment(ablation, out, report_only=True, merge=[src, copy], log=quiet)
    assert {r["NDCG@5"] for r in read_csv(out / "results.csv") if r["status"] == "done"} == {"0.999"}
    # ... and takes no dev row from another run (other numbers on the protocols both give)
    older = _rewrite(out / "results.csv", tmp_path / "abl_older2.csv", no_dev)
    run_experiment(ablation, tmp_path / "abl_dev2", report_only=True, merge=[older, src],
                   log=quiet)
    kept = [r for r in read_csv(tmp_path / "abl_dev2" / "results.csv") if r["status"] == "done"]
    assert len(kept) == 8 and {r["protocol"] for r in kept} == {"sampled", "full"}

    # two different runs of one configuration cannot both fill a cell
    def change(rows):
        for r in rows:
            r["cell"] = r["cell"].replace("default", "again")
            r["NDCG@5"] = "0.5"
    with pytest.raises(ConfigError, match=r"again\.csv:\d+: cell demo__KDA__vanilla__seed1 .*given "
                                          r"twice, with other numbers"):
        run_experiment(ablation, tmp_path / "abl2", report_only=True,
                       merge=[src, _rewrite(src, tmp_path / "again.csv", change)], log=quiet)
    # the data set label must match too
    relabelled = dict(ablation, datasets={"other": str(demo_graph_dir)})
    run_experiment(relabelled, tmp_path / "abl3", report_only=True, merge=[src], log=quiet)
    assert {r["status"] for r in read_csv(tmp_path / "abl3" / "results.csv")} == {"missing"}


def test_merge_on_the_command_line(finished, demo_graph_dir, tmp_path):
    """`lrdgraph experiment --dry-run --merge` lists merged cells; a bad file is one line, exit 2."""
    from click.testing import CliRunner

    from lrdgraph_cli.main import cli

    other, _ = finished
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(tiny_spec(demo_graph_dir)))
    r = CliRunner().invoke(cli, ["experiment", str(spec), "--out", str(tmp_path / "o"),
                                 "--dry-run", "--merge", str(other / "results.csv")])
    assert r.exit_code == 0, r.output
    assert r.output.count("merged   demo__") == 4
    assert "4 cells: 0 finished, 4 merged, 0 to resume, 0 new" in r.output
    (tmp_path / "bad.csv").write_text("cell,seed\n")
    r = CliRunner().invoke(cli, ["experiment", str(spec), "--out", str(tmp_path / "o"),
                                 "--report-only", "--merge", str(tmp_path / "bad.csv")])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert "bad.csv:1: not an experiment's results.csv: no column protocol, status, config" in r.output


# ---------------------------------------------------------------------------- report.versus
def test_versus_table_compares_each_variant_with_the_named_one(finished, demo_graph_dir, tmp_path):
    """``report.versus: default``: a second variant (here its rows are the finished grid's,
    moved to variant "slow" with train.lr changed and NDCG@5 scaled) against it, by hand."""
    from lrdgraph.experiment import run_experiment

    out, _ = finished
    src = out / "results.csv"
    scale = {"1": 1.10, "2": 1.30}  # +10 % and +30 %: mean change depends on the means

    def slow(rows):
        for r in rows:
            cfg = json.loads(r["config"])
            cfg["train"]["lr"] = 0.0005
            r["config"] = json.dumps(cfg)
            r["cell"] = r["cell"].replace("__default__", "__slow__")
            r["variant"] = "slow"
            r["NDCG@5"] = repr(float(r["NDCG@5"]) * scale[r["seed"]])

    spec = tiny_spec(demo_graph_dir, variants={"default": [], "slow": ["train.lr=0.0005"]},
                     report={"metrics": ["HR@5", "NDCG@5"], "versus": "default"})
    res_dir = tmp_path / "v"
    run_experiment(spec, res_dir, report_only=True,
                   merge=[src, _rewrite(src, tmp_path / "slow.csv", slow)], log=quiet)
    rows = read_csv(res_dir / "versus.csv")
    assert {(r["model"], r["variant"], r["versus"]) for r in rows} == {
        ("KDA", "slow", "default"), ("KDA_LRD", "slow", "default")}
    assert {r["protocol"] for r in rows} == {"sampled", "full", "dev"}
    base = read_csv(src)
    for r in rows:
        mine = {b["seed"]: float(b[r["metric"]]) for b in base
                if b["model"] == r["model"] and b["protocol"] == r["protocol"]}
        before = (mine["1"] + mine["2"]) / 2
        after = (mine["1"] * scale["1"] + mine["2"] * scale["2"]) / 2 if r["metric"] == "NDCG@5" \
            else before
        assert float(r["mean"]) == pytest.approx(after)
        assert float(r["versus_mean"]) == pytest.approx(before)
        if before:
            assert float(r["change"]) == pytest.approx((after - before) / before)
        assert r["n_pairs"] == "2"
        if r["metric"] == "HR@5":  # no difference on any seed: no test
            assert r["p_value"] == "nan" and float(r["change"]) == 0
    text = (res_dir / "table_versus.md").read_text()
    assert text.startswith("# tiny: each variant against `default`")
    assert [ln for ln in text.splitlines() if ln.startswith("## ")] == [
        "## Protocol `sampled`", "## Protocol `full`", "## Protocol `dev`"]
    kda = next(r for r in rows if r["model"] == "KDA" and r["protocol"] == "sampled"
               and r["metric"] == "NDCG@5")
    line = next(ln for ln in text.split("## Protocol `full`")[0].splitlines()
                if ln.startswith("| demo | KDA | slow |"))
    assert line.startswith(f"| demo | KDA | slow | 2 | +0.00% | {float(kda['change']) * 100:+.2f}%")


def test_versus_must_name_another_variant(demo_graph_dir, tmp_path):
    from lrdgraph.experiment import run_experiment

    with pytest.raises(ConfigError, match="report.versus must name a variant"):
        run_experiment(tiny_spec(demo_graph_dir, variants={"a": [], "b": ["train.lr=0.002"]},
                                 report={"versus": "c"}), tmp_path / "o", log=quiet)
    with pytest.raises(ConfigError, match="needs a second variant"):
        run_experiment(tiny_spec(demo_graph_dir, report={"versus": "default"}), tmp_path / "o",
                       log=quiet)


def test_report_is_rewritten_after_each_cell(demo_graph_dir, tmp_path, monkeypatch):
    """A grid stopped in its second cell leaves results.csv and tables of its first."""
    from lrdgraph.experiment import run_experiment
    import lrdgraph.train.trainer as trainer

    real = trainer.train

    def stop_in_seed_2(graph, cfg, out, **kw):
        if cfg["train"]["seed"] == 2:
            raise KeyboardInterrupt
        return real(graph, cfg, out, **kw)

    monkeypatch.setattr(trainer, "train", stop_in_seed_2)
    out = tmp_path / "out"
    spec = tiny_spec(demo_graph_dir, models={"GRU4Rec": "gru4rec"})
    with pytest.raises(KeyboardInterrupt):
        run_experiment(spec, out, log=quiet)
    rows = read_csv(out / "results.csv")
    assert {(r["seed"], r["status"]) for r in rows} == {("1", "done"), ("2", "missing")}
    done = [r for r in rows if r["status"] == "done" and r["protocol"] == "sampled"]
    table = (out / "table_sampled.md").read_text()
    assert f"{float(done[0]['NDCG@5']):.4f}" in table and "(n=1)" in table


def test_a_stalled_seed_is_named_in_the_tables_and_the_log(finished, demo_graph_dir, tmp_path):
    """A seed whose dev NDCG@5 is far under its row's other seeds is logged as stalled and
    named under each table; it stays in the means."""
    from lrdgraph.experiment import run_experiment

    out, _ = finished
    spec = tiny_spec(demo_graph_dir, seeds=[1, 2, 3])
    run_experiment(spec, tmp_path / "three", merge=[out / "results.csv"], log=quiet)

    def stall_seed_3(rows):
        for r in rows:
            if r["protocol"] == "dev":  # KDA seed 3 at a quarter of the others' 0.4
                r["NDCG@5"] = "0.1" if (r["model"], r["seed"]) == ("KDA", "3") else "0.4"

    edited = _rewrite(tmp_path / "three" / "results.csv", tmp_path / "edited.csv", stall_seed_3)
    messages = []
    run_experiment(spec, tmp_path / "o", report_only=True, merge=[edited], log=messages.append)
    warnings = [m for m in messages if m.startswith("warning:")]
    assert warnings == ["warning: demo KDA default seed 3 stalled: dev NDCG@5 0.1000, 75 % under "
                        "the median of its row's other seeds (0.4000); it stays in the tables"]
    for p in ("sampled", "full", "dev"):
        text = (tmp_path / "o" / f"table_{p}.md").read_text()
        assert "Stalled: demo KDA seed 3: dev NDCG@5 0.1000, 75 % under" in text
        assert text.count("Stalled:") == 1
    _, body = parse_table((tmp_path / "o" / "table_dev.md").read_text())
    kda = next(r for r in body if r[0] == "KDA")
    assert kda[3].startswith("0.3000 ± ")  # NDCG@5 column: (0.4 + 0.4 + 0.1) / 3, seed 3 kept
    # the grid of the fixture (no stalled seed) names none
    assert "Stalled:" not in (out / "table_sampled.md").read_text()

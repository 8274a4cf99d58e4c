"""benchmarks/collect_results.py: the tables of docs/results.md, from run directories."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from lrdgraph.config import resolve_config


@pytest.fixture(scope="module")
def collect(benchmark_script):
    return benchmark_script("collect_results")


def make_run(path: Path, *, lrd: bool, seed: int, dev: list[float], test_ndcg5: float,
             finished: bool, graph: str = "/somewhere/office",
             overrides: tuple[str, ...] = ()) -> Path:
    """A run directory as `lrdgraph train` leaves it (finished) or `lrdgraph evaluate` after a
    stop (not finished: results.json has no epochs_run)."""
    cfg = resolve_config(model="kda", options={"lrd.enabled": lrd},
                         overrides=[f"train.seed={seed}", *overrides])
    cfg["data"] = {"graph": graph}
    path.mkdir(parents=True)
    (path / "config.yaml").write_text(yaml.safe_dump(cfg))
    (path / "metrics.jsonl").write_text("".join(
        json.dumps({"epoch": e + 1, "dev": {"sampled": {"NDCG@5": v}}}) + "\n"
        for e, v in enumerate(dev)))
    metrics = {"HR@5": 2 * test_ndcg5, "HR@10": 3 * test_ndcg5, "NDCG@5": test_ndcg5,
               "NDCG@10": 1.5 * test_ndcg5}
    res = {"protocols": {"sampled": metrics}}
    if finished:
        best = max(range(len(dev)), key=dev.__getitem__) + 1
        res.update(epochs_run=len(dev), best_epoch=best)
    (path / "results.json").write_text(json.dumps(res))
    return path


def test_tables_and_curves(collect, tmp_path, capsys):
    runs = [
        make_run(tmp_path / "a1", lrd=False, seed=1, dev=[0.1, 0.3, 0.2], test_ndcg5=0.2,
                 finished=True),
        make_run(tmp_path / "a2", lrd=False, seed=2, dev=[0.2, 0.1, 0.4], test_ndcg5=0.4,
                 finished=False),
        make_run(tmp_path / "b1", lrd=True, seed=1, dev=[0.2, 0.5], test_ndcg5=0.3,
                 finished=False),
        make_run(tmp_path / "b2", lrd=True, seed=2, dev=[0.4, 0.2], test_ndcg5=0.6,
                 finished=False),
        # a third vanilla seed without an LRD partner: left out of the comparison
        make_run(tmp_path / "a3", lrd=False, seed=3, dev=[0.1], test_ndcg5=0.9, finished=True),
        tmp_path / "missing",
    ]
    collect.main([str(p) for p in runs], curves=[1, 3])
    out = capsys.readouterr().out
    assert "skipped" in out and "missing" in out
    kda = next(line for line in out.splitlines() if line.startswith("| office | KDA |"))
    # finished run: 3 epochs, best 2; stopped run: 3 epochs, best dev at epoch 3; seed 3: 1 (1)
    assert "3 (2), 3 (3), stopped, 1 (1)" in kda
    # NDCG@5 of 0.2, 0.4 and 0.9: mean 0.5000, sample std sqrt(0.26 / 2) = 0.3606
    assert "0.5000 ± 0.3606" in kda
    lrd = next(line for line in out.splitlines() if line.startswith("| office | KDA+LRD"))
    # NDCG@5 of 0.3 and 0.6: mean 0.4500, sample std 0.2121
    assert "0.4500 ± 0.2121" in lrd
    versus = next(line for line in out.splitlines() if line.startswith("| sampled | office | KDA+LRD"))
    assert "vs KDA | 1, 2 |" in versus
    # over the paired seeds 1 and 2 only (seed 3's 0.9 left out, else -10 %):
    # NDCG@5: (0.45 - 0.30) / 0.30 = +50.0 %; paired differences (0.1, 0.2): t = 3, p = 0.2048
    cells = [c.strip() for c in versus.split("|")[5:-1]]
    assert cells[2] == "+50.0 % (p=0.205)"
    # HR@5 is 2 x NDCG@5 in every run: the same relative change and the same test
    assert cells[0] == "+50.0 % (p=0.205)"
    # no full-protocol results, so no full-protocol comparison
    assert "| full | office |" not in out
    curve_kda = next(line for line in out.splitlines() if line.startswith("| office KDA |"))
    # epoch 1: mean(0.1, 0.2, 0.1) = 0.133, std 0.058; epoch 3 (two runs): mean(0.2, 0.4) = 0.300
    assert "0.133 ± 0.058" in curve_kda and "0.300 ± 0.141 (n=2)" in curve_kda
    curve_lrd = next(line for line in out.splitlines() if line.startswith("| office KDA+LRD"))
    # the LRD runs have no epoch 3: that cell stays empty
    assert curve_lrd.rstrip().endswith("|  |")
    paired = next(line for line in out.splitlines() if line.startswith("| paired t-test"))
    # epoch 1: differences (0.2-0.1, 0.4-0.2) = (0.1, 0.2): t = 0.15 / (0.0707 / sqrt 2) = 3,
    # two-sided p with 1 degree of freedom = 0.2048
    assert "p=0.205" in paired


def test_runs_on_one_graph_in_two_folders_form_one_group(collect, tmp_path, capsys):
    """The same graph built into another folder (another machine) is the same data set: the
    manifest's name groups it; a folder without a manifest falls back to its own name."""
    moved = tmp_path / "g-copy"
    moved.mkdir()
    (moved / "manifest.json").write_text(json.dumps({"name": "office"}))
    runs = [
        make_run(tmp_path / "a1", lrd=False, seed=1, dev=[0.1], test_ndcg5=0.2, finished=True),
        make_run(tmp_path / "a2", lrd=False, seed=2, dev=[0.1], test_ndcg5=0.4, finished=True,
                 graph=str(moved)),
        make_run(tmp_path / "a3", lrd=False, seed=3, dev=[0.1], test_ndcg5=0.9, finished=True,
                 graph=str(tmp_path / "elsewhere")),
    ]
    collect.main([str(p) for p in runs])
    out = capsys.readouterr().out
    office = next(line for line in out.splitlines() if line.startswith("| office | KDA |"))
    assert "| 1, 2 |" in office and "0.3000 ± 0.1414" in office
    assert any(line.startswith("| elsewhere | KDA | 3 |") for line in out.splitlines())


def test_versus_compares_variant_pairs_and_labels_name_the_ablations(collect, tmp_path, capsys):
    """K = 1 against K = 5 over the shared seeds; the "w/o LLM" and "w/o KGE" ablations form
    groups of their own instead of being mixed into the full model's rows."""
    k1, k5 = ("lrd.num_latent=1",), ("lrd.num_latent=5",)
    runs = [
        make_run(tmp_path / "k1a", lrd=True, seed=1, dev=[0.1], test_ndcg5=0.2, finished=True,
                 overrides=k1),
        make_run(tmp_path / "k1b", lrd=True, seed=2, dev=[0.1], test_ndcg5=0.3, finished=True,
                 overrides=k1),
        make_run(tmp_path / "k5a", lrd=True, seed=1, dev=[0.1], test_ndcg5=0.4, finished=True,
                 overrides=k5),
        make_run(tmp_path / "k5b", lrd=True, seed=2, dev=[0.1], test_ndcg5=0.4, finished=True,
                 overrides=k5),
        make_run(tmp_path / "id", lrd=True, seed=1, dev=[0.1], test_ndcg5=0.9, finished=True,
                 overrides=(*k5, "lrd.features=id")),
        make_run(tmp_path / "nokge", lrd=True, seed=1, dev=[0.1], test_ndcg5=0.9, finished=True,
                 overrides=(*k5, "kge.enabled=false")),
    ]
    collect.main([str(p) for p in runs], versus=[("K=1,", "K=5,"), (" w/o KGE", "")])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| office | KDA+LRD")]
    names = {line.split("|")[2].strip() for line in rows}
    lam = resolve_config(model="kda")["lrd"]["lambda"]
    assert names == {f"KDA+LRD (K=1, λ={lam}, paper)", f"KDA+LRD (K=5, λ={lam}, paper)",
                     f"KDA+LRD (K=5, λ={lam}, paper, ID features)",
                     f"KDA+LRD (K=5, λ={lam}, paper) w/o KGE"}
    # the K=5 row holds the two K=5 runs only (0.4 and 0.4), not the ablations' 0.9
    k5_row = next(r for r in rows if f"(K=5, λ={lam}, paper) |" in r)
    assert "0.4000 ± 0.0000" in k5_row
    assert "### 'K=1,' against 'K=5,'" in out
    versus = next(line for line in out.splitlines() if line.startswith("| sampled | office | KDA+LRD (K=1"))
    assert f"vs KDA+LRD (K=5, λ={lam}, paper) | 1, 2 |" in versus
    # NDCG@5 mean 0.25 against 0.40: -37.5 %; differences (-0.2, -0.1): t = -3, p = 0.2048
    assert versus.split("|")[7].strip() == "-37.5 % (p=0.205)"
    # the second pair: w/o KGE (0.9) against the full K=5 model (0.4) on the one seed they share
    assert "### ' w/o KGE' against ''" in out
    nokge = next(line for line in out.splitlines()
                 if line.startswith("| sampled | office | KDA+LRD (K=5") and "w/o KGE vs" in line)
    assert f"vs KDA+LRD (K=5, λ={lam}, paper) | 1 |" in nokge
    assert nokge.split("|")[7].strip() == "+125.0 %"
    # no vanilla runs, so no LRD-against-vanilla table
    assert "LRD against the vanilla model" not in out


def test_evaluated_after_early_stopping_is_not_marked_stopped(collect, tmp_path, capsys):
    # results.json from `lrdgraph evaluate` (no epochs_run) for two runs with patience 2:
    # one whose last 2 epochs did not improve on epoch 1 (it reached early stopping), one cut
    # short one epoch after its best (patience not spent)
    spent = make_run(tmp_path / "spent", lrd=False, seed=1, dev=[0.5, 0.1, 0.2],
                     test_ndcg5=0.2, finished=False, overrides=("train.patience=2",))
    cut = make_run(tmp_path / "cut", lrd=False, seed=2, dev=[0.1, 0.5, 0.2],
                   test_ndcg5=0.2, finished=False, overrides=("train.patience=2",))
    collect.main([str(spent), str(cut)])
    kda = next(line for line in capsys.readouterr().out.splitlines()
               if line.startswith("| office | KDA |"))
    assert "| 3 (1), 3 (2), stopped |" in kda

"""The experiment spec: parsing, validation, the cell grid, and the shipped paper specs."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lrdgraph.errors import ConfigError
from lrdgraph.experiment import cell_name, load_spec, plan_cells, sweep_name

REPO = Path(__file__).resolve().parents[2]


def base(**extra):
    spec = {"datasets": {"demo": "graphs/demo"}, "models": {"GRU4Rec": "gru4rec"}, "seeds": [1]}
    spec.update(extra)
    return spec


def test_relative_graph_paths_follow_the_spec_file(tmp_path):
    (tmp_path / "specs").mkdir()
    path = tmp_path / "specs" / "s.yaml"
    path.write_text(yaml.safe_dump(base(datasets={"demo": "../g/demo", "abs": str(tmp_path / "x")})))
    spec = load_spec(path)
    assert spec.name == "s"
    assert spec.datasets["demo"].graph == (tmp_path / "g" / "demo").resolve()
    assert spec.datasets["abs"].graph == (tmp_path / "x").resolve()
    assert list(spec.variants) == ["default"]  # no variants, no sweeps: one default variant


def test_cells_and_override_order(tmp_path):
    spec = load_spec(base(
        datasets={"demo": {"graph": "g", "set": ["train.lr=0.01", "train.l2=0.5"]}},
        models={"GRU4Rec": {"model": "gru4rec", "set": ["train.lr=0.02"]}, "Caser": "caser"},
        variants={"slow": ["train.lr=0.03"], "w/o x": []},
        seeds=[7, 8], set=["train.lr=0.04", "train.epochs=3"]), base_dir=tmp_path)
    cells = plan_cells(spec)
    assert len(cells) == 1 * 2 * 2 * 2
    names = [c.name for c in cells]
    assert names[:4] == ["demo__GRU4Rec__slow__seed7", "demo__GRU4Rec__slow__seed8",
                         "demo__GRU4Rec__w-o-x__seed7", "demo__GRU4Rec__w-o-x__seed8"]
    by = {(c.model, c.variant, c.seed): c.config for c in cells}
    # spec set < data set set < model set < variant < seed
    assert by[("GRU4Rec", "slow", 7)]["train"]["lr"] == 0.03
    assert by[("GRU4Rec", "w/o x", 7)]["train"]["lr"] == 0.02
    assert by[("Caser", "w/o x", 8)]["train"]["lr"] == 0.01
    assert by[("Caser", "w/o x", 8)]["train"]["l2"] == 0.5
    assert by[("Caser", "w/o x", 8)]["train"]["epochs"] == 3
    assert by[("Caser", "w/o x", 8)]["train"]["seed"] == 8
    assert by[("Caser", "w/o x", 8)]["model"]["name"] == "caser"
    assert by[("Caser", "w/o x", 8)]["data"]["graph"] == str((tmp_path / "g").resolve())


def test_sensitivity_sweeps_become_variants(tmp_path):
    spec = load_spec(base(models={"KDA_LRD": "kda"},
                          sensitivity={"lrd.num_latent": [5, 6], "lrd.lambda": [0.1, 10]}),
                     base_dir=tmp_path)
    assert list(spec.variants) == ["lrd.num_latent=5", "lrd.num_latent=6", "lrd.lambda=0.1",
                                   "lrd.lambda=10"]
    assert sweep_name("lrd.lambda", 0.1) == "lrd.lambda=0.1"
    cells = plan_cells(spec)
    assert [c.config["lrd"]["num_latent"] for c in cells[:2]] == [5, 6]
    assert [c.config["lrd"]["lambda"] for c in cells[2:]] == [0.1, 10]
    assert cells[2].name == "demo__KDA_LRD__lrd.lambda-0.1__seed1"
    # the effective spec reads back to the same grid
    again = load_spec(spec.to_dict())
    assert [c.name for c in plan_cells(again)] == [c.name for c in cells]


def test_cli_set_is_added_to_the_global_set(tmp_path):
    spec = load_spec(base(set=["train.epochs=5"]), base_dir=tmp_path, extra_set=["train.epochs=1"])
    assert plan_cells(spec)[0].config["train"]["epochs"] == 1


@pytest.mark.parametrize("bad, match", [
    ({"colour": "red"}, "unknown spec key"),
    ({"models": {"X": "bert4rec"}}, "must be one of"),
    ({"models": {"X": {"model": "kda", "sets": []}}}, "unknown key"),
    ({"seeds": [1, 1]}, "duplicates"),
    ({"seeds": "one"}, "list of integers"),
    ({"variants": {"a": ["lrd.enabled"]}}, "KEY=VALUE"),
    ({"variants": {"a": []}, "ablation": ["a", "b"]}, "unknown variant"),
    ({"report": {"metrics": ["MRR@5"]}}, "report.metrics"),
    ({"report": {"protocols": ["sampled", "leave-one-out"]}}, "report.protocols"),
    ({"sensitivity": {"lrd.lambda": []}}, "non-empty list"),
])
def test_bad_specs_fail_with_a_clear_message(bad, match, tmp_path):
    with pytest.raises(ConfigError, match=match):
        load_spec(base(**bad), base_dir=tmp_path)


def test_bad_settings_fail_before_anything_runs(tmp_path):
    spec = load_spec(base(variants={"typo": ["train.lrr=0.1"]}), base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"cell demo / GRU4Rec / typo: unknown setting 'train.lrr'"):
        plan_cells(spec)
    spec = load_spec(base(models={"X": {"model": "kda", "set": ["model.name=rcf"]}}), base_dir=tmp_path)
    with pytest.raises(ConfigError, match="through 'model'"):
        plan_cells(spec)


def test_colliding_cell_names_are_refused(tmp_path):
    spec = load_spec(base(variants={"w/o": [], "w-o": []}), base_dir=tmp_path)
    with pytest.raises(ConfigError, match="same directory name"):
        plan_cells(spec)
    assert cell_name("Office", "KDA_LRD", "w/o LLM", 3) == "Office__KDA_LRD__w-o-LLM__seed3"


def test_shipped_paper_specs_are_valid():
    """The specs in benchmarks/ parse and every cell's config resolves (no graphs needed)."""
    found = {}
    for path in sorted((REPO / "benchmarks").glob("paper_*.yaml")):
        spec = load_spec(path)
        found[path.stem] = (spec, plan_cells(spec))
    assert set(found) >= {"paper_office", "paper_ml100k", "paper_ablation", "paper_sensitivity"}
    office, cells = found["paper_office"]
    assert list(office.models) == ["Caser", "GRU4Rec", "SASRec", "TiSASRec", "RCF", "RCF_LRD",
                                   "KDA", "KDA_LRD"]
    assert office.seeds == [2019, 2020, 2021, 2022, 2023] and len(cells) == 40
    assert office.datasets["Office"].graph == (REPO / "g" / "office").resolve()
    cfg = {(c.model, c.seed): c.config for c in cells}
    assert cfg[("KDA", 2019)]["lrd"]["enabled"] is False
    assert cfg[("KDA_LRD", 2019)]["lrd"]["enabled"] is True
    assert cfg[("KDA_LRD", 2019)]["lrd"]["num_latent"] == 5
    assert cfg[("SASRec", 2019)]["kge"]["enabled"] is False
    abl, cells = found["paper_ablation"]
    assert abl.ablation == ["vanilla", "w/o LLM", "w/o KGE", "full LRD"]
    by = {(c.dataset, c.model, c.variant): c.config for c in cells if c.seed == 2019}
    assert by[("Office", "KDA", "w/o LLM")]["lrd"]["features"] == "id"
    assert by[("Office", "KDA", "w/o KGE")]["kge"]["enabled"] is False
    assert by[("MovieLens", "RCF", "vanilla")]["lrd"]["enabled"] is False
    sens, cells = found["paper_sensitivity"]
    assert sens.sensitivity == {"lrd.num_latent": [5, 6, 7, 8, 9, 10], "lrd.lambda": [0.1, 1, 5, 10]}
    by = {(c.dataset, c.model, c.variant): c.config for c in cells if c.seed == 2019}
    assert by[("MovieLens", "KDA_LRD", "lrd.num_latent=9")]["lrd"]["num_latent"] == 9
    assert by[("MovieLens", "KDA_LRD", "lrd.lambda=5")]["lrd"]["num_latent"] == 6  # data set's K

"""The experiment specs shipped in benchmarks/: each one parses and plans its grid, and the
cells that other specs take from Table 3's grids by ``--merge`` have Table 3's configuration
(otherwise merging them would silently leave those cells empty)."""
from __future__ import annotations

from pathlib import Path

import pytest

from lrdgraph.experiment import load_spec, plan_cells
from lrdgraph.experiment.cells import config_difference

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
SPECS = sorted(p.name for p in BENCHMARKS.glob("*.yaml"))


def cells_of(name: str):
    return {c.name: c for c in plan_cells(load_spec(BENCHMARKS / name))}


def test_the_paper_specs_are_shipped():
    assert {"paper_office.yaml", "paper_ml100k.yaml", "paper_ablation.yaml",
            "paper_sensitivity.yaml", "evidence_office.yaml", "evidence_ml100k.yaml"} <= set(SPECS)


@pytest.mark.parametrize("name", SPECS)
def test_spec_plans_its_grid(name):
    spec = load_spec(BENCHMARKS / name)
    cells = plan_cells(spec)
    assert len(cells) == (len(spec.datasets) * len(spec.models) * len(spec.variants)
                          * len(spec.seeds))
    for d in spec.datasets.values():  # a graph that is not there yet says how to build it
        assert d.graph.is_dir() or (d.build or "").startswith("lrdgraph build-graph ")


# (spec, its cell) -> (Table 3's spec, the cell whose configuration it must have)
TAKEN = [
    ("evidence_office.yaml", "Office__KDA__none__seed2019", "paper_office.yaml",
     "Office__KDA__default__seed2019"),
    ("evidence_office.yaml", "Office__KDA_LRD__none__seed2019", "paper_office.yaml",
     "Office__KDA_LRD__default__seed2019"),
    ("evidence_ml100k.yaml", "MovieLens__KDA__none__seed2019", "paper_ml100k.yaml",
     "MovieLens__KDA__default__seed2019"),
    ("evidence_ml100k.yaml", "MovieLens__KDA_LRD__none__seed2023", "paper_ml100k.yaml",
     "MovieLens__KDA_LRD__default__seed2023"),
    ("paper_ablation.yaml", "Office__KDA__vanilla__seed2019", "paper_office.yaml",
     "Office__KDA__default__seed2019"),
    ("paper_ablation.yaml", "Office__RCF__full-LRD__seed2021", "paper_office.yaml",
     "Office__RCF_LRD__default__seed2021"),
    ("paper_ablation.yaml", "MovieLens__KDA__full-LRD__seed2020", "paper_ml100k.yaml",
     "MovieLens__KDA_LRD__default__seed2020"),
    ("paper_ablation.yaml", "MovieLens__RCF__vanilla__seed2022", "paper_ml100k.yaml",
     "MovieLens__RCF__default__seed2022"),
    ("stopping_ml100k.yaml", "MovieLens__KDA__default__seed2021", "paper_ml100k.yaml",
     "MovieLens__KDA__default__seed2021"),
    ("stopping_ml100k.yaml", "MovieLens__KDA_LRD__default__seed2019", "paper_ml100k.yaml",
     "MovieLens__KDA_LRD__default__seed2019"),
    ("encoder_ml100k.yaml", "MovieLens__KDA_LRD__default__seed2022", "paper_ml100k.yaml",
     "MovieLens__KDA_LRD__default__seed2022"),
    ("warmup_office.yaml", "Office__KDA_LRD__constant__seed2021", "paper_office.yaml",
     "Office__KDA_LRD__default__seed2021"),
    ("warmup_ml100k.yaml", "MovieLens__RCF_LRD__constant__seed2020", "paper_ml100k.yaml",
     "MovieLens__RCF_LRD__default__seed2020"),
    ("warmup_ml100k.yaml", "MovieLens__KDA_LRD__constant__seed2023", "paper_ml100k.yaml",
     "MovieLens__KDA_LRD__default__seed2023"),
]


@pytest.mark.parametrize("spec, cell, table, source", TAKEN)
def test_cells_taken_from_table_3_have_its_configuration(spec, cell, table, source):
    mine, theirs = cells_of(spec)[cell], cells_of(table)[source]
    assert config_difference(theirs.config, mine.config) is None


def test_the_variants_that_are_trained_differ_from_table_3():
    """The other side of the test above: a cell that must be trained is not filled by merging."""
    table = cells_of("paper_office.yaml")["Office__KDA__default__seed2019"]
    graph = cells_of("evidence_office.yaml")["Office__KDA__graph__seed2019"]
    assert "relation_evidence" in (config_difference(table.config, graph.config) or "")
    kda = cells_of("paper_ml100k.yaml")["MovieLens__KDA__default__seed2019"]
    patient = cells_of("stopping_ml100k.yaml")["MovieLens__KDA__patience-20__seed2019"]
    assert "patience" in (config_difference(kda.config, patient.config) or "")
    lrd = cells_of("paper_ml100k.yaml")["MovieLens__KDA_LRD__default__seed2019"]
    mpnet = cells_of("encoder_ml100k.yaml")["MPNet__KDA_LRD__default__seed2019"]
    assert "graph" in (config_difference(lrd.config, mpnet.config) or "")
    assert config_difference(lrd.config, mpnet.config, ignore_graph=True) is None
    warm = cells_of("warmup_ml100k.yaml")["MovieLens__KDA_LRD__warmup10__seed2019"]
    assert "aux_warmup" in (config_difference(lrd.config, warm.config) or "")


def test_sweeps_of_small_floats_resolve_to_numbers(tmp_path):
    """A swept 0.00001 is named "train.l2=1e-05"; that text must read back as the number."""
    path = tmp_path / "s.yaml"
    path.write_text("datasets: {d: g}\nmodels: {KDA: kda}\nseeds: [1]\n"
                    "sensitivity: {train.l2: [0.00001, 1e-4, 0]}\n")
    cells = plan_cells(load_spec(path))
    assert [c.variant for c in cells] == ["train.l2=1e-05", "train.l2=0.0001", "train.l2=0"]
    assert [c.config["train"]["l2"] for c in cells] == [1e-5, 1e-4, 0]

"""``report.reference``: measured means beside published numbers (gap and one-sample t-test,
by hand), the spec's validation of the numbers, and the shipped Table 3 specs' references."""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from lrdgraph.errors import ConfigError
from lrdgraph.experiment.spec import load_spec
from lrdgraph.experiment.stats import SeedStats, one_sample_t_test
from lrdgraph.experiment.tables import reference_markdown, reference_rows

ROOT = Path(__file__).resolve().parents[2]


def _spec(reference, **report):
    return load_spec({"name": "t", "datasets": {"D": "g"}, "models": {"A": "kda", "B": "rcf"},
                      "seeds": [1, 2, 3], "variants": {"default": []},
                      "report": {"reference": reference, **report}}, base_dir="/tmp")


def _rows(values):  # {(model, seed): NDCG@5} -> results rows of the sampled protocol
    return [{"dataset": "D", "model": m, "variant": "default", "seed": s, "protocol": "sampled",
             "status": "done", "NDCG@5": x, "HR@5": x + 0.1} for (m, s), x in values.items()]


def test_one_sample_t_test_by_hand():
    # values 0.3, 0.4, 0.8 against 0.3: mean 0.5, sample std sqrt(0.07), t = 0.2 / sqrt(0.07 / 3)
    t = 0.2 / math.sqrt(0.07 / 3)
    assert one_sample_t_test([0.3, 0.4, 0.8], 0.3) == pytest.approx(1 - t / math.sqrt(t * t + 2))
    assert math.isnan(one_sample_t_test([0.3], 0.1))
    assert math.isnan(one_sample_t_test([0.3, 0.3], 0.1))


def test_reference_rows_and_table_by_hand():
    spec = _spec({"label": "the paper", "values": {"D": {"A": {"NDCG@5": 0.3, "HR@10": 0.5},
                                                         "B": {"NDCG@5": 0.2}}}})
    rows = reference_rows(spec, SeedStats(_rows({("A", 1): 0.3, ("A", 2): 0.4, ("A", 3): 0.8})))
    assert len(rows) == 1  # HR@10 and model B have no measured value
    r = rows[0]
    assert (r["model"], r["metric"], r["n"], r["reference"]) == ("A", "NDCG@5", 3, 0.3)
    assert r["mean"] == pytest.approx(0.5) and r["std"] == pytest.approx(math.sqrt(0.07))
    assert r["gap"] == pytest.approx(2 / 3)
    assert r["p_value"] == pytest.approx(one_sample_t_test([0.3, 0.4, 0.8], 0.3))
    text = reference_markdown(spec, rows)
    assert "measured against the paper" in text
    # columns in the spec's metric order; p = 1 - t / sqrt(t^2 + 2) = 0.3207 (see above)
    assert "| Data set | Model | n | HR@10 | NDCG@5 |" in text
    assert "| D | A | 3 | – / 0.5000 | 0.5000 / 0.3000 (+66.67%, p=0.321) |" in text
    assert "| D | B | 0 | – | – / 0.2000 |" in text


def test_no_reference_no_rows():
    spec = load_spec({"datasets": {"D": "g"}, "models": {"A": "kda"}, "seeds": [1]},
                     base_dir="/tmp")
    assert spec.reference is None and reference_rows(spec, SeedStats(_rows({("A", 1): .3}))) == []


@pytest.mark.parametrize("reference, match", [
    ({"values": {"E": {"A": {"HR@5": 0.5}}}}, r"'E' is not a data set of the spec \(D\)"),
    ({"values": {"D": {"C": {"HR@5": 0.5}}}}, r"'C' is not a model of the spec \(A, B\)"),
    ({"values": {"D": {"A": {"MRR": 0.5}}}}, r"'MRR' is not a metric"),
    ({"values": {"D": {"A": {"HR@5": 50}}}}, r"values\.D\.A\.HR@5 must be a number in \[0, 1\]"),
    ({"values": {"D": {"A": {"HR@5": "0.5"}}}}, r"must be a number in \[0, 1\], got '0\.5'"),
    ({"protocol": "dev", "values": {"D": {"A": {"HR@5": 0.5}}}}, r"protocol must be one of"),
    ({"values": {}}, r"values must map a data set label"),
    ({"source": "x", "values": {"D": {"A": {"HR@5": 0.5}}}}, r"may hold label, protocol and"),
])
def test_bad_reference_is_named(reference, match):
    with pytest.raises(ConfigError, match=match):
        _spec(reference)


def test_reference_protocol_must_be_reported():
    with pytest.raises(ConfigError, match=r"one of report\.protocols \(sampled\), got 'full'"):
        _spec({"protocol": "full", "values": {"D": {"A": {"HR@5": 0.5}}}}, protocols=["sampled"])


@pytest.mark.parametrize("name, dataset", [("paper_office", "Office"),
                                           ("paper_ml100k", "MovieLens")])
def test_shipped_table3_specs_carry_the_papers_table(name, dataset):
    """Every row of the paper's Table 3 for the data set, all four columns, and one number
    checked against ``lrd-reference.md`` section 9.2 by hand."""
    spec = load_spec(ROOT / "benchmarks" / f"{name}.yaml")
    ref = spec.reference
    assert ref is not None and ref.protocol == "sampled" and list(ref.values) == [dataset]
    assert list(ref.values[dataset]) == list(spec.models)
    assert all(list(v) == spec.metrics for v in ref.values[dataset].values())
    expected = {"Office": 0.3403, "MovieLens": 0.4420}[dataset]  # KDA_LRD NDCG@5
    assert ref.values[dataset]["KDA_LRD"]["NDCG@5"] == expected
    # the effective spec (written beside every experiment) reads back with the same reference
    assert load_spec(spec.to_dict()).reference == ref

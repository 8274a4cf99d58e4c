"""Statistics over seeds: mean and sample std, and the paired improvement and t-test, by hand."""
from __future__ import annotations

import math

import pytest

from lrdgraph.experiment.stats import mean_std, paired_improvement, paired_t_test


def test_mean_and_sample_std():
    mean, std = mean_std([0.2, 0.4, 0.9])
    assert mean == pytest.approx(0.5) and std == pytest.approx(math.sqrt(0.26 / 2))
    assert math.isnan(mean_std([0.3])[1])


def test_paired_t_test_by_hand():
    # differences 0.1, 0.2, 0.6: mean 0.3, sample std sqrt(0.07), t = 0.3 / (sqrt(0.07) / sqrt(3))
    a, b = {1: 0.5, 2: 0.6, 3: 1.0, 4: 9.0}, {1: 0.4, 2: 0.4, 3: 0.4, 5: 9.0}
    t = 0.3 / (math.sqrt(0.07) / math.sqrt(3))
    # two-sided p of Student's t with 2 degrees of freedom: 1 - t / sqrt(t^2 + 2)
    p, n = paired_t_test(a, b)
    assert n == 3 and p == pytest.approx(1 - t / math.sqrt(t * t + 2))
    rel, p2, ma, mb, n2 = paired_improvement(a, b)  # only seeds 1-3: 4 and 5 are unpaired
    assert (ma, mb, n2) == (pytest.approx(0.7), pytest.approx(0.4), 3)
    assert rel == pytest.approx(0.75) and p2 == p


@pytest.mark.parametrize("a, b", [
    ({1: 0.5}, {1: 0.4}),                          # one pair: no test
    ({1: 0.5, 2: 0.6}, {1: 0.4, 2: 0.5}),          # equal differences: no variance, no test
    ({1: 0.5, 2: 0.6}, {1: 0.5, 2: 0.6}),          # no difference at all
])
def test_no_p_value_without_variance_or_pairs(a, b):
    assert math.isnan(paired_t_test(a, b)[0])


def test_no_shared_seed():
    rel, p, ma, mb, n = paired_improvement({1: 0.5}, {2: 0.4})
    assert n == 0 and all(math.isnan(x) for x in (rel, p, ma, mb))


def test_far_under_by_hand():
    from lrdgraph.experiment.stats import far_under

    # seed 3: the median of the others (0.35, 0.36, 0.37) is 0.36; 0.18 < 0.75 * 0.36 = 0.27
    row = {1: 0.36, 2: 0.35, 3: 0.18, 4: 0.37}
    assert far_under(row, 0.25) == [(3, 0.18, pytest.approx(0.36))]
    # a spread over seeds (12 % under the others' median 0.3426) is not a stall
    assert far_under({1: 0.3426, 2: 0.3400, 3: 0.3015, 4: 0.3500}, 0.25) == []
    # even number of others: median of 0.30 and 0.40 is 0.35; 0.26 < 0.2625, 0.27 is not
    assert far_under({1: 0.30, 2: 0.40, 3: 0.26}, 0.25) == [(3, 0.26, pytest.approx(0.35))]
    assert far_under({1: 0.30, 2: 0.40, 3: 0.27}, 0.25) == []
    # two seeds: neither can be told to be the odd one
    assert far_under({1: 0.36, 2: 0.10}, 0.25) == []


def test_stalled_reads_dev_rows_only():
    """A seed far under its row on dev is a stall; the same drop on test alone is not looked
    at (the check never reads the test split), nor is a row of two seeds."""
    from lrdgraph.experiment import SeedStats

    def row(model, seed, protocol, value):
        return {"status": "done", "dataset": "D", "model": model, "variant": "default",
                "protocol": protocol, "seed": seed, "NDCG@5": value}

    rows = [row("M", s, "dev", v) for s, v in ((1, 0.36), (2, 0.35), (3, 0.18), (4, 0.37))]
    rows += [row("M", s, "sampled", v) for s, v in ((1, 0.30), (2, 0.10), (3, 0.12), (4, 0.31))]
    rows += [row("N", s, "dev", v) for s, v in ((1, 0.36), (2, 0.10))]
    rows.append(dict(row("M", 5, "dev", 0.01), status="partial"))  # unfinished: not counted
    stalled = SeedStats(rows).stalled()
    assert len(stalled) == 1
    r = stalled[0]
    assert (r["dataset"], r["model"], r["variant"], r["seed"], r["metric"]) == \
        ("D", "M", "default", 3, "NDCG@5")
    assert r["median_others"] == pytest.approx(0.36) and r["under"] == pytest.approx(0.5)

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

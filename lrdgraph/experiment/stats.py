"""Statistics over seeds: mean and sample standard deviation, paired improvement and the
paired t-test, and the seeds that stalled far under their row."""
from __future__ import annotations

import math
import statistics
import warnings
from typing import Any, Dict, List, Sequence, Tuple

from .results import DEV

#: a seed whose dev score is more than this fraction under the median of its row's other seeds
#: is reported as stalled. In our committed runner tables (rows of three seeds or more), the
#: largest such drop of a run that trained normally was 9 % on dev (39 runs with dev rows) and
#: 12 % on sampled test (112 runs); the one run that stalled was 51 % and 61 % under.
STALL_DROP = 0.25
#: the dev metric the stall check reads: the default model-selection metric (eval.metric)
STALL_METRIC = "NDCG@5"


def mean_std(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (NaN for one value)."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else float("nan")
    return mean, std


def _no_spread(values: Sequence[float]) -> bool:
    """Whether all ``values`` are equal (to rounding): a t statistic is then infinite or
    undefined, and scipy's p = 0 would read as certainty."""
    return max(values) - min(values) <= 1e-12 * max(1.0, *(abs(v) for v in values))


def paired_t_test(a: Dict[int, float], b: Dict[int, float]) -> Tuple[float, int]:
    """Two-sided paired t-test over the seeds both have (scipy.stats.ttest_rel):
    ``(p_value, n_pairs)``. The p-value is NaN with fewer than two pairs and when every pair
    differs by the same amount: the differences then have no variance, the statistic is
    infinite and scipy's p = 0 would read as certainty. (HR@K moves in steps of one user, so
    two seeds with equal differences are not rare.)"""
    seeds = sorted(set(a) & set(b))
    if len(seeds) < 2:
        return float("nan"), len(seeds)
    diffs = [a[s] - b[s] for s in seeds]
    if _no_spread(diffs):
        return float("nan"), len(seeds)
    from scipy.stats import ttest_rel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = float(ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue)
    return p, len(seeds)


def one_sample_t_test(values: Sequence[float], reference: float) -> float:
    """Two-sided one-sample t-test of the seeds' values against a published number
    (scipy.stats.ttest_1samp): whether the measured mean differs from it by more than the
    spread over seeds explains. NaN with fewer than two values or when they are all equal."""
    if len(values) < 2 or _no_spread(values):
        return float("nan")
    from scipy.stats import ttest_1samp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(ttest_1samp(list(values), reference).pvalue)


def paired_improvement(a: Dict[int, float], b: Dict[int, float]
                       ) -> Tuple[float, float, float, float, int]:
    """Relative improvement of ``a`` over ``b`` on the seeds both have, so that a row with
    more finished seeds than the other does not compare different seed sets:
    ``(improvement, p_value, mean_a, mean_b, n_pairs)``; NaNs when no seed is shared."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return float("nan"), float("nan"), float("nan"), float("nan"), 0
    ma = sum(a[s] for s in seeds) / len(seeds)
    mb = sum(b[s] for s in seeds) / len(seeds)
    p, n = paired_t_test(a, b)
    return ((ma - mb) / mb if mb else float("nan")), p, ma, mb, n


def far_under(by_seed: Dict[int, float], drop: float = STALL_DROP
              ) -> List[Tuple[int, float, float]]:
    """The seeds of one row whose value is more than ``drop`` (a fraction) under the median of
    the row's *other* seeds: ``[(seed, value, median_of_others)]``, by seed. Needs three seeds
    or more (with two, neither can be told to be the odd one); the median of the others, so
    that the flagged seed does not pull its own yardstick down."""
    if len(by_seed) < 3:
        return []
    out = []
    for seed in sorted(by_seed):
        median = statistics.median(v for s, v in by_seed.items() if s != seed)
        if median > 0 and by_seed[seed] < (1.0 - drop) * median:
            out.append((seed, by_seed[seed], median))
    return out


class SeedStats:
    """Per (dataset, model, variant, protocol, metric): the values by seed."""

    def __init__(self, rows: Sequence[Dict[str, Any]]) -> None:
        self.values: Dict[Tuple[str, str, str, str, str], Dict[int, float]] = {}
        for r in rows:
            if r.get("status") != "done":
                continue
            for k, v in r.items():
                if "@" in k and v is not None and v != "":
                    self.values.setdefault((r["dataset"], r["model"], r["variant"], r["protocol"], k),
                                           {})[int(r["seed"])] = float(v)

    def get(self, *key: str) -> Dict[int, float]:
        return self.values.get(tuple(key), {})

    def stalled(self, metric: str = STALL_METRIC, drop: float = STALL_DROP
                ) -> List[Dict[str, Any]]:
        """Runs that stalled: per data set, model and variant, the seeds whose *dev* ``metric``
        (the numbers model selection saw, never test) is more than ``drop`` under the median of
        the row's other seeds (:func:`far_under`). They stay in every mean; the tables name
        them so that a reader can tell a stalled run from a spread over seeds."""
        out = []
        for (d, m, v, p, k), by_seed in self.values.items():
            if p != DEV or k != metric:
                continue
            for seed, value, median in far_under(by_seed, drop):
                out.append({"dataset": d, "model": m, "variant": v, "seed": seed,
                            "metric": metric, "value": value, "median_others": median,
                            "under": 1.0 - value / median})
        return out

    def summary(self) -> List[Dict[str, Any]]:
        out = []
        for (d, m, v, p, metric), by_seed in self.values.items():
            mean, std = mean_std(list(by_seed.values()))
            out.append({"dataset": d, "model": m, "variant": v, "protocol": p, "metric": metric,
                        "mean": mean, "std": std, "n": len(by_seed),
                        "seeds": " ".join(str(s) for s in sorted(by_seed))})
        return out

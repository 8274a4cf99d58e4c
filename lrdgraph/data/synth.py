"""Synthetic data shaped like Amazon Electronics (the paper's largest data set), for scale tests.

Defaults match the paper's Table 2: 192,403 users, 63,001 items, 1,682,498 interactions, plus
also-bought and also-viewed edges (about 1.5 million), category and brand attributes whose
share-attribute pairs number in the billions (computed and reported, never materialised) and
short item texts. Everything is vectorised numpy; memory is linear in the counts.

Item popularity follows a power law; each user has a home category and draws most items from it
(popularity-weighted), the rest from the whole catalogue; timestamps increase along each
sequence. Every user has at least 5 interactions, as after 5-core filtering.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict

import numpy as np
import pandas as pd

from ..io import atomic_write, output_dir

__all__ = ["synth_frames", "write_synth"]

_NOUNS = ["headphones", "charger", "cable", "speaker", "keyboard", "mouse", "monitor", "camera",
          "lens", "tripod", "router", "adapter", "battery", "case", "stand", "microphone",
          "drive", "card", "hub", "remote"]
_ADJ = ["wireless", "portable", "compact", "pro", "ultra", "mini", "smart", "rugged", "slim",
        "fast", "dual", "premium"]


def _weighted_choice_within(groups: np.ndarray, weights: np.ndarray, want: np.ndarray,
                            rng: np.random.Generator) -> np.ndarray:
    """For each entry of ``want`` (a group id), draw an item of that group ∝ weight."""
    order = np.lexsort((np.arange(len(groups)), groups))
    g_sorted, w_sorted = groups[order], weights[order]
    cum = np.cumsum(w_sorted)
    n_groups = int(groups.max()) + 1
    start = np.searchsorted(g_sorted, np.arange(n_groups), side="left")
    end = np.searchsorted(g_sorted, np.arange(n_groups), side="right")
    lo = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
    hi = cum[np.maximum(end - 1, 0)]
    u = lo[want] + rng.random(len(want)) * (hi[want] - lo[want])
    pos = np.searchsorted(cum, u, side="right")
    pos = np.clip(pos, start[want], np.maximum(end[want] - 1, start[want]))
    return order[pos]


def synth_frames(num_users: int = 192_403, num_items: int = 63_001,
                 num_interactions: int = 1_682_498, num_categories: int = 60,
                 num_brands: int = 2_000, category_skew: float = 2.2, also_bought: int = 15, also_viewed: int = 10,
                 seed: int = 0) -> Dict[str, pd.DataFrame]:
    """Interactions, items and relations tables (generic CSV layout) shaped like Electronics."""
    rng = np.random.default_rng(seed)
    if num_interactions < 5 * num_users:
        raise ValueError("need at least 5 interactions per user")
    pop = 1.0 / np.arange(1, num_items + 1) ** 0.9
    pop = pop[rng.permutation(num_items)]
    cat_size = 1.0 / np.arange(1, num_categories + 1) ** category_skew
    category = rng.choice(num_categories, size=num_items, p=cat_size / cat_size.sum())
    brand_p = 1.0 / np.arange(1, num_brands + 1)
    brand = rng.choice(num_brands, size=num_items, p=brand_p / brand_p.sum())
    # sequence lengths: 5 + a geometric remainder, adjusted to the exact total
    extra = num_interactions - 5 * num_users
    rem = rng.geometric(1.0 / (1.0 + extra / num_users), size=num_users) - 1
    rem = np.floor(rem * extra / max(rem.sum(), 1)).astype(np.int64)
    rem[: extra - rem.sum()] += 1
    lengths = 5 + rem
    user = np.repeat(np.arange(num_users), lengths)
    # home categories follow the number of items per category
    counts = np.bincount(category, minlength=num_categories).astype(float)
    home = rng.choice(num_categories, size=num_users, p=counts / counts.sum())
    in_home = rng.random(len(user)) < 0.7
    items = np.empty(len(user), dtype=np.int64)
    items[in_home] = _weighted_choice_within(category, pop, home[user[in_home]], rng)
    cdf = np.cumsum(pop) / pop.sum()
    items[~in_home] = np.searchsorted(cdf, rng.random(int((~in_home).sum())), side="right")
    items = np.minimum(items, num_items - 1)
    start = rng.integers(1_300_000_000, 1_400_000_000, size=num_users)
    gaps = np.cumsum(rng.integers(3_600, 30 * 86_400, size=len(user)))
    first = np.cumsum(lengths) - lengths  # each user's first row
    time = np.repeat(start, lengths) + gaps - np.repeat(gaps[first], lengths)
    inter = pd.DataFrame({"user": "u" + pd.Series(user).astype(str),
                          "item": "i" + pd.Series(items).astype(str), "timestamp": time})
    text = [f"{_ADJ[a]} {_NOUNS[n]} B{b} model {m}" for a, n, b, m in
            zip(rng.integers(0, len(_ADJ), num_items), category % len(_NOUNS), brand,
                rng.integers(100, 999, num_items))]
    items_df = pd.DataFrame({"item": "i" + pd.Series(np.arange(num_items)).astype(str),
                             "title": text, "category": "c" + pd.Series(category).astype(str),
                             "brand": "b" + pd.Series(brand).astype(str)})
    rels = []
    for name, k in (("also_bought", also_bought), ("also_viewed", also_viewed)):
        heads = np.repeat(np.arange(num_items), k)
        tails = _weighted_choice_within(category, pop, category[heads], rng)
        keep = heads != tails
        rels.append(pd.DataFrame({"head": "i" + pd.Series(heads[keep]).astype(str),
                                  "relation": name,
                                  "tail": "i" + pd.Series(tails[keep]).astype(str)}))
    relations = pd.concat(rels, ignore_index=True).drop_duplicates()
    return {"interactions": inter, "items": items_df, "relations": relations}


def share_attribute_pairs(items: pd.DataFrame, columns=("category", "brand")) -> int:
    """Ordered pairs of distinct items sharing a value, summed over attributes (never built)."""
    total = 0
    for c in columns:
        n = items[c].value_counts().to_numpy(dtype=np.int64)
        total += int((n * (n - 1)).sum())
    return total


def write_synth(out: str | Path, *, overwrite: bool = False, **kwargs) -> Dict[str, int]:
    """Write the synthetic data set as a generic-CSV directory (atomically)."""
    frames = synth_frames(**kwargs)
    with output_dir(out, overwrite=overwrite) as tmp:
        for name, df in frames.items():
            with atomic_write(Path(tmp) / f"{name}.csv") as fh:
                df.to_csv(fh, sep="\t", index=False)
    return {"users": int(frames["interactions"]["user"].nunique()),
            "items": int(len(frames["items"])),
            "interactions": int(len(frames["interactions"])),
            "relation_edges": int(len(frames["relations"])),
            "share_attribute_pairs": share_attribute_pairs(frames["items"])}

"""The Electronics-shaped generator: counts, constraints, determinism, readable by the CSV reader."""
from __future__ import annotations

import numpy as np

from lrdgraph.data.csv_reader import read_csv_dataset
from lrdgraph.data.synth import share_attribute_pairs, synth_frames, write_synth


def test_counts_and_constraints():
    f = synth_frames(num_users=300, num_items=500, num_interactions=2400, seed=1)
    inter = f["interactions"]
    assert len(inter) == 2400 and inter["user"].nunique() == 300
    assert inter.groupby("user").size().min() >= 5
    # time increases along each user's sequence
    assert (inter.groupby("user")["timestamp"].diff().dropna() > 0).all()
    assert len(f["items"]) == 500
    assert (f["relations"]["head"] != f["relations"]["tail"]).all()
    # the share-attribute count is the closed form sum n_v (n_v - 1), computed without pairs
    n = f["items"]["category"].value_counts().to_numpy()
    m = f["items"]["brand"].value_counts().to_numpy()
    assert share_attribute_pairs(f["items"]) == int((n * (n - 1)).sum() + (m * (m - 1)).sum())


def test_deterministic_and_readable(tmp_path):
    a = synth_frames(num_users=50, num_items=80, num_interactions=400, seed=3)
    b = synth_frames(num_users=50, num_items=80, num_interactions=400, seed=3)
    assert all(a[k].equals(b[k]) for k in a)
    stats = write_synth(tmp_path / "s", num_users=50, num_items=80, num_interactions=400, seed=3)
    ds = read_csv_dataset(tmp_path / "s", attr_cols=["category", "brand"], text_cols=["title"],
                          n_neg=5)
    assert ds.num_users == stats["users"] == 50
    assert ds.num_interactions == 400
    assert set(ds.attributes) == {"category", "brand"}
    assert np.all(ds.dev.neg_items >= 0)

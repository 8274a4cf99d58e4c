"""load_dataset: one name per reader, ConfigError for the rest."""
from __future__ import annotations

import pytest

from lrdgraph.data import DEMO_OPTIONS, load_dataset
from lrdgraph.errors import ConfigError


def test_demo_and_csv(demo_dir):
    a = load_dataset("demo", seed=0)
    b = load_dataset("csv", data_dir=demo_dir, **DEMO_OPTIONS)
    c = load_dataset("csv", interactions=demo_dir / "interactions.csv")
    assert a.stats() == b.stats()
    assert c.attributes == {} and c.relations == {} and c.num_interactions == a.num_interactions


def test_real_readers(ml100k_dir, office_dir):
    assert load_dataset("ml-100k", data_dir=ml100k_dir, n_neg=2).num_items == 1349
    assert load_dataset("rechorus", data_dir=office_dir).num_users == 4905


@pytest.mark.parametrize("kind, options", [
    ("nope", {}),
    ("ml-100k", {}),
    ("ml-100k", {"data_dir": "x", "kcore": 3}),
    ("rechorus", {"data_dir": "x", "seed": 1}),
    ("csv", {}),
    ("csv", {"data_dir": "x", "interactions": "y"}),
    ("demo", {"users": 3}),
])
def test_config_errors(kind, options):
    with pytest.raises(ConfigError):
        load_dataset(kind, **options)

"""Graph build, save and load round trip; HeteroData view; refusing code in graph files."""
from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from lrdgraph import __version__
from lrdgraph.errors import InputError, OutputError
from lrdgraph.graph import ItemGraph, load_graph, save_graph
from lrdgraph.graph.item_graph import GRAPH_FORMAT


def assert_same_dataset(a, b) -> None:
    assert a.name == b.name
    assert a.item_ids == b.item_ids
    assert a.user_ids == b.user_ids
    assert a.item_text == b.item_text
    for s in ("train", "dev", "test"):
        sa, sb = getattr(a, s), getattr(b, s)
        for f in ("user", "item", "time"):
            np.testing.assert_array_equal(getattr(sa, f), getattr(sb, f))
            assert getattr(sb, f).dtype == np.int64
        if sa.neg_items is None:
            assert sb.neg_items is None
        else:
            np.testing.assert_array_equal(sa.neg_items, sb.neg_items)
    assert list(a.attributes) == list(b.attributes)
    for k in a.attributes:
        assert a.attributes[k].values == b.attributes[k].values
        np.testing.assert_array_equal(a.attributes[k].item, b.attributes[k].item)
        np.testing.assert_array_equal(a.attributes[k].value, b.attributes[k].value)
    assert list(a.relations) == list(b.relations)
    for k in a.relations:
        np.testing.assert_array_equal(a.relations[k], b.relations[k])
    assert a.report == b.report


def tiny_graph(ds) -> ItemGraph:
    feats = torch.arange(ds.num_items * 3, dtype=torch.float32).view(ds.num_items, 3) / 7
    return ItemGraph(dataset=ds, features=feats, encoder={"backend": "test", "model": "none", "dim": 3})


def test_round_trip_tiny(tiny_dataset, tmp_path):
    """Awkward text (commas, quotes, newlines, non-ASCII, empty) and string ids survive."""
    g = tiny_graph(tiny_dataset)
    out = save_graph(g, tmp_path / "g")
    assert out == tmp_path / "g"
    back = load_graph(out)
    assert_same_dataset(tiny_dataset, back.dataset)
    assert torch.equal(back.features, g.features)
    assert back.features.dtype == torch.float32
    assert back.encoder == g.encoder
    assert back.relation_names == ["also_bought", "also_viewed", "same_genre", "same_brand"]


def test_round_trip_demo(demo_graph, demo_graph_dir):
    back = load_graph(demo_graph_dir)
    assert_same_dataset(demo_graph.dataset, back.dataset)
    assert torch.equal(back.features, demo_graph.features)
    assert back.encoder == demo_graph.encoder
    assert back.encoder["backend"] == "tfidf"
    assert back.info() == demo_graph.info()


def test_files_and_manifest(demo_graph, demo_graph_dir):
    names = sorted(p.name for p in demo_graph_dir.iterdir())
    assert names == ["attribute_values.json", "graph.pt", "items.csv", "manifest.json", "users.csv"]
    ds = demo_graph.dataset
    manifest = json.loads((demo_graph_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["format"] == GRAPH_FORMAT
    assert manifest["lrdgraph_version"] == __version__
    assert manifest["name"] == "demo"
    assert manifest["counts"] == json.loads(json.dumps(ds.stats()))
    assert manifest["counts"]["items"] == ds.num_items
    assert manifest["relations"] == ["also_bought", "also_viewed", "same_category", "same_brand"]
    assert manifest["encoder"]["backend"] == "tfidf"
    assert manifest["feature_dim"] == demo_graph.features.shape[1]
    assert manifest["report"]["format"] == "demo"
    values = json.loads((demo_graph_dir / "attribute_values.json").read_text(encoding="utf-8"))
    assert values == {k: a.values for k, a in ds.attributes.items()}
    items = (demo_graph_dir / "items.csv").read_text(encoding="utf-8").splitlines()
    assert items[0] == "index,item_id,text"
    assert len(items) == ds.num_items + 1
    users = (demo_graph_dir / "users.csv").read_text(encoding="utf-8").splitlines()
    assert users[0] == "index,user_id" and users[1] == f"0,{ds.user_ids[0]}"


def test_extra_manifest(tiny_dataset, tmp_path):
    save_graph(tiny_graph(tiny_dataset), tmp_path / "g", extra_manifest={"inputs": {"kind": "x"}})
    assert load_graph(tmp_path / "g").manifest["inputs"] == {"kind": "x"}


def test_to_hetero(demo_graph):
    ds = demo_graph.dataset
    data = demo_graph.to_hetero()
    assert sorted(data.node_types) == ["brand", "category", "item", "user"]
    assert sorted(data.edge_types) == sorted([
        ("item", "also_bought", "item"), ("item", "also_viewed", "item"),
        ("item", "has_category", "category"), ("item", "has_brand", "brand"),
        ("user", "interacts", "item")])
    # share-attribute relations are never materialised as item pairs
    item_item = [et for et in data.edge_types if et[0] == "item" and et[2] == "item"]
    assert all(not et[1].startswith(("same_", "share")) for et in item_item)
    assert data["item"].num_nodes == ds.num_items
    assert torch.equal(data["item"].x, demo_graph.features)
    assert data["user"].num_nodes == ds.num_users
    assert data["category"].num_nodes == ds.attributes["category"].num_values
    ab = data["item", "also_bought", "item"].edge_index
    assert ab.dtype == torch.long and torch.equal(ab, torch.as_tensor(ds.relations["also_bought"]))
    hc = data["item", "has_category", "category"].edge_index
    assert hc.shape == (2, len(ds.attributes["category"].item))
    inter = data["user", "interacts", "item"]
    assert inter.edge_index.shape == (2, ds.num_interactions)
    assert inter.split.tolist().count(0) == len(ds.train)
    assert inter.split.tolist().count(2) == len(ds.test)
    assert inter.time.shape == (ds.num_interactions,)
    data.validate(raise_on_error=True)


def test_save_refuses_non_empty_output(tiny_dataset, tmp_path):
    out = tmp_path / "g"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputError, match="not empty"):
        save_graph(tiny_graph(tiny_dataset), out)
    assert (out / "keep.txt").read_text() == "mine"
    save_graph(tiny_graph(tiny_dataset), out, overwrite=True)
    assert not (out / "keep.txt").exists()
    load_graph(out)


def test_load_missing_and_incomplete(tmp_path, tiny_dataset):
    with pytest.raises(InputError, match="not found"):
        load_graph(tmp_path / "nope")
    g = save_graph(tiny_graph(tiny_dataset), tmp_path / "g")
    (g / "users.csv").unlink()
    with pytest.raises(InputError, match="users.csv is missing"):
        load_graph(g)


class _RunsCode:
    """Unpickling this runs a shell command that creates a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("how", ["torch.save", "pickle"])
def test_refuses_pickle_that_runs_code(demo_graph_dir, tmp_path, how):
    g = tmp_path / "g"
    shutil.copytree(demo_graph_dir, g)
    marker = tmp_path / "pwned"
    payload = {"format": GRAPH_FORMAT, "features": torch.zeros(2, 2), "evil": _RunsCode(marker)}
    with open(g / "graph.pt", "wb") as fh:
        if how == "torch.save":
            torch.save(payload, fh)
        else:
            pickle.dump({"format": GRAPH_FORMAT, "evil": _RunsCode(marker)}, fh, protocol=2)
    with pytest.raises(InputError) as err:
        load_graph(g)
    msg = str(err.value)
    assert err.value.path == str(g / "graph.pt")
    assert "\n" not in msg and "refusing to load" in msg
    # the message names what was refused, and never suggests turning the safety off
    assert "system" in msg and "weights_only` set to `False" not in msg
    assert not marker.exists()


def test_refuses_corrupted_file(demo_graph_dir, tmp_path):
    g = tmp_path / "g"
    shutil.copytree(demo_graph_dir, g)
    data = (g / "graph.pt").read_bytes()
    (g / "graph.pt").write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match="graph.pt"):
        load_graph(g)

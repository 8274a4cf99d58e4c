"""``export-edges``: collection, filters, every format read back by its tool (or a reader
following the tool's documented format), atomic writes and the command line."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from lrdgraph.analysis import export as ex
from lrdgraph.analysis.export import collect_edges, export_edges, write_edges
from lrdgraph.analysis.trained import relation_labels
from lrdgraph.errors import ConfigError, OutputError
from lrdgraph_cli.main import cli

#: the tiny run's q is close to uniform (about 1/R = 0.1), so 0.1 keeps its preferred slots
MIN_W = 0.1


@pytest.fixture(scope="module")
def edges(loaded):
    _, graph, model = loaded
    df, info = collect_edges(graph, model, relation_labels(model.layout), min_weight=MIN_W,
                             top_k=2, include_attributes=True, window=2, knn=3)
    return df, info


def _triples(df):
    return sorted(zip(df["head"], df["relation"], df["tail"]))


def test_collect_edges_contents(loaded, edges):
    _, graph, model = loaded
    df, info = edges
    ds = graph.dataset
    assert list(df.columns[:6]) == ex.COLUMNS
    assert set(df["source"]) == {"predefined", "latent"}
    assert set(df["relation"]) == ({"also_bought", "also_viewed", "has_category", "has_brand"}
                                   | {f"latent_{k}" for k in range(5)})
    assert (df.groupby(["head", "relation"]).size() <= 2).all()  # --top-k
    assert (df["weight"] > MIN_W).all()
    assert info["edges"] == len(df) and sum(info["by_relation"].values()) == len(df)
    # original ids everywhere; attribute tails are attr:value nodes
    assert set(df["head"]) <= set(ds.item_ids)
    items = df[df["tail_type"] == "item"]
    assert set(items["tail"]) <= set(ds.item_ids)
    cats = df[df["relation"] == "has_category"]
    assert all(t.startswith("category:") for t in cats["tail"])
    # a latent edge's weight is q(latent_k | head, tail)
    lat = df[df["source"] == "latent"].head(20)
    q = model.latent_distribution(torch.tensor(lat["head_index"].to_numpy()),
                                  torch.tensor(lat["tail_index"].to_numpy()))
    k = lat["relation"].str.replace("latent_", "").astype(int).to_numpy()
    slot = model.layout.latent_slice.start + k
    np.testing.assert_allclose(lat["weight"].to_numpy(), q[np.arange(len(lat)), slot].numpy(),
                               rtol=1e-5)
    # predefined edges are the graph's
    ab = ds.relations["also_bought"]
    pre = df[df["relation"] == "also_bought"]
    keys = set(zip(ab[0].tolist(), ab[1].tolist()))
    assert set(zip(pre["head_index"], pre["tail_index"])) <= keys


def test_filters(loaded):
    _, graph, model = loaded
    labels = relation_labels(model.layout)
    df, _ = collect_edges(graph, model, labels, relations=["also_viewed", "latent_1"],
                          min_weight=MIN_W, window=1, knn=2)
    assert set(df["relation"]) == {"also_viewed", "latent_1"}
    df, _ = collect_edges(graph, model, labels, latent_only=True, min_weight=MIN_W, window=1, knn=2)
    assert set(df["source"]) == {"latent"}
    df, info = collect_edges(graph, model, labels, latent_only=True, window=1, knn=2)
    assert len(df) == 0 and info["candidate_pairs"] > 0  # nothing reaches the 0.2 default
    for bad, msg in ((["nope"], "unknown relation 'nope'"),
                     (["same_brand"], "never materialised"),
                     (["has_brand"], "needs --include-attributes")):
        with pytest.raises(ConfigError, match=msg):
            collect_edges(graph, model, labels, relations=bad)
    with pytest.raises(ConfigError, match="exclude each other"):
        collect_edges(graph, model, labels, latent_only=True, include_attributes=True)


def test_tsv_reads_in_pykeen(loaded, edges, tmp_path):
    _, graph, _ = loaded
    df, _ = edges
    write_edges(df, graph, tmp_path / "e.tsv", "tsv")
    lines = (tmp_path / "e.tsv").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(df) and all(len(x.split("\t")) == 3 for x in lines)
    pykeen = pytest.importorskip("pykeen.triples")
    tf = pykeen.TriplesFactory.from_path(tmp_path / "e.tsv")
    assert tf.num_triples == len(df)
    assert set(tf.relation_to_id) == set(df["relation"])
    assert set(df["head"]) <= set(tf.entity_to_id)
    assert sorted(map(tuple, tf.triples.tolist())) == _triples(df)


def test_csv_and_parquet_round_trip(loaded, edges, tmp_path):
    _, graph, _ = loaded
    df, _ = edges
    write_edges(df, graph, tmp_path / "e.csv", "csv")
    back = pd.read_csv(tmp_path / "e.csv", dtype={"head": str, "tail": str})
    assert list(back.columns) == ex.COLUMNS
    pd.testing.assert_frame_equal(back[ex.COLUMNS[:3]], df[ex.COLUMNS[:3]].reset_index(drop=True),
                                  check_dtype=False)
    np.testing.assert_allclose(back["weight"], df["weight"], rtol=1e-6)
    pytest.importorskip("pyarrow")
    write_edges(df, graph, tmp_path / "e.parquet", "parquet")
    pq = pd.read_parquet(tmp_path / "e.parquet")
    assert list(pq.columns) == ex.COLUMNS and len(pq) == len(df)
    assert _triples(pq) == _triples(df)


def test_parquet_without_pyarrow_is_a_clear_error(loaded, edges, tmp_path, monkeypatch):
    import builtins

    real = builtins.__import__

    def fake(name, *a, **k):
        if name == "pyarrow":
            raise ImportError("no pyarrow")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ConfigError, match="pip install pyarrow"):
        write_edges(edges[0], loaded[1], tmp_path / "e.parquet", "parquet")
    assert not (tmp_path / "e.parquet").exists()


@pytest.mark.parametrize("fmt", ["graphml", "gexf"])
def test_networkx_round_trip(loaded, edges, tmp_path, fmt):
    _, graph, _ = loaded
    df, _ = edges
    path = tmp_path / f"e.{fmt}"
    write_edges(df, graph, path, fmt)
    G = nx.read_graphml(path) if fmt == "graphml" else nx.read_gexf(path)
    assert G.is_directed() and G.is_multigraph()
    got = sorted((h, d["relation"], t, d["source"], round(float(d["weight"]), 5))
                 for h, t, d in G.edges(data=True))
    want = sorted((h, r, t, s, round(float(w), 5)) for h, r, t, s, w in
                  zip(df["head"], df["relation"], df["tail"], df["source"], df["weight"]))
    assert got == want
    ds = graph.dataset
    assert G.nodes[ds.item_ids[0]]["text"] == " ".join(ds.item_text[0].split())
    assert G.nodes[ds.item_ids[0]]["node_type"] == "item"
    attr = next(t for t in df["tail"] if t.startswith("brand:"))
    assert G.nodes[attr]["node_type"] == "attribute" and G.nodes[attr]["attribute"] == "brand"


def test_neo4j_import_files(loaded, edges, tmp_path):
    _, graph, _ = loaded
    df, _ = edges
    out = tmp_path / "neo"
    write_edges(df, graph, out, "neo4j")
    read = lambda name: list(csv.reader(open(out / name, newline="", encoding="utf-8")))
    items, iedges = read("items.csv"), read("item_edges.csv")
    assert items[0] == ["itemId:ID(Item)", "title", ":LABEL"]
    assert iedges[0] == [":START_ID(Item)", ":END_ID(Item)", ":TYPE", "weight:float", "source"]
    ids = {r[0] for r in items[1:]}
    assert len(ids) == graph.num_items and {r[2] for r in items[1:]} == {"Item"}
    # every relationship names existing nodes of its id space (what neo4j-admin import checks)
    assert all(r[0] in ids and r[1] in ids for r in iedges[1:])
    assert all(float(r[3]) > 0 and r[4] in ("predefined", "latent") for r in iedges[1:])
    attrs, aedges = read("attributes.csv"), read("item_attribute_edges.csv")
    assert attrs[0][0] == "attributeId:ID(Attribute)" and aedges[0][1] == ":END_ID(Attribute)"
    aids = {r[0] for r in attrs[1:]}
    assert all(r[0] in ids and r[1] in aids for r in aedges[1:])
    assert len(iedges) - 1 + len(aedges) - 1 == len(df)
    assert "neo4j-admin database import" in (out / "IMPORT.txt").read_text()


def _atomic(path: Path):
    """Read a RecBole atomic file: tab-separated, header ``field:type``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    header = [h.split(":") for h in lines[0].split("\t")]
    assert all(len(h) == 2 and h[1] in ("token", "float", "token_seq", "float_seq") for h in header)
    return [h[0] for h in header], [ln.split("\t") for ln in lines[1:]]


def test_recbole_atomic_files(loaded, edges, tmp_path):
    _, graph, _ = loaded
    df, _ = edges
    out = tmp_path / "demo_kg"
    write_edges(df, graph, out, "recbole")
    assert sorted(p.name for p in out.iterdir()) == ["demo_kg.inter", "demo_kg.kg", "demo_kg.link"]
    cols, kg = _atomic(out / "demo_kg.kg")
    assert cols == ["head_id", "relation_id", "tail_id"]
    assert sorted(map(tuple, kg)) == _triples(df)
    cols, link = _atomic(out / "demo_kg.link")
    assert cols == ["item_id", "entity_id"] and len(link) == graph.num_items
    cols, inter = _atomic(out / "demo_kg.inter")
    assert cols == ["user_id", "item_id", "timestamp"]
    assert len(inter) == graph.dataset.num_interactions
    linked = {r[0] for r in link}
    assert {r[1] for r in inter} <= linked


def test_rechorus_round_trip(loaded, edges, tmp_path):
    from lrdgraph.data import read_rechorus

    _, graph, _ = loaded
    df, _ = edges
    out = tmp_path / "rc"
    write_edges(df, graph, out, "rechorus")
    ds = graph.dataset
    # the demo's ids ("P0001", "U0001") are not integers: ReChorus ids with maps beside
    imap = {r["rechorus_id"]: r["item_id"] for r in csv.DictReader(open(out / "item_map.csv"))}
    assert len(imap) == ds.num_items and (out / "user_map.csv").exists()
    back = read_rechorus(out)
    assert back.num_items == ds.num_items and back.num_interactions == ds.num_interactions
    for rel in set(df[df["tail_type"] == "item"]["relation"]):
        ei = back.relations[rel]
        got = sorted((imap[back.item_ids[h]], imap[back.item_ids[t]]) for h, t in ei.T)
        sub = df[df["relation"] == rel]
        assert got == sorted(zip(sub["head"], sub["tail"]))
    assert set(back.attributes) == {"category", "brand"}
    meta = pd.read_csv(out / "item_meta.csv", sep="\t")
    assert json.loads(meta["r_latent_0"].iloc[0]) is not None


def test_rechorus_keeps_integer_ids(loaded, edges, tmp_path, monkeypatch):
    from lrdgraph.data import read_rechorus

    _, graph, _ = loaded
    ds = graph.dataset
    monkeypatch.setattr(ds, "item_ids", [str(10 + k) for k in range(ds.num_items)])
    monkeypatch.setattr(ds, "user_ids", [str(500 + k) for k in range(ds.num_users)])
    out = tmp_path / "rc"
    write_edges(edges[0], graph, out, "rechorus")
    assert not (out / "item_map.csv").exists() and not (out / "user_map.csv").exists()
    back = read_rechorus(out)
    assert set(back.item_ids) == set(ds.item_ids)


@pytest.mark.parametrize("fmt,target", [("graphml", "e.graphml"), ("neo4j", "neo")])
def test_a_failing_writer_leaves_nothing(loaded, edges, tmp_path, monkeypatch, fmt, target):
    _, graph, _ = loaded
    calls = {"n": 0}
    real_rows = ex._csv_rows

    def failing_rows(path, header, rows):
        calls["n"] += 1
        if calls["n"] == 2:  # items.csv is written, then item_edges.csv fails mid-way
            def bad():
                yield next(iter(rows))
                raise RuntimeError("disk full")
            return real_rows(path, header, bad())
        return real_rows(path, header, rows)

    def failing_graphml(G, fh):
        fh.write(b"<?xml version='1.0'?><graphml>")  # half a file
        raise RuntimeError("disk full")

    monkeypatch.setattr(ex, "_csv_rows", failing_rows)
    monkeypatch.setattr(nx, "write_graphml", failing_graphml)
    out = tmp_path / target
    with pytest.raises(RuntimeError, match="disk full"):
        write_edges(edges[0], graph, out, fmt)
    assert list(tmp_path.iterdir()) == []  # no output, no temporary left behind
    # replacing an existing output: the old one survives a failure
    out.mkdir() if fmt == "neo4j" else out.write_text("old")
    (out / "keep.txt").write_text("old") if fmt == "neo4j" else None
    calls["n"] = 0
    with pytest.raises(RuntimeError):
        write_edges(edges[0], graph, out, fmt, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [target]
    assert (out / "keep.txt" if fmt == "neo4j" else out).read_text() == "old"


def test_refuses_to_overwrite(loaded, edges, tmp_path):
    (tmp_path / "e.csv").write_text("x")
    with pytest.raises(OutputError, match="--overwrite"):
        write_edges(edges[0], loaded[1], tmp_path / "e.csv", "csv")
    write_edges(edges[0], loaded[1], tmp_path / "e.csv", "csv", overwrite=True)
    assert (tmp_path / "e.csv").read_text().startswith("head,relation,tail")


def test_tokens_with_tabs_are_refused(loaded, edges, tmp_path):
    df = edges[0].copy()
    df.loc[df.index[0], "head"] = "bad\tid"
    from lrdgraph.errors import InputError

    with pytest.raises(InputError, match="use --format csv"):
        write_edges(df, loaded[1], tmp_path / "e.tsv", "tsv")
    assert not (tmp_path / "e.tsv").exists()


def test_cli(demo_run, tmp_path):
    r = CliRunner().invoke(cli, ["export-edges", str(demo_run), "--format", "tsv", "--out",
                                 str(tmp_path / "l.tsv"), "--latent-only", "--min-weight", "0.1",
                                 "--top-k", "1", "--window", "1", "--knn", "2", "--quiet"])
    assert r.exit_code == 0, r.output
    assert "candidate pairs scored" in r.output
    rels = {ln.split("\t")[1] for ln in (tmp_path / "l.tsv").read_text().splitlines()}
    assert rels <= {f"latent_{k}" for k in range(5)} and rels
    r = CliRunner().invoke(cli, ["export-edges", str(demo_run), "--format", "csv", "--out",
                                 str(tmp_path / "m.csv"), "--max-pairs", "10", "--quiet"])
    assert r.exit_code == 2 and "--max-pairs" in r.output
    assert not (tmp_path / "m.csv").exists()
    r = CliRunner().invoke(cli, ["export-edges", str(demo_run), "--format", "csv", "--out",
                                 str(tmp_path / "l.tsv"), "--quiet"])
    assert r.exit_code == 2 and "--overwrite" in r.output
    r = CliRunner().invoke(cli, ["export-edges", str(demo_run), "--format", "csv", "--out",
                                 str(tmp_path / "p.csv"), "--latent-only", "--window", "1",
                                 "--knn", "1", "--quiet"])
    assert r.exit_code == 0 and "no latent edge has q above --min-weight 0.2" in r.output


def test_export_edges_api(demo_run, tmp_path):
    info = export_edges(demo_run, tmp_path / "g.gexf", "gexf", relations=["also_bought"],
                        progress=False)
    assert info["by_relation"] == {"also_bought": info["edges"]} and info["candidate_pairs"] == 0
    G = nx.read_gexf(tmp_path / "g.gexf")
    assert G.number_of_edges() == info["edges"]

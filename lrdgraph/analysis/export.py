"""``export-edges``: a trained run's item graph, predefined and latent edges, in the formats other
tools read.

Edges
    *predefined* edges are the graph's item-item relations (weight 1); with
    ``include_attributes`` also item→attribute-value edges ``has_<attr>`` (weight 1, tail node
    ``<attr>:<value>``). "Same attribute" relations are never materialised as item pairs (they
    are quadratic); the item→attribute edges carry the same information.
    *latent* edges: for each candidate pair (i, j) (co-occurrence in the users' train histories
    within ``window`` positions, plus the ``knn`` text neighbours of every item; see
    :mod:`~lrdgraph.analysis.candidates`) and each latent relation k, an edge
    ``i -latent_k-> j`` with weight q(latent_k | i, j), the extractor's probability over all
    relation slots, emitted when it is **above** ``min_weight`` (default 0.2). With R slots an
    uninformed extractor gives every slot about 1/R, so 0.2 keeps only relations the extractor
    actually prefers.

Every edge has ``head``, ``relation`` (its label: the predefined name, the latent relation's
stored name, see ``lrdgraph relations --name``, or ``latent_k``), ``tail``, ``weight``,
``source`` (``predefined`` | ``latent``) and ``tail_type`` (``item`` or the attribute name).
Heads and tails are the data set's **original** ids; no file holds internal indices, except the
ReChorus export when the original ids are not positive integers (it then writes
``item_map.csv`` / ``user_map.csv`` beside them).

Every output is written atomically: a single file through a temporary sibling renamed into
place, a directory assembled in a temporary sibling directory. A failure (or a kill) leaves the
previous output or nothing under the output name, never a partial one. An export holds the
output lock ``.<out>.lock`` beside ``out`` from start to end: a second command writing the same
output refuses with one line (exit code 2).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError, InputError, OutputError
from ..io import DirLock, atomic_write, atomic_write_text, output_dir
from .candidates import candidate_pairs, iter_scored
from .defaults import (DEFAULT_CHUNK, DEFAULT_KNN, DEFAULT_MAX_PAIRS, DEFAULT_MIN_WEIGHT,
                       DEFAULT_WINDOW)
from .trained import load_trained, read_relation_names, relation_labels

__all__ = ["FORMATS", "DIR_FORMATS", "collect_edges", "export_edges", "write_edges",
           "DEFAULT_MIN_WEIGHT", "COLUMNS"]

COLUMNS = ["head", "relation", "tail", "weight", "source", "tail_type"]
FORMATS = ("tsv", "csv", "parquet", "graphml", "gexf", "neo4j", "recbole", "rechorus")
#: formats written as a directory of files; the others are one file
DIR_FORMATS = ("neo4j", "recbole", "rechorus")


# --------------------------------------------------------------------------- collecting edges
def _attribute_node(attr: str, value: str) -> str:
    """The id of an attribute-value node: ``category:Paper`` (tabs, newlines and double quotes
    in the value become spaces / single quotes so every format can carry it)."""
    v = " ".join(str(value).split()).replace('"', "'")
    return f"{attr}:{v}"


def _parse_relations(requested: Optional[Sequence[str]], labels: List[str], layout,
                     attributes: Sequence[str], include_attributes: bool) -> Optional[set]:
    """The set of slot / attribute-edge labels to keep (None: all). ``latent_k`` is accepted
    for a named latent relation too."""
    if not requested:
        return None
    latent = labels[layout.latent_slice]
    alias = {f"latent_{k}": lab for k, lab in enumerate(latent)}
    edge_labels = set(layout.item_relations) | set(latent)
    if include_attributes:
        edge_labels |= {f"has_{a}" for a in attributes}
    keep = set()
    for name in requested:
        name = alias.get(name, name)
        if name in edge_labels:
            keep.add(name)
        elif name.startswith("same_") and name[5:] in attributes:
            raise ConfigError(f"relation '{name}' (a shared attribute value) is never "
                              "materialised as item pairs; export item→attribute edges with "
                              f"--include-attributes (relation has_{name[5:]})")
        elif name.startswith("has_") and name[4:] in attributes:
            raise ConfigError(f"relation '{name}' needs --include-attributes")
        else:
            raise ConfigError(f"unknown relation '{name}'; this run has: "
                              + ", ".join(sorted(edge_labels)))
    return keep


def _top_k(df: pd.DataFrame, k: int) -> pd.DataFrame:
    """Keep the ``k`` heaviest edges per (head, relation); ties by tail order."""
    df = df.sort_values(["head_index", "relation", "weight", "tail_index"],
                        ascending=[True, True, False, True], kind="stable")
    return df[df.groupby(["head_index", "relation"], sort=False).cumcount() < k]


def collect_edges(graph, model, labels: List[str], *, relations: Optional[Sequence[str]] = None,
                  min_weight: float = DEFAULT_MIN_WEIGHT, top_k: Optional[int] = None,
                  latent_only: bool = False, include_attributes: bool = False,
                  window: int = DEFAULT_WINDOW, knn: int = DEFAULT_KNN,
                  chunk_size: int = DEFAULT_CHUNK, max_pairs: Optional[int] = DEFAULT_MAX_PAIRS,
                  progress: bool = False) -> tuple[pd.DataFrame, Dict[str, Any]]:
    """The edge table (columns :data:`COLUMNS` plus ``head_index`` / ``tail_index``) and a
    summary. See the module docstring for what is collected."""
    if latent_only and include_attributes:
        raise ConfigError("--latent-only and --include-attributes exclude each other")
    if not 0.0 <= min_weight < 1.0:
        raise ConfigError("--min-weight must be in [0, 1)")
    if top_k is not None and top_k < 1:
        raise ConfigError("--top-k must be at least 1")
    ds = graph.dataset
    L = model.layout
    keep = _parse_relations(relations, labels, L, list(ds.attributes), include_attributes)
    wanted = (lambda name: keep is None or name in keep)
    frames: List[pd.DataFrame] = []
    info: Dict[str, Any] = {"candidate_pairs": 0}

    def frame(h, t, rel, w, source, tail_type) -> pd.DataFrame:
        n = len(h)
        return pd.DataFrame({"head_index": np.asarray(h, np.int64),
                             "tail_index": np.asarray(t, np.int64),
                             "relation": np.asarray(rel, dtype=object) if not isinstance(rel, str)
                             else np.full(n, rel, dtype=object),
                             "weight": np.asarray(w, np.float32) if not np.isscalar(w)
                             else np.full(n, w, np.float32),
                             "source": source, "tail_type": tail_type})

    if not latent_only:
        for name, ei in ds.relations.items():
            if wanted(name) and ei.shape[1]:
                frames.append(frame(ei[0], ei[1], name, 1.0, "predefined", "item"))
        if include_attributes:
            for name, a in ds.attributes.items():
                if wanted(f"has_{name}") and len(a.item):
                    frames.append(frame(a.item, a.value, f"has_{name}", 1.0, "predefined", name))
    latent_labels = labels[L.latent_slice]
    latent_wanted = [k for k, lab in enumerate(latent_labels) if wanted(lab)]
    if latent_only and L.num_latent == 0:
        raise ConfigError("this run has no latent relations (trained with --no-lrd or "
                          "--num-latent 0)")
    if latent_wanted and model.extractor is not None:
        pairs = candidate_pairs(graph, window=window, knn=knn, chunk_size=chunk_size,
                                max_pairs=max_pairs, progress=progress)
        info["candidate_pairs"] = int(pairs.shape[1])
        sel = np.asarray(latent_wanted)
        hs, ts, ks, ws = [], [], [], []
        for _, h, t, q in iter_scored(model, pairs, chunk_size=chunk_size, progress=progress,
                                      desc="latent edges"):
            ql = q[:, L.latent_slice][:, sel]
            p, k = (ql > min_weight).nonzero(as_tuple=True)
            hs.append(h[p].numpy()); ts.append(t[p].numpy())
            ks.append(sel[k.numpy()]); ws.append(ql[p, k].numpy())
        if hs:
            k = np.concatenate(ks)
            frames.append(frame(np.concatenate(hs), np.concatenate(ts),
                                np.asarray(latent_labels, dtype=object)[k],
                                np.concatenate(ws), "latent", "item"))
    df = pd.concat(frames, ignore_index=True) if frames else frame([], [], [], [], "", "")
    df = df[df["weight"] > min_weight] if min_weight > 0 else df
    if top_k is not None:
        df = _top_k(df, top_k)
    df = df.sort_values(["source", "relation", "head_index", "tail_index"], kind="stable")
    item_ids = np.asarray(ds.item_ids, dtype=object)
    df["head"] = item_ids[df["head_index"].to_numpy()] if len(df) else []
    tails = np.empty(len(df), dtype=object)
    ti = df["tail_index"].to_numpy()
    tt = df["tail_type"].to_numpy()
    is_item = tt == "item"
    tails[is_item] = item_ids[ti[is_item]]
    for name, a in ds.attributes.items():
        m = tt == name
        if m.any():
            vals = np.asarray([_attribute_node(name, v) for v in a.values], dtype=object)
            tails[m] = vals[ti[m]]
    df["tail"] = tails
    df = df.reset_index(drop=True)[COLUMNS + ["head_index", "tail_index"]]
    info["edges"] = int(len(df))
    info["by_relation"] = {str(k): int(v) for k, v in df.groupby("relation", sort=False).size().items()}
    info["by_source"] = {str(k): int(v) for k, v in df.groupby("source", sort=False).size().items()}
    return df, info


# --------------------------------------------------------------------------- writers
def _check_tokens(values: Sequence[str], what: str, fmt: str) -> None:
    bad = next((v for v in values if any(c in str(v) for c in '\t\n\r"')), None)
    if bad is not None:
        raise InputError(f"{what} {bad!r} holds a tab, line break or double quote, which the "
                         f"{fmt} format cannot carry; use --format csv or parquet")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _nodes(graph, edges: pd.DataFrame) -> pd.DataFrame:
    """Every item, then the attribute-value nodes the edges name: ``id``, ``text``,
    ``node_type`` (``item`` | ``attribute``), ``attribute``, ``value``."""
    ds = graph.dataset
    rows = {"id": list(ds.item_ids), "text": [_one_line(t) for t in ds.item_text],
            "node_type": ["item"] * ds.num_items, "attribute": [""] * ds.num_items,
            "value": [""] * ds.num_items}
    attr_edges = edges[edges["tail_type"] != "item"]
    if len(attr_edges):
        seen = attr_edges.drop_duplicates(["tail_type", "tail_index"]).sort_values(
            ["tail_type", "tail_index"])
        for name, vi, node in zip(seen["tail_type"], seen["tail_index"], seen["tail"]):
            value = ds.attributes[name].values[int(vi)]
            rows["id"].append(node); rows["text"].append(_one_line(value))
            rows["node_type"].append("attribute"); rows["attribute"].append(name)
            rows["value"].append(_one_line(value))
    return pd.DataFrame(rows)


def _write_tsv(edges: pd.DataFrame, graph, path: Path) -> None:
    """``head<TAB>relation<TAB>tail`` label triples, no header (PyKEEN
    ``TriplesFactory.from_path``)."""
    for col in ("head", "relation", "tail"):
        _check_tokens(edges[col].unique(), col, "tsv")
    with atomic_write(path) as fh:
        for h, r, t in zip(edges["head"], edges["relation"], edges["tail"]):
            fh.write(f"{h}\t{r}\t{t}\n")


def _write_csv(edges: pd.DataFrame, graph, path: Path) -> None:
    with atomic_write(path) as fh:
        edges[COLUMNS].to_csv(fh, index=False, lineterminator="\n")


def _write_parquet(edges: pd.DataFrame, graph, path: Path) -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ConfigError("--format parquet needs pyarrow (pip install pyarrow); "
                          "or use --format csv") from None
    df = edges[COLUMNS].copy()
    for col in ("head", "relation", "tail", "source", "tail_type"):
        df[col] = df[col].astype(str)
    with atomic_write(path, "wb") as fh:
        df.to_parquet(fh, engine="pyarrow", index=False)


def _nx_graph(edges: pd.DataFrame, graph, *, gexf: bool):
    import networkx as nx

    G = nx.MultiDiGraph(name=graph.dataset.name)
    for nid, text, nt, attr in zip(*(_nodes(graph, edges)[c] for c in
                                     ("id", "text", "node_type", "attribute"))):
        data = {"text": text, "node_type": nt}
        if attr:
            data["attribute"] = attr
        if gexf:
            data["label"] = text or nid
        G.add_node(nid, **data)
    for h, r, t, w, s in zip(edges["head"], edges["relation"], edges["tail"], edges["weight"],
                             edges["source"]):
        data = {"relation": r, "weight": float(w), "source": s}
        if gexf:
            data["label"] = r
        G.add_edge(h, t, key=r, **data)
    return G


def _write_graphml(edges: pd.DataFrame, graph, path: Path) -> None:
    import networkx as nx

    G = _nx_graph(edges, graph, gexf=False)
    with atomic_write(path, "wb") as fh:
        nx.write_graphml(G, fh)


def _write_gexf(edges: pd.DataFrame, graph, path: Path) -> None:
    import networkx as nx

    G = _nx_graph(edges, graph, gexf=True)
    with atomic_write(path, "wb") as fh:
        nx.write_gexf(G, fh)


def _csv_rows(path: Path, header: List[str], rows) -> None:
    with atomic_write(path) as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


NEO4J_IMPORT = """\
# Import into an empty Neo4j 5 database (stop it first), from this directory:
neo4j-admin database import full neo4j --overwrite-destination \\
    --nodes=items.csv {attr_nodes}--relationships=item_edges.csv {attr_edges}
"""


def _write_neo4j(edges: pd.DataFrame, graph, out: Path) -> None:
    """``items.csv`` (``itemId:ID(Item)``, ``title``, ``:LABEL``) and ``item_edges.csv``
    (``:START_ID(Item)``, ``:END_ID(Item)``, ``:TYPE``, ``weight:float``, ``source``), plus
    ``attributes.csv`` / ``item_attribute_edges.csv`` for item→attribute edges."""
    nodes = _nodes(graph, edges)
    items = nodes[nodes["node_type"] == "item"]
    _csv_rows(out / "items.csv", ["itemId:ID(Item)", "title", ":LABEL"],
              zip(items["id"], items["text"], ["Item"] * len(items)))
    ie = edges[edges["tail_type"] == "item"]
    _csv_rows(out / "item_edges.csv",
              [":START_ID(Item)", ":END_ID(Item)", ":TYPE", "weight:float", "source"],
              zip(ie["head"], ie["tail"], ie["relation"], ie["weight"].map(float), ie["source"]))
    ae = edges[edges["tail_type"] != "item"]
    extra_nodes = extra_edges = ""
    if len(ae):
        attrs = nodes[nodes["node_type"] == "attribute"]
        _csv_rows(out / "attributes.csv",
                  ["attributeId:ID(Attribute)", "attribute", "value", ":LABEL"],
                  zip(attrs["id"], attrs["attribute"], attrs["value"],
                      ["Attribute;" + a.capitalize() for a in attrs["attribute"]]))
        _csv_rows(out / "item_attribute_edges.csv",
                  [":START_ID(Item)", ":END_ID(Attribute)", ":TYPE", "weight:float", "source"],
                  zip(ae["head"], ae["tail"], ae["relation"], ae["weight"].map(float),
                      ae["source"]))
        extra_nodes, extra_edges = "--nodes=attributes.csv ", "--relationships=item_attribute_edges.csv"
    atomic_write_text(out / "IMPORT.txt", NEO4J_IMPORT.format(attr_nodes=extra_nodes,
                                                             attr_edges=extra_edges))


def _write_recbole(edges: pd.DataFrame, graph, out: Path, name: Optional[str] = None) -> None:
    """RecBole atomic files named after the output directory ``<name>``: ``<name>.kg``
    (``head_id:token relation_id:token tail_id:token``), ``<name>.link`` (``item_id:token
    entity_id:token``; an item's entity id is its own id) and ``<name>.inter`` (every
    interaction: ``user_id:token item_id:token timestamp:float``)."""
    ds = graph.dataset
    name = name or out.name
    for col in ("head", "relation", "tail"):
        _check_tokens(edges[col].unique(), col, "recbole")
    _check_tokens(ds.item_ids, "item id", "recbole")
    _check_tokens(ds.user_ids, "user id", "recbole")
    with atomic_write(out / f"{name}.kg") as fh:
        fh.write("head_id:token\trelation_id:token\ttail_id:token\n")
        for h, r, t in zip(edges["head"], edges["relation"], edges["tail"]):
            fh.write(f"{h}\t{r}\t{t}\n")
    with atomic_write(out / f"{name}.link") as fh:
        fh.write("item_id:token\tentity_id:token\n")
        for iid in ds.item_ids:
            fh.write(f"{iid}\t{iid}\n")
    with atomic_write(out / f"{name}.inter") as fh:
        fh.write("user_id:token\titem_id:token\ttimestamp:float\n")
        for s in ("train", "dev", "test"):
            sp = getattr(ds, s)
            for u, i, t in zip(sp.user, sp.item, sp.time):
                fh.write(f"{ds.user_ids[u]}\t{ds.item_ids[i]}\t{int(t)}\n")


def _rechorus_ids(ids: Sequence[str]) -> tuple[List[int], bool]:
    """ReChorus ids are positive integers: the original ids when they all are, else
    ``index + 1`` (with an id map written beside)."""
    try:
        vals = [int(x) for x in ids]
        if all(v > 0 for v in vals) and all(str(v) == x for v, x in zip(vals, ids)) \
                and len(set(vals)) == len(vals):
            return vals, True
    except ValueError:
        pass
    return list(range(1, len(ids) + 1)), False


def _write_rechorus(edges: pd.DataFrame, graph, out: Path) -> None:
    """A ReChorus / LRD data directory: ``train.csv``, ``dev.csv``, ``test.csv`` (tab-separated,
    ``user_id item_id time`` and ``neg_items`` for dev/test) and ``item_meta.csv`` with
    ``item_id``, ``i_<attr>`` (value number, 0 missing; with ``--include-attributes``) and one
    ``r_<relation>`` list column per exported item-item relation (latent ones included)."""
    ds = graph.dataset
    iid, item_orig = _rechorus_ids(ds.item_ids)
    uid, user_orig = _rechorus_ids(ds.user_ids)
    iid_a = np.asarray(iid, dtype=np.int64)
    uid_a = np.asarray(uid, dtype=np.int64)
    for s in ("train", "dev", "test"):
        sp = getattr(ds, s)
        header = ["user_id", "item_id", "time"] + ([] if s == "train" else ["neg_items"])
        with atomic_write(out / f"{s}.csv") as fh:
            fh.write("\t".join(header) + "\n")
            negs = sp.neg_items
            for r, (u, i, t) in enumerate(zip(sp.user, sp.item, sp.time)):
                row = [str(uid_a[u]), str(iid_a[i]), str(int(t))]
                if s != "train":
                    row.append(json.dumps(iid_a[negs[r]].tolist() if negs is not None else []))
                fh.write("\t".join(row) + "\n")
    meta = pd.DataFrame({"item_id": iid_a})
    ae = edges[edges["tail_type"] != "item"]
    for name, a in ds.attributes.items():
        sel = ae[ae["tail_type"] == name]
        if not len(sel):
            continue
        col = np.zeros(ds.num_items, dtype=np.int64)
        # one value per item (ReChorus attributes are single-valued): the first in value order
        first = sel.sort_values(["head_index", "tail_index"]).drop_duplicates("head_index")
        col[first["head_index"].to_numpy()] = first["tail_index"].to_numpy() + 1
        meta[f"i_{name}"] = col
    ie = edges[edges["tail_type"] == "item"]
    for rel, grp in ie.groupby("relation", sort=False):
        lists: List[List[int]] = [[] for _ in range(ds.num_items)]
        for h, t in zip(grp["head_index"], grp["tail_index"]):
            lists[int(h)].append(int(iid_a[t]))
        meta[f"r_{rel}"] = [json.dumps(x) for x in lists]
    with atomic_write(out / "item_meta.csv") as fh:
        meta.to_csv(fh, sep="\t", index=False, lineterminator="\n")
    if not item_orig:
        _csv_rows(out / "item_map.csv", ["rechorus_id", "item_id"], zip(iid, ds.item_ids))
    if not user_orig:
        _csv_rows(out / "user_map.csv", ["rechorus_id", "user_id"], zip(uid, ds.user_ids))


WRITERS: Dict[str, Callable[[pd.DataFrame, Any, Path], None]] = {
    "tsv": _write_tsv, "csv": _write_csv, "parquet": _write_parquet,
    "graphml": _write_graphml, "gexf": _write_gexf,
    "neo4j": _write_neo4j, "recbole": _write_recbole, "rechorus": _write_rechorus,
}


def _check_out(out: Path, fmt: str, overwrite: bool) -> None:
    if fmt in DIR_FORMATS:
        if out.exists() and not out.is_dir():
            raise OutputError(f"--format {fmt} writes a directory, and this is a file", path=out)
        if out.exists() and any(out.iterdir()) and not overwrite:
            raise OutputError("output directory is not empty; pass --overwrite to replace it",
                              path=out)
    else:
        if out.is_dir():
            raise OutputError(f"--format {fmt} writes one file, and this is a directory", path=out)
        if out.exists() and not overwrite:
            raise OutputError("output file exists; pass --overwrite to replace it", path=out)


def write_edges(edges: pd.DataFrame, graph, out: str | Path, fmt: str, *,
                overwrite: bool = False) -> List[Path]:
    """Write an edge table from :func:`collect_edges` atomically; returns the files written.
    Holds the output lock (:class:`~lrdgraph.io.DirLock`) while it writes."""
    if fmt not in WRITERS:
        raise ConfigError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out)
    with DirLock(out):
        _check_out(out, fmt, overwrite)
        return _write_locked(edges, graph, out, fmt, overwrite)


def _write_locked(edges: pd.DataFrame, graph, out: Path, fmt: str, overwrite: bool) -> List[Path]:
    if fmt in DIR_FORMATS:
        with output_dir(out, overwrite=overwrite, lock=False) as tmp:
            if fmt == "recbole":  # RecBole finds <dir>/<dir>.kg: name the files after out
                _write_recbole(edges, graph, tmp, name=out.name)
            else:
                WRITERS[fmt](edges, graph, tmp)
            names = sorted(p.name for p in tmp.iterdir())
        return [out / n for n in names]
    out.parent.mkdir(parents=True, exist_ok=True)
    WRITERS[fmt](edges, graph, out)
    return [out]


def export_edges(run_dir: str | Path, out: str | Path, fmt: str, *,
                 relations: Optional[Sequence[str]] = None,
                 min_weight: float = DEFAULT_MIN_WEIGHT, top_k: Optional[int] = None,
                 latent_only: bool = False, include_attributes: bool = False,
                 window: int = DEFAULT_WINDOW, knn: int = DEFAULT_KNN,
                 chunk_size: int = DEFAULT_CHUNK, max_pairs: Optional[int] = DEFAULT_MAX_PAIRS,
                 overwrite: bool = False, progress: bool = True) -> Dict[str, Any]:
    """Export a run's edges (see the module docstring) to ``out`` in format ``fmt``.

    Returns a summary: ``format``, ``out``, ``files``, ``edges``, ``by_relation``,
    ``by_source``, ``candidate_pairs``.
    """
    if fmt not in WRITERS:
        raise ConfigError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out = Path(out)
    # the lock is held from the first check to the last rename: a second export to the same
    # --out refuses at once instead of racing this one
    with DirLock(out):
        _check_out(out, fmt, overwrite)  # refuse before any work
        _, graph, model = load_trained(run_dir)
        labels = relation_labels(model.layout, read_relation_names(run_dir))
        edges, info = collect_edges(graph, model, labels, relations=relations,
                                    min_weight=min_weight, top_k=top_k, latent_only=latent_only,
                                    include_attributes=include_attributes, window=window,
                                    knn=knn, chunk_size=chunk_size, max_pairs=max_pairs,
                                    progress=progress)
        files = _write_locked(edges, graph, out, fmt, overwrite)
    return {"format": fmt, "out": str(out), "files": [str(f) for f in files], **info}

"""``results.csv``: one row per finished cell and protocol, read from the run directories or
merged from other experiments' results (``--merge``)."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from ..errors import ConfigError
from .cells import Cell, config_difference, normalise_config, read_yaml


def metric_order(names: Iterable[str]) -> List[str]:
    """Metric names by cut-off, HR before NDCG (``HR@5, NDCG@5, HR@10, ...``)."""
    def key(m: str) -> Tuple[int, int]:
        kind, _, k = m.partition("@")
        return (int(k) if k.isdigit() else 0, 0 if kind == "HR" else 1)

    return sorted(set(names), key=key)


DEV = "dev"
"""The ``protocol`` of a results row holding the dev metrics at the selected epoch."""

MERGE_COLUMNS = ("cell", "seed", "protocol", "status", "config")


def read_merged_rows(cells: Sequence[Cell], paths: Sequence[str | Path]
                     ) -> Dict[str, List[Dict[str, Any]]]:
    """The finished rows of other experiments' ``results.csv`` files (``--merge``), by cell name,
    for the cells of this grid: a grid split over machines or sessions is reported as one.

    A row fills the cell of the same name. Every such row must carry the configuration the
    spec now gives its cell (compared as :func:`cell_states` compares a run directory, less
    ``data.graph``: the same graph lies elsewhere on another machine). A row of a cell this
    grid does not have (another spec's results, for example Table 3's KDA for the ablation's
    "vanilla") fills every cell of the same data set label and seed whose configuration it
    equals, and is ignored otherwise; its ``source`` then names the cell it was. A cell given
    by name keeps those rows over rows matched by configuration, except that a protocol its
    named rows lack is filled from matched rows of the same run (:func:`_same_run`). The rows
    keep their own ``run_dir`` and get ``source`` (the file they came from, unless they
    already name one).
    Two rows giving the same cell and protocol with the same numbers are one run merged twice
    (a committed table and the experiment it was made from): the first is kept. Raises
    ConfigError naming the file and line of a malformed or conflicting row, and when two rows
    give the same cell and protocol with other numbers."""
    by_name = {c.name: c for c in cells}
    wanted = {c.name: normalise_config(c.config) for c in cells}  # as a run's config reads back
    by_key: Dict[Tuple[str, str], List[Cell]] = {}
    for c in cells:
        by_key.setdefault((c.dataset, str(c.seed)), []).append(c)
    merged: Dict[str, List[Dict[str, Any]]] = {}
    origin: Dict[Tuple[str, str], str] = {}
    # rows matched by configuration, kept apart until every file is read: named rows win
    matched: Dict[Tuple[str, str], Tuple[Dict[str, Any], str]] = {}
    for path in paths:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the results file to merge: {exc.strerror or exc}",
                              path=path) from None
        reader = csv.DictReader(io.StringIO(text))
        missing = [c for c in MERGE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError("not an experiment's results.csv: no column " + ", ".join(missing),
                              path=path, line=1)
        for row in reader:
            line = reader.line_num
            if row.get("status") != "done":
                continue
            named = by_name.get(row["cell"])
            candidates = [named] if named else by_key.get((row.get("dataset", ""),
                                                           str(row["seed"])), [])
            if not candidates:
                continue
            try:
                stored = json.loads(row["config"])
                if not isinstance(stored, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                raise ConfigError(f"field 'config' of cell {row['cell']} is not a JSON config "
                                  f"({exc})", path=path, line=line) from None
            where = f"{path}:{line}"
            if named is None:
                for cell in candidates:
                    if config_difference(stored, wanted[cell.name], ignore_graph=True) is None:
                        key = (cell.name, row["protocol"])
                        if key in matched and not _same_numbers(matched[key][0], row):
                            raise ConfigError(f"cell {cell.name} ({row['protocol']}) is given twice, "
                                              f"with other numbers: also at {matched[key][1]}",
                                              path=path, line=line)
                        src = row.get("source") or str(path)
                        matched.setdefault(key, ({**row, "source": f"{src} ({row['cell']})"}, where))
                continue
            cell = named
            if str(row["seed"]) != str(cell.seed):
                raise ConfigError(f"cell {cell.name} has seed {row['seed']!r}, the grid gives "
                                  f"{cell.seed}", path=path, line=line)
            diff = config_difference(stored, wanted[cell.name], ignore_graph=True)
            if diff is not None:
                raise ConfigError(f"cell {cell.name} was made with another configuration than "
                                  f"the spec gives now: {diff}", path=path, line=line)
            key = (cell.name, row["protocol"])
            if key in origin:  # the same run in two files (a committed table and its source)
                if _same_numbers(origin[key][0], row):
                    continue
                raise ConfigError(f"cell {cell.name} ({row['protocol']}) is given twice, with "
                                  f"other numbers: also at {origin[key][1]}", path=path, line=line)
            kept = {**row, "source": row.get("source") or str(path)}
            origin[key] = (kept, where)
            merged.setdefault(cell.name, []).append(kept)
    given = {name for name, _ in origin}
    for (name, protocol), (row, _where) in matched.items():
        if name not in given or ((name, protocol) not in origin and _same_run(name, origin,
                                                                             matched)):
            merged.setdefault(name, []).append(row)
    return merged


def _same_run(name: str, named: Mapping[Tuple[str, str], Tuple[Dict[str, Any], str]],
              matched: Mapping[Tuple[str, str], Tuple[Dict[str, Any], str]]) -> bool:
    """Whether the rows matched by configuration for cell ``name`` come from the run that its
    rows given by name come from: they share a protocol, and every shared protocol has the
    same numbers. Then a protocol the named rows lack (an older table without its dev row)
    is taken from the matched ones; rows of two runs are never mixed in one cell."""
    shared = [p for (n, p) in named if n == name and (n, p) in matched]
    return bool(shared) and all(_same_numbers(named[(name, p)][0], matched[(name, p)][0])
                                for p in shared)


def _same_numbers(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two results rows report the same metrics (the same run, merged twice)."""
    keys = [k for k in a if k.startswith(("HR@", "NDCG@"))]
    return bool(keys) and all(a.get(k) == b.get(k) for k in keys)


def collect_results(cells: Sequence[Cell], out: str | Path,
                    merged: Optional[Mapping[str, List[Dict[str, Any]]]] = None
                    ) -> List[Dict[str, Any]]:
    """One row per finished cell and protocol (one row with ``status`` for an unfinished
    cell), as written to ``results.csv``. A cell not finished here takes its rows from
    ``merged`` (:func:`read_merged_rows`) when they have it; a cell finished here keeps its own.

    Beside the test protocols (``sampled``, ``full``) a finished cell has a row with protocol
    ``dev``: its dev metrics at the selected epoch, under the model-selection protocol (the
    numbers early stopping chose the checkpoint on). Choices between settings belong on these
    rows, not on the test rows. Results written before this row existed have none."""
    from ..train.trainer import read_results

    rows: List[Dict[str, Any]] = []
    runs = Path(out) / "runs"
    merged = merged or {}
    for c in cells:
        rd = runs / c.name
        base = {"cell": c.name, "dataset": c.dataset, "model": c.model, "model_name": c.model_name,
                "variant": c.variant, "seed": c.seed}
        res_path = rd / "results.json"
        if not res_path.exists() and c.name in merged:
            rows.extend({**r, **base} for r in merged[c.name])
            continue
        if not res_path.exists():
            status = "partial" if (rd / "config.yaml").exists() else "missing"
            rows.append({**base, "protocol": "", "status": status, "run_dir": f"runs/{c.name}"})
            continue
        res = read_results(res_path, hint=f"delete it and run the experiment again to redo the "
                                          f"cell {c.name}")
        cfg_path = rd / "config.yaml"
        cfg = read_yaml(cfg_path) if cfg_path.exists() else res.get("config")
        tested = list(res.get("protocols", {}).items())
        selection = (res.get("selection") or {}).get("protocol")
        dev = (res.get("dev") or {}).get(selection)
        for protocol, metrics in tested + ([(DEV, dev)] if tested and dev else []):
            rows.append({**base, "protocol": protocol, "status": "done",
                         **{k: v for k, v in metrics.items() if "@" in k},
                         "eval_rows": metrics.get("rows"), "best_epoch": res.get("best_epoch"),
                         "epochs_run": res.get("epochs_run"),
                         "train_seconds": (res.get("seconds") or {}).get("train_total"),
                         "device": ", ".join(res.get("devices") or [res.get("device") or ""]),
                         "run_dir": f"runs/{c.name}",
                         "config": json.dumps(cfg, sort_keys=False, separators=(",", ":"))})
    return rows


def write_csv(path: Path, rows: Sequence[Dict[str, Any]], columns: Sequence[str]) -> None:
    """``rows`` as CSV with ``columns`` (None as empty), written atomically."""
    from ..io import atomic_write_text

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    atomic_write_text(path, buf.getvalue())

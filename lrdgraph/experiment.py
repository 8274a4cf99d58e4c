"""Experiment grids: models × data sets × variants × seeds, each cell trained by the one trainer
into its own run directory, resumable, and summarised as the paper's Table 3 (per protocol),
its ablation (Figure 2) and its sensitivity plots (Figure 6). The spec format is documented in
``docs/experiments.md``; ``lrdgraph experiment SPEC --out DIR`` is the command line.

Output directory::

    DIR/spec.yaml                  the effective spec (absolute graph paths, --set merged)
    DIR/runs/<cell>/               one run directory per cell (see ``lrdgraph train``)
    DIR/logs/<cell>.log            the trainer's log of the cell
    DIR/results.csv                every cell × protocol: metrics, best epoch, seconds, config
    DIR/summary.csv                mean, std and n over seeds per dataset/model/variant/metric
    DIR/significance.csv           each *_LRD row against its vanilla row: improvement, p
    DIR/table_<protocol>.md        Table 3 layout, one per protocol
    DIR/table_time.md              epochs and training time per data set, model and variant
    DIR/ablation.csv, ablation_<protocol>.png                    when the spec has `ablation`
    DIR/sensitivity.csv, sensitivity_<key>_<protocol>.png        when it has `sensitivity`
"""
from __future__ import annotations

import copy
import csv
import io
import json
import math
import os
import re
import shutil
import statistics
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import yaml

from .config import BASELINES, with_current_defaults
from .errors import ConfigError, LrdError, OutputError

__all__ = ["ExperimentSpec", "Cell", "ExperimentFailed", "load_spec", "plan_cells",
           "cell_states", "run_experiment", "write_report", "format_time_table", "DEFAULT_METRICS"]

#: columns of the Table 3 layout (per data set)
DEFAULT_METRICS = ["HR@5", "HR@10", "NDCG@5", "NDCG@10"]
#: metrics of the ablation and sensitivity plots
DEFAULT_PLOT_METRICS = ["HR@5", "NDCG@5"]
LRD_SUFFIX = "_LRD"
SPEC_KEYS = ("name", "description", "datasets", "models", "seeds", "set", "variants",
             "ablation", "sensitivity", "report")
_SAFE = re.compile(r"[^A-Za-z0-9._+-]+")


class ExperimentFailed(LrdError):
    """Some cells failed; the report over the finished ones was still written."""

    exit_code = 1


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- the spec
@dataclass
class DatasetSpec:
    graph: Path
    set: List[str] = field(default_factory=list)
    build: Optional[str] = None


@dataclass
class ModelSpec:
    model: str
    set: List[str] = field(default_factory=list)


@dataclass
class ExperimentSpec:
    """A parsed, validated experiment spec (see ``docs/experiments.md``)."""

    name: str
    datasets: Dict[str, DatasetSpec]
    models: Dict[str, ModelSpec]
    seeds: List[int]
    set: List[str] = field(default_factory=list)
    variants: Dict[str, List[str]] = field(default_factory=dict)
    ablation: List[str] = field(default_factory=list)
    sensitivity: Dict[str, List[Any]] = field(default_factory=dict)
    metrics: List[str] = field(default_factory=lambda: list(DEFAULT_METRICS))
    plot_metrics: List[str] = field(default_factory=lambda: list(DEFAULT_PLOT_METRICS))
    protocols: List[str] = field(default_factory=lambda: ["sampled", "full"])
    description: str = ""
    source: str = "spec"

    def to_dict(self) -> Dict[str, Any]:
        """The effective spec as a mapping that :func:`load_spec` reads back (absolute paths)."""
        out: Dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        out["datasets"] = {k: {"graph": str(d.graph), "set": list(d.set),
                               **({"build": d.build} if d.build else {})}
                           for k, d in self.datasets.items()}
        out["models"] = {k: {"model": m.model, "set": list(m.set)} for k, m in self.models.items()}
        out["seeds"] = list(self.seeds)
        out["set"] = list(self.set)
        out["variants"] = {k: list(v) for k, v in self.variants.items()
                           if k not in self.sweep_variants()}
        if self.ablation:
            out["ablation"] = {"variants": list(self.ablation)}
        if self.sensitivity:
            out["sensitivity"] = {k: list(v) for k, v in self.sensitivity.items()}
        out["report"] = {"metrics": list(self.metrics), "plot_metrics": list(self.plot_metrics),
                         "protocols": list(self.protocols)}
        return out

    def sweep_variants(self) -> Dict[str, Tuple[str, Any]]:
        """Variant name → (key, value) of the variants the ``sensitivity`` sweeps add."""
        return {sweep_name(k, v): (k, v) for k, vals in self.sensitivity.items() for v in vals}


def sweep_name(key: str, value: Any) -> str:
    """Name of the variant that sets ``key`` to ``value`` in a sensitivity sweep."""
    return f"{key}={_scalar_text(value)}"


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    return json.dumps(value)


def _as_list_of_str(value: Any, where: str, source: str) -> List[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"'{where}' must be a list of KEY=VALUE strings", path=source)
    for v in value:
        if "=" not in v:
            raise ConfigError(f"'{where}': expected KEY=VALUE, got {v!r}", path=source)
    return list(value)


def _label(value: Any, where: str, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"'{where}' names must be non-empty strings", path=source)
    return value


def load_spec(spec: str | Path | Mapping[str, Any], *, base_dir: Optional[str | Path] = None,
              extra_set: Sequence[str] = ()) -> ExperimentSpec:
    """Read and validate an experiment spec (a YAML file, or a mapping).

    Relative graph paths are taken relative to the spec file's directory (``base_dir`` for a
    mapping, default the working directory); ``~`` and ``$VARS`` are expanded. ``extra_set``
    (``--set`` of the command line) is appended to the spec's ``set``.
    """
    if isinstance(spec, Mapping):
        raw, source = copy.deepcopy(dict(spec)), "spec"
        base = Path(base_dir) if base_dir is not None else Path.cwd()
    else:
        path = Path(spec)
        if not path.is_file():
            raise ConfigError("experiment spec not found", path=path)
        source = str(path)
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise ConfigError(f"invalid YAML: {getattr(exc, 'problem', exc)}", path=path,
                              line=None if mark is None else mark.line + 1)
        base = Path(base_dir) if base_dir is not None else path.resolve().parent
    if not isinstance(raw, dict):
        raise ConfigError("an experiment spec must hold a mapping", path=source)
    unknown = sorted(set(raw) - set(SPEC_KEYS))
    if unknown:
        raise ConfigError(f"unknown spec key(s) {', '.join(unknown)}; known: {', '.join(SPEC_KEYS)}",
                          path=source)
    for key in ("datasets", "models", "seeds"):
        if not raw.get(key):
            raise ConfigError(f"the spec needs '{key}'", path=source)

    datasets: Dict[str, DatasetSpec] = {}
    if not isinstance(raw["datasets"], dict):
        raise ConfigError("'datasets' must map a label to a graph directory", path=source)
    for label, entry in raw["datasets"].items():
        label = _label(label, "datasets", source)
        if isinstance(entry, str):
            entry = {"graph": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("graph"), str):
            raise ConfigError(f"datasets.{label} must be a graph directory or {{graph: DIR, set: [...]}}",
                              path=source)
        bad = sorted(set(entry) - {"graph", "set", "build"})
        if bad:
            raise ConfigError(f"datasets.{label}: unknown key(s) {', '.join(bad)}", path=source)
        g = Path(os.path.expandvars(os.path.expanduser(entry["graph"])))
        datasets[label] = DatasetSpec(graph=(g if g.is_absolute() else base / g).resolve(),
                                      set=_as_list_of_str(entry.get("set"), f"datasets.{label}.set", source),
                                      build=entry.get("build"))

    from .config import MODEL_NAMES

    models: Dict[str, ModelSpec] = {}
    if not isinstance(raw["models"], dict):
        raise ConfigError("'models' must map a row label to a model name or {model: NAME, set: [...]}",
                          path=source)
    for label, entry in raw["models"].items():
        label = _label(label, "models", source)
        if isinstance(entry, str):
            entry = {"model": entry}
        if not isinstance(entry, dict) or entry.get("model") not in MODEL_NAMES:
            raise ConfigError(f"models.{label}: 'model' must be one of {', '.join(MODEL_NAMES)}",
                              path=source)
        bad = sorted(set(entry) - {"model", "set"})
        if bad:
            raise ConfigError(f"models.{label}: unknown key(s) {', '.join(bad)}", path=source)
        models[label] = ModelSpec(model=entry["model"],
                                  set=_as_list_of_str(entry.get("set"), f"models.{label}.set", source))

    seeds = raw["seeds"]
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, list) or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ConfigError("'seeds' must be a list of integers", path=source)
    if len(set(seeds)) != len(seeds):
        raise ConfigError("'seeds' has duplicates", path=source)

    sensitivity: Dict[str, List[Any]] = {}
    sens = raw.get("sensitivity") or {}
    if not isinstance(sens, dict):
        raise ConfigError("'sensitivity' must map a config key to a list of values", path=source)
    for key, values in sens.items():
        if not isinstance(key, str) or not isinstance(values, list) or not values:
            raise ConfigError(f"sensitivity.{key} must be a non-empty list of values", path=source)
        sensitivity[key] = list(values)

    variants: Dict[str, List[str]] = {}
    raw_variants = raw.get("variants")
    if raw_variants is None:
        raw_variants = {} if sensitivity else {"default": []}
    if not isinstance(raw_variants, dict):
        raise ConfigError("'variants' must map a name to a list of KEY=VALUE strings", path=source)
    for name, sets in raw_variants.items():
        name = _label(name, "variants", source)
        variants[name] = _as_list_of_str(sets, f"variants.{name}", source)
    for key, values in sensitivity.items():
        for v in values:
            name = sweep_name(key, v)
            if name in variants:
                raise ConfigError(f"variant {name!r} is defined twice (variants and sensitivity)",
                                  path=source)
            variants[name] = [f"{key}={json.dumps(v) if isinstance(v, str) else _scalar_text(v)}"]
    if not variants:
        raise ConfigError("the spec defines no variants", path=source)

    abl = raw.get("ablation") or []
    if isinstance(abl, dict):
        bad = sorted(set(abl) - {"variants"})
        if bad:
            raise ConfigError(f"ablation: unknown key(s) {', '.join(bad)}", path=source)
        abl = abl.get("variants") or []
    if not isinstance(abl, list) or not all(isinstance(a, str) for a in abl):
        raise ConfigError("'ablation' must list variant names (or be {variants: [...]})", path=source)
    missing = [a for a in abl if a not in variants]
    if missing:
        raise ConfigError(f"ablation names unknown variant(s) {', '.join(missing)}", path=source)

    report = raw.get("report") or {}
    if not isinstance(report, dict) or set(report) - {"metrics", "plot_metrics", "protocols"}:
        raise ConfigError("'report' may hold metrics, plot_metrics and protocols", path=source)
    metric_re = re.compile(r"^(HR|NDCG)@\d+$")
    metrics = report.get("metrics", list(DEFAULT_METRICS))
    plot_metrics = report.get("plot_metrics", list(DEFAULT_PLOT_METRICS))
    for key, ms in (("metrics", metrics), ("plot_metrics", plot_metrics)):
        if not isinstance(ms, list) or not ms or not all(isinstance(m, str) and metric_re.match(m) for m in ms):
            raise ConfigError(f"report.{key} must list metrics like HR@5, NDCG@10", path=source)
    protocols = report.get("protocols", ["sampled", "full"])
    if not isinstance(protocols, list) or not protocols or not set(protocols) <= {"sampled", "full"}:
        raise ConfigError("report.protocols must be a non-empty subset of [sampled, full]", path=source)

    name = raw.get("name") or (Path(source).stem if source != "spec" else "experiment")
    return ExperimentSpec(
        name=str(name), datasets=datasets, models=models, seeds=list(seeds),
        set=_as_list_of_str(raw.get("set"), "set", source) + list(extra_set),
        variants=variants, ablation=list(abl), sensitivity=sensitivity, metrics=list(metrics),
        plot_metrics=list(plot_metrics), protocols=list(protocols),
        description=str(raw.get("description") or ""), source=source)


# ---------------------------------------------------------------------------- cells
@dataclass
class Cell:
    """One training run of the grid: its name is its run directory under ``runs/``."""

    name: str
    dataset: str
    model: str  # the row label
    model_name: str  # lrdgraph model.name
    variant: str
    seed: int
    graph: Path
    overrides: List[str]
    config: Dict[str, Any]


def _safe(part: str) -> str:
    return _SAFE.sub("-", part).strip("-") or "x"


def cell_name(dataset: str, model: str, variant: str, seed: int) -> str:
    """``<dataset>__<model>__<variant>__seed<seed>``, each part reduced to ``[A-Za-z0-9._+-]``
    (``w/o LLM`` becomes ``w-o-LLM``, ``lrd.lambda=0.1`` becomes ``lrd.lambda-0.1``)."""
    return "__".join([_safe(dataset), _safe(model), _safe(variant), f"seed{seed}"])


def plan_cells(spec: ExperimentSpec) -> List[Cell]:
    """Every cell of the grid (data set, model, variant, seed order) with its resolved config.

    Overrides apply in the order spec ``set`` < data set ``set`` < model ``set`` < variant <
    ``train.seed``; a bad key or value fails here, before anything runs.
    """
    from .config import resolve_config, set_dotted

    cells: List[Cell] = []
    seen: Dict[str, Tuple] = {}
    for dname, d in spec.datasets.items():
        for mlabel, m in spec.models.items():
            for vname, vset in spec.variants.items():
                overrides = [*spec.set, *d.set, *m.set, *vset]
                try:  # resolved once per (data set, model, variant); the seed is set last
                    base = resolve_config(model=m.model, overrides=overrides)
                except ConfigError as exc:
                    raise ConfigError(f"cell {dname} / {mlabel} / {vname}: {exc.message}",
                                      path=spec.source) from None
                if base["model"]["name"] != m.model:
                    raise ConfigError(f"models.{mlabel}: set model.name through 'model', "
                                      "not through 'set'", path=spec.source)
                base["data"] = {"graph": str(d.graph)}
                for seed in spec.seeds:
                    name = cell_name(dname, mlabel, vname, seed)
                    key = (dname, mlabel, vname, seed)
                    if name in seen:
                        raise ConfigError(f"cells {seen[name]} and {key} get the same directory "
                                          f"name {name!r}; rename a label", path=spec.source)
                    seen[name] = key
                    cfg = set_dotted(base, "train.seed", seed)
                    cells.append(Cell(name=name, dataset=dname, model=mlabel, model_name=m.model,
                                      variant=vname, seed=seed, graph=d.graph,
                                      overrides=[*overrides, f"train.seed={seed}"],
                                      config=_normalise(cfg)))
    return cells


def select_cells(spec: ExperimentSpec, cells: Sequence[Cell], *, models: Sequence[str] = (),
                 datasets: Sequence[str] = (), seeds: Sequence[int] = (),
                 variants: Sequence[str] = ()) -> List[Cell]:
    """The cells matching every given filter (row labels, data set names, seeds, variant names
    such as ``w/o KGE`` or a sweep's ``lrd.lambda=0.1``; an empty filter matches all). A name or
    seed that is not in the spec is an error, so a typo does not silently select nothing."""
    for what, given, known in (("model", models, list(spec.models)),
                               ("dataset", datasets, list(spec.datasets)),
                               ("seed", seeds, list(spec.seeds)),
                               ("variant", variants, list(spec.variants))):
        bad = [str(g) for g in given if g not in known]
        if bad:
            raise ConfigError(f"{what} {', '.join(bad)} not in the spec; it has "
                              + ", ".join(str(k) for k in known), path=spec.source)
    return [c for c in cells if (not models or c.model in models)
            and (not datasets or c.dataset in datasets) and (not seeds or c.seed in seeds)
            and (not variants or c.variant in variants)]


def _read_yaml(path: Path) -> Any:
    """A run's config.yaml (with libyaml when available: grids have hundreds of them)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)


def _normalise(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """The config as it reads back from a run directory's config.yaml (plain types only)."""
    return json.loads(json.dumps(cfg))


def _without_runtime(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """The config less its runtime settings (thread count, device, ...), which a resumed cell
    may change without changing its result."""
    from .train.trainer import RUNTIME_KEYS

    out = copy.deepcopy(cfg)
    for key in RUNTIME_KEYS:
        section, name = key.split(".")
        if isinstance(out.get(section), dict):
            out[section].pop(name, None)
    return out


def _without_inert(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """The config less the settings its run ignores: the ``lrd`` and ``kge`` sections of a
    sequence baseline, and the LRD (KGE) settings other than ``enabled`` when LRD (KGE) is off.
    A new default for one of those leaves the finished cells valid."""
    out = copy.deepcopy(cfg)
    model = out.get("model", {}).get("name") if isinstance(out.get("model"), dict) else None
    for section in ("lrd", "kge"):
        part = out.get(section)
        if not isinstance(part, dict):
            continue
        if model in BASELINES:
            out.pop(section)
        elif part.get("enabled") is False:
            out[section] = {"enabled": False}
    return out


def _first_difference(a: Any, b: Any, prefix: str = "") -> Optional[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in a or k not in b:
                return f"{prefix}{k} (only in the {'run' if k in a else 'spec'})"
            d = _first_difference(a[k], b[k], f"{prefix}{k}.")
            if d is not None:
                return d
        return None
    return None if a == b else f"{prefix.rstrip('.')} (run has {a!r}, spec gives {b!r})"


def _config_difference(stored: Any, wanted: Dict[str, Any], *, ignore_graph: bool = False
                       ) -> Optional[str]:
    """The first difference between a finished run's config (``stored``, as read back) and the
    config the spec gives its cell, less runtime and inert settings; a setting added to
    lrdgraph after the run was made counts with its default. ``ignore_graph`` leaves out
    ``data.graph`` (the same graph lies elsewhere on another machine)."""
    if isinstance(stored, dict):
        stored = with_current_defaults(stored)
    a, b = _without_inert(_without_runtime(stored)), _without_inert(_without_runtime(wanted))
    if ignore_graph:
        for cfg in (a, b):
            if isinstance(cfg.get("data"), dict):
                cfg["data"].pop("graph", None)
    return _first_difference(a, b)


def cell_states(cells: Sequence[Cell], out: str | Path) -> Dict[str, str]:
    """``done`` (results.json), ``partial`` (run directory with config, no results: resumed),
    or ``new`` per cell name. Raises ConfigError when a cell's run directory holds another
    configuration than the spec now gives it."""
    runs = Path(out) / "runs"
    states: Dict[str, str] = {}
    conflicts: List[str] = []
    for c in cells:
        rd = runs / c.name
        cfg_path = rd / "config.yaml"
        if not cfg_path.exists():
            states[c.name] = "new"
            continue
        diff = _config_difference(_read_yaml(cfg_path), c.config)
        if diff is not None:
            conflicts.append(f"{c.name}: {diff}")
        states[c.name] = "done" if (rd / "results.json").exists() else "partial"
    if conflicts:
        more = f" (and {len(conflicts) - 5} more)" if len(conflicts) > 5 else ""
        raise ConfigError("run directories were made with another configuration than the spec "
                          "gives now: " + "; ".join(conflicts[:5]) + more + ". Delete those run "
                          f"directories under {runs} to re-run them, or use another --out")
    return states


# ---------------------------------------------------------------------------- running
def _exit_with_parent(parent: int, every: float = 0.5) -> None:
    """In a worker process: exit as soon as the experiment process that started it is gone.

    A killed experiment (SIGKILL, OOM killer) cannot stop its workers; without this they would
    train on, hold their cells' output locks and wait forever for work. Files are written
    atomically, so exiting at any moment leaves each cell finished or resumable.
    """
    import threading

    def watch() -> None:
        while True:
            time.sleep(every)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="lrdgraph-parent-watch", daemon=True).start()


def _init_worker(threads: Optional[int], parent: Optional[int] = None) -> None:
    if parent is not None:
        _exit_with_parent(parent)
    if threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
        from .train.trainer import configure_cpu

        # before the thread pool starts (workers copy the flush mode); the cell's own
        # train.flush_denormal is applied again when its training starts
        configure_cpu({"flush_denormal": True, "num_threads": threads})


def _run_cell(job: Dict[str, Any]) -> Dict[str, Any]:
    """Train (or resume) one cell; never raises for a failure of the cell itself."""
    from .train.trainer import resume, train

    run_dir, log_path = Path(job["run_dir"]), Path(job["log"])
    out = {"name": job["name"]}
    if (run_dir / "results.json").exists():
        return {**out, "status": "done", "how": "finished before"}
    t0 = time.perf_counter()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8") as fh:
        def log(msg: str) -> None:
            fh.write(msg + "\n")
            fh.flush()

        try:
            if (run_dir / "config.yaml").exists():
                log(f"--- resuming {run_dir}")
                res, how = resume(run_dir, progress=False, log=log), "resumed"
            else:
                log(f"--- training {run_dir}")
                res, how = train(job["graph"], job["config"], run_dir, overwrite=True,
                                 progress=False, log=log), "trained"
        except LrdError as exc:
            log(f"failed: {exc}")
            return {**out, "status": "failed", "error": str(exc)}
        except Exception as exc:  # a bug or an environment failure: keep the other cells going
            log(traceback.format_exc())
            return {**out, "status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    metric = job["config"]["eval"]["metric"]
    score = {p: m.get(metric) for p, m in res.get("protocols", {}).items()}
    return {**out, "status": "done", "how": how, "seconds": round(time.perf_counter() - t0, 1),
            "metric": metric, "score": score}


def run_experiment(spec: str | Path | Mapping[str, Any], out: str | Path, *, jobs: int = 1,
                   threads: Optional[int] = None, extra_set: Sequence[str] = (),
                   overwrite: bool = False, report_only: bool = False,
                   models: Sequence[str] = (), datasets: Sequence[str] = (),
                   seeds: Sequence[int] = (), variants: Sequence[str] = (),
                   merge: Sequence[str | Path] = (),
                   log: Callable[[str], None] = _stderr) -> Dict[str, Any]:
    """Run every unfinished cell of ``spec`` into ``out`` and write the report.

    ``merge``: other experiments' ``results.csv`` files (the same spec run on another machine
    or in an earlier session, or a committed copy); their finished cells fill the report's
    cells that are not finished here (:func:`read_merged_rows`). Merged cells are not trained.

    ``models`` / ``datasets`` / ``seeds`` / ``variants`` (row labels, data set names, seeds,
    variant names) restrict the cells trained now to a slice of the grid
    (:func:`select_cells`); the report always covers every finished cell, and a later run
    without them resumes the rest.

    Finished cells (``results.json``) are not re-run; an interrupted cell (a run directory
    without ``results.json``) is resumed from its last checkpoint. ``jobs > 1`` trains cells in
    that many spawned processes, each with ``threads`` torch threads (default: CPU cores /
    jobs). ``report_only`` trains nothing and rewrites the report from the finished cells.
    Returns ``{"cells", "states", "outcomes", "files"}``; raises :class:`ExperimentFailed`
    after writing the report if a cell failed.
    """
    spec = spec if isinstance(spec, ExperimentSpec) else load_spec(spec, extra_set=extra_set)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError("output path exists and is not a directory", path=out)
    if out.exists() and any(out.iterdir()) and not (out / "spec.yaml").exists():
        if not overwrite:
            raise OutputError("output directory is not empty and holds no experiment "
                              "(spec.yaml); pass --overwrite to replace it", path=out)
    cells = plan_cells(spec)
    merged = read_merged_rows(cells, merge) if merge else {}
    chosen = {c.name for c in select_cells(spec, cells, models=models, datasets=datasets,
                                           seeds=seeds, variants=variants)}
    from .io import DirLock, atomic_write_text

    outcomes: List[Dict[str, Any]] = []
    with DirLock(out):
        if overwrite and out.exists() and not report_only:
            shutil.rmtree(out)
        states = cell_states(cells, out)
        out.mkdir(parents=True, exist_ok=True)
        # written by --report-only too: the directory is then an experiment that a later
        # command may rewrite or resume
        atomic_write_text(out / "spec.yaml", yaml.safe_dump(spec.to_dict(), sort_keys=False,
                                                            allow_unicode=True))
        if not report_only:
            todo = [c for c in cells if states[c.name] != "done" and c.name in chosen
                    and c.name not in merged]
            missing = sorted({c.dataset for c in todo if not c.graph.is_dir()})
            if missing:
                hints = [f"{d}: {spec.datasets[d].graph}" + (f" (build it with: {spec.datasets[d].build})"
                                                             if spec.datasets[d].build else "")
                         for d in missing]
                raise ConfigError("graph directory not found for " + "; ".join(hints), path=spec.source)
            done = sum(states[c.name] == "done" for c in cells)
            skipped = "" if len(chosen) == len(cells) else \
                f"; {len(cells) - len(chosen)} outside the selection left alone"
            taken = sum(c.name in merged and states[c.name] != "done" for c in cells)
            taken_msg = f", {taken} merged from {len(merge)} file(s)" if merge else ""
            log(f"{spec.name}: {len(cells)} cells, {done} finished{taken_msg}, "
                f"{sum(states[c.name] == 'partial' for c in todo)} to resume, "
                f"{sum(states[c.name] == 'new' for c in todo)} new{skipped}; {jobs} job(s)")
            outcomes = _run_cells(todo, out, jobs=jobs, threads=threads, log=log)
        files = write_report(spec, cells, out, merged)
    failed = [o for o in outcomes if o["status"] == "failed"]
    result = {"cells": cells, "states": states, "outcomes": outcomes, "files": files}
    if failed:
        raise ExperimentFailed(f"{len(failed)} of {len(outcomes)} cells failed ("
                               + ", ".join(o["name"] for o in failed[:3])
                               + (", ..." if len(failed) > 3 else "")
                               + f"); see {out / 'logs'}; the report covers the finished cells")
    return result


def _run_cells(todo: Sequence[Cell], out: Path, *, jobs: int, threads: Optional[int],
               log: Callable[[str], None]) -> List[Dict[str, Any]]:
    jobs_ = [{"name": c.name, "run_dir": str(out / "runs" / c.name),
              "log": str(out / "logs" / f"{c.name}.log"), "graph": str(c.graph),
              "config": c.config} for c in todo]
    outcomes: List[Dict[str, Any]] = []

    def report(o: Dict[str, Any]) -> None:
        outcomes.append(o)
        k = len(outcomes)
        if o["status"] == "failed":
            log(f"[{k}/{len(jobs_)}] {o['name']}: FAILED: {o['error']}")
        else:
            scores = "  ".join(f"{p} {o['metric']}={v:.4f}" for p, v in o.get("score", {}).items()
                               if v is not None)
            log(f"[{k}/{len(jobs_)}] {o['name']}: {o['how']} in {o.get('seconds', 0)}s  {scores}")

    if jobs <= 1 or len(jobs_) <= 1:
        if threads:
            _init_worker(threads)
        for j in jobs_:
            report(_run_cell(j))
        return outcomes
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    if threads is None:
        threads = max(1, (os.cpu_count() or 1) // jobs)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(jobs_)), mp_context=ctx,
                             initializer=_init_worker, initargs=(threads, os.getpid())) as pool:
        futures = {pool.submit(_run_cell, j): j for j in jobs_}
        try:
            for f in as_completed(futures):
                try:
                    report(f.result())
                except Exception as exc:  # the worker process died
                    report({"name": futures[f]["name"], "status": "failed",
                            "error": f"{type(exc).__name__}: {exc}"})
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return outcomes


# ---------------------------------------------------------------------------- report
def _metric_order(names: Iterable[str]) -> List[str]:
    def key(m: str) -> Tuple[int, int]:
        kind, _, k = m.partition("@")
        return (int(k) if k.isdigit() else 0, 0 if kind == "HR" else 1)

    return sorted(set(names), key=key)


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
    by name keeps those rows over rows matched by configuration. The rows keep their own
    ``run_dir`` and get ``source`` (the file they came from, unless they already name one).
    Two rows giving the same cell and protocol with the same numbers are one run merged twice
    (a committed table and the experiment it was made from): the first is kept. Raises
    ConfigError naming the file and line of a malformed or conflicting row, and when two rows
    give the same cell and protocol with other numbers."""
    by_name = {c.name: c for c in cells}
    wanted = {c.name: _normalise(c.config) for c in cells}  # as a run's config reads back
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
                    if _config_difference(stored, wanted[cell.name], ignore_graph=True) is None:
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
            diff = _config_difference(stored, wanted[cell.name], ignore_graph=True)
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
    for (name, _protocol), (row, _where) in matched.items():
        if name not in given:
            merged.setdefault(name, []).append(row)
    return merged


def _same_numbers(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two results rows report the same metrics (the same run, merged twice)."""
    keys = [k for k in a if k.startswith(("HR@", "NDCG@"))]
    return bool(keys) and all(a.get(k) == b.get(k) for k in keys)


def collect_results(cells: Sequence[Cell], out: str | Path,
                    merged: Optional[Mapping[str, List[Dict[str, Any]]]] = None
                    ) -> List[Dict[str, Any]]:
    """One row per finished cell and protocol (one row with ``status`` for an unfinished
    cell), as written to ``results.csv``. A cell not finished here takes its rows from
    ``merged`` (:func:`read_merged_rows`) when they have it; a cell finished here keeps its own."""
    from .train.trainer import read_results

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
        cfg = _read_yaml(cfg_path) if cfg_path.exists() else res.get("config")
        for protocol, metrics in res.get("protocols", {}).items():
            rows.append({**base, "protocol": protocol, "status": "done",
                         **{k: v for k, v in metrics.items() if "@" in k},
                         "eval_rows": metrics.get("rows"), "best_epoch": res.get("best_epoch"),
                         "epochs_run": res.get("epochs_run"),
                         "train_seconds": (res.get("seconds") or {}).get("train_total"),
                         "device": ", ".join(res.get("devices") or [res.get("device") or ""]),
                         "run_dir": f"runs/{c.name}",
                         "config": json.dumps(cfg, sort_keys=False, separators=(",", ":"))})
    return rows


def _write_csv(path: Path, rows: Sequence[Dict[str, Any]], columns: Sequence[str]) -> None:
    from .io import atomic_write_text

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    atomic_write_text(path, buf.getvalue())


def _mean_std(values: Sequence[float]) -> Tuple[float, float]:
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else float("nan")
    return mean, std


def paired_t_test(a: Dict[int, float], b: Dict[int, float]) -> Tuple[float, int]:
    """Two-sided paired t-test over the seeds both have (scipy.stats.ttest_rel)."""
    seeds = sorted(set(a) & set(b))
    if len(seeds) < 2:
        return float("nan"), len(seeds)
    from scipy.stats import ttest_rel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = float(ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue)
    return p, len(seeds)


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


class _Stats:
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

    def summary(self) -> List[Dict[str, Any]]:
        out = []
        for (d, m, v, p, metric), by_seed in self.values.items():
            mean, std = _mean_std(list(by_seed.values()))
            out.append({"dataset": d, "model": m, "variant": v, "protocol": p, "metric": metric,
                        "mean": mean, "std": std, "n": len(by_seed),
                        "seeds": " ".join(str(s) for s in sorted(by_seed))})
        return out


def _fmt(mean: float, std: float) -> str:
    return f"{mean:.4f}" if math.isnan(std) else f"{mean:.4f} ± {std:.4f}"


def _significance_rows(spec: ExperimentSpec, stats: _Stats) -> List[Dict[str, Any]]:
    rows = []
    for label in spec.models:
        base = label[:-len(LRD_SUFFIX)] if label.endswith(LRD_SUFFIX) else None
        if not base or base not in spec.models:
            continue
        for d in spec.datasets:
            for v in spec.variants:
                for p in spec.protocols:
                    for metric in spec.metrics:
                        a, b = stats.get(d, label, v, p, metric), stats.get(d, base, v, p, metric)
                        if not a or not b:
                            continue
                        rel, pval, ma, mb, n = paired_improvement(a, b)
                        rows.append({"dataset": d, "variant": v, "protocol": p, "metric": metric,
                                     "model": label, "baseline": base, "mean": ma, "baseline_mean": mb,
                                     "improvement": rel, "p_value": pval, "n_pairs": n})
    return rows


def format_table(spec: ExperimentSpec, stats: _Stats, protocol: str, variant: str) -> List[str]:
    """Markdown lines of one Table 3: rows = models (with "Improv." after each *_LRD row that
    has a vanilla row), columns = each data set's metrics; mean ± std over seeds."""
    cols = [(d, m) for d in spec.datasets for m in spec.metrics]
    header = "| Model | " + " | ".join(f"{d} {m}" for d, m in cols) + " |"
    lines = [header, "|---|" + "---|" * len(cols)]
    means = {(label, d, m): _mean_std(list(stats.get(d, label, variant, protocol, m).values()))
             for label in spec.models for d, m in cols
             if stats.get(d, label, variant, protocol, m)}
    best = {}
    for d, m in cols:
        vals = [means[(label, d, m)][0] for label in spec.models if (label, d, m) in means]
        if vals:
            best[(d, m)] = max(vals)
    for label in spec.models:
        base = label[:-len(LRD_SUFFIX)] if label.endswith(LRD_SUFFIX) else None
        paired = base is not None and base in spec.models
        cells, improv = [], []
        for d, m in cols:
            if (label, d, m) not in means:
                cells.append("–")
                improv.append("–")
                continue
            mean, std = means[(label, d, m)]
            n = len(stats.get(d, label, variant, protocol, m))
            text = _fmt(mean, std)
            mark = ""
            if paired and (base, d, m) in means:
                a = stats.get(d, label, variant, protocol, m)
                b = stats.get(d, base, variant, protocol, m)
                rel, pval, _, _, n_pairs = paired_improvement(a, b)
                if not math.isnan(pval) and rel > 0:
                    mark = "‡" if pval <= 0.01 else "†" if pval <= 0.05 else ""
                if n_pairs == 0:
                    improv.append("no shared seed")
                else:
                    text_rel = "n/a" if math.isnan(rel) else f"{rel * 100:+.2f}%"
                    notes = [] if math.isnan(pval) else [f"p={pval:.3g}"]
                    if n_pairs < max(len(a), len(b)):  # the rows' means cover other seeds too
                        notes.append(f"{n_pairs} paired seed{'s' if n_pairs > 1 else ''}")
                    improv.append(text_rel + (f" ({', '.join(notes)})" if notes else ""))
            elif paired:
                improv.append("–")
            if best.get((d, m)) == mean:
                text = f"**{text}**"
            # a cell with fewer finished seeds than the spec says so (a grid still running)
            cells.append(text + mark + (f" (n={n})" if n < len(spec.seeds) else ""))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
        if paired:
            lines.append("| Improv. | " + " | ".join(improv) + " |")
    return lines


def _table_markdown(spec: ExperimentSpec, stats: _Stats, protocol: str) -> str:
    what = {"sampled": "1 positive + sampled negatives (the paper's protocol)",
            "full": "ranked against every item, the user's known items masked"}[protocol]
    seeds = ", ".join(str(s) for s in spec.seeds)
    lines = [f"# {spec.name}: test metrics, {protocol} protocol", "",
             f"Protocol `{protocol}`: {what}. Mean ± sample standard deviation over seeds "
             f"({seeds}; a cell with fewer finished seeds shows their number n); **bold**: best "
             f"mean of the column. Improv.: relative improvement of the "
             f"mean of each `*{LRD_SUFFIX}` row over its vanilla row on the seeds both have "
             "(their number is given when the rows' own means cover more), with the p-value of a "
             "two-sided paired t-test over those seeds (scipy.stats.ttest_rel); ‡ p ≤ 0.01, "
             "† p ≤ 0.05 on the improved row. –: no finished cell.", ""]
    many = len(spec.variants) > 1
    for v, sets in spec.variants.items():
        if many:
            shown = sets and v not in spec.sweep_variants()
            lines += [f"## Variant `{v}`" + (f" ({', '.join(sets)})" if shown else ""), ""]
        lines += format_table(spec, stats, protocol, v) + [""]
    return "\n".join(lines)


def _number(value: Any) -> Optional[float]:
    """A results.csv cell as a float (None when empty or not a number)."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


def _span(values: Sequence[float], fmt: str = "{:.0f}") -> str:
    lo, hi = min(values), max(values)
    return fmt.format(lo) if fmt.format(lo) == fmt.format(hi) else f"{fmt.format(lo)}-{fmt.format(hi)}"


def format_time_table(spec: ExperimentSpec, rows: Sequence[Dict[str, Any]]) -> List[str]:
    """Markdown lines of the cost table the paper does not give: per data set, model and
    variant, the finished seeds, epochs run and best epoch (ranges over seeds), the training
    time of one run (the trainer's ``train_total``: training steps without dev and test
    evaluation; median and range over seeds) and the median seconds per epoch, with the devices
    the runs trained on (``–`` for merged rows of older results that do not say)."""
    runs: Dict[Tuple[str, str, str], Dict[int, Dict[str, Any]]] = {}
    for r in rows:
        if r.get("status") == "done":  # one row per protocol: keep one per seed
            runs.setdefault((r["dataset"], r["model"], r["variant"]), {}).setdefault(int(r["seed"]), r)
    lines = ["| Data set | Model | Variant | n | epochs run | best epoch | training time, min "
             "(median, range) | s per epoch (median) | device |",
             "|---|---|---|---|---|---|---|---|---|"]
    for d in spec.datasets:
        for label in spec.models:
            for v in spec.variants:
                by_seed = runs.get((d, label, v))
                if not by_seed:
                    continue
                rs = list(by_seed.values())
                parsed = [(_number(r.get("epochs_run")), _number(r.get("best_epoch")),
                          _number(r.get("train_seconds"))) for r in rs]
                epochs = [e for e, _, _ in parsed if e is not None]
                best = [b for _, b, _ in parsed if b is not None]
                secs = [t for _, _, t in parsed if t is not None]
                per_epoch = [t / e for e, _, t in parsed if t is not None and e]
                devices = sorted({dev.strip() for r in rs
                                  for dev in str(r.get("device") or "").split(",") if dev.strip()})
                if devices and any(not r.get("device") for r in rs):
                    devices.append("unknown")
                minutes = [t / 60 for t in secs]
                time_text = (f"{statistics.median(minutes):.1f} ({_span(minutes, '{:.1f}')})"
                             if minutes else "–")
                lines.append(" | ".join([
                    f"| {d}", label, v, str(len(rs)), _span(epochs) if epochs else "–",
                    _span(best) if best else "–", time_text,
                    f"{statistics.median(per_epoch):.1f}" if per_epoch else "–",
                    ", ".join(devices) if devices else "–"]) + " |")
    return lines


def _time_markdown(spec: ExperimentSpec, rows: Sequence[Dict[str, Any]]) -> str:
    return "\n".join([
        f"# {spec.name}: training time", "",
        "Per finished cell (`results.csv`): epochs run to early stopping and the best dev epoch "
        "(ranges over seeds), and the time of the training steps of one run, without the dev "
        "passes of each epoch and the test pass (`train_seconds`). Times depend on the machine, "
        "its load and the thread count of each run; `device` lists the devices the runs "
        "trained on (a run resumed on another device adds both devices' seconds; `results.csv` "
        "has each run's own), `–` where the rows come from results that did not record it.", "",
        *format_time_table(spec, rows), ""])


def write_report(spec: ExperimentSpec, cells: Sequence[Cell], out: str | Path,
                 merged: Optional[Mapping[str, List[Dict[str, Any]]]] = None) -> List[Path]:
    """Write results.csv, summary.csv, significance.csv, the tables and (when the spec has
    them) the ablation and sensitivity CSVs and plots. Returns the files written. ``merged``:
    rows of other experiments' results (:func:`read_merged_rows`) for cells not finished here."""
    from .io import atomic_write_text

    out = Path(out)
    rows = collect_results(cells, out, merged)
    metric_cols = _metric_order(k for r in rows for k in r if "@" in k)
    files: List[Path] = []
    _write_csv(out / "results.csv", rows,
               ["cell", "dataset", "model", "model_name", "variant", "seed", "protocol", "status",
                *metric_cols, "eval_rows", "best_epoch", "epochs_run", "train_seconds", "device",
                "run_dir", "config"] + (["source"] if any(r.get("source") for r in rows) else []))
    files.append(out / "results.csv")
    stats = _Stats(rows)
    summary = stats.summary()
    order = {"dataset": list(spec.datasets), "model": list(spec.models),
             "variant": list(spec.variants), "protocol": ["sampled", "full"],
             "metric": _metric_order(r["metric"] for r in summary)}
    summary.sort(key=lambda r: tuple(order[k].index(r[k]) if r[k] in order[k] else 99
                                     for k in ("dataset", "variant", "protocol", "model", "metric")))
    _write_csv(out / "summary.csv", summary,
               ["dataset", "model", "variant", "protocol", "metric", "mean", "std", "n", "seeds"])
    files.append(out / "summary.csv")
    sig = _significance_rows(spec, stats)
    if sig:
        _write_csv(out / "significance.csv", sig, ["dataset", "variant", "protocol", "metric", "model",
                                                    "baseline", "mean", "baseline_mean",
                                                    "improvement", "p_value", "n_pairs"])
        files.append(out / "significance.csv")
    for p in spec.protocols:
        path = out / f"table_{p}.md"
        atomic_write_text(path, _table_markdown(spec, stats, p))
        files.append(path)
    atomic_write_text(out / "table_time.md", _time_markdown(spec, rows))
    files.append(out / "table_time.md")
    if spec.ablation:
        abl = [r for r in summary if r["variant"] in spec.ablation]
        _write_csv(out / "ablation.csv", abl,
                   ["dataset", "model", "variant", "protocol", "metric", "mean", "std", "n", "seeds"])
        files.append(out / "ablation.csv")
        for p in spec.protocols:
            files.append(_plot_ablation(spec, stats, p, out / f"ablation_{p}.png"))
    if spec.sensitivity:
        sweeps = spec.sweep_variants()
        sens = [{"key": sweeps[r["variant"]][0], "value": sweeps[r["variant"]][1], **r}
                for r in summary if r["variant"] in sweeps]
        _write_csv(out / "sensitivity.csv", sens,
                   ["key", "value", "dataset", "model", "variant", "protocol", "metric", "mean",
                    "std", "n", "seeds"])
        files.append(out / "sensitivity.csv")
        for key in spec.sensitivity:
            for p in spec.protocols:
                files.append(_plot_sensitivity(spec, stats, key, p,
                                               out / f"sensitivity_{_safe(key).replace('.', '_')}_{p}.png"))
    return files


# ---------------------------------------------------------------------------- figures
def _figure(nrows: int, ncols: int):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2 * ncols, 3.2 * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _save(fig, path: Path) -> Path:
    from .io import atomic_write

    with atomic_write(path, "wb", encoding=None) as fh:
        fig.savefig(fh, format="png", dpi=130)
    return path


#: one colour per variant (ablation) or model (sensitivity), the same in every panel
_COLOURS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]


def _plot_ablation(spec: ExperimentSpec, stats: _Stats, protocol: str, path: Path) -> Path:
    """Figure 2: per data set and metric, bars of each model under each ablation variant."""
    models, variants = list(spec.models), list(spec.ablation)
    fig, axes = _figure(len(spec.datasets), len(spec.plot_metrics))
    width = 0.8 / max(len(variants), 1)
    for i, d in enumerate(spec.datasets):
        for j, metric in enumerate(spec.plot_metrics):
            ax = axes[i][j]
            lo = []
            for k, v in enumerate(variants):
                xs, ys, es = [], [], []
                for x, m in enumerate(models):
                    vals = stats.get(d, m, v, protocol, metric)
                    if vals:
                        mean, std = _mean_std(list(vals.values()))
                        xs.append(x + (k - (len(variants) - 1) / 2) * width)
                        ys.append(mean)
                        es.append(0.0 if math.isnan(std) else std)
                        lo.append(mean - es[-1])
                ax.bar(xs, ys, width, yerr=es, capsize=2, label=v, color=_COLOURS[k % len(_COLOURS)])
            ax.set_xticks(range(len(models)), models)
            ax.set_title(f"{d}: {metric}")
            ax.set_ylabel(metric)
            if lo:  # zoom in on the differences, as the paper's bars do
                top = ax.get_ylim()[1]
                ax.set_ylim(max(0.0, min(lo) - 0.15 * (top - min(lo))), top)
            else:
                ax.set_yticks([])
                ax.text(0.5, 0.5, "no finished cell", ha="center", va="center",
                        transform=ax.transAxes, color="0.4")
            ax.grid(axis="y", alpha=0.3)
    # the legend from explicit patches: a panel without bars would give it no colours
    from matplotlib.patches import Patch

    axes[0][-1].legend(handles=[Patch(color=_COLOURS[k % len(_COLOURS)], label=v)
                                for k, v in enumerate(variants)], fontsize="small", loc="best")
    fig.suptitle(f"{spec.name}: ablation ({protocol} protocol; mean ± std over seeds)")
    return _save(fig, path)


def _plot_sensitivity(spec: ExperimentSpec, stats: _Stats, key: str, protocol: str,
                      path: Path) -> Path:
    """Figure 6: per data set and metric, each model's metric against the swept value."""
    values = spec.sensitivity[key]
    fig, axes = _figure(len(spec.datasets), len(spec.plot_metrics))
    for i, d in enumerate(spec.datasets):
        for j, metric in enumerate(spec.plot_metrics):
            ax = axes[i][j]
            for mi, m in enumerate(spec.models):
                xs, ys, es = [], [], []
                for x, val in enumerate(values):
                    vals = stats.get(d, m, sweep_name(key, val), protocol, metric)
                    if vals:
                        mean, std = _mean_std(list(vals.values()))
                        xs.append(x)
                        ys.append(mean)
                        es.append(0.0 if math.isnan(std) else std)
                if xs:
                    ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=m,
                                color=_COLOURS[mi % len(_COLOURS)])
            ax.set_xticks(range(len(values)), [_scalar_text(v) for v in values])
            ax.set_xlabel(key)
            ax.set_ylabel(metric)
            ax.set_title(f"{d}: {metric}")
            ax.grid(alpha=0.3)
    from matplotlib.lines import Line2D

    axes[0][-1].legend(handles=[Line2D([], [], color=_COLOURS[mi % len(_COLOURS)], marker="o",
                                       label=m) for mi, m in enumerate(spec.models)],
                       fontsize="small", loc="best")
    fig.suptitle(f"{spec.name}: sensitivity to {key} ({protocol} protocol; mean ± std over seeds)")
    return _save(fig, path)

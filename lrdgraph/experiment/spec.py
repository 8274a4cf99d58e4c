"""The experiment spec: data sets, models (rows), variants, seeds, ablation and sensitivity
sweeps, report settings; parsed and validated by :func:`load_spec` (format in
``docs/experiments.md``)."""
from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import yaml

from ..config import load_yaml
from ..errors import ConfigError

#: columns of the Table 3 layout (per data set)
DEFAULT_METRICS = ["HR@5", "HR@10", "NDCG@5", "NDCG@10"]
#: metrics of the ablation and sensitivity plots
DEFAULT_PLOT_METRICS = ["HR@5", "NDCG@5"]
LRD_SUFFIX = "_LRD"
#: a metric name as the tables and the reference take it
METRIC_RE = re.compile(r"^(HR|NDCG)@\d+$")
SPEC_KEYS = ("name", "description", "datasets", "models", "seeds", "set", "variants",
             "ablation", "sensitivity", "report")


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
class ReferenceSpec:
    """``report.reference``: published numbers to set the measured means beside (a paper's
    table), by data set label, model label and metric, under one protocol."""

    values: Dict[str, Dict[str, Dict[str, float]]]
    label: str = "reference"
    protocol: str = "sampled"

    def to_dict(self) -> Dict[str, Any]:
        return {"label": self.label, "protocol": self.protocol,
                "values": {d: {m: dict(v) for m, v in by_model.items()}
                           for d, by_model in self.values.items()}}


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
    versus: Optional[str] = None
    reference: Optional[ReferenceSpec] = None
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
                         "protocols": list(self.protocols),
                         **({"versus": self.versus} if self.versus else {}),
                         **({"reference": self.reference.to_dict()} if self.reference else {})}
        return out

    def sweep_variants(self) -> Dict[str, Tuple[str, Any]]:
        """Variant name → (key, value) of the variants the ``sensitivity`` sweeps add."""
        return {sweep_name(k, v): (k, v) for k, vals in self.sensitivity.items() for v in vals}


def sweep_name(key: str, value: Any) -> str:
    """Name of the variant that sets ``key`` to ``value`` in a sensitivity sweep."""
    return f"{key}={scalar_text(value)}"


def scalar_text(value: Any) -> str:
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
            raw = load_yaml(path.read_text(encoding="utf-8")) or {}
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

    from ..config import MODEL_NAMES

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
            variants[name] = [f"{key}={json.dumps(v) if isinstance(v, str) else scalar_text(v)}"]
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
    if not isinstance(report, dict) or set(report) - {"metrics", "plot_metrics", "protocols",
                                                      "versus", "reference"}:
        raise ConfigError("'report' may hold metrics, plot_metrics, protocols, versus and "
                          "reference", path=source)
    metrics = report.get("metrics", list(DEFAULT_METRICS))
    plot_metrics = report.get("plot_metrics", list(DEFAULT_PLOT_METRICS))
    for key, ms in (("metrics", metrics), ("plot_metrics", plot_metrics)):
        if not isinstance(ms, list) or not ms or not all(isinstance(m, str) and METRIC_RE.match(m) for m in ms):
            raise ConfigError(f"report.{key} must list metrics like HR@5, NDCG@10", path=source)
    protocols = report.get("protocols", ["sampled", "full"])
    if not isinstance(protocols, list) or not protocols or not set(protocols) <= {"sampled", "full"}:
        raise ConfigError("report.protocols must be a non-empty subset of [sampled, full]", path=source)
    versus = report.get("versus")
    if versus is not None and (not isinstance(versus, str) or versus not in variants):
        raise ConfigError(f"report.versus must name a variant ({', '.join(variants)}), "
                          f"got {versus!r}", path=source)
    if versus is not None and len(variants) < 2:
        raise ConfigError("report.versus needs a second variant to compare with it", path=source)

    reference = _reference(report.get("reference"), datasets, models, protocols, source)

    name = raw.get("name") or (Path(source).stem if source != "spec" else "experiment")
    return ExperimentSpec(
        name=str(name), datasets=datasets, models=models, seeds=list(seeds),
        set=_as_list_of_str(raw.get("set"), "set", source) + list(extra_set),
        variants=variants, ablation=list(abl), sensitivity=sensitivity, metrics=list(metrics),
        plot_metrics=list(plot_metrics), protocols=list(protocols), versus=versus,
        reference=reference,
        description=str(raw.get("description") or ""), source=source)


def _reference(raw: Any, datasets: Mapping[str, DatasetSpec], models: Mapping[str, ModelSpec],
               protocols: Sequence[str], source: str) -> Optional[ReferenceSpec]:
    """Parse ``report.reference`` ({label, protocol, values: {DATASET: {MODEL: {METRIC: x}}}}),
    naming the first entry that is not a data set, model, metric or number of this spec."""
    if raw is None:
        return None
    where = "report.reference"
    if not isinstance(raw, dict) or set(raw) - {"label", "protocol", "values"}:
        raise ConfigError(f"{where} may hold label, protocol and values", path=source)
    label = raw.get("label", "reference")
    if not isinstance(label, str) or not label.strip():
        raise ConfigError(f"{where}.label must be a non-empty string", path=source)
    protocol = raw.get("protocol", "sampled")
    if protocol not in protocols:
        raise ConfigError(f"{where}.protocol must be one of report.protocols "
                          f"({', '.join(protocols)}), got {protocol!r}", path=source)
    values = raw.get("values")
    if not isinstance(values, dict) or not values:
        raise ConfigError(f"{where}.values must map a data set label to models' metrics",
                          path=source)
    out: Dict[str, Dict[str, Dict[str, float]]] = {}
    for d, by_model in values.items():
        if d not in datasets:
            raise ConfigError(f"{where}.values: {d!r} is not a data set of the spec "
                              f"({', '.join(datasets)})", path=source)
        if not isinstance(by_model, dict):
            raise ConfigError(f"{where}.values.{d} must map a model label to metrics",
                              path=source)
        for m, metrics in by_model.items():
            if m not in models:
                raise ConfigError(f"{where}.values.{d}: {m!r} is not a model of the spec "
                                  f"({', '.join(models)})", path=source)
            if not isinstance(metrics, dict) or not metrics:
                raise ConfigError(f"{where}.values.{d}.{m} must map metrics to numbers",
                                  path=source)
            for metric, x in metrics.items():
                if not (isinstance(metric, str) and METRIC_RE.match(metric)):
                    raise ConfigError(f"{where}.values.{d}.{m}: {metric!r} is not a metric like "
                                      "HR@5 or NDCG@10", path=source)
                if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0 <= x <= 1:
                    raise ConfigError(f"{where}.values.{d}.{m}.{metric} must be a number in "
                                      f"[0, 1], got {x!r}", path=source)
            out.setdefault(d, {})[m] = {k: float(x) for k, x in metrics.items()}
    return ReferenceSpec(values=out, label=label, protocol=protocol)

"""The cells of a grid (one training run each), their resolved configs, and the state of
each cell's run directory."""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

from ..config import BASELINES, with_current_defaults
from ..errors import ConfigError
from .spec import ExperimentSpec

_SAFE = re.compile(r"[^A-Za-z0-9._+-]+")


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


def safe_part(part: str) -> str:
    """``part`` reduced to ``[A-Za-z0-9._+-]`` for a file or directory name."""
    return _SAFE.sub("-", part).strip("-") or "x"


def cell_name(dataset: str, model: str, variant: str, seed: int) -> str:
    """``<dataset>__<model>__<variant>__seed<seed>``, each part reduced to ``[A-Za-z0-9._+-]``
    (``w/o LLM`` becomes ``w-o-LLM``, ``lrd.lambda=0.1`` becomes ``lrd.lambda-0.1``)."""
    return "__".join([safe_part(dataset), safe_part(model), safe_part(variant), f"seed{seed}"])


def plan_cells(spec: ExperimentSpec) -> List[Cell]:
    """Every cell of the grid (data set, model, variant, seed order) with its resolved config.

    Overrides apply in the order spec ``set`` < data set ``set`` < model ``set`` < variant <
    ``train.seed``; a bad key or value fails here, before anything runs.
    """
    from ..config import resolve_config, set_dotted

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
                                      config=normalise_config(cfg)))
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


def read_yaml(path: Path) -> Any:
    """A run's config.yaml (with libyaml when available: grids have hundreds of them)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)


def normalise_config(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """The config as it reads back from a run directory's config.yaml (plain types only)."""
    return json.loads(json.dumps(cfg))


def _without_runtime(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """The config less its runtime settings (thread count, device, ...), which a resumed cell
    may change without changing its result."""
    from ..train.trainer import RUNTIME_KEYS

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


def config_difference(stored: Any, wanted: Dict[str, Any], *, ignore_graph: bool = False
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
        diff = config_difference(read_yaml(cfg_path), c.config)
        if diff is not None:
            conflicts.append(f"{c.name}: {diff}")
        states[c.name] = "done" if (rd / "results.json").exists() else "partial"
    if conflicts:
        more = f" (and {len(conflicts) - 5} more)" if len(conflicts) > 5 else ""
        raise ConfigError("run directories were made with another configuration than the spec "
                          "gives now: " + "; ".join(conflicts[:5]) + more + ". Delete those run "
                          f"directories under {runs} to re-run them, or use another --out")
    return states

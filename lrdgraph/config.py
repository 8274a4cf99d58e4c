"""Layered configuration: package defaults, per-model file, user file, options, ``--set``."""
from __future__ import annotations

import copy
import difflib
import re
from importlib import resources
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, Optional

import yaml

from .errors import ConfigError

__all__ = ["load_defaults", "fill_missing", "with_current_defaults", "resolve_config",
           "apply_override", "set_dotted", "merge", "validate_config", "load_yaml", "YamlLoader",
           "MODEL_NAMES", "BASELINES"]

#: sequence baselines: no KGE or LRD task (lrdgraph.models.SequentialRecommender)
BASELINES = ("caser", "gru4rec", "sasrec", "tisasrec")
#: every ``model.name`` (the keys of ``lrdgraph.models.MODELS``; kept here so that the command
#: line can offer them without importing torch)
MODEL_NAMES = ("rcf", "kda") + BASELINES


class YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader that also reads ``1e-5`` as a number. PyYAML follows YAML 1.1,
    whose floats need a dot (``1.0e-5``), so ``--set train.l2=1e-5`` or ``l2: 1e-5`` in a
    config file would otherwise arrive as the string "1e-5" and be refused."""


YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def load_yaml(text: str) -> Any:
    """Parse YAML text with :class:`YamlLoader` (user-written configs, specs, ``--set``)."""
    return yaml.load(text, Loader=YamlLoader)


def _read_yaml(text: str, source: str) -> Dict[str, Any]:
    try:
        data = load_yaml(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"invalid YAML: {getattr(exc, 'problem', exc)}", path=source,
                          line=None if mark is None else mark.line + 1)
    if not isinstance(data, dict):
        raise ConfigError("a config file must hold a mapping", path=source)
    return data


def fill_missing(cfg: Dict[str, Any], defaults: Dict[str, Any]) -> Dict[str, Any]:
    """``cfg`` with every key it lacks taken from ``defaults`` (recursively); a copy."""
    out = dict(cfg)
    for k, v in defaults.items():
        if k not in out:
            out[k] = v
        elif isinstance(v, dict) and isinstance(out[k], dict):
            out[k] = fill_missing(out[k], v)
    return out


def with_current_defaults(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """A stored run config with the settings added to lrdgraph after it was written set to
    their defaults (a new setting's default reproduces what lrdgraph did before it existed)."""
    model = cfg.get("model", {}).get("name") if isinstance(cfg.get("model"), dict) else None
    return fill_missing(cfg, load_defaults(model))


def load_defaults(model: Optional[str] = None) -> Dict[str, Any]:
    pkg = resources.files("lrdgraph.configs")
    cfg = _read_yaml(pkg.joinpath("defaults.yaml").read_text(), "defaults.yaml")
    if model is not None:
        f = pkg.joinpath(f"{model}.yaml")
        if f.is_file():
            cfg = merge(cfg, _read_yaml(f.read_text(), f"{model}.yaml"), source=f"{model}.yaml")
    return cfg


def merge(base: Dict[str, Any], update: Mapping[str, Any], source: str = "config",
          prefix: str = "") -> Dict[str, Any]:
    """Deep-merge ``update`` into a copy of ``base``; unknown keys are errors."""
    out = copy.deepcopy(base)
    for k, v in update.items():
        key = f"{prefix}{k}"
        if k not in out:
            close = difflib.get_close_matches(k, list(out), n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown setting '{key}'{hint}", path=source)
        if isinstance(out[k], dict):
            if not isinstance(v, Mapping):
                raise ConfigError(f"'{key}' must be a mapping", path=source)
            out[k] = merge(out[k], v, source, prefix=f"{key}.")
        else:
            out[k] = v
    return out


def apply_override(cfg: Dict[str, Any], assignment: str) -> Dict[str, Any]:
    """Apply one ``key.sub=value`` (value parsed as YAML: numbers, booleans, lists)."""
    if "=" not in assignment:
        raise ConfigError(f"--set expects key=value, got {assignment!r}")
    key, raw = assignment.split("=", 1)
    try:
        value = load_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return set_dotted(cfg, key.strip(), value, source="--set")


def set_dotted(cfg: Dict[str, Any], key: str, value: Any, source: str = "config") -> Dict[str, Any]:
    """Return a copy of ``cfg`` with ``a.b.c`` set to ``value`` (unknown keys are errors)."""
    update: Dict[str, Any] = value
    for part in reversed(key.split(".")):
        update = {part: update}
    return merge(cfg, update, source=source)


def resolve_config(*, model: Optional[str] = None, config_file: Optional[str | Path] = None,
                   options: Optional[Mapping[str, Any]] = None,
                   overrides: Iterable[str] = ()) -> Dict[str, Any]:
    """Resolve the training configuration.

    Order (later wins): defaults.yaml, the model's yaml, ``config_file``, ``options`` (dotted
    keys, from CLI flags), ``overrides`` (``--set key=value``). The model's yaml is chosen by
    ``model``, else by the file's or the overrides' ``model.name``.
    """
    user: Dict[str, Any] = {}
    if config_file is not None:
        p = Path(config_file)
        if not p.is_file():
            raise ConfigError("config file not found", path=p)
        user = _read_yaml(p.read_text(encoding="utf-8"), str(p))
    name = model or (user.get("model") or {}).get("name")
    for o in overrides:
        if o.split("=", 1)[0].strip() == "model.name":
            name = o.split("=", 1)[1].strip()
    if options and options.get("model.name"):
        name = options["model.name"]
    cfg = load_defaults(name or "kda")
    cfg = merge(cfg, user, source=str(config_file))
    for key, value in (options or {}).items():
        if value is None:
            continue
        cfg = set_dotted(cfg, key, value, source="option")
    for o in overrides:
        cfg = apply_override(cfg, o)
    validate_config(cfg)
    return cfg


def validate_config(cfg: Dict[str, Any]) -> None:
    def check(cond: bool, key: str, msg: str) -> None:
        if not cond:
            section, _, name = key.partition(".")
            got = cfg.get(section, {}).get(name, "<missing>")
            raise ConfigError(f"'{key}' {msg} (got {got!r})")

    m, t, lrd, kge, ev = cfg["model"], cfg["train"], cfg["lrd"], cfg["kge"], cfg["eval"]
    check(m["name"] in MODEL_NAMES, "model.name", "must be one of " + ", ".join(MODEL_NAMES))
    check(isinstance(m["emb_size"], int) and m["emb_size"] > 0, "model.emb_size", "must be a positive integer")
    check(isinstance(m["num_heads"], int) and m["num_heads"] > 0 and m["emb_size"] % m["num_heads"] == 0,
          "model.num_heads", "must divide model.emb_size")
    check(isinstance(m["num_layers"], int) and m["num_layers"] >= 0, "model.num_layers", "must be an integer >= 0")
    check(m["pooling"] in ("average", "max", "attention"), "model.pooling", "must be average, max or attention")
    check(m["relation_evidence"] in ("none", "graph"), "model.relation_evidence", "must be none or graph")
    check(_num(m["dropout"]) and 0 <= m["dropout"] < 1, "model.dropout", "must be in [0, 1)")
    for k in ("hidden_size", "window", "time_span"):
        check(isinstance(m[k], int) and m[k] > 0, f"model.{k}", "must be a positive integer")
    for k in ("num_horizontal", "num_vertical"):
        check(isinstance(m[k], int) and m[k] >= 0, f"model.{k}", "must be an integer >= 0")
    check(m["num_horizontal"] + m["num_vertical"] > 0, "model.num_horizontal",
          "and model.num_vertical must not both be 0")
    check(isinstance(lrd["num_latent"], int) and lrd["num_latent"] >= 0, "lrd.num_latent", "must be an integer >= 0")
    check(lrd["objective"] in ("paper", "reference", "mi"), "lrd.objective",
          "must be paper, reference or mi")
    check(_num(lrd["beta"]) and lrd["beta"] >= 0, "lrd.beta", "must be a number >= 0")
    check(lrd["features"] in ("text", "id"), "lrd.features", "must be text or id")
    check(lrd["relation_grad"] in ("all", "latent"), "lrd.relation_grad", "must be all or latent")
    check(_num(lrd["lambda"]) and lrd["lambda"] >= 0, "lrd.lambda", "must be a number >= 0")
    check(_num(lrd["alpha"]), "lrd.alpha", "must be a number")
    check(kge["gamma"] == "auto" or (_num(kge["gamma"]) and kge["gamma"] >= 0), "kge.gamma",
          "must be 'auto' or a number >= 0")
    check(_num(t["lr"]) and t["lr"] > 0, "train.lr", "must be a number > 0")
    check(_num(t["l2"]) and t["l2"] >= 0, "train.l2", "must be a number >= 0")
    for k in ("batch_size", "epochs", "history", "num_neg"):
        check(isinstance(t[k], int) and t[k] > 0, f"train.{k}", "must be a positive integer")
    check(isinstance(t["patience"], int) and t["patience"] >= 0, "train.patience", "must be an integer >= 0")
    check(isinstance(t.get("aux_warmup", 0), int) and t.get("aux_warmup", 0) >= 0, "train.aux_warmup",
          "must be an integer >= 0 (0: no warm-up)")
    check(t["device"] in ("cpu", "cuda", "auto"), "train.device", "must be cpu, cuda or auto")
    check(t.get("precision", "fp32") in ("fp32", "bf16"), "train.precision", "must be fp32 or bf16")
    check(isinstance(t.get("compile", False), bool), "train.compile", "must be true or false")
    check(isinstance(ev["ks"], list) and all(isinstance(k, int) and k > 0 for k in ev["ks"]),
          "eval.ks", "must be a list of positive integers")
    check(set(ev["protocols"]) <= {"sampled", "full"} and len(ev["protocols"]) > 0,
          "eval.protocols", "must be a non-empty subset of [sampled, full]")
    check(ev["dev_protocol"] in ("sampled", "full"), "eval.dev_protocol", "must be sampled or full")
    check(isinstance(ev.get("dev_max_users", 0), int) and ev.get("dev_max_users", 0) >= 0,
          "eval.dev_max_users", "must be an integer >= 0 (0: every dev user)")
    name, _, k = str(ev["metric"]).partition("@")
    check(name in ("HR", "NDCG") and k.isdigit(), "eval.metric", "must look like NDCG@5 or HR@10")


def _num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)

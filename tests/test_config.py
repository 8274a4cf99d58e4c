"""Layered configuration (lrdgraph.config): order of the layers, typed overrides, and errors
that name the file, line, key and the value that was given."""
from __future__ import annotations

import pytest

from lrdgraph.config import apply_override, load_defaults, resolve_config
from lrdgraph.errors import ConfigError


def test_layers_later_wins(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  lr: 0.01\n  batch_size: 128\nlrd:\n  lambda: 3\n")
    cfg = resolve_config(model="kda", config_file=f, options={"train.lr": 0.02, "lrd.num_latent": None},
                         overrides=["train.lr=0.03"])
    assert cfg["train"]["lr"] == 0.03                       # --set beats option beats file
    assert cfg["train"]["batch_size"] == 128                # file beats defaults
    assert cfg["lrd"]["lambda"] == 3
    # an option left unset (None) keeps the layer below it
    assert cfg["lrd"]["num_latent"] == load_defaults("kda")["lrd"]["num_latent"]


def test_model_file_is_chosen_by_the_config_file_or_set(tmp_path):
    rcf, kda = load_defaults("rcf"), load_defaults("kda")
    differing = [k for k in rcf["train"] if rcf["train"][k] != kda["train"].get(k)]
    assert differing, "rcf.yaml and kda.yaml should differ somewhere in train"
    key = differing[0]
    f = tmp_path / "c.yaml"
    f.write_text("model:\n  name: rcf\n")
    assert resolve_config(config_file=f)["train"][key] == rcf["train"][key]
    assert resolve_config(overrides=["model.name=rcf"])["train"][key] == rcf["train"][key]
    assert resolve_config()["train"][key] == kda["train"][key]


@pytest.mark.parametrize("key, raw, value", [
    ("train.epochs", "5", 5), ("model.dropout", "0.5", 0.5), ("train.compile", "true", True),
    ("eval.ks", "[5, 10]", [5, 10]), ("model.relation_evidence", "graph", "graph"),
    # exponents without a dot: strings to YAML 1.1 (PyYAML), numbers here
    ("train.l2", "1e-5", 1e-5), ("train.lr", "5E-4", 5e-4), ("train.l2", "1.0e-6", 1e-6),
    ("train.l2", "0", 0), ("lrd.lambda", "+2e1", 20.0)])
def test_set_values_are_parsed_as_yaml(key, raw, value):
    section, name = key.split(".")
    got = apply_override(load_defaults("kda"), f"{key}={raw}")[section][name]
    assert got == value and type(got) is type(value)


def test_exponent_floats_in_a_config_file(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  l2: 1e-5\n  lr: 2e-3\n")
    cfg = resolve_config(config_file=f)
    assert cfg["train"]["l2"] == 1e-5 and cfg["train"]["lr"] == 0.002


def test_unknown_key_suggests_the_close_one():
    with pytest.raises(ConfigError, match=r"unknown setting 'train\.lr2'.*did you mean 'train\.lr'"):
        resolve_config(overrides=["train.lr2=1"])


@pytest.mark.parametrize("assignment, needle", [
    ("train.lr=abc", r"'train\.lr' must be a number > 0 \(got 'abc'\)"),
    ("train.lr=0", r"'train\.lr' must be a number > 0 \(got 0\)"),
    ("model.num_layers=-1", r"'model\.num_layers' must be an integer >= 0 \(got -1\)"),
    ("train.batch_size=2.5", r"'train\.batch_size' must be a positive integer \(got 2\.5\)"),
    ("model.pooling=mean", r"'model\.pooling' must be average, max or attention \(got 'mean'\)"),
    ("eval.metric=MRR", r"'eval\.metric' must look like NDCG@5 or HR@10 \(got 'MRR'\)"),
    ("kge.gamma=-1", r"'kge\.gamma' must be 'auto' or a number >= 0 \(got -1\)"),
    ("train.aux_warmup=-2", r"'train\.aux_warmup' must be an integer >= 0 \(0: no warm-up\) \(got -2\)"),
    ("train.aux_warmup=1.5", r"'train\.aux_warmup' must be an integer >= 0 \(0: no warm-up\) \(got 1\.5\)"),
])
def test_invalid_values_name_the_key_and_the_value(assignment, needle):
    with pytest.raises(ConfigError, match=needle):
        resolve_config(overrides=[assignment])


def test_bad_yaml_names_file_and_line(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("train:\n  lr: 0.01\n  epochs: [1\n")
    with pytest.raises(ConfigError) as err:
        resolve_config(config_file=f)
    assert err.value.path == str(f) and err.value.line in (3, 4)  # the line of "[1" or the end
    assert str(err.value).startswith(f"{f}:{err.value.line}: invalid YAML")


def test_config_file_must_be_a_mapping(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        resolve_config(config_file=f)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        resolve_config(config_file=tmp_path / "nope.yaml")

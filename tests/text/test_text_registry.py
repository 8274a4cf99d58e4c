"""lrdgraph.text's entry points: get_encoder and a light import."""
from __future__ import annotations

import subprocess
import sys

import pytest

import lrdgraph.text as text
from lrdgraph.errors import ConfigError


def test_import_is_light() -> None:
    code = (
        "import sys, lrdgraph.text\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers', 'openai',"
        " 'sklearn') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_all() -> None:
    assert {"get_encoder", "encode_cached", "TextEncoder"} <= set(text.__all__)
    for name in text.__all__:
        assert getattr(text, name) is not None


def test_unknown_name() -> None:
    with pytest.raises(ConfigError, match="unknown encoder 'bert'.*local, openai, tfidf") as e:
        text.get_encoder("bert")
    assert e.value.field == "encoder"


def test_base_url_only_for_openai() -> None:
    with pytest.raises(ConfigError, match="base-url"):
        text.get_encoder("tfidf", base_url="http://127.0.0.1:1")


def test_openai_needs_a_key_without_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        text.get_encoder("openai")
    enc = text.get_encoder("openai", model="m", base_url="http://127.0.0.1:1/v1")
    assert isinstance(enc, text.OpenAIEncoder)
    assert enc.model == "m@http://127.0.0.1:1/v1"

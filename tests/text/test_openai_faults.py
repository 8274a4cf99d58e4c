"""OpenAI backend against a fault-injecting server of our own (tests/text/conftest.py)."""
from __future__ import annotations

import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lrdgraph.errors import ConfigError, ServiceError
from lrdgraph.text import OpenAIEncoder, encode_cached, get_encoder

pytestmark = pytest.mark.server

TEXTS = ["alpha", "beta", "gamma", "delta", "epsilon"]


def make(server: Any, sleeps: Any = None, **kw: Any) -> OpenAIEncoder:
    kw.setdefault("max_retries", 3)
    kw.setdefault("timeout", 5)
    if sleeps is not None:
        kw["sleep"] = sleeps
    return OpenAIEncoder("test-model", base_url=server.url, **kw)


def expected(server: Any, texts: list[str]) -> np.ndarray:
    return np.array([server.vector(t) for t in texts], dtype=np.float32)


# -- the happy path ----------------------------------------------------------------------------
def test_batches_order_and_request(fault_server: Any, api_key: str) -> None:
    enc = make(fault_server, batch_size=2)
    out = enc.encode(TEXTS)
    # The server lists the vectors in reverse index order: they must come back sorted.
    np.testing.assert_array_equal(out, expected(fault_server, TEXTS))
    assert out.dtype == np.float32 and enc.dim == fault_server.dim
    assert fault_server.inputs == [TEXTS[0:2], TEXTS[2:4], TEXTS[4:5]]
    req = fault_server.requests[0]
    assert req["path"] == "/embeddings"
    assert req["json"]["model"] == "test-model" and req["json"]["encoding_format"] == "float"
    assert req["headers"]["authorization"] == f"Bearer {api_key}"


def test_v1_path_empty_text_and_dimensions(fault_server: Any, api_key: str) -> None:
    enc = OpenAIEncoder("m", base_url=fault_server.url + "/v1/", dimensions=5)
    out = enc.encode(["", "x"])
    assert out.shape == (2, 5) and enc.dim == 5
    req = fault_server.requests[0]
    assert req["path"] == "/v1/embeddings"
    assert req["json"]["input"] == [" ", "x"]  # the API rejects empty strings
    assert req["json"]["dimensions"] == 5
    assert enc.model == f"m,dimensions=5@{fault_server.url}/v1"


def test_dim_probe(fault_server: Any, api_key: str) -> None:
    enc = make(fault_server)
    assert enc.dim == fault_server.dim and len(fault_server.requests) == 1
    assert enc.encode([]).shape == (0, fault_server.dim) and len(fault_server.requests) == 1


def test_placeholder_key_for_base_url(fault_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    make(fault_server).encode(["a"])
    assert fault_server.requests[0]["headers"]["authorization"] == "Bearer not-needed"


def test_key_from_named_variable(fault_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_EMBED_KEY", "k-123")
    make(fault_server, api_key_env="MY_EMBED_KEY").encode(["a"])
    assert fault_server.requests[0]["headers"]["authorization"] == "Bearer k-123"


# -- retries -------------------------------------------------------------------------------------
def test_429_honours_retry_after(fault_server: Any, api_key: str, sleeps: Any) -> None:
    fault_server.push({"status": 429, "headers": {"Retry-After": "7"},
                       "body": {"error": {"message": "slow down"}}})
    out = make(fault_server, sleeps).encode(["a", "b"])
    np.testing.assert_array_equal(out, expected(fault_server, ["a", "b"]))
    assert len(fault_server.requests) == 2 and sleeps.calls == [7.0]


def test_429_retry_after_ms_and_cap(fault_server: Any, api_key: str, sleeps: Any) -> None:
    fault_server.push({"status": 429, "headers": {"retry-after-ms": "250"}},
                      {"status": 429, "headers": {"Retry-After": "100000"}})
    make(fault_server, sleeps, max_wait=60).encode(["a"])
    assert sleeps.calls == [0.25, 60.0]


def test_persistent_500_gives_up(fault_server: Any, api_key: str, sleeps: Any) -> None:
    fault_server.push(*[{"status": 500, "body": {"error": {"message": "boom"}}}] * 10)
    enc = make(fault_server, sleeps, max_retries=3, backoff_base=1.0, backoff_max=3.0)
    with pytest.raises(ServiceError, match=r"failed after 4 attempt\(s\): HTTP 500: boom"):
        enc.encode(["a"])
    assert len(fault_server.requests) == 4
    # Exponential backoff with jitter: in [cap/2, cap] for caps 1, 2, 3 (capped).
    assert len(sleeps.calls) == 3
    for wait, cap in zip(sleeps.calls, [1.0, 2.0, 3.0]):
        assert cap / 2 <= wait <= cap


def test_5xx_then_success(fault_server: Any, api_key: str, sleeps: Any) -> None:
    fault_server.push({"status": 503}, {"status": 502, "body": "bad gateway"})
    out = make(fault_server, sleeps).encode(["a"])
    np.testing.assert_array_equal(out, expected(fault_server, ["a"]))
    assert len(fault_server.requests) == 3 and len(sleeps.calls) == 2


def test_timeout_is_retried(fault_server: Any, api_key: str, sleeps: Any) -> None:
    fault_server.push({"sleep": 1.5})
    out = make(fault_server, sleeps, timeout=0.3).encode(["a", "b"])
    np.testing.assert_array_equal(out, expected(fault_server, ["a", "b"]))
    assert len(fault_server.requests) == 2 and len(sleeps.calls) == 1


def test_persistent_timeout(fault_server: Any, api_key: str, sleeps: Any) -> None:
    fault_server.push({"sleep": 1.0}, {"sleep": 1.0})
    with pytest.raises(ServiceError, match=r"2 attempt\(s\): request timed out after 0.2 s"):
        make(fault_server, sleeps, timeout=0.2, max_retries=1).encode(["a"])


def test_connection_refused(api_key: str, sleeps: Any) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    enc = OpenAIEncoder("m", base_url=f"http://127.0.0.1:{port}", max_retries=2, sleep=sleeps)
    with pytest.raises(ServiceError, match=r"3 attempt\(s\): could not connect to http://127"):
        enc.encode(["a"])
    assert len(sleeps.calls) == 2


# -- errors no retry can fix -------------------------------------------------------------------
@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure(fault_server: Any, api_key: str, sleeps: Any, status: int) -> None:
    fault_server.push({"status": status, "body": {"error": {"message": "bad key"}}})
    with pytest.raises(ServiceError, match="authentication failed: check OPENAI_API_KEY"):
        make(fault_server, sleeps).encode(["a"])
    assert len(fault_server.requests) == 1 and sleeps.calls == []


def test_404(fault_server: Any, api_key: str, sleeps: Any) -> None:
    fault_server.push({"status": 404, "body": {"error": {"message": "model not found"}}})
    with pytest.raises(ServiceError,
                       match="model or endpoint not found: check --encoder-model / --base-url"):
        make(fault_server, sleeps).encode(["a"])
    assert len(fault_server.requests) == 1


def test_wrong_path_is_404(fault_server: Any, api_key: str) -> None:
    enc = OpenAIEncoder("m", base_url=fault_server.url + "/api", max_retries=0)
    with pytest.raises(ServiceError, match="not found.*'m' at http://127.0.0.1:\\d+/api"):
        enc.encode(["a"])


def test_other_4xx_not_retried(fault_server: Any, api_key: str, sleeps: Any) -> None:
    fault_server.push({"status": 400, "body": {"error": {"message": "input too long"}}})
    with pytest.raises(ServiceError, match="rejected with HTTP 400 .*input too long"):
        make(fault_server, sleeps).encode(["a"])
    assert len(fault_server.requests) == 1


def _drop_last(resp: dict, inputs: list) -> dict:
    return {**resp, "data": [d for d in resp["data"] if d["index"] != len(inputs) - 1]}


def _width(n: int):
    def mutate(resp: dict, inputs: list) -> dict:
        return {**resp, "data": [dict(d, embedding=[0.5] * n) for d in resp["data"]]}
    return mutate


def _ragged(resp: dict, inputs: list) -> dict:
    data = [dict(d, embedding=d["embedding"][: 3 if d["index"] == 0 else None])
            for d in resp["data"]]
    return {**resp, "data": data}


@pytest.mark.parametrize(
    "action, message",
    [
        ({"status": 200, "body": b"{not json"}, "malformed response.*not valid JSON"),
        ({"status": 200, "body": b'{"object": "list"}'}, "malformed response.*no 'data'"),
        ({"mutate": _drop_last}, "returned 2 vectors for 3 texts"),
        ({"mutate": _ragged}, "malformed response.*different lengths"),
        ({"mutate": _width(0)}, "malformed response.*empty vectors"),
        ({"mutate": lambda r, i: {**r, "data": [dict(d, index=0) for d in r["data"]]}},
         "index 0 appears twice"),
        ({"mutate": lambda r, i: {**r, "data": [dict(d, index=7) for d in r["data"]]}},
         "bad vector index 7"),
        ({"mutate": lambda r, i: {**r, "data": [dict(d, embedding=[1e999] * 8)
                                                for d in r["data"]]}},
         "non-finite"),
        ({"mutate": lambda r, i: {**r, "data": [dict(d, embedding=["x"] * 8)
                                                for d in r["data"]]}},
         "non-numbers"),
    ],
)
def test_bad_responses(fault_server: Any, api_key: str, sleeps: Any, action: dict,
                       message: str) -> None:
    fault_server.push(action)
    with pytest.raises(ServiceError, match=message):
        make(fault_server, sleeps).encode(["a", "b", "c"])
    assert len(fault_server.requests) == 1  # not retried


def test_width_must_stay_the_same(fault_server: Any, api_key: str) -> None:
    fault_server.push({}, {"mutate": _width(fault_server.dim + 1)})
    with pytest.raises(ServiceError, match=f"returned {fault_server.dim + 1}-dimensional vectors.*"
                                           f"expected {fault_server.dim}"):
        make(fault_server, batch_size=2).encode(TEXTS)


def test_width_must_match_dimensions(fault_server: Any, api_key: str) -> None:
    fault_server.push({"mutate": _width(3)})
    with pytest.raises(ServiceError, match="returned 3-dimensional.*expected 6"):
        make(fault_server, dimensions=6).encode(["a"])


def test_bad_settings(api_key: str) -> None:
    with pytest.raises(ConfigError, match="base URL"):
        OpenAIEncoder("m", base_url="127.0.0.1:8000")
    with pytest.raises(ConfigError):
        OpenAIEncoder("m", base_url="http://127.0.0.1:1", batch_size=0)
    with pytest.raises(ConfigError):
        OpenAIEncoder("", base_url="http://127.0.0.1:1")


# -- with the cache ------------------------------------------------------------------------------
def test_cache_resumes_after_failure(fault_server: Any, api_key: str, sleeps: Any,
                                     tmp_path: Path) -> None:
    texts = [f"text {i}" for i in range(7)] + ["text 0"]
    enc = make(fault_server, sleeps, max_retries=1)
    fault_server.push({}, {}, {"status": 500}, {"status": 500})  # 3rd batch fails for good
    with pytest.raises(ServiceError, match="failed after 2 attempt"):
        encode_cached(enc, texts, tmp_path, batch_size=2)
    assert len(fault_server.requests) == 4
    assert fault_server.inputs[:2] == [["text 0", "text 1"], ["text 2", "text 3"]]

    fault_server.requests.clear()
    out = encode_cached(make(fault_server, sleeps), texts, tmp_path, batch_size=2)
    assert fault_server.inputs == [["text 4", "text 5"], ["text 6"]]  # only what was missing
    np.testing.assert_array_equal(out, expected(fault_server, texts))

    fault_server.requests.clear()
    again = encode_cached(make(fault_server, sleeps), texts, tmp_path, batch_size=2)
    assert fault_server.requests == [] and np.array_equal(again, out)


# -- the key never leaks -------------------------------------------------------------------------
def test_api_key_never_leaks(fault_server: Any, api_key: str, sleeps: Any,
                             tmp_path: Path) -> None:
    echo = {"error": {"message": f"Incorrect API key provided: {api_key}"}}
    scenarios = [
        {"status": 401, "body": echo},
        {"status": 403, "body": echo},
        {"status": 404, "body": echo},
        {"status": 400, "body": echo},
        {"status": 200, "body": f"{{not json {api_key}".encode()},
    ]
    texts = ["a", "b", "c"]
    seen: list[str] = []
    for action in scenarios:
        fault_server.push(action)
        enc = make(fault_server, sleeps, max_retries=0)
        seen.append(repr(enc))
        with pytest.raises(ServiceError) as info:
            encode_cached(enc, texts, tmp_path)
        exc = info.value
        seen += [str(exc), repr(exc), repr(exc.args), "".join(traceback.format_exception(exc))]
    fault_server.push(*[{"status": 500, "body": echo}] * 2)
    with pytest.raises(ServiceError) as info:
        make(fault_server, sleeps, max_retries=1).encode(["a"])
    seen += [str(info.value), "".join(traceback.format_exception(info.value))]
    assert "***" in str(info.value)  # the echoed key was scrubbed from the server's text

    encode_cached(make(fault_server, sleeps), texts, tmp_path)  # a success writes the cache
    seen.append(repr(get_encoder("openai", model="m", base_url=fault_server.url)))
    for s in seen:
        assert api_key not in s
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files
    for p in files:
        assert api_key.encode() not in p.read_bytes(), p
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(make(fault_server))

"""The content-addressed feature cache, with a counting fake encoder."""
from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Optional

import numpy as np
import pytest

from lrdgraph.errors import ConfigError
from lrdgraph.text import TextEncoder, default_cache_dir, encode_cached
from lrdgraph.text.cache import CACHE_FILE, cache_key


class FakeEncoder(TextEncoder):
    """Deterministic vectors; records every call; can be told to fail on the k-th call."""

    backend = "fake"

    def __init__(self, model: str = "fake-v1", dim: int = 4, fail_on_call: Optional[int] = None):
        self.model = model
        self._dim = dim
        self.fail_on_call = fail_on_call
        self.calls: list[list[str]] = []

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts, *, batch_size=None, progress=False):
        self.calls.append(list(texts))
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise RuntimeError("simulated failure")
        return np.stack([self.vector(t) for t in texts]) if texts else np.zeros((0, self._dim))

    def vector(self, text: str) -> np.ndarray:
        digest = hashlib.sha256(f"{self.model}\0{text}".encode()).digest()
        seed = int.from_bytes(digest[:8], "little")
        rng = np.random.default_rng(seed)
        return rng.standard_normal(self._dim).astype(np.float32)

    @property
    def sent(self) -> list[str]:
        return [t for call in self.calls for t in call]


TEXTS = [f"item number {i}" for i in range(10)]


def test_second_call_makes_no_encoder_call(tmp_path: Path) -> None:
    enc = FakeEncoder()
    first = encode_cached(enc, TEXTS, tmp_path, batch_size=3)
    assert first.shape == (10, 4) and first.dtype == np.float32
    assert len(enc.calls) == 4  # 3 + 3 + 3 + 1
    np.testing.assert_array_equal(first, np.stack([enc.vector(t) for t in TEXTS]))

    again = FakeEncoder()
    second = encode_cached(again, TEXTS[::-1], tmp_path, batch_size=3)
    assert again.calls == []
    np.testing.assert_array_equal(second, first[::-1])


def test_failure_keeps_finished_batches_and_rerun_sends_only_missing(tmp_path: Path) -> None:
    enc = FakeEncoder(fail_on_call=3)
    with pytest.raises(RuntimeError, match="simulated"):
        encode_cached(enc, TEXTS, tmp_path, batch_size=2)
    assert enc.sent == TEXTS[:6]  # batches 1, 2 stored; batch 3 failed

    retry = FakeEncoder()
    out = encode_cached(retry, TEXTS, tmp_path, batch_size=2)
    assert retry.sent == TEXTS[4:]  # the first two batches came from the cache
    np.testing.assert_array_equal(out, np.stack([retry.vector(t) for t in TEXTS]))


def test_duplicates_are_sent_once_and_output_follows_input(tmp_path: Path) -> None:
    enc = FakeEncoder()
    texts = ["b", "a", "b", "", "a", "c", ""]
    out = encode_cached(enc, texts, tmp_path, batch_size=10)
    assert enc.calls == [["b", "a", "", "c"]]
    np.testing.assert_array_equal(out, np.stack([enc.vector(t) for t in texts]))
    np.testing.assert_array_equal(out[0], out[2])


def test_partial_hit_sends_only_new_texts(tmp_path: Path) -> None:
    encode_cached(FakeEncoder(), ["a", "b"], tmp_path)
    enc = FakeEncoder()
    encode_cached(enc, ["a", "x", "b", "y"], tmp_path)
    assert enc.sent == ["x", "y"]


def test_key_separates_backend_and_model(tmp_path: Path) -> None:
    encode_cached(FakeEncoder(model="m1"), ["a"], tmp_path)
    other = FakeEncoder(model="m2")
    encode_cached(other, ["a"], tmp_path)
    assert other.sent == ["a"]
    assert cache_key("fake", "m1", "a") != cache_key("fake", "m2", "a")
    assert cache_key("x", "y", "z") != cache_key("x", "y\u0000z", "") != cache_key("x", "yz", "")
    assert len(cache_key("fake", "m1", "a")) == 64


def test_cache_is_sqlite_without_texts(tmp_path: Path) -> None:
    encode_cached(FakeEncoder(), ["a secret product title"], tmp_path)
    db = tmp_path / CACHE_FILE
    assert db.read_bytes()[:16] == b"SQLite format 3\x00"
    with sqlite3.connect(db) as conn:
        cols = [(r[1], r[2]) for r in conn.execute("PRAGMA table_info(features)")]
        assert cols == [("key", "TEXT"), ("dim", "INTEGER"), ("vec", "BLOB")]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        (key, dim, vec), = conn.execute("SELECT key, dim, vec FROM features").fetchall()
    assert key == cache_key("fake", "fake-v1", "a secret product title")
    assert dim == 4 and len(vec) == 16
    for f in tmp_path.iterdir():
        assert b"secret product" not in f.read_bytes()


def test_damaged_row_is_recomputed(tmp_path: Path) -> None:
    encode_cached(FakeEncoder(), ["a", "b"], tmp_path)
    with sqlite3.connect(tmp_path / CACHE_FILE) as conn:
        conn.execute("UPDATE features SET vec = ? WHERE key = ?",
                     (b"\x00\x01", cache_key("fake", "fake-v1", "a")))
    enc = FakeEncoder()
    out = encode_cached(enc, ["a", "b"], tmp_path)
    assert enc.sent == ["a"]
    np.testing.assert_array_equal(out[0], enc.vector("a"))


def test_width_change_under_same_name_is_reported(tmp_path: Path) -> None:
    encode_cached(FakeEncoder(dim=4), ["a"], tmp_path)
    with pytest.raises(ConfigError, match="widths"):
        encode_cached(FakeEncoder(dim=6), ["a", "b"], tmp_path)


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / CACHE_FILE).write_bytes(b"this is not sqlite" * 100)
    from lrdgraph.errors import OutputError

    with pytest.raises(OutputError, match="feature cache"):
        encode_cached(FakeEncoder(), ["a"], tmp_path)


def test_empty_input(tmp_path: Path) -> None:
    enc = FakeEncoder()
    out = encode_cached(enc, [], tmp_path)
    assert out.shape == (0, 4) and out.dtype == np.float32 and enc.calls == []


def test_rejects_single_string(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        encode_cached(FakeEncoder(), "abc", tmp_path)  # type: ignore[arg-type]


def test_bad_encoder_output_is_not_stored(tmp_path: Path) -> None:
    class NaNEncoder(FakeEncoder):
        def encode(self, texts, *, batch_size=None, progress=False):
            out = super().encode(texts)
            out[0, 0] = np.nan
            return out

    from lrdgraph.errors import ServiceError

    with pytest.raises(ServiceError, match="non-finite"):
        encode_cached(NaNEncoder(), ["a"], tmp_path)
    enc = FakeEncoder()
    encode_cached(enc, ["a"], tmp_path)
    assert enc.sent == ["a"]


def test_progress_bar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tty_stderr,
                      capsys: pytest.CaptureFixture[str]) -> None:
    """The bar counts the texts on a terminal; in a log file (not a terminal) it stays quiet."""
    term = tty_stderr()
    encode_cached(FakeEncoder(), TEXTS, tmp_path / "a", batch_size=4, progress=True)
    assert "10/10" in term.getvalue()
    monkeypatch.undo()
    encode_cached(FakeEncoder(), TEXTS, tmp_path / "b", batch_size=4, progress=True)
    assert capsys.readouterr().err == ""


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LRDGRAPH_CACHE", str(tmp_path / "feat"))
    assert default_cache_dir() == tmp_path / "feat"
    enc = FakeEncoder()
    encode_cached(enc, ["a"])
    assert (tmp_path / "feat" / CACHE_FILE).is_file()
    monkeypatch.delenv("LRDGRAPH_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert default_cache_dir() == Path.home() / ".cache" / "lrdgraph" / "features"

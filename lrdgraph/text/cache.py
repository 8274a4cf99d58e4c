"""Content-addressed on-disk cache of text features.

One SQLite file, ``<cache_dir>/features.sqlite``, table ``features(key TEXT PRIMARY KEY,
dim INTEGER, vec BLOB)``: ``key`` is the sha256 of ``(backend, model, text)``, ``vec`` the
vector as little-endian float32 bytes, ``dim`` its length. No pickle, nothing executable; the
text itself and any credential are never stored. The database is in WAL mode, so several
processes may share one cache.

:func:`encode_cached` commits after every batch the encoder returns, so an interrupted run
(a crash, Ctrl-C, an API failure) keeps every vector already computed or paid for, and a re-run
sends only the texts still missing.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Iterator, Optional, Sequence, Union

import numpy as np

from ..errors import ConfigError, OutputError, ServiceError
from ..progress import progress_bar
from .base import TextEncoder, as_text_list

__all__ = ["encode_cached", "default_cache_dir", "cache_key", "CACHE_FILE"]

CACHE_FILE = "features.sqlite"
_SCHEMA_VERSION = 1
_LOOKUP_CHUNK = 500  # keys per SELECT ... IN (...), well under SQLite's variable limit

PathLike = Union[str, os.PathLike]


def default_cache_dir() -> Path:
    """``$LRDGRAPH_CACHE`` if set, else ``$XDG_CACHE_HOME/lrdgraph/features`` (``~/.cache``)."""
    env = os.environ.get("LRDGRAPH_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "lrdgraph" / "features"


def cache_key(backend: str, model: str, text: str) -> str:
    """sha256 hex digest of ``(backend, model, text)``, encoded unambiguously as JSON."""
    blob = json.dumps([backend, model, text], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


@contextlib.contextmanager
def _open(cache_dir: Path) -> Iterator[sqlite3.Connection]:
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(str(cache_dir / CACHE_FILE), timeout=60.0)
    except (OSError, sqlite3.Error) as exc:
        raise OutputError(f"cannot open the feature cache: {exc}", path=cache_dir) from None
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, _SCHEMA_VERSION):
            raise OutputError(
                f"feature cache has schema version {version}, this lrdgraph knows "
                f"{_SCHEMA_VERSION}: use another cache directory",
                path=cache_dir / CACHE_FILE,
            )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS features "
            "(key TEXT PRIMARY KEY, dim INTEGER NOT NULL, vec BLOB NOT NULL)"
        )
        conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        conn.commit()
        yield conn
    except sqlite3.DatabaseError as exc:
        raise OutputError(
            f"feature cache is unusable ({exc}); delete it to start afresh",
            path=cache_dir / CACHE_FILE,
        ) from None
    finally:
        conn.close()


def _lookup(conn: sqlite3.Connection, keys: Sequence[str]) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}
    for start in range(0, len(keys), _LOOKUP_CHUNK):
        chunk = keys[start : start + _LOOKUP_CHUNK]
        marks = ",".join("?" * len(chunk))
        for key, dim, blob in conn.execute(
            f"SELECT key, dim, vec FROM features WHERE key IN ({marks})", chunk
        ):
            if isinstance(blob, bytes) and dim > 0 and len(blob) == 4 * dim:
                found[key] = np.frombuffer(blob, dtype="<f4")
            # else: a damaged row; it is treated as missing and overwritten
    return found


def _store(conn: sqlite3.Connection, keys: Sequence[str], vecs: np.ndarray) -> None:
    rows = [
        (k, int(v.shape[0]), np.ascontiguousarray(v, dtype="<f4").tobytes())
        for k, v in zip(keys, vecs)
    ]
    with conn:  # one transaction, committed on exit
        conn.executemany("INSERT OR REPLACE INTO features (key, dim, vec) VALUES (?, ?, ?)", rows)


def _checked(encoder: TextEncoder, vecs: object, n: int) -> np.ndarray:
    arr = np.asarray(vecs)
    if arr.ndim != 2 or arr.shape[0] != n:
        raise ServiceError(
            f"{encoder.backend} encoder returned shape {arr.shape} for {n} texts"
        )
    if not np.isfinite(arr).all():
        raise ServiceError(f"{encoder.backend} encoder returned non-finite values")
    return arr.astype(np.float32, copy=False)


def encode_cached(
    encoder: TextEncoder,
    texts: Sequence[str],
    cache_dir: Optional[PathLike] = None,
    *,
    batch_size: Optional[int] = None,
    progress: bool = False,
) -> np.ndarray:
    """Vectors of ``texts`` (``float32 [len(texts), dim]``, input order), through the cache.

    Looks every text up under ``(encoder.backend, encoder.cache_model(texts), text)``; sends
    only the missing ones, each distinct text once, to the encoder in batches of
    ``batch_size`` (``None``: the encoder's default), and stores each batch as soon as it
    returns. A corpus-dependent encoder (``tfidf``) is keyed by the whole corpus and, on any
    miss, encodes the whole corpus in one call.

    Args:
        encoder: the backend.
        texts: the texts; duplicates and empty strings are fine.
        cache_dir: where ``features.sqlite`` lives (default: :func:`default_cache_dir`).
        batch_size: texts per encoder call.
        progress: show a progress bar over the texts to encode.
    """
    texts = as_text_list(texts)
    if batch_size is not None and batch_size < 1:
        raise ConfigError(f"batch_size must be positive, got {batch_size}", field="batch_size")
    cache_dir = default_cache_dir() if cache_dir is None else Path(cache_dir).expanduser()
    if not texts:
        return np.zeros((0, encoder.dim), dtype=np.float32)

    model = encoder.cache_model(texts)
    key_of: dict[str, str] = {}  # distinct text -> key, in first-occurrence order
    for t in texts:
        if t not in key_of:
            key_of[t] = cache_key(encoder.backend, model, t)

    with _open(cache_dir) as conn:
        found = _lookup(conn, list(key_of.values()))
        missing = [t for t, k in key_of.items() if k not in found]
        if missing:
            if encoder.corpus_dependent:
                vecs = _checked(encoder, encoder.encode(texts, progress=progress), len(texts))
                fresh = dict(zip(texts, vecs))  # equal texts have equal vectors
                _store(conn, [key_of[t] for t in fresh], np.stack(list(fresh.values())))
                found.update((key_of[t], v) for t, v in fresh.items())
            else:
                _encode_missing(encoder, conn, missing, key_of, found, batch_size, progress)

    dims = {v.shape[0] for v in found.values()}
    if len(dims) != 1:
        raise ConfigError(
            f"the feature cache holds vectors of widths {sorted(dims)} for {encoder!r} "
            f"(model {model!r}): the model behind this name changed; delete "
            f"{cache_dir / CACHE_FILE} or use another --encoder-model",
        )
    return np.stack([found[key_of[t]] for t in texts]).astype(np.float32, copy=False)


def _encode_missing(
    encoder: TextEncoder,
    conn: sqlite3.Connection,
    missing: list[str],
    key_of: dict[str, str],
    found: dict[str, np.ndarray],
    batch_size: Optional[int],
    progress: bool,
) -> None:
    size = batch_size or getattr(encoder, "batch_size", None) or 64
    bar = progress_bar(total=len(missing), desc=f"text features ({encoder.backend})",
                       enabled=progress, unit="text")
    try:
        for start in range(0, len(missing), size):
            batch = missing[start : start + size]
            vecs = _checked(encoder, encoder.encode(batch, batch_size=size), len(batch))
            keys = [key_of[t] for t in batch]
            _store(conn, keys, vecs)
            found.update(zip(keys, vecs))
            bar.update(len(batch))
    finally:
        bar.close()

"""Text features of items: backends chosen by name, and a content-addressed cache.

Backends (``--encoder``): ``local`` (sentence-transformers, :class:`LocalEncoder`), ``openai``
(any OpenAI-compatible ``/embeddings`` server, :class:`OpenAIEncoder`) and ``tfidf``
(TF-IDF + truncated SVD, :class:`TfidfEncoder`). :func:`encode_cached` runs any of them through
the on-disk cache. Importing this package imports neither torch, sentence-transformers,
openai nor scikit-learn: each backend imports its library when it is made or first used.

Example::

    enc = get_encoder("local")
    x = encode_cached(enc, item_texts, progress=True)   # float32 [n_items, 384]
"""
from __future__ import annotations

from typing import Any, Optional

from ..errors import ConfigError
from .base import TextEncoder
from .cache import default_cache_dir, encode_cached
from .local import LocalEncoder
from .openai_backend import OpenAIEncoder
from .tfidf import TfidfEncoder

__all__ = [
    "TextEncoder",
    "ENCODERS",
    "get_encoder",
    "encode_cached",
    "default_cache_dir",
    "LocalEncoder",
    "OpenAIEncoder",
    "TfidfEncoder",
]

#: Backend names accepted by :func:`get_encoder` (and ``--encoder``).
ENCODERS = ("local", "openai", "tfidf")


def get_encoder(
    name: str, *, model: Optional[str] = None, base_url: Optional[str] = None, **kw: Any
) -> TextEncoder:
    """Make the text encoder called ``name``.

    Args:
        name (str): ``local``, ``openai`` or ``tfidf``.
        model (str, optional): ``--encoder-model``: a sentence-transformers directory for
            ``local``, a model name for ``openai``; ``tfidf`` takes none.
        base_url (str, optional): ``--base-url`` of an OpenAI-compatible server (``openai`` only).
        **kw: further arguments of the backend's class (``device``, ``batch_size``, ``dim``, ...).
    """
    if name not in ENCODERS:
        raise ConfigError(
            f"unknown encoder {name!r}: choose one of {', '.join(ENCODERS)}", field="encoder"
        )
    if base_url is not None and name != "openai":
        raise ConfigError(f"--base-url applies to the openai encoder only, not {name}",
                          field="base-url")
    if name == "local":
        return LocalEncoder(model, **kw)
    if name == "openai":
        if model is not None:
            kw["model"] = model
        return OpenAIEncoder(base_url=base_url, **kw)
    if model is not None:
        raise ConfigError("the tfidf encoder takes no --encoder-model", field="encoder-model")
    return TfidfEncoder(**kw)


"""The interface every text-feature backend implements."""
from __future__ import annotations

import abc
from typing import Optional, Sequence

import numpy as np

__all__ = ["TextEncoder", "as_text_list"]


class TextEncoder(abc.ABC):
    """Turns item texts into fixed-size float vectors.

    Attributes:
        backend (str): the backend's name as chosen on the command line (``local``, ``openai``,
            ``tfidf``); part of the feature-cache key.
        model (str): identifies the model that produced the vectors (a model name or directory,
            plus anything else that changes the vectors); the other part of the cache key. Two
            encoders with equal ``(backend, model)`` must give equal vectors for equal texts.

    Empty strings are valid input: every backend returns a vector for them.

    A backend whose vectors depend on the whole corpus (``tfidf``) sets ``corpus_dependent``
    and overrides :meth:`cache_model`; the feature cache then encodes whole corpora only.
    """

    backend: str
    model: str
    corpus_dependent: bool = False

    @property
    @abc.abstractmethod
    def dim(self) -> int:
        """Length of each vector."""

    @abc.abstractmethod
    def encode(
        self, texts: list[str], *, batch_size: Optional[int] = None, progress: bool = False
    ) -> np.ndarray:
        """Encode ``texts`` into a ``float32`` array of shape ``[len(texts), dim]``, in order.

        ``batch_size`` is the number of texts per model call or request (``None``: the
        backend's default); ``progress`` shows a progress bar.
        """

    def cache_model(self, texts: list[str]) -> str:
        """The ``model`` part of the cache key when encoding ``texts`` (default: ``model``)."""
        return self.model

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r})"


def as_text_list(texts: Sequence[str]) -> list[str]:
    """Check that ``texts`` is a sequence of strings (not a single string) and return a list."""
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be a list of strings, not a single string")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise TypeError(f"texts[{i}] is {type(t).__name__}, expected str")
    return out

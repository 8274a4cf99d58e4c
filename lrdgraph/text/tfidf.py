"""TF-IDF + truncated SVD backend (``--encoder tfidf``): no model at all."""
from __future__ import annotations

import hashlib
from typing import Optional

import numpy as np

from ..errors import ConfigError
from .base import TextEncoder, as_text_list

__all__ = ["TfidfEncoder", "corpus_hash"]


def corpus_hash(texts: list[str]) -> str:
    """sha256 of a whole corpus: its texts, in order, duplicates included."""
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


class TfidfEncoder(TextEncoder):
    """Latent-semantic features: scikit-learn TF-IDF, then truncated SVD, rows L2-normalised.

    For tests and small machines: no model and no network. The features are **corpus
    dependent**: ``encode(texts)`` fits the vocabulary, the IDF weights and the SVD on exactly
    ``texts`` (in order, duplicates included) and returns their vectors, so the same text gets a
    different vector in another corpus. Hence ``corpus_dependent = True``: the feature cache keys
    these vectors by :meth:`cache_model`, which includes a hash of the whole corpus, and always
    encodes the whole corpus in one call.

    The SVD is randomised with ``seed``: the same corpus and seed give the same vectors.
    ``dim`` is clipped to what the corpus allows (at most the number of non-empty texts and of
    distinct terms): after ``encode``, :attr:`dim` is the width actually returned. A corpus
    with no terms at all (only empty or punctuation-only texts) gives zero vectors of width 1.
    Empty texts give zero rows.

    Args:
        dim (int): requested number of SVD components. (default: 64)
        seed (int): random state of the randomised SVD. (default: 0)
    """

    backend = "tfidf"
    corpus_dependent = True

    def __init__(self, dim: int = 64, seed: int = 0) -> None:
        if int(dim) < 1:
            raise ConfigError(f"tfidf dim must be positive, got {dim}", field="dim")
        self.requested_dim = int(dim)
        self.seed = int(seed)
        self.model = f"tfidf-svd(dim={self.requested_dim},seed={self.seed},v1)"
        self._dim: Optional[int] = None

    @property
    def dim(self) -> int:
        """Width of the last ``encode`` result; before any, the requested ``dim``."""
        return self.requested_dim if self._dim is None else self._dim

    def cache_model(self, texts: list[str]) -> str:
        """The cache key's model for ``texts``: the settings plus the corpus hash."""
        return f"{self.model};corpus={corpus_hash(texts)}"

    def encode(
        self, texts: list[str], *, batch_size: Optional[int] = None, progress: bool = False
    ) -> np.ndarray:
        """Fit on ``texts`` and return their vectors (``batch_size``, ``progress`` are unused)."""
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = as_text_list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectorizer = TfidfVectorizer(
            strip_accents="unicode", token_pattern=r"(?u)\b\w+\b", sublinear_tf=True
        )
        try:
            tf = vectorizer.fit_transform(texts)
        except ValueError:  # empty vocabulary: no text has a single term
            self._dim = 1
            return np.zeros((len(texts), 1), dtype=np.float32)
        # The rank is at most the number of texts with a term and the number of terms.
        k = min(self.requested_dim, int((tf.getnnz(axis=1) > 0).sum()), tf.shape[1])
        if k < min(tf.shape):
            z = TruncatedSVD(n_components=k, random_state=self.seed).fit_transform(tf)
        else:
            # The whole spectrum is asked for: an exact dense SVD (the matrix is tiny here).
            u, s, _ = np.linalg.svd(tf.toarray(), full_matrices=False)
            u, s = u[:, :k], s[:k]
            # Same sign convention as scikit-learn's svd_flip: largest |u| of each column > 0.
            signs = np.sign(u[np.argmax(np.abs(u), axis=0), np.arange(k)])
            signs[signs == 0] = 1.0
            z = u * (s * signs)
        norms = np.linalg.norm(z, axis=1, keepdims=True)
        z = np.divide(z, norms, out=np.zeros_like(z), where=norms > 0)
        self._dim = k
        return np.ascontiguousarray(z, dtype=np.float32)

    def __repr__(self) -> str:
        return f"TfidfEncoder(dim={self.requested_dim}, seed={self.seed})"

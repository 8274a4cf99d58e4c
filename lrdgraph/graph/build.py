"""``build_graph``: a data set plus text features becomes an :class:`ItemGraph`."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from ..data.dataset import Dataset
from .item_graph import ItemGraph

__all__ = ["build_graph", "encode_items"]


def encode_items(dataset: Dataset, *, encoder: str = "local", encoder_model: Optional[str] = None,
                 base_url: Optional[str] = None, cache_dir: Optional[str | Path] = None,
                 batch_size: int = 64, progress: bool = True, dim: Optional[int] = None
                 ) -> tuple[np.ndarray, Dict[str, Any]]:
    """Encode every item's text with the chosen backend through the on-disk feature cache.

    Items without text are encoded from their id (so every item has a feature row); the number
    of such items is recorded in the returned encoder description.
    """
    from ..text import encode_cached, get_encoder

    kwargs: Dict[str, Any] = {}
    if dim is not None and encoder == "tfidf":
        kwargs["dim"] = dim
    enc = get_encoder(encoder, model=encoder_model, base_url=base_url, **kwargs)
    texts = [t if t.strip() else f"item {iid}" for t, iid in zip(dataset.item_text, dataset.item_ids)]
    feats = encode_cached(enc, texts, cache_dir, batch_size=batch_size, progress=progress)
    desc = {"backend": enc.backend, "model": enc.model, "dim": int(feats.shape[1]),
            "items_without_text": int(sum(1 for t in dataset.item_text if not t.strip()))}
    if base_url:
        desc["base_url"] = base_url
    return feats, desc


def build_graph(dataset: Dataset, **encode_options: Any) -> ItemGraph:
    """Encode item text and assemble the :class:`ItemGraph` (see ``encode_items`` options)."""
    import torch

    dataset.validate()
    feats, desc = encode_items(dataset, **encode_options)
    return ItemGraph(dataset=dataset, features=torch.as_tensor(feats, dtype=torch.float32),
                     encoder=desc)

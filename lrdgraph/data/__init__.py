"""Data set readers. Each returns a :class:`~lrdgraph.data.dataset.Dataset`.

:func:`load_dataset` picks a reader by name, so Python, config files and the CLI share one
vocabulary: ``rechorus`` (a ReChorus/LRD directory), ``ml-100k`` (raw MovieLens 100K),
``csv`` (generic CSV tables) and ``demo`` (the synthetic office-supplies set).
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Dict

from ..errors import ConfigError
from .csv_reader import dataset_from_frames, read_csv_dataset
from .dataset import Attribute, Dataset, Split
from .demo import DEMO_OPTIONS, make_demo, write_demo
from .movielens import read_movielens
from .rechorus import read_rechorus

__all__ = [
    "Attribute",
    "Dataset",
    "Split",
    "load_dataset",
    "DATASET_KINDS",
    "read_rechorus",
    "read_movielens",
    "read_csv_dataset",
    "dataset_from_frames",
    "make_demo",
    "write_demo",
    "DEMO_OPTIONS",
]


DATASET_KINDS: Dict[str, Callable[..., Dataset]] = {
    "rechorus": read_rechorus,
    "ml-100k": read_movielens,
    "csv": read_csv_dataset,
    "demo": make_demo,
}


def load_dataset(kind: str, **options: Any) -> Dataset:
    """Read a data set by kind.

    Args:
        kind (str): ``"rechorus"`` (:func:`read_rechorus`; ``data_dir=``), ``"ml-100k"``
            (:func:`read_movielens`; ``data_dir=``, ``k_core=``, ``n_neg=``, ``seed=``,
            ``genres=``, ``ties=``, ``tie_seed=``),
            ``"csv"`` (:func:`read_csv_dataset`; ``data_dir=`` a directory holding
            ``interactions.csv``, or ``interactions=`` a file, and that function's options) or
            ``"demo"`` (:func:`make_demo`; ``seed=``, ``num_users=``).
        **options: passed on to the reader; an option it does not take, or a missing required
            one, is a :class:`~lrdgraph.errors.ConfigError`.
    """
    reader = DATASET_KINDS.get(kind)
    if reader is None:
        raise ConfigError(f"unknown data set kind {kind!r}; choose one of "
                          f"{', '.join(DATASET_KINDS)}")
    if kind == "csv" and "data_dir" in options:
        if "interactions" in options:
            raise ConfigError("data set kind 'csv': give data_dir or interactions, not both")
        options["interactions"] = options.pop("data_dir")
    try:
        inspect.signature(reader).bind(**options)
    except TypeError as exc:
        raise ConfigError(f"data set kind {kind!r}: {exc}") from None
    return reader(**options)

"""Fixtures shared by the graph, model, training and CLI tests.

Everything here is tiny on purpose: the demo data set with 100 users (about 270 items), the
``tfidf`` encoder (no model download), models with ``emb_size=16`` and one attention pass. The
graph is built once per test session; tests that write must copy it (``tmp_path``), never
modify it in place.
"""
from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Callable, Dict, Iterable, List

import numpy as np
import pytest

#: users of the demo data set in the shared fixtures (the CLI default is 600)
DEMO_USERS = 100

#: settings that keep every test model tiny and on the CPU
TINY_SETTINGS: List[str] = [
    "model.emb_size=16",
    "model.num_heads=2",
    "model.num_layers=1",
    "lrd.num_latent=3",
    "train.device=cpu",
    "train.num_threads=1",
    "train.batch_size=128",
    "train.epochs=2",
    "eval.ks=[5,10]",
    "eval.batch_size=128",
]


_OURS = {"graph", "models", "train", "cli"}

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture(scope="session")
def benchmark_script() -> Callable[[str], object]:
    """Load a script of ``benchmarks/`` as a module: ``benchmark_script("text_probe")``."""
    import importlib.util

    loaded: Dict[str, object] = {}

    def load(name: str):
        if name not in loaded:
            spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            loaded[name] = mod
        return loaded[name]

    return load


@pytest.fixture(autouse=True)
def _one_torch_thread(request):
    """One intra-op thread for the graph/model/train/CLI tests: the models are tiny, and on a
    shared two-core machine thread contention makes them up to 30x slower."""
    import sys

    here = Path(str(request.node.path)).resolve().parent
    if here.name in _OURS and here.parent == Path(__file__).resolve().parent:
        torch = sys.modules.get("torch")
        if torch is not None and torch.get_num_threads() != 1:
            torch.set_num_threads(1)
    yield


@pytest.fixture
def restore_torch_determinism():
    """Restore ``torch.use_deterministic_algorithms`` after a test that trains with
    ``train.deterministic: true`` (the setting is global to the process)."""
    import torch

    before = torch.are_deterministic_algorithms_enabled()
    yield
    torch.use_deterministic_algorithms(before)


@pytest.fixture(scope="session")
def demo_dataset():
    """The synthetic demo data set (seed 0, 100 users). Do not modify it."""
    from lrdgraph.data.demo import make_demo

    return make_demo(0, num_users=DEMO_USERS)


@pytest.fixture(scope="session")
def demo_graph(demo_dataset, tmp_path_factory):
    """An :class:`~lrdgraph.graph.ItemGraph` of the demo data set with tfidf features."""
    from lrdgraph.graph.build import build_graph

    cache = tmp_path_factory.mktemp("tfidf-cache")
    return build_graph(demo_dataset, encoder="tfidf", cache_dir=cache, progress=False)


@pytest.fixture(scope="session")
def demo_graph_dir(demo_graph, tmp_path_factory) -> Path:
    """The demo graph saved as a graph directory (read-only for tests: copy before writing)."""
    from lrdgraph.graph import save_graph

    out = tmp_path_factory.mktemp("demo-graph-parent") / "graph"
    save_graph(demo_graph, out)
    return out


@pytest.fixture(scope="session")
def demo_data(demo_dataset):
    """:class:`~lrdgraph.train.data.SequenceData` of the demo data set."""
    from lrdgraph.train.data import SequenceData

    return SequenceData(demo_dataset, history=20)


@pytest.fixture(scope="session")
def tiny_config() -> Callable[..., Dict]:
    """``tiny_config(model="kda", *overrides)``: a resolved training config with tiny models."""
    from lrdgraph.config import resolve_config

    def make(model: str = "kda", *overrides: str, extra: Iterable[str] = ()) -> Dict:
        return resolve_config(model=model, overrides=[*TINY_SETTINGS, *overrides, *extra])

    return make


def make_tiny_dataset():
    """A hand-checkable data set of 8 items and 4 users.

    - ``also_bought``: 0→1, 2→0, 3→4, 5→5 (a self loop); ``also_viewed``: 6→7, 1→0.
    - ``genre`` is multi-valued: item 0 {a, b}, 1 {b}, 2 {c}, 3 {a, c}, 4 {}, 5 {d}, 6 {}, 7 {b, d}.
    - ``brand`` is single-valued with gaps: 0 X, 1 X, 2 Y, 5 Y, 7 Z; items 3, 4, 6 have none.
    - Item text includes commas, quotes, a newline, non-ASCII text and one empty text; ids are
      strings with leading zeros.
    """
    from lrdgraph.data.dataset import Attribute, Dataset, Split

    item_ids = ["007", "010", "a,b", "x\"y", "ü", "5", "6", "seven"]
    item_text = ["Red pen, fine", "Blue \"ink\"", "multi\nline", "", "Füller — blau",
                 "  spaced  ", "plain", "emoji ✓"]
    user_ids = ["u0", "u1", "u2", "u3"]
    train = Split(user=[0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 0],
                  item=[0, 1, 2, 3, 4, 5, 6, 7, 0, 3, 6, 3],
                  time=[10, 20, 30, 11, 21, 31, 12, 22, 13, 23, 33, 40])
    dev = Split(user=[0, 1, 2, 3], item=[4, 6, 0, 1], time=[50, 51, 52, 53],
                neg_items=[[5, 6], [7, 0], [1, 2], [2, 4]])
    test = Split(user=[0, 1, 2, 3], item=[5, 7, 1, 2], time=[60, 61, 62, 63],
                 neg_items=[[6, 7], [0, 1], [3, 3], [5, 7]])
    genre = Attribute(name="genre", values=["a", "b", "c", "d"],
                      item=[0, 0, 1, 2, 3, 3, 5, 7, 7], value=[0, 1, 1, 2, 0, 2, 3, 1, 3])
    brand = Attribute(name="brand", values=["X", "Y", "Z"], item=[0, 1, 2, 5, 7],
                      value=[0, 0, 1, 1, 2])
    relations = {"also_bought": np.array([[0, 2, 3, 5], [1, 0, 4, 5]], dtype=np.int64),
                 "also_viewed": np.array([[6, 1], [7, 0]], dtype=np.int64)}
    ds = Dataset(name="tiny", user_ids=user_ids, item_ids=item_ids, item_text=item_text,
                 train=train, dev=dev, test=test, attributes={"genre": genre, "brand": brand},
                 relations=relations, report={"note": "hand-made"})
    ds.validate()
    return ds


@pytest.fixture
def tiny_dataset():
    """A fresh hand-made data set (see :func:`make_tiny_dataset`)."""
    return make_tiny_dataset()


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal (progress bars draw only on one)."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def tty_stderr(monkeypatch) -> Callable[[], io.StringIO]:
    """Call it in the test body (pytest's capture resets sys.stderr after fixture setup): it
    replaces sys.stderr with a terminal-like buffer for the rest of the test and returns it."""
    def use() -> io.StringIO:
        term = _Terminal()
        monkeypatch.setattr(sys, "stderr", term)
        return term

    return use

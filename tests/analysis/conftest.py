"""Shared fixtures of the analysis tests: one tiny trained run on the demo data set (tfidf
features, RCF with 16-dimensional embeddings and one slot-attention layer, three epochs at
lr 0.01), trained once per session, and copies of it for tests that write into a run."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

#: the tiny run's settings; lr 0.01 lets three epochs (a few seconds) shape the extractor
TINY = ["model.emb_size=16", "model.num_layers=1", "train.lr=0.01", "train.epochs=3",
        "train.patience=0", "train.num_threads=1", "train.batch_size=256",
        "eval.protocols=[sampled]"]


@pytest.fixture(scope="session")
def analysis_graph_dir(tmp_path_factory) -> Path:
    from lrdgraph.api import build_graph_dir

    root = tmp_path_factory.mktemp("analysis")
    out = root / "graph"
    build_graph_dir("demo", {"seed": 0}, out, encoder="tfidf", cache_dir=root / "cache",
                    progress=False)
    return out


@pytest.fixture(scope="session")
def demo_run(analysis_graph_dir, tmp_path_factory) -> Path:
    """A trained run directory (do not write into it: use ``run_copy``)."""
    from lrdgraph.config import resolve_config
    from lrdgraph.train.trainer import train

    out = tmp_path_factory.mktemp("analysis-run") / "run"
    cfg = resolve_config(model="rcf", overrides=TINY)
    train(analysis_graph_dir, cfg, out, progress=False, log=lambda m: None)
    return out


@pytest.fixture(scope="session")
def loaded(demo_run):
    """``(cfg, graph, model)`` of the demo run."""
    from lrdgraph.analysis.trained import load_trained

    return load_trained(demo_run)


@pytest.fixture
def run_copy(demo_run, tmp_path) -> Path:
    """A private copy of the demo run (its config still points at the shared graph)."""
    dst = tmp_path / "run"
    shutil.copytree(demo_run, dst)
    return dst

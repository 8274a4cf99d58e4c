"""Fixtures of the data-reader tests: where the shared real data lies, and a checker that an
error names the file, line and field."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

import pytest

from lrdgraph.errors import LrdError

REPO = Path(__file__).resolve().parents[2]


def _shared_data() -> Path:
    """``$LRDGRAPH_SHARED_DATA``, else the ``shared/data`` folder beside the repository."""
    env = os.environ.get("LRDGRAPH_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def ml100k_dir() -> Path:
    d = _shared_data() / "ml-100k"
    if not (d / "u.data").is_file():
        pytest.skip(f"MovieLens 100K not found at {d} (set LRDGRAPH_SHARED_DATA)")
    return d


@pytest.fixture(scope="session")
def office_dir() -> Path:
    d = _shared_data() / "office"
    if not (d / "train.csv").is_file():
        pytest.skip(f"Office data not found at {d} (set LRDGRAPH_SHARED_DATA)")
    return d


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    return REPO / "data" / "demo"


def _assert_where(exc: LrdError, path: Optional[Path] = None, line: Optional[int] = None,
                  field: Optional[str] = None) -> str:
    """Check that ``exc`` names ``path``, ``line`` and ``field``, in its attributes and in the
    one-line message a user sees. Returns the message."""
    msg = str(exc)
    if path is not None:
        assert exc.path == str(path), msg
        assert msg.startswith(str(path)), msg
    if line is not None:
        assert exc.line == line, msg
        assert f"{path}:{line}" in msg if path is not None else f":{line}" in msg, msg
    if field is not None:
        assert exc.field == field, msg
        assert f"field '{field}'" in msg, msg
    return msg


@pytest.fixture
def assert_where() -> Callable[..., str]:
    return _assert_where

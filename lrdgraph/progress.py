"""Progress bars: tqdm on an interactive terminal, nothing in a log file or a pipe."""
from __future__ import annotations

from typing import Any, Iterable, Optional

__all__ = ["progress_bar"]


def progress_bar(iterable: Optional[Iterable] = None, *, total: Optional[int] = None,
                 desc: str = "", enabled: bool = True, **kwargs: Any):
    """A tqdm bar over ``iterable`` (or a manual one with ``total`` and ``update``).

    Shown only when ``enabled`` and stderr is a terminal (tqdm's ``disable=None``). In a log
    file or a pipe every redraw would add to the file; there the commands' own one line per
    epoch or step says how far they got. A disabled bar still iterates and counts, so callers
    need no second code path.
    """
    from tqdm.auto import tqdm

    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, total=total, desc=desc, disable=None if enabled else True, **kwargs)

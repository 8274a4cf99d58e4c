"""Progress of the cells being trained: one line per finished epoch of each cell.

The cells train with their trainer's own log going to ``logs/<cell>.log`` (in this process or
in worker processes), so the experiment's terminal would otherwise stay silent for the whole
of a cell, often half an hour on a CPU. :class:`EpochWatcher` reads each cell's
``metrics.jsonl`` (rewritten atomically after every epoch) from a background thread and logs
the epochs it has not shown yet. It only reads files, so it works the same whatever process
trains the cell.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

__all__ = ["EpochWatcher", "read_epochs", "best_so_far"]


def read_epochs(path: Path) -> Optional[List[Dict[str, Any]]]:
    """The epoch records of a ``metrics.jsonl`` (None when there is none yet). A line that does
    not parse ends the list: the file is rewritten whole, so that is a file being replaced."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    out = []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            break
        if isinstance(rec, dict) and isinstance(rec.get("epoch"), int):
            out.append(rec)
    return out


def best_so_far(epochs: Sequence[Dict[str, Any]], metric: str, protocol: str
                ) -> Tuple[Optional[float], Optional[int]]:
    """``(score, epoch)`` of the last record the trainer marked ``best``; ``(None, None)``
    when there is none."""
    for rec in reversed(epochs):
        score = rec.get("dev", {}).get(protocol, {}).get(metric)
        if rec.get("best") and isinstance(score, (int, float)):
            return score, rec["epoch"]
    return None, None


class EpochWatcher:
    r"""Log each cell's new epochs as ``<cell>: epoch E  dev NDCG@5=0.4012 *  best 0.4050 @ 11
    (38.2s + 5.3s eval)`` (``*``: a new best, as the trainer marks it).

    Args:
        cells: ``(name, run_dir, metric, protocol)`` per cell: the run directory holding
            ``metrics.jsonl``, the model-selection metric and its dev protocol.
        log: where the lines go.
        every: seconds between two reads of the files in the background thread (:meth:`start`).

    Epochs already in a cell's file when the watcher is made (a resumed cell) are not shown
    again. Use as a context manager: it starts the thread, and on exit reads once more and
    stops it.
    """

    def __init__(self, cells: Sequence[Tuple[str, str | Path, str, str]],
                 log: Callable[[str], None], every: float = 5.0) -> None:
        self.cells = [(name, Path(run_dir) / "metrics.jsonl", metric, protocol)
                      for name, run_dir, metric, protocol in cells]
        self.log = log
        self.every = every
        self.shown: Dict[str, int] = {name: len(read_epochs(path) or [])
                                      for name, path, _, _ in self.cells}
        self._seen: Dict[str, Tuple[int, int]] = {}  # (mtime_ns, size) of the file last read
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None

    def poll(self) -> int:
        """Read every cell's file once and log its new epochs; returns the number logged."""
        logged = 0
        with self._lock:
            for name, path, metric, protocol in self.cells:
                try:  # a grid has hundreds of cells: read only the files that changed
                    st = path.stat()
                except OSError:
                    continue
                if self._seen.get(name) == (st.st_mtime_ns, st.st_size):
                    continue
                self._seen[name] = (st.st_mtime_ns, st.st_size)
                epochs = read_epochs(path)
                if not epochs or len(epochs) <= self.shown[name]:
                    continue
                for i in range(self.shown[name], len(epochs)):
                    best = best_so_far(epochs[:i + 1], metric, protocol)
                    self.log(_line(name, epochs[i], metric, protocol, *best))
                    logged += 1
                self.shown[name] = len(epochs)
        return logged

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.poll()
            except Exception:  # progress lines must never stop an experiment
                pass

    def start(self) -> "EpochWatcher":
        if self.every > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="lrdgraph-epoch-watch",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            self.poll()
        except Exception:
            pass

    def __enter__(self) -> "EpochWatcher":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _line(name: str, rec: Dict[str, Any], metric: str, protocol: str,
          best_score: Optional[float], best_epoch: Optional[int]) -> str:
    score = rec.get("dev", {}).get(protocol, {}).get(metric)
    parts = [f"{name}: epoch {rec['epoch']}"]
    if isinstance(score, (int, float)):
        parts.append(f"dev {metric}={score:.4f}" + (" *" if rec.get("best") else ""))
    if best_score is not None:
        parts.append(f"best {best_score:.4f} @ {best_epoch}")
    secs = rec.get("seconds") or {}
    if isinstance(secs.get("train"), (int, float)):
        ev = secs.get("dev_eval")
        parts.append(f"({secs['train']:.1f}s" + (f" + {ev:.1f}s eval)" if isinstance(ev, (int, float))
                                                 else ")"))
    return "  ".join(parts)

"""Safe file output: atomic writes, atomic output directories, locks and hashes.

Nothing lrdgraph writes appears under its final name half-written: files are written to a
temporary sibling and renamed; whole output directories are assembled in a temporary sibling
directory and renamed into place when complete.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Union

import numpy as np

from .errors import OutputError

__all__ = [
    "atomic_write",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_torch_save",
    "unpickling_reason",
    "output_dir",
    "DirLock",
    "sha256_file",
    "to_jsonable",
]

PathLike = Union[str, Path]

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """Open a temporary file beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        kwargs = {} if "b" in mode else {"encoding": encoding, "newline": ""}
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: PathLike, text: str) -> None:
    with atomic_write(path, "w") as fh:
        fh.write(text)


def to_jsonable(obj: Any) -> Any:
    """Convert numpy / torch scalars, paths and tuples so ``json.dumps`` accepts them."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if hasattr(obj, "item") and hasattr(obj, "dim"):  # torch scalar tensor, without importing torch
        return obj.item() if obj.dim() == 0 else obj.tolist()
    return obj


def atomic_write_json(path: PathLike, obj: Any, indent: int = 2) -> None:
    atomic_write_text(path, json.dumps(to_jsonable(obj), indent=indent, sort_keys=False) + "\n")


def atomic_torch_save(obj: Any, path: PathLike) -> None:
    import torch

    with atomic_write(path, "wb") as fh:
        torch.save(obj, fh)


def unpickling_reason(exc: BaseException, limit: int = 200) -> str:
    """The line of a ``torch.load(weights_only=True)`` refusal that says what was refused.

    torch's message starts with advice to retry with ``weights_only=False`` (which would run
    the file's code); the useful line names the blocked global, e.g. ``Trying to load
    unsupported GLOBAL posix.system ...``.
    """
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    useful = [ln for ln in lines if "weights_only" not in ln]
    named = [ln for ln in useful if "global" in ln.lower()]
    return (named or useful or lines or [type(exc).__name__])[0][:limit]


def sha256_file(path: PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


class DirLock:
    """An exclusive lock file ``<dir>.lock`` beside an output directory.

    A second command aiming at the same output refuses with a clear message instead of
    interleaving its writes. A lock left by a killed process (its pid no longer alive) is taken
    over.
    """

    def __init__(self, target: PathLike) -> None:
        target = Path(target)
        self.path = target.parent / f".{target.name}.lock"
        self.held = False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                pid = self._owner()
                if pid is not None and not _pid_alive(pid):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.path)
                    continue
                raise OutputError(
                    f"another lrdgraph command (pid {pid}) is writing to this output; "
                    f"wait for it, or remove {self.path} if no such process is running",
                    path=self.path.parent / self.path.name[1:-5],
                )
            with os.fdopen(fd, "w") as fh:
                fh.write(str(os.getpid()))
            self.held = True
            return
        raise OutputError("could not take the output lock", path=self.path)

    def _owner(self) -> int | None:
        try:
            return int(self.path.read_text().strip() or "0") or None
        except (OSError, ValueError):
            return None

    def release(self) -> None:
        if self.held:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            self.held = False

    def __enter__(self) -> "DirLock":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def output_dir(path: PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Build a complete output directory atomically.

    Yields a temporary directory beside ``path``; when the block succeeds it replaces ``path``.
    On failure (or a kill) the temporary directory is removed or left under a hidden name, and
    ``path`` is untouched. Refuses a non-empty ``path`` unless ``overwrite``; holds a lock so two
    commands cannot write the same output.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError("output path exists and is not a directory", path=path)
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise OutputError("output directory is not empty; pass --overwrite to replace it", path=path)
    lock = DirLock(path)
    with lock:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
        os.chmod(tmp, 0o777 & ~_UMASK)
        try:
            yield tmp
            if path.exists():
                old = path.parent / f".{path.name}.old"
                if old.exists():
                    shutil.rmtree(old)
                os.replace(path, old)
                os.replace(tmp, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

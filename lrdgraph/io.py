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
import time
from pathlib import Path
from typing import Any, Iterator, Union

import numpy as np

from .errors import InputError, OutputError

__all__ = [
    "atomic_write",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_torch_save",
    "unpickling_reason",
    "unreadable_reason",
    "unpickling_refusal",
    "read_json",
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


def unpickling_refusal(exc: BaseException) -> str:
    """The message for a file ``torch.load(weights_only=True)`` refused: one that names a code
    object (a crafted pickle) or one that is not a pickle at all (a damaged file)."""
    reason = unpickling_reason(exc)
    if "global" in reason.lower():
        return f"refusing to load: the file holds objects other than plain tensors ({reason})"
    return f"refusing to load: the file is damaged or not a torch file ({reason})"


def unreadable_reason(exc: BaseException, limit: int = 200) -> str:
    """Why ``torch.load`` could not read a file, in a few words: a truncated or damaged archive
    (torch's own message is a paragraph about its zip reader), or the error's first line."""
    msg = str(exc)
    if isinstance(exc, EOFError) or "central directory" in msg or "PytorchStreamReader" in msg \
            or type(exc).__name__ == "BadZipFile":
        return "the file is truncated or damaged (not a complete torch archive)"
    first = next((ln.strip() for ln in msg.splitlines() if ln.strip()), "")
    return f"{type(exc).__name__}: {first[:limit]}" if first else type(exc).__name__


def read_json(path: PathLike, what: str = "JSON file", hint: str = "") -> Any:
    """Parse a JSON file that lrdgraph wrote; a damaged one (truncated, edited, not UTF-8) is an
    :class:`~lrdgraph.errors.InputError` naming the file, with ``hint`` on what to do."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{what} not found", path=path) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8 text"
        raise InputError(f"damaged {what} ({reason})" + (f"; {hint}" if hint else ""),
                         path=path, line=line) from None


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
    """An exclusive lock file ``.<name>.lock`` beside an output directory or file.

    A second command aiming at the same output refuses with a clear message instead of
    interleaving its writes. A lock left by a killed process (its pid no longer alive, or an
    empty lock file older than a few seconds) is taken over.
    """

    def __init__(self, target: PathLike) -> None:
        target = Path(target)
        self.path = target.parent / f".{target.name}.lock"
        self.held = False

    def acquire(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"cannot create the output's parent directory ({exc.strerror or exc})",
                              path=self.path.parent) from None
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                pid = self._owner()
                if (pid is not None and not _pid_alive(pid)) or (pid is None and self._abandoned()):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.path)
                    continue
                raise OutputError(
                    f"another lrdgraph command (pid {pid}) is writing to this output; "
                    f"wait for it, or remove {self.path} if no such process is running",
                    path=self.path.parent / self.path.name[1:-5],
                )
            except OSError as exc:  # a read-only or missing parent, a name too long
                raise OutputError(f"cannot create the lock file {self.path.name} "
                                  f"({exc.strerror or exc})", path=self.path.parent) from None
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

    def _abandoned(self, grace: float = 10.0) -> bool:
        """An empty lock file older than ``grace`` seconds: its writer was killed between
        creating the file and writing its pid into it (a writer does both within microseconds)."""
        try:
            st = self.path.stat()
        except OSError:
            return False
        return st.st_size == 0 and time.time() - st.st_mtime > grace

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
    # a killed process nobody has reaped yet (an orphan in a container without an init that
    # reaps) still answers signal 0: on Linux, its state in /proc says it is a zombie
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in (b"Z", b"X")


@contextlib.contextmanager
def output_dir(path: PathLike, overwrite: bool = False, *, lock: bool = True) -> Iterator[Path]:
    """Build a complete output directory atomically.

    Yields a temporary directory beside ``path``; when the block succeeds it replaces ``path``.
    On failure (or a kill) the temporary directory is removed or left under a hidden name, and
    ``path`` is untouched (a kill between the two renames of a replacement leaves the previous
    directory under ``.<name>.old`` and nothing under ``path``). Refuses a non-empty ``path``
    unless ``overwrite``; holds a lock so two commands cannot write the same output
    (``lock=False``: the caller already holds :class:`DirLock` of ``path``).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError("output path exists and is not a directory", path=path)
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise OutputError("output directory is not empty; pass --overwrite to replace it", path=path)
    with DirLock(path) if lock else contextlib.nullcontext():
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

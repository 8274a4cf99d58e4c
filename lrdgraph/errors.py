"""Errors that lrdgraph reports to users.

Every error a user can cause by their input is a :class:`LrdError` subclass carrying the file,
line and field it concerns, so the CLI prints one readable line (exit code 2) instead of a
traceback. Anything else is a bug or an environment failure (exit code 1).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

__all__ = ["LrdError", "InputError", "ConfigError", "ServiceError", "OutputError"]


class LrdError(Exception):
    """Base class of user-facing errors. ``exit_code`` is what the CLI exits with."""

    exit_code: int = 1

    def __init__(
        self,
        message: str,
        *,
        path: Optional[Union[str, Path]] = None,
        line: Optional[int] = None,
        field: Optional[str] = None,
    ) -> None:
        self.message = message
        self.path = None if path is None else str(path)
        self.line = line
        self.field = field
        super().__init__(self.format())

    def format(self) -> str:
        where = []
        if self.path is not None:
            loc = self.path
            if self.line is not None:
                loc += f":{self.line}"
            where.append(loc)
        if self.field is not None:
            where.append(f"field '{self.field}'")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class InputError(LrdError):
    """Bad input data: a missing file or column, a malformed cell, an empty data set."""

    exit_code = 2


class ConfigError(LrdError):
    """Bad configuration or option values."""

    exit_code = 2


class OutputError(LrdError):
    """The output location cannot be used (exists and not empty, locked by another command)."""

    exit_code = 2


class ServiceError(LrdError):
    """An external service (an embedding or chat server) failed in a way a retry cannot fix."""

    exit_code = 1

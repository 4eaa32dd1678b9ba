"""Errors that a user can act on: each names the file, the field and the fix."""

from __future__ import annotations

from pathlib import Path


class GemsflowError(Exception):
    """Base class for errors gemsflow raises on purpose."""


class InputDataError(GemsflowError):
    """Input data (a table, a JSON file, a config entry) is wrong in a way the user must fix.

    The message is built as ``<file>: field <field>: <problem>. Fix: <fix>`` so it reads the same everywhere.
    """

    def __init__(self, path: str | Path | None, field: str | None, problem: str, fix: str):
        self.path = None if path is None else str(path)
        self.field = field
        self.problem = problem
        self.fix = fix
        where = self.path or "<input>"
        field_part = f" field {field!r}:" if field else ""
        super().__init__(f"{where}:{field_part} {problem}. Fix: {fix}")

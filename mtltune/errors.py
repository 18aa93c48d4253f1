"""Errors a user can act on.

Each error says where (a YAML key path, a column, a row), what was expected and what was found.
``StudyError`` and ``DataError`` mean the user's input is invalid (the CLI exits with code 2);
``SearchError`` means the search itself could not produce a result (exit code 1).
``RunFolderError`` (an ``InputError``, exit 2) refuses an ``--out`` that is a file, lies under
a file, cannot be written or holds a user's files; ``DamagedRunError`` (a ``SearchError``, exit
1) names a damaged file of a run folder. A single trial
that diverges is not an error of this module: it is reported to Keras Tuner as a failed trial and
the search goes on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the user's input.

    Attributes:
        where: Where the problem is: a dotted YAML key path (``heads.price.loss``), a column
            (``column 'x'``) or a row.
        message: What was expected, what was found, and the fix.
    """

    where: str
    message: str

    def __str__(self) -> str:
        return f"• {self.where}: {self.message}" if self.where else f"• {self.message}"


class MtlTuneError(Exception):
    """Base class of every error mtltune raises on purpose."""


class InputError(MtlTuneError, ValueError):
    """The user's study or data is invalid; carries one ``Problem`` per thing to fix."""

    title = "Invalid input"

    def __init__(self, problems: Iterable[Problem] | str, *, source: str | None = None) -> None:
        if isinstance(problems, str):
            problems = [Problem("", problems)]
        self.problems: list[Problem] = list(problems)
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"{self.title} ({self.source})" if self.source else self.title
        return "\n".join([f"{head}:", *(str(p) for p in self.problems)])


class StudyError(InputError):
    """The study file is invalid (malformed YAML, unknown keys, wrong types or values)."""

    title = "Invalid study"


class DataError(InputError):
    """The data named by the study cannot be used (missing file, column, bad values)."""

    title = "Invalid data"


class SearchError(MtlTuneError, RuntimeError):
    """The search ran but could not produce a result (for example, every trial failed)."""


class RunFolderError(InputError):
    """``--out`` cannot be a run folder: a file, under a file, unwritable, or the user's files."""

    title = "Unusable run folder"


class DamagedRunError(SearchError):
    """A run folder's file is damaged (truncated, corrupt, or not what mtltune wrote)."""

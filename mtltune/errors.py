"""Errors a user can act on, each with the exit code the command line ends with.

Each error says where (a YAML key path, a column, a row), what was expected and what was found,
and carries its ``exit_code`` (the CLI's one wrapper, ``mtltune.cli.failing``, exits with it).
``StudyError`` and ``DataError`` mean the user's input is invalid (exit code 2);
``SearchError`` means the search itself could not produce a result (exit code 1).
``RunFolderError`` (an ``InputError``, exit 2) refuses an ``--out`` that is a file, lies under
a file, cannot be written or holds a user's files; ``NotARunError`` (an ``InputError``, exit 2)
is a folder given as a run that holds none; ``DamagedRunError`` (a ``SearchError``, exit 1)
names a damaged file of a run folder. A single trial
that diverges is not an error of this module: it is reported to Keras Tuner as a failed trial and
the search goes on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

#: A terminal control sequence (CSI or OSC), such as the bold ``\x1b[1m`` Keras puts in messages.
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")


def plain_text(text: str) -> str:
    r"""``text`` without terminal escape codes (colours, bold) and other control characters.

    Every exception text mtltune shows or records goes through here: Keras writes
    ``\x1b[1m``...``\x1b[0m`` into its messages, which a terminal would interpret and a file
    would keep as noise. Newlines and tabs are kept.
    """
    text = _ESCAPE.sub("", text)
    return "".join(c for c in text if c in "\n\t" or (c.isprintable() or c == " "))


def error_text(exc: BaseException) -> str:
    """An exception's message on one line, as plain text (its type's name if it has none)."""
    return " ".join(plain_text(str(exc)).split()) or type(exc).__name__


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
    """Base class of every error mtltune raises on purpose.

    Attributes:
        exit_code: What the command line exits with on this error (1: the work failed; 2: the
            user's input is invalid, see ``InputError``).
    """

    exit_code: int = 1


class InputError(MtlTuneError, ValueError):
    """The user's study or data is invalid; carries one ``Problem`` per thing to fix."""

    title = "Invalid input"
    exit_code = 2

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


class NotARunError(InputError):
    """A folder given as a run folder holds no run of mtltune (no report, no trials table)."""

    title = "Not a run folder"

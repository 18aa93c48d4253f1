"""How a command fails: one message on stderr and an exit code, never a traceback.

``exit_codes`` is the one place an mtltune error becomes an exit: every command runs inside it
(``mtltune.cli.helptext.Group``), and each error class carries its code (``exit_code``: 2 for
an ``InputError``, 1 for the others). Every text shown goes through
``mtltune.errors.plain_text``: no terminal escape codes (Keras writes bold markers into its
messages).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

import typer

from mtltune.cli.output import count, err
from mtltune.errors import MtlTuneError, error_text, plain_text

if TYPE_CHECKING:
    from mtltune.report.records import PhaseFailure


def fail(exc: BaseException, code: int) -> NoReturn:
    """Print ``error: <message>`` and exit with ``code``."""
    err.print(
        f"[bold red]error:[/] {plain_text(str(exc))}",
        markup=True,
        highlight=False,
        soft_wrap=not err.is_terminal,
    )
    raise typer.Exit(code=code) from None


@contextlib.contextmanager
def exit_codes() -> Iterator[None]:
    """Run a command: an mtltune error it lets through exits with its ``exit_code``."""
    try:
        yield
    except MtlTuneError as exc:
        fail(exc, exc.exit_code)


def unexpected(exc: Exception, what: str, kept: str = "") -> NoReturn:
    """Exit 1 on a fault no check foresaw: one line, no traceback (``MTLTUNE_TRACEBACK=1``).

    An mtltune error is foreseen: it is raised again, for ``exit_codes`` to exit with its code.
    """
    if isinstance(exc, MtlTuneError) or os.environ.get("MTLTUNE_TRACEBACK"):
        raise exc
    fail(
        MtlTuneError(
            f"{what} stopped on an unexpected {type(exc).__name__}: {error_text(exc)[:300]}. "
            f"{kept}Set MTLTUNE_TRACEBACK=1 to see where it happened"
        ),
        1,
    )


def fail_after_report(failures: list[PhaseFailure]) -> None:
    """Exit 1 listing what failed after the trials (the report is written); else return."""
    if not failures:
        return
    err.print(
        f"[bold red]error:[/] {count(failures, 'step')} after the trials failed; the report "
        "says what it lacks. Run the same command to resume at them:",
        markup=True,
        highlight=False,
        soft_wrap=True,
    )
    for failure in failures:
        err.print(f"• {failure.describe()}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code=1)

"""How a command fails: one message on stderr and an exit code, never a traceback.

Every text shown goes through ``mtltune.errors.plain_text``: no terminal escape codes (Keras
writes bold markers into its messages).
"""

from __future__ import annotations

import os
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


def unexpected(exc: Exception, what: str, kept: str = "") -> NoReturn:
    """Exit 1 on a fault no check foresaw: one line, no traceback (``MTLTUNE_TRACEBACK=1``)."""
    if os.environ.get("MTLTUNE_TRACEBACK"):
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

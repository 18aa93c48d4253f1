"""The steps after the trials, each guarded: a failure is recorded, never the end of the run.

Once the trials are done, the search's result exists: a failure in confirmation, evaluation,
the baseline, export, the replicates or the plots must not lose it. Each step runs through
``Phases.run``: an exception is recorded as a ``PhaseFailure`` (which phase, which run, the
reason as plain text, what the report will lack) and the step's fallback is used, so the
report is still written with what finished. ``KeyboardInterrupt`` (Ctrl-C, a requested stop)
is not a failure: it ends the run, and resuming it continues where it stopped. With
``MTLTUNE_TRACEBACK=1`` in the environment a failure raises instead, with its traceback (to
find where it happened; the CLI then shows the traceback).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from mtltune.report.records import PhaseFailure
from mtltune.tuning.failures import failure_reason

T = TypeVar("T")


class UnitError(Exception):
    """One run of a phase failed (a confirmation run, say); carries which one.

    Args:
        run: The run, as the report names it (``candidate 03, seed 1003``).
        cause: The exception it raised.
    """

    def __init__(self, run: str, cause: BaseException) -> None:
        super().__init__(f"{run}: {cause}")
        self.run = run
        self.cause = cause


def tracebacks_wanted() -> bool:
    """Whether failures should raise with their traceback (``MTLTUNE_TRACEBACK=1``)."""
    return os.environ.get("MTLTUNE_TRACEBACK", "") not in ("", "0")


def describe_failure(exc: BaseException) -> str:
    """``Type: message`` of an exception, one line of plain text."""
    return f"{type(exc).__name__}: {failure_reason(exc)}"


class Phases:
    """Runs the steps after the trials, recording each failure instead of raising it."""

    def __init__(self) -> None:
        self.failures: list[PhaseFailure] = []

    def record(self, phase: str, run: str, reason: str, missing: str = "") -> None:
        """Record a failure found otherwise (a replicate left out, say)."""
        self.failures.append(PhaseFailure(phase, run, reason, missing))

    def run(
        self,
        phase: str,
        step: Callable[[], T],
        fallback: Callable[[], T],
        *,
        missing: str,
        run: str = "",
    ) -> T:
        """``step()``; if it raises, record the failure and return ``fallback()``.

        Args:
            phase: The phase (``mtltune.report.records.PHASES``).
            step: The work.
            fallback: What stands in for its result if it fails.
            missing: What the report lacks if it fails.
            run: Which run of the phase this is (a ``UnitError`` names its own).
        """
        try:
            return step()
        except Exception as exc:  # anything after the trials: record it, keep the rest
            if tracebacks_wanted():
                raise
            if isinstance(exc, UnitError):
                self.record(phase, exc.run, describe_failure(exc.cause), missing)
            else:
                self.record(phase, run, describe_failure(exc), missing)
        return fallback()

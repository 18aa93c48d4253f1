"""The lines ``mtltune search`` prints while it runs: one per stage, trial and confirmation run.

Each trial gets one line. In a terminal, a status line names the trials running
(``00:12 trial 3 of 20 …``) and is replaced in place (carriage return, erase line) by the
trial's result; in a log (standard output not a terminal) only the result lines are written.
A line fits the console's width: the optional parts of a trial's line (the oracle's time,
the Keras Tuner id) are left out when they would not fit, and rich wraps what still does not.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from rich.console import Console
from rich.control import Control, ControlType
from rich.text import Text

from mtltune.report.numbers import number

if TYPE_CHECKING:
    from mtltune.report.confirmation import ConfirmRun
    from mtltune.report.results import TrialRecord

#: Carriage return and erase the whole line: the status line is replaced in place.
_ERASE = Control((ControlType.CARRIAGE_RETURN,), (ControlType.ERASE_IN_LINE, 2))


def trial_number(trial_id: str) -> str:
    """A trial's number, counted from 1 (Keras Tuner's trial ids count from 0)."""
    return f"{int(trial_id) + 1}" if trial_id.isdigit() else trial_id


def trial_line(
    clock: str, record: TrialRecord, total: int, seconds: float, width: int = 80
) -> Text:
    """A finished trial's line, its optional parts kept only while the line fits ``width``."""
    line = Text.assemble((f"{clock} ", "dim"))
    line.append(f"trial {trial_number(record.trial_id)} of {total} ")
    line.append(record.strategy, style="cyan")
    if record.ok:
        line.append(" objective ")
        line.append(number(record.objective, 5), style="bold")
        line.append(f", {record.epochs} epochs, {seconds:.1f} s")
    else:
        line.append(" ")
        line.append(record.status, style="red")
        line.append(f" after {seconds:.1f} s: {record.message or ''}".rstrip(": "))
        return line  # the reason matters more than the tail: wrapped, not cut
    tails = []
    if record.oracle_seconds is not None:
        tails.append(f", oracle {_duration(record.oracle_seconds)}")
    tails.append(f" (id {record.trial_id})")
    for tail in tails:
        if line.cell_len + len(tail) <= width:
            line.append(tail)
    return line


def confirm_line(clock: str, run: ConfirmRun, number_: int, total: int) -> Text:
    """A confirmation run's line: which candidate, which seed, its objective."""
    name = "baseline" if run.candidate == "baseline" else f"trial {run.candidate}"
    line = Text.assemble((f"{clock} ", "dim"))
    line.append(f"confirmation {number_}/{total}: {name} seed {run.seed} ")
    if run.ok:
        line.append("objective ")
        line.append(number(run.objective, 5), style="bold")
        line.append(f", {run.epochs} epochs")
        line.append(f", {run.seconds:.1f} s" if run.seconds is not None else "")
    else:
        line.append("FAILED", style="red")
        line.append(f" {run.message or ''}".rstrip())
    return line


def _duration(seconds: float) -> str:
    """``3 ms`` below a second, else ``1.2 s``."""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s"


class RichProgress:
    """Prints one line per stage, trial and confirmation run (see the module's docstring)."""

    def __init__(self, console: Console | None = None) -> None:
        if console is None:
            from mtltune.cli.output import out as console
        self.console = console
        self.started = time.perf_counter()
        self.running: dict[str, float] = {}  # several run at once with --workers
        self.total = 0
        self._status_shown = False

    def stage(self, message: str) -> None:
        """A stage of the run starts."""
        self._print(Text.assemble((f"{self._clock()} ", "dim"), message))

    def trial_started(self, trial_id: str, total: int) -> None:
        """A trial starts: in a terminal, the status line names it (nothing in a log)."""
        self.running[trial_id] = time.perf_counter()
        self.total = total
        self._show_status()

    def trial_finished(self, record: TrialRecord, total: int) -> None:
        """A trial ended: its line replaces the status line."""
        seconds = time.perf_counter() - self.running.pop(record.trial_id, self.started)
        self._print(trial_line(self._clock(), record, total, seconds, self.console.width))

    def confirm_finished(self, run: ConfirmRun, number: int, total: int) -> None:
        """A confirmation run ended."""
        self._print(confirm_line(self._clock(), run, number, total))

    def close(self) -> None:
        """Erase the status line (the search ended, or stopped on an error)."""
        self.running.clear()
        self._clear_status()

    def _print(self, line: Text) -> None:
        """A line of its own, above the status line (which is drawn again after it)."""
        self._clear_status()
        self.console.print(line, highlight=False)
        self._show_status()

    def _show_status(self) -> None:
        """The status line of the running trials, in a terminal only, without a newline."""
        if not (self.console.is_terminal and self.running):
            return
        self._clear_status()
        numbers = ", ".join(trial_number(t) for t in self.running)
        noun = "trial" if len(self.running) == 1 else "trials"
        status = Text.assemble((f"{self._clock()} ", "dim"), f"{noun} {numbers} of {self.total} …")
        status.truncate(self.console.width - 1, overflow="ellipsis")
        self.console.print(status, end="", highlight=False, no_wrap=True)
        self._status_shown = True

    def _clear_status(self) -> None:
        if self._status_shown:
            self.console.control(_ERASE)
            self._status_shown = False

    def _clock(self) -> str:
        elapsed = int(time.perf_counter() - self.started)
        return f"{elapsed // 60:02d}:{elapsed % 60:02d}"

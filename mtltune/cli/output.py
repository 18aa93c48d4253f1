"""What the command line prints: one line per trial and stage, and the result's table.

Lines stay under 80 columns where they can (a wide per-head table aside); what a number means
is in the report, not on the terminal.
"""

from __future__ import annotations

import shutil
import textwrap
import time
from collections.abc import Sized
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from mtltune.report.confirmation import ConfirmRun
    from mtltune.report.readback import RunTrials
    from mtltune.report.results import StudyResult, TrialRecord

# Outside a terminal rich assumes 80 columns, too narrow for the per-head table.
_WIDTH = max(100, shutil.get_terminal_size((120, 24)).columns)
out = Console(width=_WIDTH)
err = Console(stderr=True, width=_WIDTH)


def number(trial_id: str) -> str:
    """A trial's number, counted from 1 (Keras Tuner's trial ids count from 0)."""
    return f"{int(trial_id) + 1}" if trial_id.isdigit() else trial_id


class RichProgress:
    """Prints one line per trial (number, strategy, objective, elapsed) and the stages."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.trial_started_at: dict[str, float] = {}  # several run at once with --workers

    def stage(self, message: str) -> None:
        """A stage of the run starts."""
        out.print(f"[dim]{self._clock()}[/] {message}", highlight=False)

    def trial_started(self, trial_id: str, total: int) -> None:
        """A trial starts."""
        self.trial_started_at[trial_id] = time.perf_counter()
        out.print(
            f"[dim]{self._clock()}[/] trial {number(trial_id)} of {total} (id {trial_id}) …",
            highlight=False,
        )

    def trial_finished(self, record: TrialRecord, total: int) -> None:
        """A trial ended: its objective (or why it failed), seconds and the oracle's."""
        seconds = time.perf_counter() - self.trial_started_at.pop(record.trial_id, self.started)
        if record.ok:
            what = f"objective [bold]{record.objective:.5g}[/] after {record.epochs} epochs"
        else:
            what = f"[red]{record.status}[/] {record.message or ''}"
        oracle = "" if record.oracle_seconds is None else f", oracle {record.oracle_seconds:.3f} s"
        out.print(
            f"[dim]{self._clock()}[/] trial {number(record.trial_id)} of {total} "
            f"(id {record.trial_id}) [cyan]{record.strategy}[/] {what} ({seconds:.1f} s{oracle})",
            highlight=False,
        )

    def confirm_finished(self, run: ConfirmRun, number: int, total: int) -> None:
        """A confirmation run ended."""
        if run.ok:
            what = f"objective [bold]{run.objective:.5g}[/] after {run.epochs} epochs"
            what += f" ({run.seconds:.1f} s)" if run.seconds is not None else ""
        else:
            what = f"[red]FAILED[/] {run.message or ''}"
        name = "baseline" if run.candidate == "baseline" else f"trial {run.candidate}"
        out.print(
            f"[dim]{self._clock()}[/] confirmation {number} of {total}: {name} "
            f"seed {run.seed} {what}",
            highlight=False,
        )

    def _clock(self) -> str:
        elapsed = int(time.perf_counter() - self.started)
        return f"{elapsed // 60:02d}:{elapsed % 60:02d}"


def print_result(result: StudyResult) -> None:
    """The verdict first, then the per-head test table (paired over the race's seeds)."""
    from mtltune.report import head_table
    from mtltune.report.tails import tail_note

    if result.verdict is not None:
        width = min(80, out.width)
        wrapped = textwrap.fill(result.verdict.line(), width=width, subsequent_indent="  ")
        out.print(f"\n[bold]{wrapped}[/]", highlight=False)
    else:
        out.print(f"\n{headline(result)}", highlight=False)
    if "diverged" in result.baseline.plan:
        out.print(f"[red]the baseline diverged[/]: {result.baseline.plan['diverged']}")
    header, rows, title = paired_table(result)
    if header is None:
        header, rows = head_table(result, compact=True)
        title = "one run each, study seed (see report.md for the paired figures)"
    table = Table(title=title)
    for column in header:
        table.add_column(column, justify="left" if column == "head" else "right", no_wrap=True)
    for row in rows:
        table.add_row(*(cell(v) for v in row))
    out.print(table)
    for head, entry in result.tails.items():
        out.print(f"[yellow]heavy tail[/] {tail_note(head, entry)}", highlight=False)


def paired_table(result: StudyResult) -> tuple[list[str] | None, list[list[Any]], str]:
    """The race's paired test table: means over its seeds, leader against equal weights."""
    confirmation = result.confirmation
    if confirmation is None or not confirmation.test:
        return None, [], ""
    paired = confirmation.paired("loss", result.log_heads)
    n = len(confirmation.test.get("best", []))
    header = ["head", f"trial {confirmation.chosen}", "equal weights", "ratio", "wins"]
    rows = [
        [head, e["best_mean"], e["baseline_mean"], e["ratio"], f"{e['best_wins']}/{n}"]
        for head, e in paired.items()
    ]
    title = f"test loss, mean of {n} paired seeds (ratio: equal weights / trial)"
    return header, rows, title


def headline(result: StudyResult) -> str:
    """One line well under 80 columns; what the objective is, the report says."""
    best = result.best_trial
    return (
        f"best trial [bold]{best.trial_id}[/] ([cyan]{best.strategy}[/]): objective "
        f"[bold]{result.best.objective:.5g}[/], baseline {result.baseline.objective:.5g}"
    )


def count(items: Sized, noun: str) -> str:
    """``1 head``, ``3 heads``."""
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def cell(value: Any) -> str:
    """A table cell: floats to four significant digits, a dash for nothing."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return "–" if value is None else str(value)


def print_trials(run: RunTrials, sort: str) -> None:
    """The trials table of a run, sorted (``objective``, ``trial`` or a head's stop loss)."""
    heads = run.heads
    table = Table(title=f"{len(run.trials)} trials of {run.name}")
    for column in ["trial", "status", "strategy", "objective", "epochs", *heads]:
        table.add_column(
            column, justify="left" if column in ("trial", "status", "strategy") else "right"
        )
    for t in run.sorted_by(sort):
        table.add_row(
            t.trial_id,
            t.status,
            t.strategy,
            cell(t.objective),
            cell(t.epochs),
            *(cell(t.stop.get(h, {}).get("loss")) for h in heads),
        )
    out.print(table)
    if not run.finished:
        out.print(
            "the search has not finished (no report.json yet): these are the trials so far",
            highlight=False,
        )

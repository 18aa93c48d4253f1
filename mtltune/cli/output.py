"""What the command line prints after a search, and the consoles everything is printed on.

Every line fits 80 columns, or the terminal if it is narrower (``COLUMNS`` counts): a table
too wide continues in a further table (``mtltune.cli.tables``). What a number means is in the
report, not on the terminal. The lines printed while a search runs are
``mtltune.cli.progress``'s.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Sized
from typing import TYPE_CHECKING, Any

from rich.console import Console

from mtltune.cli.tables import fitted_tables
from mtltune.report.numbers import number

if TYPE_CHECKING:
    from mtltune.report.readback import RunTrials
    from mtltune.report.results import StudyResult

#: Lines are at most this wide, or the terminal's width if narrower.
MAX_WIDTH = 80


def width() -> int:
    """The width lines must fit: 80 columns, or the terminal's (``COLUMNS``) if narrower."""
    return max(20, min(MAX_WIDTH, shutil.get_terminal_size((MAX_WIDTH, 24)).columns))


out = Console(width=width())
err = Console(stderr=True, width=width())


def print_result(result: StudyResult) -> None:
    """The verdict first, then the per-head test table (paired over the race's seeds)."""
    from mtltune.report import head_table
    from mtltune.report.tails import tail_note

    if result.verdict is not None:
        wrapped = textwrap.fill(result.verdict.line(), width=out.width, subsequent_indent="  ")
        out.print(f"\n[bold]{wrapped}[/]", highlight=False)
    else:
        out.print(f"\n{headline(result)}", highlight=False)
    if "diverged" in result.baseline.plan:
        out.print(f"[red]the baseline diverged[/]: {result.baseline.plan['diverged']}")
    header, rows, title = paired_table(result)
    if header is None:
        header, rows = head_table(result, compact=True)
        title = "one run each, study seed (report.md has the paired figures)"
    cells = [[cell(v) for v in row] for row in rows]
    for table in fitted_tables(out, header, cells, title=title, left=["head"]):
        out.print(table)
    for head, entry in result.tails.items():
        note = textwrap.fill(f"heavy tail: {tail_note(head, entry)}", width=out.width)
        out.print(note, highlight=False)


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
        f"[bold]{number(result.best.objective, 5)}[/], "
        f"baseline {number(result.baseline.objective, 5)}"
    )


def count(items: Sized, noun: str) -> str:
    """``1 head``, ``3 heads``."""
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def cell(value: Any) -> str:
    """A table cell: a number as ``mtltune.report.numbers.number`` writes it, a dash for none."""
    return number(value)


def print_trials(run: RunTrials, sort: str) -> None:
    """The trials table of a run, sorted (``objective``, ``trial`` or a head's stop loss)."""
    heads = run.heads
    rows = [
        [
            t.trial_id,
            t.status,
            t.strategy,
            cell(t.objective),
            cell(t.epochs),
            *(cell(t.stop.get(h, {}).get("loss")) for h in heads),
        ]
        for t in run.sorted_by(sort)
    ]
    header = ["trial", "status", "strategy", "objective", "epochs", *heads]
    title = f"{len(run.trials)} trials of {run.name} (a head: its stop loss)"
    for table in fitted_tables(out, header, rows, title=title, left=header[:3]):
        out.print(table)
    if not run.finished:
        out.print(
            "the search has not finished (no report.json yet): these are the trials so far",
            highlight=False,
        )

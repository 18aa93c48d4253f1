"""Reading a run folder back for ``mtltune report`` and ``mtltune trials`` (no TensorFlow).

A finished run is read from ``report.json``; an unfinished one (the search still running, or
stopped) from ``trials.csv``, which the search rewrites after every trial. Every file is
checked before it is used (``mtltune.run.checks``): a damaged run folder is an error naming
the damaged file, never a traceback.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mtltune.errors import NotARunError
from mtltune.report.results import StudyResult, TrialRecord
from mtltune.run.checks import check_run_files, damaged, read_json, read_report_document
from mtltune.run.files import REPORT_JSON, STUDY_FILE, TRIALS_CSV
from mtltune.run.loader import check_report_names, plain_file
from mtltune.study.catalog import METRIC_DIRECTIONS
from mtltune.study.direction import Direction


@dataclass(frozen=True)
class RunTrials:
    """The trials of a run, finished or not.

    Attributes:
        name: The study's name.
        heads: Head names, in study order.
        direction: ``min`` or ``max``: how the objective ranks trials.
        trials: The trials, in creation order.
        finished: Whether the search finished (``report.json`` exists).
    """

    name: str
    heads: list[str]
    direction: Direction
    trials: list[TrialRecord]
    finished: bool

    def sorted_by(self, sort: str) -> list[TrialRecord]:
        """The trials by ``objective`` (best first), ``trial`` id, or a head's stop loss.

        Trials without the value sort last.
        """

        def key(t: TrialRecord) -> tuple[int, float | str]:
            if sort == "trial":
                return (0, t.trial_id.zfill(8))
            value = t.objective if sort == "objective" else t.stop.get(sort, {}).get("loss")
            if value is None:
                return (1, 0.0)
            return (0, self.direction.key(value) if sort == "objective" else value)

        return sorted(self.trials, key=key)


def load_result(run_dir: Path, *, check_files: bool = False) -> StudyResult:
    """The result of a finished run, checked.

    Args:
        run_dir: The run folder.
        check_files: Also check the files plots are drawn from (before re-rendering).

    Raises:
        NotARunError: If there is no ``report.json``.
        DamagedRunError: If ``report.json`` (or, with ``check_files``, a file the report is
            drawn from) is damaged.
    """
    path = run_dir / REPORT_JSON
    if not path.is_file():
        raise NotARunError(f"{path} does not exist: is {run_dir} a finished run folder?")
    plain_file(path, run_dir)
    doc = read_report_document(run_dir)
    try:
        result = StudyResult.from_dict(doc)
        heads = result.heads
    except (KeyError, TypeError, ValueError, AttributeError, StopIteration) as exc:
        raise damaged(path, f"its content is not a report mtltune can read ({exc!r})") from None
    # Names become file names (plots, histories): they pass the study's rules first.
    check_report_names(path, heads, [t.trial_id for t in result.trials])
    if check_files:
        check_run_files(run_dir, result.best_trial.trial_id, heads)
    return result


def load_trials(run_dir: Path) -> RunTrials:
    """The trials of a run: from its report if it finished, else from ``trials.csv``.

    Raises:
        NotARunError: If the folder has neither ``report.json`` nor ``trials.csv``.
        DamagedRunError: If the file read is damaged.
    """
    if (run_dir / REPORT_JSON).is_file():
        result = load_result(run_dir)
        name = str(result.study.get("name", run_dir.name))
        return RunTrials(name, result.heads, result.objective_direction, result.trials, True)
    csv = run_dir / TRIALS_CSV
    if not csv.is_file():
        raise NotARunError(
            f"{run_dir} holds neither {REPORT_JSON} nor {TRIALS_CSV}: is it a run folder?"
        )
    study = _study(run_dir)
    heads = list(study.get("heads") or {})
    objective = (study.get("search") or {}).get("objective") or {}
    direction = METRIC_DIRECTIONS.get(str(objective.get("metric", "loss")), Direction.MIN)
    trials = _rows(csv, heads)
    if not heads:  # no study.json: the heads the table has
        heads = sorted({h for t in trials for h in t.stop})
    return RunTrials(str(study.get("name", run_dir.name)), heads, direction, trials, False)


def _study(run_dir: Path) -> dict[str, Any]:
    """The resolved study of ``study.json`` (empty if the folder has none)."""
    marker = run_dir / STUDY_FILE
    if not marker.is_file():
        return {}
    study = read_json(marker).get("study")
    return study if isinstance(study, dict) else {}


def _rows(csv: Path, heads: list[str]) -> list[TrialRecord]:
    """Trial records from ``trials.csv`` (ids, status, strategy, objective, stop losses)."""
    try:
        table = pd.read_csv(csv, dtype={"trial_id": str})
        needed = {"trial_id", "status", "strategy", "objective", "epochs"}
        if not needed <= set(table.columns):
            raise ValueError(f"missing columns {sorted(needed - set(table.columns))}")
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise damaged(csv, f"it is not mtltune's trials table ({exc})") from None
    names = heads or [str(c).removeprefix("stop_loss_") for c in table.columns]
    stop_columns = [f"stop_loss_{h}" for h in names if f"stop_loss_{h}" in table.columns]
    return [
        TrialRecord(
            trial_id=str(row["trial_id"]),
            status=str(row["status"]),
            strategy=str(row["strategy"]),
            hyperparameters={},
            plan={},
            objective=_number(row["objective"]),
            stop={
                c.removeprefix("stop_loss_"): {"loss": v}
                for c in stop_columns
                if (v := _number(row[c])) is not None
            },
            epochs=None if (e := _number(row["epochs"])) is None else int(e),
        )
        for _, row in table.iterrows()
    ]


def _number(value: Any) -> float | None:
    """A cell as a float (``None`` for an empty cell)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number

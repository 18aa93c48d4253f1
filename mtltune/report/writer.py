"""Render a ``StudyResult``: ``report.json``, ``report.md`` and ``trials.csv`` (no printing).

Every file is written through the run folder's gateway (``mtltune.run.folder.RunFolder``):
atomically (a temporary file in the same folder, then a rename), so a crash never leaves a
half-written report.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from mtltune.errors import error_text
from mtltune.report.markdown import report_markdown
from mtltune.report.results import PhaseFailure, StudyResult, TrialRecord
from mtltune.run.files import (
    PARETO_CSV,
    REPORT_JSON,
    REPORT_MD,
    TRIALS_CSV,
)
from mtltune.run.folder import RunFolder
from mtltune.study.names import learned_weight_key


def trials_table(trials: Iterable[TrialRecord]) -> pd.DataFrame:
    """One row per trial: hyperparameters, normalised weights, per-head stop losses, status."""
    rows = []
    for t in trials:
        row: dict[str, Any] = {
            "trial_id": t.trial_id,
            "status": t.status,
            "strategy": t.strategy,
            "objective": t.objective,
            "seconds": t.seconds,
            "epochs": t.epochs,
            "best_epoch": t.best_epoch,
            "origin": t.origin,
            "oracle_seconds": t.oracle_seconds,
        }
        row.update({f"hp_{k}": v for k, v in t.hyperparameters.items()})
        for head, weight in (t.plan.get("loss_weights") or {}).items():
            row[f"weight_{head}"] = weight
        for head, weight in (t.plan.get("learned_weights") or {}).items():
            row[learned_weight_key(head)] = weight
        for head, scores in t.stop.items():
            for key, value in scores.items():
                row[f"stop_{key}_{head}"] = value
        row["message"] = t.message
        rows.append(row)
    return pd.DataFrame(rows)


def write_trials(trials: Iterable[TrialRecord], run_dir: str | Path) -> Path:
    """Write (atomically) ``trials.csv`` into the run folder and return its path."""
    return RunFolder(Path(run_dir)).write_trials(trials_table(trials))


def _jsonable(value: Any) -> Any:
    """Replace non-finite floats by strings so the document is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def report_json(result: StudyResult) -> str:
    """The ``report.json`` text."""
    return json.dumps(_jsonable(result.to_dict()), indent=2, allow_nan=False) + "\n"


def pareto_table(result: StudyResult) -> pd.DataFrame:
    """The Pareto-optimal trials with their strategy and per-head stop losses."""
    rows = [
        {
            "trial_id": t.trial_id,
            "strategy": t.strategy,
            "objective": t.objective,
            "best": t.trial_id == result.best_trial.trial_id,
            **{f"stop_loss_{h}": t.stop[h]["loss"] for h in result.heads},
        }
        for t in result.trials
        if t.trial_id in result.pareto
    ]
    return pd.DataFrame(rows)


def write_report(result: StudyResult, run_dir: str | Path) -> dict[str, Path]:
    """Write ``report.json``, ``report.md``, ``trials.csv``, ``pareto.csv`` and the plots.

    Plots are drawn from the run folder's files (``histories/``, ``predictions.npz``), so this
    also re-renders a finished run (``mtltune report``).

    Returns:
        The written paths, keyed by file name (plots by ``plots/<name>.png``).
    """
    return render_report(result, run_dir)[1]


def render_report(result: StudyResult, run_dir: str | Path) -> tuple[StudyResult, dict[str, Path]]:
    """``write_report``, also returning the result as written.

    Plots that cannot be drawn are a failure of the ``plots`` phase, recorded in the result
    (and the report, which is written without them), not an error. The report's time is
    added to ``time_split`` and to ``seconds``, so the total is the sum of its parts.
    """
    started = time.perf_counter()
    run_dir = Path(run_dir)
    folder = RunFolder(run_dir)
    paths = {name: run_dir / name for name in (REPORT_JSON, REPORT_MD, TRIALS_CSV, PARETO_CSV)}
    folder.write_trials(trials_table(result.trials))
    folder.write_pareto(pareto_table(result))
    plots: dict[str, Path] = {}
    failures = [f for f in result.failures if f.phase != "plots"]  # drawn again below
    if result.study.get("report", {}).get("plots", True):
        from mtltune.report.plots import draw_all

        try:
            plots = draw_all(result, run_dir)
        except Exception as exc:  # a figure is not worth the report
            if os.environ.get("MTLTUNE_TRACEBACK", "") not in ("", "0"):
                raise
            reason = f"{type(exc).__name__}: {error_text(exc)}"
            failures.append(PhaseFailure("plots", "", reason, "the figures"))
    result = dataclasses.replace(result, failures=failures)
    if result.time_split is not None and "report" not in result.time_split:
        seconds = time.perf_counter() - started
        split = {**result.time_split, "report": seconds}
        result = dataclasses.replace(result, time_split=split, seconds=result.seconds + seconds)
    folder.write_report(report_markdown(result, plots, run_dir), report_json(result))
    paths.update({f"plots/{p.name}": p for p in plots.values()})
    return result, paths

"""Checks of a finished (or unfinished) run folder before anything is read into a report.

``mtltune report`` and ``mtltune trials`` check first, then write: a truncated or foreign
``report.json``, a corrupt ``histories/<trial>.json`` or ``predictions.npz``, or a file where
the ``plots`` folder belongs is a ``DamagedRunError`` (exit 1) naming the file and what is
wrong with it, raised before any file of the run is rewritten.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from mtltune.errors import DamagedRunError
from mtltune.run.atomic import RunPathError, check_inside
from mtltune.run.files import (
    HISTORIES,
    PARETO_CSV,
    PLOTS,
    PREDICTIONS_NPZ,
    REPORT_JSON,
    REPORT_MD,
    TRIALS_CSV,
)


def damaged(path: Path, what: str) -> DamagedRunError:
    """The error for a damaged file: its path, what is wrong, and the way out."""
    return DamagedRunError(
        f"{path} is damaged: {what}. Restore it from a backup, or run the search again "
        "(with --overwrite to start over)"
    )


def decode_json(path: Path) -> Any:
    """The JSON value of a run file (the one parser of every run-folder JSON read).

    Raises:
        DamagedRunError: Naming the file: unreadable, not UTF-8, not JSON, nested too deeply.
    """
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise damaged(path, "it is not text (UTF-8)") from None
    except json.JSONDecodeError as exc:
        raise damaged(path, f"it is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except RecursionError:
        raise damaged(path, "it nests too deeply to be mtltune's") from None
    except OSError as exc:
        raise damaged(path, f"it cannot be read ({exc.strerror})") from None


def read_json(path: Path, *, kind: type = dict) -> Any:
    """A JSON file of the run, checked to be readable and of the expected kind.

    Raises:
        DamagedRunError: If it cannot be read, is not JSON, or is not a ``kind``.
    """
    value = decode_json(path)
    if not isinstance(value, kind):
        raise damaged(path, f"expected a JSON {kind.__name__}, found a {type(value).__name__}")
    return value


def read_report_document(run_dir: Path) -> dict[str, Any]:
    """``report.json`` as a mapping holding mtltune's sections.

    Raises:
        DamagedRunError: If it is unreadable or lacks a section of a report.
    """
    path = run_dir / REPORT_JSON
    doc = read_json(path)
    sections = ("study", "objective", "best", "baseline", "trial_records", "data", "seconds")
    missing = [key for key in sections if key not in doc]
    if missing:
        raise damaged(path, f"it lacks {', '.join(missing)}: it is not an mtltune report")
    return doc


def no_link(path: Path, root: Path) -> None:
    """Refuse ``path`` if it leaves ``root`` or a component below ``root`` is a link.

    Raises:
        DamagedRunError: Naming the offending component (``mtltune.run.atomic.check_inside``).
    """
    try:
        check_inside(path, root)
    except RunPathError as exc:
        offender, _, reason = str(exc).partition(": ")
        raise damaged(Path(offender), reason.split(". ")[0]) from None


def _no_links(run_dir: Path) -> None:
    """Refuse a link among the files a report rewrites, before any is rewritten."""
    targets = [run_dir / n for n in (REPORT_JSON, REPORT_MD, TRIALS_CSV, PARETO_CSV, HISTORIES)]
    plots = run_dir / PLOTS
    targets.append(plots)
    if plots.is_dir() and not plots.is_symlink():
        targets += sorted(plots.iterdir())
    for target in targets:
        no_link(target, run_dir)


def check_run_files(run_dir: Path, best_trial_id: str, heads: list[str]) -> None:
    """Check the files a report is drawn from: the best trial's history, the predictions.

    Raises:
        DamagedRunError: Naming the first damaged file (or a file where ``plots/`` belongs).
    """
    plots = run_dir / PLOTS
    _no_links(run_dir)
    if plots.exists() and not plots.is_dir():
        raise damaged(plots, "it is a file where the plots folder belongs; move it away")
    history = run_dir / HISTORIES / f"{best_trial_id}.json"
    for read in (history, run_dir / PREDICTIONS_NPZ):  # plots are drawn from them: no links
        no_link(read, run_dir)
    if history.exists():
        values = read_json(history)
        if not all(isinstance(v, list) for v in values.values()):
            raise damaged(history, "expected lists of numbers per log key")
    predictions = run_dir / PREDICTIONS_NPZ
    if not predictions.exists():  # drawn without it
        return
    try:
        with np.load(predictions, allow_pickle=False) as arrays:
            for key in arrays.files:
                arrays[key]  # reading every array checks it
            names = set(arrays.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise damaged(predictions, f"it is not a readable .npz archive ({exc})") from None
    needed = ["x", *(f"y/{h}" for h in heads), *(f"best/{h}" for h in heads)]
    absent = [key for key in needed if key not in names]
    if absent:
        raise damaged(predictions, f"it lacks the arrays {', '.join(absent)}")

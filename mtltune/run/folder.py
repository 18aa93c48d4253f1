"""The run folder: the one gateway to its files, its resume-or-refuse rule, what is cleared.

A run folder holds one study's search. ``RunFolder`` is the one way in: every file mtltune
writes there is written by one of its ``write_*`` methods (atomically, inside the folder,
never through a link: ``mtltune.run.atomic``), and every file read back while a search runs or
a report is drawn by one of its ``read_*`` methods (a plain file inside the folder, within a
size cap, checked: ``mtltune.run.loader``), since a run folder is untrusted input. No module
outside ``mtltune.run`` writes a file (``tests/test_architecture.py`` checks it with ``ast``).

``study.json`` records the resolved study and its fingerprint (``mtltune.run.fingerprint``:
the study and the content of its data file); it is mtltune's one marker of a run folder, never
the name of a subfolder. A folder holding another study's run (or the same study
on changed data) is refused unless overwritten; a non-empty folder that is not an mtltune run is
refused even then, since its files are the user's; a folder in use by a live search is refused
(``mtltune.run.lock``), so a second process never wipes a run it does not own. ``--overwrite``
removes exactly the entries of ``RUN_ENTRIES`` and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from mtltune.compat.layout import oracle_file, tuner_state_file
from mtltune.errors import DamagedRunError, Problem, RunFolderError, SearchError
from mtltune.run.atomic import check_inside, open_stream, save_npz, write_file, write_with
from mtltune.run.checks import damaged
from mtltune.run.files import (
    BEST_MODEL,
    CONFIRM_CSV,
    CONFIRM_DIR,
    CONFIRM_JSON,
    HISTORIES,
    LOCK_FILE,
    MESSAGE_FILE,
    PARETO_CSV,
    PLOTS,
    PREDICTIONS_NPZ,
    PREPROCESSING_JSON,
    PROJECT,
    REPLICATES_NPZ,
    REPORT_JSON,
    REPORT_MD,
    RUN_ENTRIES,
    STUDY_FILE,
    TRACEBACK_FILE,
    TRIALS_CSV,
    WORKERS_DIR,
)
from mtltune.run.fingerprint import data_fingerprint, fingerprint_of, refusal
from mtltune.run.loader import (
    MAX_JSON_BYTES,
    MAX_MODEL_MEMBER_BYTES,
    check_tuner_state,
    plain_file,
    read_document,
)
from mtltune.study import Study

#: Largest ``.npz`` read back (``predictions.npz`` of a large test split).
MAX_NPZ_BYTES = 4 << 30


@dataclass(frozen=True)
class RunFolder:
    """The folder a search writes to.

    Attributes:
        path: The run folder (``runs/<study name>`` by default).
    """

    path: Path

    @property
    def tuner_dir(self) -> Path:
        """Keras Tuner's project folder."""
        return self.path / PROJECT

    def has_previous_run(self) -> bool:
        """Whether a search already wrote here (mtltune's marker ``study.json``, a plain file)."""
        try:
            return stat.S_ISREG(os.lstat(self.path / STUDY_FILE).st_mode)
        except OSError:
            return False

    def foreign_entries(self) -> list[str]:
        """Entries of a folder without the marker that mtltune did not write (sorted).

        A ``mtltune.lock`` counts as mtltune's only if it is a plain file holding a lock's
        text (or nothing: a search just starting); a user's file of that name is foreign.
        """
        if not self.path.is_dir():
            return []
        return sorted(
            p.name for p in self.path.iterdir() if p.name != LOCK_FILE or not _is_lock_file(p)
        )

    def check_is_run_or_new(self) -> None:
        """Refuse, before anything in it is touched, a folder that holds files but no run.

        Raises:
            RunFolderError: Naming up to eight of the user's entries.
        """
        if self.has_previous_run():
            return
        if foreign := self.foreign_entries():
            shown = ", ".join(foreign[:8]) + (", ..." if len(foreign) > 8 else "")
            raise RunFolderError(
                [
                    Problem(
                        "--out",
                        f"{str(self.path)!r} is not empty and holds no mtltune run (no "
                        f"{STUDY_FILE}): {shown}. mtltune never writes over a user's files, "
                        "even with --overwrite; pass an empty or new folder with --out",
                    )
                ]
            )

    def check_tuner_folder(self) -> None:
        """Refuse a ``tuner/`` (Keras Tuner writes there) holding a symbolic link anywhere.

        Raises:
            RunPathError: Naming the link.
        """
        check_inside(self.tuner_dir, self.path)
        if not self.tuner_dir.is_dir():
            return
        for parent, folders, files in os.walk(self.tuner_dir):
            for name in [*folders, *files]:
                check_inside(Path(parent) / name, self.path)

    def clear(self) -> None:
        """Remove every entry mtltune writes (``RUN_ENTRIES``), and only those."""
        for name in RUN_ENTRIES:
            path = self.path / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()

    def adopt_tuner_state(self, tuner_id: str) -> None:
        """Make a tuner with this id reload the project's oracle instead of starting over.

        Keras Tuner reloads a project only if ``<tuner_id>.json`` exists, so a run begun by one
        process (``tuner0``) and resumed as a distributed search (``chief``), or the other way
        round, would start again from trial 0 over the saved trials. That file holds the
        tuner's own state, which is empty for every tuner mtltune makes.
        """
        own = tuner_state_file(self.tuner_dir, tuner_id)
        if oracle_file(self.tuner_dir).exists() and not own.exists():
            write_file(own, "{}", root=self.path)

    # Writes: each atomic, inside the folder, never through a link (mtltune.run.atomic).

    def _json(self, path: Path, value: Any, *, indent: int | None = 2) -> Path:
        return write_file(path, json.dumps(value, indent=indent), root=self.path)

    def write_study_record(self, record: Mapping[str, Any]) -> Path:
        """``study.json``: the resolved study, its fingerprint (mtltune's marker of a run)."""
        return self._json(self.path / STUDY_FILE, dict(record))

    def write_history(self, trial_id: str, history: Mapping[str, list[float]]) -> Path:
        """``histories/<trial id>.json``: a trial's log values by epoch."""
        return self._json(self.path / HISTORIES / f"{trial_id}.json", dict(history), indent=None)

    def write_trial_message(self, trial_dir: str | Path, message: str) -> Path:
        """A failed trial's message in its Keras Tuner folder (for the chief, distributed)."""
        return write_file(Path(trial_dir) / MESSAGE_FILE, message, root=self.path)

    def write_traceback(self, trial_dir: str | Path, text: str) -> Path:
        """A failed trial's full traceback in its Keras Tuner folder."""
        return write_file(Path(trial_dir) / TRACEBACK_FILE, text, root=self.path)

    def write_trials(self, table: pd.DataFrame) -> Path:
        """``trials.csv``: one row per trial."""
        return write_file(self.path / TRIALS_CSV, table.to_csv(index=False), root=self.path)

    def write_pareto(self, table: pd.DataFrame) -> Path:
        """``pareto.csv``: the Pareto-optimal trials."""
        return write_file(self.path / PARETO_CSV, table.to_csv(index=False), root=self.path)

    def write_report(self, markdown: str, document: str) -> tuple[Path, Path]:
        """``report.md`` and ``report.json`` (the JSON text as rendered); their paths."""
        md = write_file(self.path / REPORT_MD, markdown, root=self.path)
        return md, write_file(self.path / REPORT_JSON, document, root=self.path)

    def write_plot(self, name: str, png: bytes) -> Path:
        """``plots/<name>.png``."""
        return write_file(self.path / PLOTS / f"{name}.png", png, root=self.path)

    def write_predictions(self, arrays: Mapping[str, np.ndarray]) -> Path:
        """``predictions.npz``: test targets and each model's predictions."""
        return save_npz(self.path / PREDICTIONS_NPZ, dict(arrays), root=self.path)

    def write_replicates(self, arrays: Mapping[str, np.ndarray]) -> Path:
        """``replicates.npz``: the replicates' per-head test losses."""
        return save_npz(self.path / REPLICATES_NPZ, dict(arrays), root=self.path)

    def write_confirmation(self, document: Mapping[str, Any], table: pd.DataFrame) -> None:
        """``confirm.json`` (the runs, with the fingerprint) and ``confirm.csv``."""
        self._json(self.path / CONFIRM_JSON, dict(document))
        write_file(self.path / CONFIRM_CSV, table.to_csv(index=False), root=self.path)

    def confirm_weights(self, candidate: str, seed: int) -> Path:
        """Where a confirmation run's weights are: ``confirm/<candidate>-<seed>.weights.h5``."""
        return self.path / CONFIRM_DIR / f"{candidate}-{seed}.weights.h5"

    def write_confirm_weights(self, candidate: str, seed: int, save: Callable[[Path], Any]) -> Path:
        """A confirmation run's weights, written by ``save(path)`` (Keras' ``save_weights``)."""
        return write_with(self.confirm_weights(candidate, seed), save, root=self.path)

    def confirm_weights_to_load(self, candidate: str, seed: int) -> Path:
        """A confirmation run's weights file, checked for Keras to load.

        Raises:
            DamagedRunError: If it is a link, not a plain file, or beyond the size cap.
            FileNotFoundError: If there is none.
        """
        path = self.confirm_weights(candidate, seed)
        return plain_file(path, self.path, limit=MAX_MODEL_MEMBER_BYTES)

    def write_best_model(self, save: Callable[[Path], Any]) -> Path:
        """``best_model.keras``, written by ``save(path)`` (Keras' ``Model.save``)."""
        return write_with(self.path / BEST_MODEL, save, root=self.path)

    def write_preprocessing(self, document: Mapping[str, Any]) -> Path:
        """``preprocessing.json``: the best model's fitted input and target preprocessing."""
        return self._json(self.path / PREPROCESSING_JSON, dict(document))

    def heartbeat_file(self, tuner_id: str) -> Path:
        """A worker's heartbeat file, ``workers/<tuner id>.json``."""
        return self.path / WORKERS_DIR / f"{tuner_id}.json"

    def write_heartbeat(self, tuner_id: str, info: Mapping[str, Any]) -> Path:
        """A worker's heartbeat."""
        return self._json(self.heartbeat_file(tuner_id), dict(info), indent=None)

    def worker_log(self, tuner_id: str) -> Path:
        """A local worker's log file, ``workers/<tuner id>.log``."""
        return self.path / WORKERS_DIR / f"{tuner_id}.log"

    def open_worker_log(self, tuner_id: str) -> BinaryIO:
        """A local worker's log, new (a stream the worker writes to, not atomic)."""
        return open_stream(self.worker_log(tuner_id), root=self.path)

    # Reads: plain files inside the folder within a size cap, checked (mtltune.run.loader).

    def _document(self, path: Path) -> dict[str, Any] | None:
        """A JSON object of the folder, ``None`` if absent or damaged (the caller goes on)."""
        try:
            return read_document(path, self.path)
        except (FileNotFoundError, DamagedRunError):
            return None

    def read_study_record(self) -> dict[str, Any]:
        """``study.json``.

        Raises:
            DamagedRunError: If it is a link, too large, not JSON or not an object.
            FileNotFoundError: If there is none.
        """
        return read_document(self.path / STUDY_FILE, self.path)

    def read_history(self, trial_id: str) -> dict[str, Any] | None:
        """``histories/<trial id>.json``, or ``None`` if the trial has none.

        Raises:
            DamagedRunError: If it is damaged.
        """
        try:
            return read_document(self.path / HISTORIES / f"{trial_id}.json", self.path)
        except FileNotFoundError:
            return None

    def read_predictions(self) -> dict[str, np.ndarray] | None:
        """``predictions.npz``'s arrays, or ``None`` if there is none.

        Raises:
            DamagedRunError: If it is a link, too large, or not a readable ``.npz``.
        """
        path = self.path / PREDICTIONS_NPZ
        try:
            plain_file(path, self.path, limit=MAX_NPZ_BYTES)
        except FileNotFoundError:
            return None
        try:
            with np.load(path, allow_pickle=False) as arrays:
                return {key: arrays[key] for key in arrays.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise damaged(path, f"it is not a readable .npz archive ({exc})") from None

    def read_confirmation(self) -> dict[str, Any] | None:
        """``confirm.json``, or ``None`` if it is absent or damaged (the runs train again)."""
        return self._document(self.path / CONFIRM_JSON)

    def read_trial_message(self, trial_dir: str | Path) -> str | None:
        """A failed trial's message left by a worker, or ``None``."""
        path = Path(trial_dir) / MESSAGE_FILE
        with contextlib.suppress(FileNotFoundError, DamagedRunError):
            plain_file(path, self.path, limit=MAX_JSON_BYTES)
            return path.read_bytes().decode("utf-8", errors="replace")
        return None

    def read_heartbeat(self, tuner_id: str) -> dict[str, Any] | None:
        """A worker's last heartbeat, or ``None`` if it has written none (or it is unreadable)."""
        return self._document(self.heartbeat_file(tuner_id))


def check_out_path(path: Path) -> None:
    """Refuse a run folder path that is a file, lies under a file, or cannot be written.

    Raises:
        RunFolderError: Naming the path and the reason.
    """
    reason = None
    if path.exists() and not path.is_dir():
        reason = "it is a file, not a folder; pass a folder with --out"
    else:
        existing = path
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            reason = f"{existing} is a file, so no folder can be made under it"
        elif not _writable(existing):
            reason = f"{existing} is not writable (permission denied)"
    if reason:
        raise RunFolderError(
            [Problem("--out", f"cannot use {str(path)!r} as run folder: {reason}")]
        )


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


def prepare_run_folder(study: Study, folder: RunFolder, *, overwrite: bool) -> bool:
    """Create, clear or check the run folder; return whether an earlier search is resumed.

    Raises:
        RunFolderError: If the folder holds files but no mtltune run (with or without
            ``overwrite``: they are the user's).
        SearchError: If the folder holds a run of a different study (or of changed data) and
            ``overwrite`` is off.
    """
    data_sha256 = data_fingerprint(study)
    fingerprint = fingerprint_of(study.resolved(), data_sha256)
    resume = False
    if folder.has_previous_run():
        if overwrite:
            folder.clear()
        elif (saved := _saved(folder)).get("fingerprint") != fingerprint:
            raise SearchError(refusal(folder.path, saved, study, data_sha256))
        else:
            check_tuner_state(folder.path)  # a truncated oracle.json is named, not a traceback
            resume = True
    else:
        folder.check_is_run_or_new()
    folder.check_tuner_folder()
    folder.path.mkdir(parents=True, exist_ok=True)
    # base_dir lets workers of a distributed search resolve relative data paths.
    saved = {
        "fingerprint": fingerprint,
        "study": study.resolved(),
        "data_sha256": data_sha256,
        "base_dir": str(study.base_dir),
    }
    folder.write_study_record(saved)
    return resume


def _is_lock_file(path: Path) -> bool:
    """Whether ``path`` is a plain file holding a run lock's text (or nothing)."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode) or path.stat().st_size > 4096:
            return False
        text = path.read_text(encoding="utf-8").strip()
        value = json.loads(text) if text else {"pid": None}
    except (OSError, ValueError):
        return False
    return isinstance(value, dict) and "pid" in value


def _saved(folder: RunFolder) -> dict[str, Any]:
    """What a run folder's marker records (empty if it is damaged)."""
    try:
        return folder.read_study_record()
    except (OSError, DamagedRunError):
        return {}

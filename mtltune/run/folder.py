"""The run folder: its fingerprint, resume-or-refuse rule, and what ``--overwrite`` clears.

A run folder holds one study's search. ``study.json`` records the resolved study and its
fingerprint (the study and the content of its data file); it is mtltune's one marker of a run
folder, never the name of a subfolder. A folder holding another study's run (or the same study
on changed data) is refused unless overwritten; a non-empty folder that is not an mtltune run is
refused even then, since its files are the user's; a folder in use by a live search is refused
(``mtltune.run.lock``), so a second process never wipes a run it does not own. ``--overwrite``
removes exactly the entries of ``RUN_ENTRIES`` and nothing else.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from mtltune.compat.layout import oracle_file, tuner_state_file
from mtltune.errors import Problem, RunFolderError, SearchError
from mtltune.run.atomic import check_inside, write_atomic
from mtltune.run.files import LOCK_FILE, PROJECT, RUN_ENTRIES, STUDY_FILE
from mtltune.run.loader import check_tuner_state
from mtltune.study import Study

#: Bytes read at a time when hashing a data file.
_CHUNK = 1 << 20


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
            write_atomic(own, "{}", root=self.path)


def data_fingerprint(study: Study) -> str:
    """Hash of the data file's content (``builtin`` for a generator: the study says it all)."""
    path = study.data_path()
    if path is None:
        return "builtin"
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    except OSError:
        return "unreadable"
    return digest.hexdigest()


def study_fingerprint(study: Study) -> str:
    """Hash of the resolved study and of its data file's content.

    ``search.max_trials`` is left out (raising it resumes a run); the data's content is in, so
    a changed table is refused like a changed study.
    """
    resolved = study.resolved()
    resolved["search"].pop("max_trials", None)
    resolved["data_sha256"] = data_fingerprint(study)
    return hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()


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
    marker = folder.path / STUDY_FILE
    fingerprint = study_fingerprint(study)
    resume = False
    if folder.has_previous_run():
        if overwrite:
            folder.clear()
        elif _saved_fingerprint(marker) != fingerprint:
            raise SearchError(
                f"{folder.path} holds a run of a different study (or of this one on other data, "
                "or of another version of it); pass --overwrite to replace it, or --out to "
                "write elsewhere"
            )
        else:
            check_tuner_state(folder.path)  # a truncated oracle.json is named, not a traceback
            resume = True
    else:
        folder.check_is_run_or_new()
    folder.check_tuner_folder()
    folder.path.mkdir(parents=True, exist_ok=True)
    # base_dir lets workers of a distributed search resolve relative data paths.
    saved = {"fingerprint": fingerprint, "study": study.resolved(), "base_dir": str(study.base_dir)}
    write_atomic(marker, json.dumps(saved, indent=2), root=folder.path)
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


def _saved_fingerprint(marker: Path) -> str | None:
    """The fingerprint a run folder's marker records (``None`` if it is damaged)."""
    try:
        saved = json.loads(marker.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return saved.get("fingerprint") if isinstance(saved, dict) else None

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
from typing import Any

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


#: Study keys a resumed search may change: they do not change any trial (top-level sections
#: end in ``.``). ``search.max_trials`` sets how many trials there are; ``report.*`` what is
#: done after them (replicates, plots, TensorBoard logs of the trials still to run).
RESUMABLE_KEYS = ("search.max_trials", "report.")


def _resumable(key: str) -> bool:
    return any(key == k or (k.endswith(".") and key.startswith(k)) for k in RESUMABLE_KEYS)


def flat_keys(value: Any, prefix: str = "") -> dict[str, Any]:
    """A resolved study as ``{dotted.key.path: leaf value}`` (lists are leaves)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flat_keys(item, f"{prefix}{key}."))
        return out if out or not prefix else {prefix[:-1]: {}}
    return {prefix[:-1]: value}


def study_fingerprint(study: Study) -> str:
    """Hash of the resolved study (but its ``RESUMABLE_KEYS``) and of its data file's content.

    The data's content is in, so a changed table is refused like a changed study.
    """
    return _fingerprint(study.resolved(), data_fingerprint(study))


def saved_fingerprint(saved: dict[str, Any]) -> str | None:
    """The fingerprint of the study a ``study.json`` document holds, computed from its content.

    Unlike the document's own ``fingerprint`` field, this cannot be edited to match: it is what
    a worker compares with its chief's before it builds (and imports anything for) the study.
    """
    resolved, data_sha256 = saved.get("study"), saved.get("data_sha256")
    if not isinstance(resolved, dict) or not isinstance(data_sha256, str):
        return None
    return _fingerprint(resolved, data_sha256)


def _fingerprint(resolved: dict[str, Any], data_sha256: str) -> str:
    kept = {k: v for k, v in flat_keys(resolved).items() if not _resumable(k)}
    kept["data_sha256"] = data_sha256
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()


def fingerprint_differences(saved: dict[str, Any], study: Study, data_sha256: str) -> list[str]:
    """What differs between a run folder's ``study.json`` and ``study``, one line per key.

    Each line names the key, its value in the run and now, and whether a resumed search may
    change it; the data file's content is named too when ``study.json`` records it.
    """
    before = flat_keys(saved.get("study") or {})
    now = flat_keys(study.resolved())
    lines = []
    for key in sorted(set(before) | set(now)):
        old, new = before.get(key, "(absent)"), now.get(key, "(absent)")
        if old != new:
            may = "may change on resume" if _resumable(key) else "fixed for this run"
            lines.append(f"{key}: {old!r} in the run, {new!r} now ({may})")
    old_data = saved.get("data_sha256")
    if old_data is not None and old_data != data_sha256:
        lines.append(
            "data.source: the run was made on other data (the file's content changed; fixed "
            "for this run)"
        )
    return lines


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
    data_sha256 = data_fingerprint(study)
    fingerprint = _fingerprint(study.resolved(), data_sha256)
    resume = False
    if folder.has_previous_run():
        if overwrite:
            folder.clear()
        elif (saved := _saved(marker)).get("fingerprint") != fingerprint:
            raise SearchError(_refusal(folder.path, saved, study, data_sha256))
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


def _saved(marker: Path) -> dict[str, Any]:
    """What a run folder's marker records (empty if it is damaged)."""
    try:
        saved = json.loads(marker.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return saved if isinstance(saved, dict) else {}


def _refusal(path: Path, saved: dict[str, Any], study: Study, data_sha256: str) -> str:
    """Why a run folder is another study's, key by key, and the ways out."""
    lines = fingerprint_differences(saved, study, data_sha256)
    if not saved:
        what = f"its {STUDY_FILE} is unreadable"
    elif lines:
        what = "; ".join(lines)
    else:
        what = "it was written by another version of mtltune, or on other data"
    changeable = ", ".join(k + ("*" if k.endswith(".") else "") for k in RESUMABLE_KEYS)
    return (
        f"{path} holds a run of a different study ({what}). Only {changeable} may change "
        "when a run is resumed; pass --overwrite to replace the run, or --out to write "
        "elsewhere"
    )

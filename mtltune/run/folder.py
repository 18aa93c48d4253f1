"""The run folder: its fingerprint, resume-or-refuse rule, and saved arrays.

A run folder holds one study's search. ``study.json`` records the resolved study and its
fingerprint; a folder holding another study's run is refused unless overwritten, and a folder
in use by a live search is refused even then (``mtltune.run.lock``), so a second process never
wipes a run it does not own.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from mtltune.errors import SearchError
from mtltune.run.files import (
    CONFIRM_CSV,
    CONFIRM_DIR,
    CONFIRM_JSON,
    PROJECT,
    REPORT_JSON,
    REPORT_MD,
    STUDY_FILE,
    TRIALS_CSV,
    WORKERS_DIR,
)
from mtltune.study import Study


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
        """Whether a search already wrote here."""
        return (self.path / STUDY_FILE).exists() or self.tuner_dir.exists()

    def adopt_tuner_state(self, tuner_id: str) -> None:
        """Make a tuner with this id reload the project's oracle instead of starting over.

        Keras Tuner reloads a project only if ``<tuner_id>.json`` exists, so a run begun by one
        process (``tuner0``) and resumed as a distributed search (``chief``), or the other way
        round, would start again from trial 0 over the saved trials. That file holds the
        tuner's own state, which is empty for every tuner mtltune makes.
        """
        own = self.tuner_dir / f"{tuner_id}.json"
        if (self.tuner_dir / "oracle.json").exists() and not own.exists():
            own.write_text("{}")


def study_fingerprint(study: Study) -> str:
    """Hash of the resolved study, ignoring ``search.max_trials`` (raising it resumes a run)."""
    resolved = study.resolved()
    resolved["search"].pop("max_trials", None)
    return hashlib.sha256(json.dumps(resolved, sort_keys=True).encode()).hexdigest()


def prepare_run_folder(study: Study, folder: RunFolder, *, overwrite: bool) -> bool:
    """Create, clear or check the run folder; return whether an earlier search is resumed.

    Raises:
        SearchError: If the folder holds a run of a different study and ``overwrite`` is off.
    """
    marker = folder.path / STUDY_FILE
    resume = False
    if folder.has_previous_run():
        if overwrite:
            shutil.rmtree(folder.tuner_dir, ignore_errors=True)
            shutil.rmtree(folder.path / WORKERS_DIR, ignore_errors=True)
            shutil.rmtree(folder.path / CONFIRM_DIR, ignore_errors=True)
            for name in (STUDY_FILE, REPORT_JSON, REPORT_MD, TRIALS_CSV, CONFIRM_CSV, CONFIRM_JSON):
                (folder.path / name).unlink(missing_ok=True)
        else:
            previous = (
                json.loads(marker.read_text()).get("fingerprint") if marker.exists() else None
            )
            if previous != study_fingerprint(study):
                raise SearchError(
                    f"{folder.path} holds a run of a different study (or of another version of "
                    "this one); pass --overwrite to replace it, or --out to write elsewhere"
                )
            resume = True
    folder.path.mkdir(parents=True, exist_ok=True)
    # base_dir lets workers of a distributed search resolve relative data paths.
    saved = {
        "fingerprint": study_fingerprint(study),
        "study": study.resolved(),
        "base_dir": str(study.base_dir),
    }
    marker.write_text(json.dumps(saved, indent=2))
    return resume

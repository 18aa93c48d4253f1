"""Finished units of the steps after the trials, one file each, kept for a resumed search.

A replicate takes as long as a trial, twice; a search that fails or is interrupted after some
of them keeps each finished one in its own file (``replicates/<number>.npz``), written
atomically with a tag saying what it was computed from (the study's fingerprint, the plans).
A resumed search reuses a unit whose tag matches and recomputes the others; a unit whose tag
differs (another best configuration, say) or that cannot be read is ignored, never trusted.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from mtltune.run.atomic import save_npz

#: The array holding a unit's tag (JSON text).
TAG = "__tag__"


def _tag_text(tag: dict[str, Any]) -> str:
    return json.dumps(tag, sort_keys=True, default=str)


def save_unit(
    path: Path, arrays: dict[str, np.ndarray], tag: dict[str, Any], *, root: Path
) -> None:
    """Write a finished unit's arrays and its tag to ``path`` inside the run folder ``root``."""
    save_npz(path, {**arrays, TAG: np.asarray(_tag_text(tag))}, root=root)


def load_unit(path: Path, tag: dict[str, Any]) -> dict[str, np.ndarray] | None:
    """The arrays of the unit at ``path`` if it was computed from ``tag``, else ``None``."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None
    saved = arrays.pop(TAG, None)
    if saved is None or str(saved) != _tag_text(tag):
        return None
    return arrays

"""Keras Tuner's project-folder layout (plain names: no import, TensorFlow-free).

Checked against keras-tuner 1.4.8 (``BaseTuner._get_tuner_fname`` writes
``<project>/<tuner_id>.json``; ``Oracle._get_oracle_fname`` writes ``<project>/oracle.json``).
Caught by ``tests/run/test_folder.py`` (a run resumed under another tuner id keeps its trials).
"""

from __future__ import annotations

from pathlib import Path

#: The oracle's saved state, in the tuner's project folder.
ORACLE_FILE = "oracle.json"


def tuner_state_file(project: Path, tuner_id: str) -> Path:
    """The file Keras Tuner reloads a tuner's own state from (``<tuner_id>.json``)."""
    return project / f"{tuner_id}.json"


def oracle_file(project: Path) -> Path:
    """The file Keras Tuner reloads the oracle (its trials, its space) from."""
    return project / ORACLE_FILE

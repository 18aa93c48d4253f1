"""Time across sessions: a resumed run's report counts every session that worked on it.

A search may take several sessions: interrupted, resumed, failed after its trials and resumed
again. Each session's seconds by step (``preparation``, ``search``, ``race``, ``evaluation``)
are kept in ``sessions.json``, rewritten as they grow (after every trial, so an interrupted
session counts too); the report's time split and its total sum them over every session.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from mtltune.run.atomic import write_atomic
from mtltune.run.files import SESSIONS_JSON

#: The steps a session's seconds are split into.
STEPS = ("preparation", "search", "race", "evaluation")


class Sessions:
    """The seconds of this session and of the earlier ones of a run folder.

    Args:
        folder: The run folder.
        resumed: Whether this session resumes an earlier search there (else earlier sessions'
            records, if any, are not this run's).
    """

    def __init__(self, folder: Path, resumed: bool) -> None:
        self.folder = folder
        self.path = folder / SESSIONS_JSON
        self.earlier = _read(self.path) if resumed else []
        self.current = dict.fromkeys(STEPS, 0.0)

    def set(self, step: str, seconds: float) -> None:
        """Record this session's seconds of ``step`` so far, and write the file."""
        self.current[step] = max(0.0, float(seconds))
        doc = {"sessions": [*self.earlier, self.current]}
        write_atomic(self.path, json.dumps(doc, indent=2), root=self.folder)

    def total(self, step: str) -> float:
        """Seconds of ``step`` in every session, this one included."""
        return sum(s.get(step, 0.0) for s in self.earlier) + self.current[step]

    @property
    def count(self) -> int:
        """Number of sessions, this one included."""
        return len(self.earlier) + 1


def _read(path: Path) -> list[dict[str, float]]:
    """The earlier sessions' records (none if the file is missing or damaged)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return []
    sessions = doc.get("sessions") if isinstance(doc, dict) else None
    if not isinstance(sessions, list):
        return []
    kept = []
    for entry in sessions:
        if isinstance(entry, dict):
            kept.append(
                {
                    s: float(v)
                    for s, v in entry.items()
                    if s in STEPS and isinstance(v, int | float) and math.isfinite(v) and v >= 0
                }
            )
    return kept

"""A run's fingerprint: the resolved study and its data's content, hashed.

``study.json`` records it; a search resumes a run folder only if the fingerprints match, and
a worker builds only the study its chief's fingerprint names. The keys of
``RESUMABLE_KEYS`` are left out: they change no trial.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mtltune.run.files import STUDY_FILE
from mtltune.study import Study

#: Bytes read at a time when hashing a data file.
_CHUNK = 1 << 20


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
    return fingerprint_of(study.resolved(), data_fingerprint(study))


def saved_fingerprint(saved: dict[str, Any]) -> str | None:
    """The fingerprint of the study a ``study.json`` document holds, computed from its content.

    Unlike the document's own ``fingerprint`` field, this cannot be edited to match: it is what
    a worker compares with its chief's before it builds (and imports anything for) the study.
    """
    resolved, data_sha256 = saved.get("study"), saved.get("data_sha256")
    if not isinstance(resolved, dict) or not isinstance(data_sha256, str):
        return None
    return fingerprint_of(resolved, data_sha256)


def fingerprint_of(resolved: dict[str, Any], data_sha256: str) -> str:
    """Hash of a resolved study (but its ``RESUMABLE_KEYS``) and of its data's hash."""
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


def refusal(path: Path, saved: dict[str, Any], study: Study, data_sha256: str) -> str:
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

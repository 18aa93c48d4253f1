"""Atomic writes: a temporary file beside the target, then a rename.

A reader (or a search interrupted by ``kill -9``) sees either the old file or the new one,
never a half-written one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def _temporary(path: Path, suffix: str = ".tmp") -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}{suffix}")


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path)
    # os.open with 0o666 honours the umask, like a plain open() (mkstemp would give 0600).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write arrays to a compressed ``.npz`` atomically."""
    write_with(path, lambda tmp: np.savez_compressed(tmp, **arrays))


def write_with(path: Path, write: Callable[[Path], Any]) -> None:
    """Have ``write(tmp)`` write a temporary file beside ``path``, then rename it to ``path``.

    The temporary file keeps ``path``'s suffix (writers such as Keras' ``save`` check it).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(path, ".tmp" + path.suffix)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

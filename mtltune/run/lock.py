"""The run folder's owner lock: one search (and its chief) per run folder at a time.

``RUN_DIR/mtltune.lock`` is held with ``flock`` by the process that owns the folder, a
single-process search or the chief of a distributed one, for as long as it runs. Its text
says who holds it (pid, host, start time) and, for a chief, the address its workers connect
to. The kernel drops the lock when its holder dies, even by ``kill -9``, so a lock file left
behind by a dead process is stale by construction and the next search takes it over. A
second search on a locked folder, with or without ``--overwrite``, is refused before it
touches anything. Over NFS, ``flock`` works across hosts when the mount supports locking
(Linux maps it to NFS byte-range locks).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from mtltune.errors import SearchError
from mtltune.run.files import LOCK_FILE


class RunLock:
    """A held run-folder lock; release it with ``release()`` (or use it as a context manager).

    Attributes:
        path: The lock file.
        info: What the lock file says about its holder.
    """

    def __init__(self, path: Path, fd: int, info: dict[str, Any]) -> None:
        self.path = path
        self._fd: int | None = fd
        self.info = info
        self._write()

    def update(self, **fields: Any) -> None:
        """Add fields to the lock file (the chief adds its ``address`` once it listens)."""
        self.info.update(fields)
        self._write()

    def release(self) -> None:
        """Remove the lock file and drop the lock (idempotent)."""
        if self._fd is None:
            return
        # Unlink while still holding the lock: a process that opened the old file and locks it
        # afterwards sees that the path no longer names its file and starts again.
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _write(self) -> None:
        assert self._fd is not None
        data = json.dumps(self.info, indent=2).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)
        os.fsync(self._fd)


def acquire_run_lock(folder: Path, role: str = "search") -> RunLock:
    """Take the run folder's lock, creating the folder if needed.

    Args:
        folder: The run folder.
        role: What the holder does (``search`` or ``chief``), for the refusal message.

    Raises:
        SearchError: If a live process holds the lock; the message names it.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise SearchError(
                f"{folder} is in use by {describe_holder(holder)}; a second search there could "
                "wipe or corrupt it. Wait for that search to finish or stop it; to add workers "
                f"to a running distributed search, run `mtltune worker {folder}`"
            ) from None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder released and removed the file meanwhile: try again
    info = {"role": role, "pid": os.getpid(), "host": socket.gethostname(), "since": _now()}
    return RunLock(path, fd, info)


def read_run_lock(folder: Path) -> dict[str, Any] | None:
    """What a live holder's lock file says, or ``None`` if nobody holds the folder's lock."""
    path = folder / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)  # nobody holds it: a stale file
        return None
    finally:
        os.close(fd)


def describe_holder(info: dict[str, Any]) -> str:
    """``another search (pid 12 on host h since ...; chief at a:p)`` from a lock's text."""
    if not info:
        return "another search (its lock file is empty: it is starting)"
    role = "a distributed search's chief" if info.get("role") == "chief" else "another search"
    text = f"{role} (pid {info.get('pid')} on host {info.get('host')} since {info.get('since')}"
    if info.get("address"):
        text += f"; chief at {info['address']}"
    return text + ")"


def _read(fd: int) -> dict[str, Any]:
    size = os.fstat(fd).st_size
    try:
        value = json.loads(os.pread(fd, size, 0).decode() or "{}")
    except (ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def _now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())

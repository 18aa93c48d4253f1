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
import errno
import fcntl
import json
import os
import socket
import stat
import threading
import time
from pathlib import Path
from typing import Any

from mtltune.errors import DamagedRunError, SearchError
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
        # release() may run in two threads at once (a timer and a finally): one closes.
        self._closing = threading.Lock()
        self._write()

    def update(self, **fields: Any) -> None:
        """Add fields to the lock file (the chief adds its ``address`` once it listens)."""
        self.info.update(fields)
        self._write()

    def release(self) -> None:
        """Remove the lock file and drop the lock (idempotent, and safe from several threads).

        The descriptor is closed exactly once: a second close could close an unrelated file
        that reused its number.
        """
        with self._closing:
            fd, self._fd = self._fd, None
            if fd is None:
                return
            # Unlink while still holding the lock: a process that opened the old file and locks
            # it afterwards sees that the path no longer names its file and starts again.
            with contextlib.suppress(FileNotFoundError):
                if os.fstat(fd).st_ino == os.lstat(self.path).st_ino:
                    self.path.unlink()
            os.close(fd)

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _write(self) -> None:
        with self._closing:
            if self._fd is None:
                return
            data = json.dumps(self.info, indent=2).encode()
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, data, 0)
            os.fsync(self._fd)


def acquire_run_lock(folder: Path, role: str = "search", *, create: bool = True) -> RunLock:
    """Take the run folder's lock, creating the folder if needed (and ``create``).

    The lock file is opened with ``O_NOFOLLOW``: a link named ``mtltune.lock`` is refused, so
    no file outside the run folder is ever truncated or removed through it.

    Args:
        folder: The run folder.
        role: What the holder does (``search``, ``chief`` or ``report``), for the messages.
        create: Make the folder if it does not exist (a search), else it must exist.

    Raises:
        SearchError: If a live process holds the lock; the message names it.
        DamagedRunError: If ``mtltune.lock`` is a symbolic link or not a regular file.
    """
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILE
    while True:
        fd = _open_lock(path, os.O_RDWR | os.O_CREAT)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            if role == "report":
                raise SearchError(
                    f"{folder} is in use by {describe_holder(holder)}; its report would be "
                    "rewritten from stale files. Run `mtltune report` once the search ends "
                    "(a search writes its own report when it finishes)"
                ) from None
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
        fd = _open_lock(path, os.O_RDONLY)
    except (FileNotFoundError, DamagedRunError):
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


def _open_lock(path: Path, flags: int) -> int:
    """Open the lock file without following a link; refuse anything but a regular file."""
    try:
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
        raise _not_a_lock(path, "it is a symbolic link") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise _not_a_lock(path, "it is not a regular file")
    return fd


def _not_a_lock(path: Path, what: str) -> DamagedRunError:
    return DamagedRunError(
        f"{path}: {what}, not mtltune's lock; mtltune never follows a link in a run folder. "
        "Remove it (the file it points to is untouched)"
    )


def describe_holder(info: dict[str, Any]) -> str:
    """``another search (pid 12 on host h since ...; chief at a:p)`` from a lock's text."""
    if not info:
        return "another search (its lock file is empty: it is starting)"
    role = {"chief": "a distributed search's chief", "report": "`mtltune report`"}.get(
        str(info.get("role")), "another search"
    )
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

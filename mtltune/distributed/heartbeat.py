"""Worker heartbeats in the shared run folder, and the chief's watch over them.

Keras Tuner's oracle hears from a worker only when the worker asks for a trial or reports
one, so a worker killed mid-trial leaves the chief waiting forever. Each ``mtltune worker``
therefore rewrites ``RUN_DIR/workers/<id>.json`` every ``HEARTBEAT_SECONDS`` (a beat counter,
its host and pid, the trial it runs). The chief reads these files and judges silence on its
own clock (when the content last changed), so hosts need not agree on the time. No TensorFlow
here.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mtltune.errors import DamagedRunError, SearchError
from mtltune.run.folder import RunFolder

HEARTBEAT_SECONDS = 2.0


def heartbeat_path(folder: Path, tuner_id: str) -> Path:
    """The heartbeat file of a worker."""
    return RunFolder(folder).heartbeat_file(tuner_id)


def read_heartbeat(folder: Path, tuner_id: str) -> dict[str, Any] | None:
    """A worker's last heartbeat, or ``None`` if it has written none (or it is unreadable)."""
    return RunFolder(folder).read_heartbeat(tuner_id)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Heartbeat:
    """Rewrites a worker's heartbeat file from a daemon thread until stopped.

    Args:
        folder: The run folder.
        tuner_id: The worker's Keras Tuner id.
        interval: Seconds between beats.
    """

    def __init__(self, folder: Path, tuner_id: str, interval: float = HEARTBEAT_SECONDS) -> None:
        self.folder = RunFolder(folder)
        self.path = self.folder.heartbeat_file(tuner_id)
        self.interval = interval
        self.info: dict[str, Any] = {
            "id": tuner_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "state": "starting",
            "trial": None,
            "beat": 0,
        }
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mtltune-heartbeat", daemon=True)
        self._lock = threading.Lock()

    def claim(self, stale_after: float) -> None:
        """Refuse to start if a live worker already uses this id.

        Same host: its pid is alive. Another host: its file changed within ``stale_after``
        seconds (by the file's modification time).

        Raises:
            SearchError: If the id is taken.
        """
        other = self.folder.read_heartbeat(self.info["id"])
        if other is None or other.get("state") in ("done", "failed"):
            return
        alive = False
        if other.get("host") == self.info["host"]:
            alive = other.get("pid") != os.getpid() and pid_alive(int(other.get("pid") or 0))
        else:
            with contextlib.suppress(OSError):
                alive = time.time() - self.path.stat().st_mtime < stale_after
        if alive:
            raise SearchError(
                f"worker id {self.info['id']!r} is in use by pid {other.get('pid')} on host "
                f"{other.get('host')} ({self.path}); two workers with one id would run the same "
                "trial. Pass another --id, or leave --id out for a unique one"
            )

    def start(self) -> None:
        """Write the first beat and keep beating."""
        self.beat(state="running")
        self._thread.start()

    def beat(self, **fields: Any) -> None:
        """Write a beat now, updating fields such as ``trial`` or ``state``."""
        with self._lock:
            self.info.update(fields)
            self.info["beat"] += 1
            self.info["time"] = time.time()
            # A full disk (or a link planted in workers/, refused) must not kill the trial.
            with contextlib.suppress(OSError, DamagedRunError):
                self.folder.write_heartbeat(self.info["id"], self.info)

    def stop(self, state: str, **fields: Any) -> None:
        """Stop beating and record the final state (``done``, or ``failed`` with an ``error``)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.interval + 1)
        self.beat(state=state, **fields)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()


class HeartbeatWatch:
    """How long each worker's heartbeat has been silent, on the chief's clock.

    Args:
        folder: The run folder.
        clock: Seconds, monotonic (for tests).
    """

    def __init__(self, folder: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.folder = folder
        self.clock = clock
        self._seen: dict[str, tuple[Any, float]] = {}

    def silence(self, tuner_id: str) -> float:
        """Seconds since the worker's heartbeat last changed (or since it was first asked about).

        A worker that has written no heartbeat yet counts as silent since the first call.
        """
        now = self.clock()
        info = read_heartbeat(self.folder, tuner_id)
        signature = None if info is None else (info.get("pid"), info.get("beat"))
        previous = self._seen.get(tuner_id)
        if previous is None or previous[0] != signature:
            self._seen[tuner_id] = (signature, now)
            return 0.0
        return now - previous[1]

    def describe(self, tuner_id: str) -> str:
        """``worker tuner1 (pid 12 on host h, running trial 3)`` from its last heartbeat."""
        info = read_heartbeat(self.folder, tuner_id)
        if info is None:
            return f"worker {tuner_id} (no heartbeat file: not started with `mtltune worker`?)"
        trial = f", trial {info['trial']}" if info.get("trial") is not None else ""
        return f"worker {tuner_id} (pid {info.get('pid')} on host {info.get('host')}{trial})"

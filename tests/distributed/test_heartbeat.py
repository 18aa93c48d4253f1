"""Worker heartbeats: files, duplicate ids, and the chief's silence clock."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from mtltune.distributed.heartbeat import (
    Heartbeat,
    HeartbeatWatch,
    heartbeat_path,
    pid_alive,
    read_heartbeat,
)
from mtltune.errors import SearchError


def dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout)


def test_beats_until_stopped_and_records_the_final_state(tmp_path) -> None:
    beat = Heartbeat(tmp_path, "w1", interval=0.05)
    beat.start()
    first = read_heartbeat(tmp_path, "w1")
    assert first["state"] == "running" and first["pid"] == os.getpid()
    beat.beat(trial="3")
    assert read_heartbeat(tmp_path, "w1")["trial"] == "3"
    beat.stop("failed", error="boom")
    last = read_heartbeat(tmp_path, "w1")
    assert last["state"] == "failed" and last["error"] == "boom"
    assert last["beat"] > first["beat"]


def test_a_live_worker_with_the_same_id_is_refused(tmp_path) -> None:
    path = heartbeat_path(tmp_path, "w1")
    path.parent.mkdir()
    other = {"id": "w1", "host": socket.gethostname(), "pid": os.getppid(), "state": "running"}
    path.write_text(json.dumps(other))
    with pytest.raises(SearchError, match=r"worker id 'w1' is in use by pid \d+.*--id"):
        Heartbeat(tmp_path, "w1").claim(stale_after=60)
    # A dead process's heartbeat, or a finished worker's, does not hold the id.
    path.write_text(json.dumps({**other, "pid": dead_pid()}))
    Heartbeat(tmp_path, "w1").claim(stale_after=60)
    path.write_text(json.dumps({**other, "state": "done"}))
    Heartbeat(tmp_path, "w1").claim(stale_after=60)
    # Another host: judged by how fresh the file is.
    path.write_text(json.dumps({**other, "host": "elsewhere"}))
    with pytest.raises(SearchError):
        Heartbeat(tmp_path, "w1").claim(stale_after=60)
    os.utime(path, (0, 0))
    Heartbeat(tmp_path, "w1").claim(stale_after=60)


def test_pid_alive() -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(dead_pid())
    assert not pid_alive(0)


def test_watch_measures_silence_on_its_own_clock(tmp_path) -> None:
    now = [100.0]
    watch = HeartbeatWatch(tmp_path, clock=lambda: now[0])
    assert watch.silence("w1") == 0.0  # no file yet: silent from now on
    now[0] = 130.0
    assert watch.silence("w1") == 30.0
    beat = Heartbeat(tmp_path, "w1")
    beat.beat(state="running")  # a change resets the clock, whatever time the file says
    assert watch.silence("w1") == 0.0
    now[0] = 150.0
    assert watch.silence("w1") == 20.0
    beat.beat()
    assert watch.silence("w1") == 0.0
    assert "worker w1 (pid" in watch.describe("w1")
    assert "no heartbeat file" in watch.describe("w2")

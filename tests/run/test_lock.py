"""The run folder's lock: one owner at a time, stale locks taken over, refusals say who holds it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mtltune.cli import app
from mtltune.errors import SearchError
from mtltune.run.files import LOCK_FILE
from mtltune.run.lock import acquire_run_lock, read_run_lock

HOLD = """
import sys, time
from pathlib import Path
from mtltune.run.lock import acquire_run_lock
lock = acquire_run_lock(Path(sys.argv[1]), "chief")
lock.update(address="127.0.0.1:9", port=9)
print("held", flush=True)
time.sleep(300)
"""


def hold_lock(folder: Path) -> subprocess.Popen[str]:
    """A child process that holds the folder's lock until killed."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


def test_acquire_writes_the_holder_and_release_removes_the_file(tmp_path) -> None:
    folder = tmp_path / "run"
    with acquire_run_lock(folder, "search") as lock:
        info = json.loads((folder / LOCK_FILE).read_text())
        assert info["pid"] == os.getpid() and info["role"] == "search" and info["host"]
        lock.update(address="h:1")
        assert read_run_lock(folder)["address"] == "h:1"
        with pytest.raises(SearchError, match=rf"in use by another search \(pid {os.getpid()}"):
            acquire_run_lock(folder)
    assert not (folder / LOCK_FILE).exists()
    assert read_run_lock(folder) is None
    acquire_run_lock(folder).release()


def test_a_stale_lock_file_is_taken_over(tmp_path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    stale = {"role": "chief", "pid": int(dead.stdout), "host": "vm", "address": "127.0.0.1:1"}
    (folder / LOCK_FILE).write_text(json.dumps(stale))
    assert read_run_lock(folder) is None  # nobody holds it
    with acquire_run_lock(folder) as lock:
        assert lock.info["pid"] == os.getpid()


def test_a_live_holder_is_refused_and_its_death_frees_the_folder(tmp_path) -> None:
    folder = tmp_path / "run"
    holder = hold_lock(folder)
    try:
        assert read_run_lock(folder)["pid"] == holder.pid
        with pytest.raises(SearchError) as refused:
            acquire_run_lock(folder)
        message = str(refused.value)
        assert f"pid {holder.pid}" in message and "chief at 127.0.0.1:9" in message
        assert "mtltune worker" in message
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    deadline = time.monotonic() + 10
    while read_run_lock(folder) is not None:  # the kernel drops a dead holder's lock
        assert time.monotonic() < deadline
        time.sleep(0.05)
    acquire_run_lock(folder).release()


def test_search_overwrite_on_a_folder_with_a_live_chief_is_refused(write_study, tmp_path) -> None:
    folder = tmp_path / "run"
    (folder / "tuner").mkdir(parents=True)
    (folder / "tuner" / "oracle.json").write_text("{}")
    (folder / "trials.csv").write_text("trial_id\n0\n")
    holder = hold_lock(folder)
    try:
        path = write_study()
        for extra in (["--overwrite"], [], ["--overwrite", "--workers", "1"]):
            result = CliRunner().invoke(app, ["search", str(path), "--out", str(folder), *extra])
            assert result.exit_code == 1, result.output
            flat = " ".join(result.output.split())
            assert "in use by a distributed search's chief" in flat and str(holder.pid) in flat
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # Nothing was wiped.
    assert (folder / "tuner" / "oracle.json").read_text() == "{}"
    assert (folder / "trials.csv").exists()

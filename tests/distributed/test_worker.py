"""``mtltune worker``: joining a chief over a shared run folder, as on several hosts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from mtltune import run_study
from mtltune.cli import app
from mtltune.distributed import worker as worker_module
from mtltune.distributed.chief import DistributedOptions
from mtltune.distributed.heartbeat import pid_alive, read_heartbeat
from mtltune.distributed.worker import (
    NOT_FOR_WORKERS,
    check_tuner_id,
    chief_address,
    default_tuner_id,
    load_run_study,
    thread_settings,
)
from mtltune.errors import InputError, SearchError
from mtltune.run.files import STUDY_FILE
from mtltune.run.folder import RunFolder, prepare_run_folder
from mtltune.run.lock import acquire_run_lock
from mtltune.search import SilentProgress
from mtltune.study import load_study

MTLTUNE = [sys.executable, "-m", "mtltune"]


def test_worker_ids_threads_and_the_run_folders_study(write_study, tmp_path) -> None:
    assert check_tuner_id("gpu-box_2.a") == "gpu-box_2.a"
    for bad in ("chief", "my-chief-1", "a b", ""):
        with pytest.raises(InputError, match="--id"):
            check_tuner_id(bad)
    assert "chief" not in default_tuner_id() and str(os.getpid()) in default_tuner_id()
    assert thread_settings(1) == (1, 1) and thread_settings(8) == (8, 2)

    folder = tmp_path / "run"
    with pytest.raises(SearchError, match=r"study\.json does not exist"):
        load_run_study(folder)
    study = load_study(write_study({"search": {"max_trials": 2}}))
    prepare_run_folder(study, RunFolder(folder), overwrite=False)
    assert load_run_study(folder).resolved() == study.resolved()
    assert load_run_study(folder).base_dir == study.base_dir
    # The same study file with more trials is the same study; another seed is not.
    assert load_run_study(folder, write_study({"search": {"max_trials": 9}}, "more.yaml"))
    other = write_study({"seed": 11}, "other.yaml")
    with pytest.raises(SearchError, match="not the one the chief searches"):
        load_run_study(folder, other)


WORKER_IMPORTS = """
import sys
from mtltune.distributed.worker import NOT_FOR_WORKERS, import_keras
import_keras()
print(sorted(m for m in NOT_FOR_WORKERS if m in sys.modules))
import sklearn.gaussian_process
print("sklearn" in sys.modules)
"""


def test_a_worker_imports_keras_and_keras_tuner_without_what_it_never_uses() -> None:
    assert set(NOT_FOR_WORKERS) == {"matplotlib.pyplot", "IPython", "sklearn"}
    done = subprocess.run(
        [sys.executable, "-c", WORKER_IMPORTS], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["[]", "True"], done.stdout


def test_chief_address_comes_from_a_live_lock(tmp_path) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    with pytest.raises(SearchError, match="no search is running on"):
        chief_address(folder)
    with acquire_run_lock(folder, "search"), pytest.raises(SearchError, match="serves no workers"):
        chief_address(folder, wait=0)
    with acquire_run_lock(folder, "chief") as lock:
        lock.update(address="10.0.0.5:8470", serving=True)
        assert chief_address(folder) == "10.0.0.5:8470"
        assert chief_address(folder, local=True) == "10.0.0.5:8470"
        # A chief on all interfaces: the workers it started connect over the loopback.
        lock.update(address="host-a:8470", local_address="127.0.0.1:8470")
        assert chief_address(folder, local=True) == "127.0.0.1:8470"
        assert chief_address(folder) == "host-a:8470"
        lock.update(serving=False)
        with pytest.raises(SearchError, match="nothing left to join"):
            chief_address(folder)


class FakeClock:
    """``time`` for ``chief_address``: each ``sleep`` advances the clock and runs what is due.

    The chief's actions happen at fixed points of the worker's polling, whatever the machine's
    load (a timer thread raced the poll, and the lock's release, on a loaded machine).
    """

    def __init__(self, at: float, action) -> None:
        self.now, self.at, self.action = 0.0, at, action

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        if self.action is not None and self.now >= self.at:
            action, self.action = self.action, None
            action()


def test_workers_a_chief_started_wait_for_it_as_long_as_it_holds_the_folder(
    tmp_path, monkeypatch
) -> None:
    # A chief loading a large data set listens late: its own workers must not give up, while
    # a worker started by hand gives up after ADDRESS_WAIT_SECONDS.
    monkeypatch.setattr(worker_module, "ADDRESS_WAIT_SECONDS", 0.3)
    folder = tmp_path / "run"
    folder.mkdir()
    with acquire_run_lock(folder, "chief") as lock:
        listens = FakeClock(1.0, lambda: lock.update(address="127.0.0.1:8470"))
        monkeypatch.setattr(worker_module, "time", listens)
        with pytest.raises(SearchError, match="serves no workers"):
            chief_address(folder)
        assert listens.action is not None  # gave up at 0.3 s, before the chief listened
        assert chief_address(folder, local=True) == "127.0.0.1:8470"
        assert listens.now >= 1.0
    # A chief that exits before it listens releases the folder: its workers stop waiting.
    lock = acquire_run_lock(folder, "chief")
    exits = FakeClock(1.0, lock.release)
    monkeypatch.setattr(worker_module, "time", exits)
    try:
        with pytest.raises(SearchError, match="no search is running on"):
            chief_address(folder, local=True)
        assert exits.action is None and exits.now >= 1.0
    finally:
        lock.release()


def test_a_run_lock_released_from_many_threads_at_once_closes_its_descriptor_once(
    tmp_path, monkeypatch
) -> None:
    lock = acquire_run_lock(tmp_path / "run", "chief")
    closed: list[int] = []
    real_close = os.close

    def counting_close(fd: int) -> None:
        closed.append(fd)
        time.sleep(0.01)  # widen the window a second release would slip through
        real_close(fd)

    monkeypatch.setattr(os, "close", counting_close)
    barrier = threading.Barrier(8)

    def release() -> None:
        barrier.wait()
        lock.release()

    threads = [threading.Thread(target=release) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    monkeypatch.undo()
    assert len(closed) == 1
    assert not (tmp_path / "run" / "mtltune.lock").exists()
    acquire_run_lock(tmp_path / "run").release()  # and the folder is free again


class Chief:
    """A chief (``run_study`` with ``--workers 0``'s options) in a thread of this process.

    TensorFlow is imported here already, so the chief costs no start-up; the test's own thread
    starts the workers, as hosts elsewhere would, and bounds every wait (a chief that never
    ends fails the test instead of hanging it: its thread is a daemon).
    """

    def __init__(self, path: Path, out: Path, heartbeat_timeout: float) -> None:
        self.out = out
        self.stages: list[str] = []
        self.result: Any = None
        self.error: BaseException | None = None
        options = DistributedOptions(workers=0, heartbeat_timeout=heartbeat_timeout)
        study = load_study(path)
        self.thread = threading.Thread(target=self._run, args=(study, options), daemon=True)
        self.thread.start()

    def _run(self, study: Any, options: DistributedOptions) -> None:
        progress = SilentProgress()
        progress.stage = self.stages.append  # type: ignore[method-assign]
        try:
            self.result = run_study(
                study, self.out, distributed=options, progress=progress, report=True
            )
        except BaseException as exc:
            self.error = exc

    def address(self) -> str:
        """The address the chief listens on, once it does."""
        lock = self.out / "mtltune.lock"
        deadline = time.monotonic() + 120
        while True:
            assert self.thread.is_alive(), f"the chief ended: {self.error!r}"
            assert time.monotonic() < deadline, "the chief did not start listening"
            if lock.exists():
                info = json.loads(lock.read_text() or "{}")
                if info.get("address"):
                    return info["address"]
            time.sleep(0.2)

    def end(self, seconds: float = 120) -> None:
        """Wait for the chief to end (failing the test if it does not)."""
        self.thread.join(seconds)
        assert not self.thread.is_alive(), "the chief did not end"


def stop(*processes: subprocess.Popen[str]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_workers_join_a_chief_on_a_loopback_port(write_study, tmp_path) -> None:
    path = write_study({"search": {"max_trials": 4}, "report": {"plots": False}})
    out = tmp_path / "run"
    chief = Chief(path, out, heartbeat_timeout=60)
    workers: list[subprocess.Popen[str]] = []
    try:
        address = chief.address()
        assert address.startswith("127.0.0.1:")
        # While the chief runs, nobody may wipe its folder.
        second = CliRunner().invoke(app, ["search", str(path), "--out", str(out), "--overwrite"])
        assert second.exit_code == 1 and "in use by a distributed search's chief" in " ".join(
            second.output.split()
        )
        for args in (["--chief", address, "--id", "far-a"], ["--threads", "1"]):
            workers.append(
                subprocess.Popen(
                    [*MTLTUNE, "worker", str(out), *args],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
        outputs = [w.communicate(timeout=300)[0] for w in workers]
        chief.end()
    finally:
        stop(*workers)
    assert chief.error is None, repr(chief.error)
    for worker, output in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, output
        assert "the chief has no more" in output
    ran = [
        {line.split()[2] for line in output.splitlines() if " COMPLETED " in line}
        for output in outputs
    ]
    assert not ran[0] & ran[1] and ran[0] | ran[1] == {"0", "1", "2", "3"}
    assert "far-a: trial" in outputs[0] and "tuner-" in outputs[1]  # the default id
    trials = pd.read_csv(out / "trials.csv", dtype={"trial_id": str})
    assert sorted(trials["trial_id"]) == ["0", "1", "2", "3"]
    assert (trials["status"] == "COMPLETED").all()
    assert (out / "report.json").exists() and chief.result.verdict is not None
    assert any("waiting for workers (mtltune worker" in stage for stage in chief.stages)


def test_a_remote_worker_killed_mid_trial_is_caught_by_its_heartbeat(write_study, tmp_path) -> None:
    path = write_study(
        {"search": {"max_trials": 2, "strategies": ["weighted"]}, "training": {"max_epochs": 200}}
    )
    out = tmp_path / "run"
    chief = Chief(path, out, heartbeat_timeout=4)
    worker = None
    try:
        address = chief.address()
        worker = subprocess.Popen(
            [*MTLTUNE, "worker", str(out), "--chief", address, "--id", "far"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        while not (read_heartbeat(out, "far") or {}).get("trial"):
            assert time.monotonic() < deadline and worker.poll() is None
            time.sleep(0.1)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        chief.end(60)
    finally:
        stop(*([worker] if worker else []))
    assert isinstance(chief.error, SearchError), repr(chief.error)
    flat = " ".join(str(chief.error).split())
    assert f"worker far (pid {worker.pid} on host" in flat
    assert "sent no heartbeat for" in flat and "limit 4 s" in flat
    assert "while running trial 0" in flat and "presumed dead" in flat


def test_local_workers_stop_when_their_chief_is_killed(write_study, tmp_path) -> None:
    path = write_study({"training": {"max_epochs": 200, "patience": 200}})
    out = tmp_path / "run"
    chief = subprocess.Popen(
        [*MTLTUNE, "search", str(path), "--out", str(out), "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not (read_heartbeat(out, "tuner0") or {}).get("trial"):
            assert time.monotonic() < deadline and chief.poll() is None
            time.sleep(0.1)
        pid = read_heartbeat(out, "tuner0")["pid"]
        chief.send_signal(signal.SIGKILL)
        chief.wait()
        deadline = time.monotonic() + 20
        while pid_alive(pid):
            assert time.monotonic() < deadline, "the orphaned worker kept running"
            time.sleep(0.1)
    finally:
        stop(chief)
    assert read_heartbeat(out, "tuner0")["state"] == "failed"
    assert "is gone" in read_heartbeat(out, "tuner0")["error"]
    assert (out / STUDY_FILE).exists()


def test_a_worker_imports_a_studys_code_only_on_the_chiefs_word_or_from_a_study_file(
    write_study, tmp_path, monkeypatch
) -> None:
    from mtltune.distributed.trust import TRUSTED_BASE_DIR, TRUSTED_FINGERPRINT
    from mtltune.run.fingerprint import study_fingerprint

    path = write_study({"heads": {"y0": {"loss": "my_losses:mse"}}})
    (path.parent / "my_losses.py").write_text("def mse(y_true, y_pred):\n    return 0.0\n")
    study = load_study(path)
    folder = tmp_path / "run"
    prepare_run_folder(study, RunFolder(folder), overwrite=False)
    monkeypatch.delenv(TRUSTED_FINGERPRINT, raising=False)
    monkeypatch.delenv(TRUSTED_BASE_DIR, raising=False)
    # A remote worker: the run folder's word is not enough to import code; a study file is.
    with pytest.raises(SearchError, match=r"heads\.y0\.loss: my_losses:mse.*--study"):
        load_run_study(folder)
    assert load_run_study(folder, path).resolved() == study.resolved()
    # A local worker: its chief vouches for the study and its folder.
    monkeypatch.setenv(TRUSTED_FINGERPRINT, study_fingerprint(study))
    monkeypatch.setenv(TRUSTED_BASE_DIR, str(study.base_dir))
    assert load_run_study(folder).resolved() == study.resolved()
    # Someone edits the live run folder: another loss, another folder, the fingerprint redone.
    marker = folder / STUDY_FILE
    saved = json.loads(marker.read_text())
    saved["study"]["heads"]["y0"]["loss"] = "os:system"
    saved["base_dir"] = str(tmp_path / "elsewhere")
    tampered = load_study(write_study({"heads": {"y0": {"loss": "mse"}}}, "t.yaml"))
    saved["fingerprint"] = study_fingerprint(tampered)
    marker.write_text(json.dumps(saved))
    with pytest.raises(SearchError, match="the run folder was changed"):
        load_run_study(folder)
    # The document's own fingerprint kept as it was: its content still gives it away, before
    # the study is built (and its loss module looked up).
    saved["fingerprint"] = study_fingerprint(study)
    marker.write_text(json.dumps(saved))
    with pytest.raises(SearchError, match="the run folder was changed"):
        load_run_study(folder)

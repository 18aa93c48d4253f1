"""The chief's watch: trial news, dead workers by exit code or heartbeat, oracle failures."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest

from mtltune.distributed.heartbeat import Heartbeat
from mtltune.distributed.monitor import LocalWorker, Monitor, exit_description, tail
from mtltune.errors import SearchError


def test_exit_codes_and_log_tails(tmp_path) -> None:
    assert exit_description(-9) == "exit code -9 (killed by SIGKILL)"
    assert exit_description(1) == "exit code 1"
    log = tmp_path / "w.log"
    log.write_text("".join(f"line {i}\n" for i in range(30)))
    assert tail(log, 2) == "    | line 28\n    | line 29"
    assert "no log" in tail(tmp_path / "none.log")


class FakeOracle:
    """What the chief's monitor reads of an oracle: one worker running one trial."""

    def __init__(self, tuner_id: str, trial_id: str) -> None:
        trial = SimpleNamespace(trial_id=trial_id)
        self.ongoing_trials = {tuner_id: trial}
        self.tuner_ids = {tuner_id}
        self.end_order: list[str] = []
        self.trials = {trial_id: trial}

    def save(self) -> None:
        """The monitor saves the oracle after trials end."""


def test_a_silent_remote_worker_is_declared_dead_after_the_timeout(tmp_path) -> None:
    now = [0.0]
    events: list[tuple[str, str]] = []
    servicer = SimpleNamespace(failure=None, stop_triggered=False)
    monitor = Monitor(
        FakeOracle("far", "7"),
        tmp_path,
        30.0,
        [],
        servicer,
        lambda event, trial: events.append((event, trial.trial_id)),
        clock=lambda: now[0],
    )
    beat = Heartbeat(tmp_path, "far")
    beat.beat(state="running", trial="7")
    assert monitor.poll() is False
    assert events == [("begin", "7")]
    now[0] = 25.0
    beat.beat()  # still alive: the clock restarts
    assert monitor.poll() is False
    now[0] = 50.0
    assert monitor.poll() is False
    now[0] = 56.0
    with pytest.raises(SearchError) as dead:
        monitor.poll()
    message = " ".join(str(dead.value).split())
    assert "worker far (pid" in message and "no heartbeat for 31 s" in message
    assert "while running trial 7" in message and "resume" in message


def test_a_failed_remote_worker_and_a_failing_oracle_end_the_search(tmp_path) -> None:
    servicer = SimpleNamespace(failure=None, stop_triggered=False)
    monitor = Monitor(FakeOracle("far", "2"), tmp_path, 120.0, [], servicer, lambda *a: None)
    Heartbeat(tmp_path, "far").beat(state="failed", error="DataError: no file")
    with pytest.raises(SearchError, match=r"worker far .* failed while running trial 2: DataError"):
        monitor.poll()
    servicer.failure = "CreateTrial: RuntimeError: Number of consecutive failures exceeded"
    with pytest.raises(SearchError, match=r"the oracle failed .*consecutive failures"):
        monitor.poll()


def test_a_local_worker_that_exits_with_an_error_is_named_with_its_log(tmp_path) -> None:
    log = tmp_path / "tuner1.log"
    with open(log, "wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-c", "import sys; print('DataError: no rows'); sys.exit(3)"],
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    process.wait()
    servicer = SimpleNamespace(failure=None, stop_triggered=False)
    oracle = FakeOracle("tuner1", "4")
    worker = LocalWorker("tuner1", process, log)
    monitor = Monitor(oracle, tmp_path, 120.0, [worker], servicer, lambda *a: None)
    with pytest.raises(SearchError) as dead:
        monitor.poll()
    message = str(dead.value)
    assert (
        f"worker tuner1 (pid {process.pid}) died with exit code 3 while running trial 4" in message
    )
    assert "| DataError: no rows" in message and str(log) in message

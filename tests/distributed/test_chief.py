"""Distributed search, chief side: local workers, every trial once, dead workers, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mtltune import load_study, run_study
from mtltune.cli import app
from mtltune.distributed.chief import DistributedOptions, join_address, split_address
from mtltune.distributed.heartbeat import pid_alive, read_heartbeat
from mtltune.errors import SearchError
from mtltune.report.readback import load_result

# Trials long enough (a few seconds on one thread) to kill a worker in the middle of one.
SLOW = {
    "search": {"max_trials": 3, "strategies": ["weighted"]},
    "training": {"max_epochs": 15, "patience": 15},
    "report": {"plots": False},
}


def test_options_are_checked_and_threads_split_between_workers() -> None:
    assert DistributedOptions(workers=2).worker_threads(cores=2) == 1
    assert DistributedOptions(workers=3).worker_threads(cores=8) == 2
    assert DistributedOptions(workers=4).worker_threads(cores=2) == 1
    assert DistributedOptions(workers=0).worker_threads(cores=4) == 4
    assert DistributedOptions(workers=2, threads=3).worker_threads(cores=2) == 3
    with pytest.raises(ValueError, match="workers must be >= 0, got -1"):
        DistributedOptions(workers=-1)
    with pytest.raises(ValueError, match=r"port must be in 0\.\.65535"):
        DistributedOptions(port=70000)


def test_addresses(tmp_path) -> None:
    assert split_address("127.0.0.1:8470") == ("127.0.0.1", 8470)
    assert split_address("[::1]:8470") == ("::1", 8470)
    assert join_address("::1", 5) == "[::1]:5" and join_address("h", 5) == "h:5"
    for bad in ("8470", "host:", ":80", "host:port", "h:70000"):
        with pytest.raises(SearchError, match="HOST:PORT"):
            split_address(bad)


def test_chief_options_without_workers_are_refused(write_study, tmp_path) -> None:
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["search", str(write_study()), "--out", str(out), "--bind", "0.0.0.0"]
    )
    assert result.exit_code == 2 and "need --workers N" in result.output
    assert not out.exists()


def test_the_command_lines_chief_options_reach_the_run(write_study, tmp_path, monkeypatch) -> None:
    # (The searches that run a chief in the test process take the options from Python.)
    import mtltune.launch

    seen = {}

    def open_run(study, folder, *, overwrite, distributed, stop):
        seen["distributed"] = distributed
        raise KeyboardInterrupt  # no search: the options are what this test reads

    monkeypatch.setattr(mtltune.launch, "open_run", open_run)
    args = ["--workers", "0", "--heartbeat-timeout", "7", "--port", "8470", "--bind", "0.0.0.0"]
    path = str(write_study())
    result = CliRunner().invoke(app, ["search", path, "--out", str(tmp_path / "run"), *args])
    assert result.exit_code == 130, result.output
    assert seen["distributed"] == DistributedOptions(
        workers=0, bind="0.0.0.0", port=8470, heartbeat_timeout=7.0
    )


def read_trials(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "trials.csv", dtype={"trial_id": str})


def test_two_local_workers_run_every_trial_exactly_once(write_study, tmp_path) -> None:
    # The TPE oracle (the default; the tiny study's is random): the chief's Optuna sampler
    # picks the trials, the first one the informed equal-weights trial.
    path = write_study({"search": {"max_trials": 4, "tuner": "tpe"}})
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["search", str(path), "--out", str(out), "--workers", "2"])
    assert result.exit_code == 0, result.output
    trials = read_trials(out)
    assert sorted(trials["trial_id"]) == ["0", "1", "2", "3"]
    assert (trials["status"] == "COMPLETED").all()
    assert trials["objective"].notna().all()
    # Both workers ran trials, and between them every trial once.
    ran = {}
    for worker in ("tuner0", "tuner1"):
        assert read_heartbeat(out, worker)["state"] == "done"
        log = (out / "workers" / f"{worker}.log").read_text()
        ran[worker] = {line.split()[2] for line in log.splitlines() if "COMPLETED" in line}
    assert ran["tuner0"] and ran["tuner1"] and not ran["tuner0"] & ran["tuner1"]
    assert ran["tuner0"] | ran["tuner1"] == {"0", "1", "2", "3"}
    assert sorted(p.stem for p in (out / "histories").glob("*.json")) == ["0", "1", "2", "3"]
    # The saved oracle knows every trial ended (a resume must not run the last one again).
    assert json.loads((out / "tuner" / "oracle.json").read_text())["ongoing_trials"] == {}
    # The same report files as a one-process run, and a progress line per trial.
    report = json.loads((out / "report.json").read_text())
    assert report["best"]["trial_id"] in {"0", "1", "2", "3"} and set(report["ratio"]) == {
        "y0",
        "y1",
        "y2",
    }
    for name in ("report.md", "pareto.csv", "predictions.npz"):
        assert (out / name).exists(), name
    for trial_id in "0123":  # one line per trial (a log: no start lines)
        line = f"trial {int(trial_id) + 1} of 4 "
        assert sum(line in printed for printed in result.output.splitlines()) == 1
        assert f"{line}weighted" in result.output or f"{line}separate" in result.output
    assert "chief at 127.0.0.1:" in result.output and "2 local worker(s)" in result.output
    assert not (out / "mtltune.lock").exists()
    # The chief's oracle timed every proposal; trial 0 is informed, equal weights.
    trials = load_result(out).trials
    assert all(t.oracle_seconds is not None for t in trials)
    assert trials[0].origin == "informed"
    assert trials[0].plan["loss_weights"] == {"y0": 1.0, "y1": 1.0, "y2": 1.0}
    # The second worker waited for the equal-weights trial, as one process does: trial 1 is
    # the inverse-loss trial, w_i ∝ 1/L_i from trial 0's stop losses (every w_i·L_i alike).
    equal, inverse = trials[:2]
    assert [equal.origin, inverse.origin] == ["informed", "informed"]
    products = [inverse.plan["loss_weights"][h] * equal.stop[h]["loss"] for h in equal.stop]
    assert max(products) == pytest.approx(min(products), rel=1e-6)


@pytest.mark.parametrize("tuner", ["bayesian", "hyperband"])
def test_bayesian_and_hyperband_searches_run_on_workers(write_study, tmp_path, tuner) -> None:
    # (TPE: test_two_local_workers_run_every_trial_exactly_once.) Bayesian: the chief's
    # Gaussian process picks the trials after the first three (its workers import no
    # scikit-learn). Hyperband: workers wait while the oracle has no trial to give between
    # rounds (it answers IDLE).
    # One worker is enough for Bayesian; Hyperband's IDLE answers need a second one waiting.
    study = load_study(write_study({"search": {"tuner": tuner, "max_trials": 5}}))
    workers = 2 if tuner == "hyperband" else 1
    result = run_study(study, tmp_path / "run", distributed=DistributedOptions(workers=workers))
    assert [t.status for t in result.trials] == ["COMPLETED"] * len(result.trials)
    assert len(result.trials) == len({t.trial_id for t in result.trials}) >= 4
    trials = read_trials(tmp_path / "run")
    assert sorted(trials["trial_id"]) == sorted(t.trial_id for t in result.trials)
    if tuner == "hyperband":  # a round of 1-epoch trials, then longer ones
        epochs = [t.epochs for t in result.trials]
        assert min(epochs) == 1 < max(epochs), epochs


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def running_trial(folder: Path, worker: str) -> bool:
    info = read_heartbeat(folder, worker)
    return bool(info and info.get("trial") is not None)


def test_a_killed_worker_ends_the_search_with_an_error_and_a_rerun_resumes(
    write_study, tmp_path
) -> None:
    path = write_study(SLOW)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "mtltune", "search", str(path), "--out", str(out)]
    chief = subprocess.Popen(
        [*command, "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_for(lambda: running_trial(out, "tuner1"), 120, "worker tuner1 to run a trial")
        victim = read_heartbeat(out, "tuner1")["pid"]
        other = read_heartbeat(out, "tuner0")["pid"]
        os.kill(victim, signal.SIGKILL)
        output, _ = chief.communicate(timeout=60)  # not forever, as Keras Tuner's chief would
    finally:
        if chief.poll() is None:
            chief.kill()
            chief.wait()
    assert chief.returncode == 1, output
    flat = " ".join(output.split())
    assert f"worker tuner1 (pid {victim}) died with exit code -9 (killed by SIGKILL)" in flat
    assert "while running trial" in flat and "tuner1.log" in flat and "resume" in flat
    assert "Traceback" not in output
    wait_for(lambda: not pid_alive(other), 15, "the other worker to be stopped")
    assert not (out / "mtltune.lock").exists()

    # The rerun's chief in this process (TensorFlow already imported); its worker starts anew
    # (one is enough: how many a rerun has is its own choice).
    again = CliRunner().invoke(app, ["search", str(path), "--out", str(out), "--workers", "1"])
    assert again.exit_code == 0, again.output
    assert "resuming search" in again.output
    trials = read_trials(out)
    assert sorted(trials["trial_id"]) == ["0", "1", "2"]
    assert (trials["status"] == "COMPLETED").all()

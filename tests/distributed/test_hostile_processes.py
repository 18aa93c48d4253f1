"""Hostile round two (issue 29): workers run no code of the user's folders, SIGTERM stops like
Ctrl-C, local workers are capped, and targets near float32's range train.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import PACED, TINY, deep_update, write_interruptible_study
from typer.testing import CliRunner

from mtltune.cli import app

runner = CliRunner()
#: The console script: unlike ``python -m``, it puts no working directory on sys.path.
MTLTUNE = str(Path(sys.executable).with_name("mtltune"))

SHADOW = """from pathlib import Path
Path(__file__).with_name("IMPORTED").write_text("the user's pandas.py ran")
raise ImportError("shadowing pandas.py imported")
"""


def _wait_for(path: Path, text: str, process: subprocess.Popen[str], seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not (path.exists() and text in path.read_text(errors="replace")):
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, f"{text!r} never appeared in {path}"
        time.sleep(0.2)


def test_workers_import_no_module_of_the_working_directory_and_sigterm_stops_like_ctrl_c(
    write_study, tmp_path
) -> None:
    # A pandas.py in the working directory and beside the study: a worker started with
    # `python -m` would import it. SIGTERM (a scheduler's stop) then stops the chief and its
    # worker as Ctrl-C does: exit 130, a message, the lock released.
    study = write_interruptible_study(write_study)
    (study.parent / "pandas.py").write_text(SHADOW)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "pandas.py").write_text(SHADOW)
    out = tmp_path / "run"
    chief = subprocess.Popen(
        [MTLTUNE, "search", str(study), "--out", str(out), "--workers", "1"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **PACED},
    )
    try:
        _wait_for(out / "workers" / "tuner0.log", "started", chief)
        chief.send_signal(signal.SIGTERM)
        output, _ = chief.communicate(timeout=180)
    finally:
        if chief.poll() is None:
            chief.kill()
            chief.wait()
    assert chief.returncode == 130, output
    assert "interrupted" in output and "run the same command to resume" in output
    assert not (out / "mtltune.lock").exists()
    assert not (cwd / "IMPORTED").exists() and not (study.parent / "IMPORTED").exists()
    log = (out / "workers" / "tuner0.log").read_text()
    assert "shadowing" not in log
    assert "interrupted" in log  # the worker got SIGTERM from its chief and stopped like Ctrl-C


def test_more_local_workers_than_cores_are_refused_before_anything_starts(
    write_study, tmp_path
) -> None:
    result = runner.invoke(
        app, ["search", str(write_study()), "--out", str(tmp_path / "run"), "--workers", "1000"]
    )
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "--workers" in text and "1000 local workers" in text
    assert "mtltune worker RUN_DIR --chief HOST:PORT" in text and "--bind 0.0.0.0" in text
    assert not (tmp_path / "run").exists()


def _study_with_target(tmp_path: Path, head: dict, factor: float) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    table = pd.DataFrame({"x": x, "y": (x + rng.normal(0, 0.1, 200) + 3) * factor})
    table.to_csv(tmp_path / "big.csv", index=False)
    study = deep_update(
        TINY,
        {
            "data": {"source": "big.csv", "inputs": ["x"]},
            "heads": {"y": {"target": "y", **head}},
            "search": {"max_trials": 1},
            "report": {"replicates": 0},
        },
    )
    study["data"].pop("params")
    study["heads"] = {"y": {"target": "y", **head}}
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def test_validate_refuses_an_unscaled_target_whose_squared_loss_overflows(tmp_path) -> None:
    path = _study_with_target(tmp_path, {"scale": "none", "loss": "mse"}, 5e26)
    before = hashlib.sha256((tmp_path / "big.csv").read_bytes()).hexdigest()
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "heads.y.target (column 'y')" in text and "overflows float32" in text
    assert "scale: standard" in text
    assert hashlib.sha256((tmp_path / "big.csv").read_bytes()).hexdigest() == before


def test_a_target_near_float32s_range_trains_and_reports_finite_losses(tmp_path) -> None:
    # Scaled for training; the loss in target units (x σ², about 1e52) is computed in float64.
    path = _study_with_target(tmp_path, {}, 5e26)
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 0
    result = runner.invoke(app, ["search", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    trials = pd.read_csv(tmp_path / "run" / "trials.csv")
    assert (trials["status"] == "COMPLETED").all(), trials["message"].tolist()
    loss = trials["stop_loss_y"].iloc[0]
    assert np.isfinite(loss) and loss > 1e40


def test_sigterm_before_a_commands_own_handling_exits_130_with_a_message(
    monkeypatch, capsys
) -> None:
    cli = importlib.import_module("mtltune.cli.app")  # the module (mtltune.cli.app is typer's)

    def command() -> None:  # a command still importing TensorFlow when SIGTERM comes
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
        raise AssertionError("SIGTERM did not interrupt the command")

    monkeypatch.setattr(cli, "app", command)
    with pytest.raises(SystemExit) as stopped:
        cli.main()
    assert stopped.value.code == 130
    assert "interrupted" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is removed again

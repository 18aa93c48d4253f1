"""What a user sees in the terminal: no TensorFlow C++ lines unless --verbose, short lines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from mtltune.cli import app
from mtltune.terminal import is_tensorflow_noise

NOISE = ("E0000", "I0000", "W0000", "cuInit", "oneDNN", "absl::InitializeLog", "retracing")


def search(study: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """``mtltune search`` as a user runs it: a fresh process, TensorFlow's log level unset."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "MTLTUNE_VERBOSE")
    }
    command = [sys.executable, "-m", "mtltune", "search", str(study), "--out", str(out), *extra]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def test_search_output_is_clean(write_study, tmp_path) -> None:
    # --verbose brings TensorFlow's lines back: the interrupted search of
    # tests/cli/test_cli.py::test_ctrl_c_keeps_finished_trials_and_the_next_run_resumes.
    study = write_study({"search": {"max_trials": 2}})
    quiet = search(study, tmp_path / "quiet")
    assert quiet.returncode == 0, quiet.stderr
    lines = (quiet.stdout + quiet.stderr).splitlines()
    assert [line for line in lines if any(word in line for word in NOISE)] == []
    verdict = [i for i, line in enumerate(lines) if line.startswith("verdict: ")]
    assert len(verdict) == 1, lines
    # The verdict comes first in the result, wrapped within 80 columns.
    assert all(len(line) <= 80 for line in lines[verdict[0] : verdict[0] + 3])
    assert "equal weights" in " ".join(lines[verdict[0] : verdict[0] + 3])


def test_tensorflow_noise_is_recognised_and_everything_else_kept() -> None:
    noise = [
        b"E0000 00:00:1796188726.392592   10604 cuda_platform.cc:52] failed call to cuInit: x",
        b"I0000 00:00:1796188721.021783   10604 cudart_stub.cc:31] Could not find cuda drivers",
        b"E0000 00:00:1796188726.392592   10604 meta_optimizer.cc:967] NodeDef mentions attribute",
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    ]
    kept = [
        b"F0000 00:00:1796188726.392592   10604 x.cc:1] Check failed: a fatal error",
        b"Traceback (most recent call last):",
        b"error: study.yaml: heads.y0.kind: expected one of ...",
        b"WARNING:tensorflow:something a user should see",
    ]
    assert [is_tensorflow_noise(line) for line in noise] == [True] * len(noise)
    assert [is_tensorflow_noise(line) for line in kept] == [False] * len(kept)


FILTERED = r"""
import os, sys
from mtltune.terminal import quiet_tensorflow
quiet_tensorflow(verbose=False)
os.write(2, b"I0000 00:00:1796188721.021475   10604 port.cc:153] oneDNN custom operations\n")
print("kept", file=sys.stderr)
os.write(2, b"E0000 00:00:1796188726.392592   10604 cuda_platform.cc:52] failed call to cuInit\n")
os.write(2, b"last, without a newline")
"""


def test_the_filter_works_on_file_descriptor_2_and_drains_at_exit() -> None:
    env = {k: v for k, v in os.environ.items() if k != "MTLTUNE_VERBOSE"}
    run = [sys.executable, "-c", FILTERED]
    quiet = subprocess.run(run, capture_output=True, text=True, env=env, timeout=60)
    assert quiet.stderr == "kept\nlast, without a newline"
    loud = subprocess.run(
        run, capture_output=True, text=True, env={**env, "MTLTUNE_VERBOSE": "1"}, timeout=60
    )
    assert "cuInit" in loud.stderr and "oneDNN" in loud.stderr


def test_validate_counts_in_the_singular(write_study) -> None:
    result = CliRunner().invoke(app, ["validate", str(write_study())])
    assert result.exit_code == 0, result.output
    assert "3 heads, 1 input feature;" in result.output


def test_help_shows_readable_metavars() -> None:
    result = CliRunner().invoke(app, ["search", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "KEY=VALUE" in result.output and "list[str]" not in result.output
    flags = [line for line in result.output.splitlines() if "--overwrite" in line]
    assert flags and "<bool>" not in flags[0]

"""Shared fixtures: a tiny study (a few hundred rows, a few epochs) and a tiny dataset."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# One TensorFlow thread per process (and per child process, which inherits these): the suite
# runs a test process per core, and the tiny models gain nothing from more threads while the
# two processes' thread pools would contend for the cores. (mtltune's workers set their own.)
for _threads in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

TINY: dict[str, Any] = {
    "name": "tiny",
    "seed": 3,
    "data": {"source": "builtin:hetero_sine", "params": {"n": 300, "tasks": 3}},
    "split": {"train": 0.5, "stop": 0.25, "test": 0.25, "shuffle": True},
    "heads": {
        "y0": {"clean_target": "y"},
        "y1": {"clean_target": "y"},
        "y2": {"clean_target": "y"},
    },
    "model": {"units": [16, 16]},
    "training": {"max_epochs": 3, "batch_size": 32, "patience": 2},
    # Confirmation runs (on by default) are off here; tests/tuning/test_confirm.py turns them on.
    "search": {"tuner": "random", "max_trials": 3, "confirm": {"top": 0}},
}


def deep_update(base: dict[str, Any], updates: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_update(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture
def tiny_raw() -> dict[str, Any]:
    return copy.deepcopy(TINY)


@pytest.fixture
def write_study(tmp_path: Path):
    """Write a study YAML (TINY updated by the given mapping) and return its path."""

    def write(updates: dict[str, Any] | None = None, name: str = "study.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(deep_update(TINY, updates or {}), sort_keys=False))
        return path

    return write


@pytest.fixture
def tiny_study(write_study):
    from mtltune import load_study

    return load_study(write_study())


@pytest.fixture
def tiny_dataset(tiny_study):
    from mtltune import prepare_dataset

    return prepare_dataset(tiny_study)


INTERRUPTIBLE = {
    "search": {"max_trials": 3, "strategies": ["weighted"]},
    "training": {"max_epochs": 30, "patience": 30},
    "heads": {"y0": {"loss": "paced_losses:paced_mse"}},
}
"""A study whose trials last at least 30 epochs x 5 batches x 10 ms = 1.5 s whatever the machine,
in the processes that :func:`start_search_until_a_trial_finishes` starts.

Trials of tiny models take a fraction of a second once TensorFlow's caches are warm, so a test
that interrupts "the next trial" would race with it; head ``y0``'s loss pauses on every batch
in a process whose environment holds :data:`PACED` (the same study resumed in the test's own
process runs at full speed). Write it with :func:`write_interruptible_study`, which puts the
loss module beside the study.
"""

#: The environment in which the paced loss pauses (10 ms per batch).
PACED = {"PACED_LOSS_SECONDS": "0.01"}

PACED_LOSSES = '''"""An MSE that pauses PACED_LOSS_SECONDS per call: trials of a minimum length."""
import os
import time

import tensorflow as tf

PAUSE = float(os.environ.get("PACED_LOSS_SECONDS", "0"))


def _pause(loss):
    if PAUSE:
        time.sleep(PAUSE)
    return loss


def paced_mse(y_true, y_pred):
    loss = tf.reduce_mean(tf.square(y_true - y_pred), axis=-1)
    paused = tf.numpy_function(_pause, [loss], loss.dtype, stateful=True)
    with tf.control_dependencies([paused]):
        return tf.identity(loss)
'''


def write_interruptible_study(write_study, updates: dict[str, Any] | None = None) -> Path:
    """Write :data:`INTERRUPTIBLE` (with ``updates``) and its loss module into the test's
    folder; return the study."""
    path = write_study(deep_update(INTERRUPTIBLE, updates or {}))
    (path.parent / "paced_losses.py").write_text(PACED_LOSSES)
    return path


def start_search_until_a_trial_finishes(
    path: Path, out: Path, *extra: str, env: dict[str, str] | None = None
):
    """Run ``mtltune search`` in a child process; return it once a trial is in trials.csv.

    ``extra`` arguments follow the command's; ``env`` is the child's environment (default:
    this process's), with :data:`PACED` added.
    """
    import subprocess
    import sys
    import time

    import pandas as pd

    process = subprocess.Popen(
        [sys.executable, "-m", "mtltune", "search", str(path), "--out", str(out), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**(os.environ if env is None else env), **PACED},
    )
    csv = out / "trials.csv"
    deadline = time.monotonic() + 240
    try:
        while not (csv.exists() and (pd.read_csv(csv)["status"] == "COMPLETED").any()):
            assert process.poll() is None, "the search ended before it could be interrupted"
            assert time.monotonic() < deadline, "no trial finished in time"
            time.sleep(0.2)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """A finished tiny search with two replicates and its report (shared, read-only)."""
    from mtltune import Study, run_study, write_report

    raw = deep_update(TINY, {"report": {"replicates": 2}, "search": {"max_trials": 3}})
    study = Study.from_dict(raw)
    run_dir = tmp_path_factory.mktemp("tiny_run") / "run"
    result = run_study(study, run_dir)
    write_report(result, run_dir)
    return result, run_dir


# ---------------------------------------------------------------------------------------------
# Scheduling over pytest-xdist's workers (``--dist loadgroup``, pyproject.toml's addopts).


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build) -> Path:
    """A folder ``build(folder)`` fills once per pytest session, whichever worker asks first.

    For a run the tests only copy: the workers share it (the session's temporary folder, under
    a file lock), so its tests need no common worker and spread over both. Without xdist it is
    built in this process's temporary folder.
    """
    import fcntl
    import shutil

    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    root = tmp_path_factory.getbasetemp().parent  # this session's, shared by its workers
    folder = root / f"built-once-{name}"
    with (root / f"built-once-{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not (folder / ".built").exists():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            (folder / ".built").touch()
    return folder


#: Fixtures that train a run once and are then only read (or copied) by their tests. Every test
#: that reads one is sent to the same worker, so the run is trained once per session, not once
#: per worker. (A run whose tests take long is better :func:`built_once`: its tests spread.)
SHARED_RUNS = ("tiny_run", "trained", "shop_run", "two_trials", "users_search", "plain_search")

#: Test files by the seconds their tests take, longest first (``pytest --durations=0``, summed
#: per file; each listed file takes over 2 % of the suite); the others run after these, in
#: collection order.
#: Starting the long tests first keeps both workers busy to the end: a long test left for last
#: would run while the other worker idles.
LONGEST_FIRST = (
    "test_postsearch.py",
    "test_chief.py",
    "test_search.py",
    "test_confirm.py",
    "test_worker.py",
    "test_cli.py",
    "test_oracle.py",
    "test_faults.py",
    "test_terminal.py",
    "test_tuner.py",
    "test_predict.py",
    "test_output_width.py",
    "test_hostile_processes.py",
    "test_race.py",
    "test_replicates.py",
    "test_hypermodel.py",
    "test_hostile_runfolder.py",
    "test_training.py",
    "test_oracle_workers.py",
    "test_report.py",
    "test_oracle_contract.py",
    "test_loop.py",
    "test_adam.py",
    "test_study.py",
    "test_launch.py",
)


# tryfirst: pytest-xdist's own hook (a plugin registered after this file, so called before it)
# reads the xdist_group marks; marks added after it are ignored and the group is not kept.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    for item in items:
        shared = [name for name in SHARED_RUNS if name in item.fixturenames]
        if shared:
            item.add_marker(pytest.mark.xdist_group(shared[0]))
    # Whole files move (a stable sort), so module-scoped fixtures are still set up once.
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))

"""Opening a run: lock, folder, local workers started before the chief listens."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from mtltune.distributed.chief import DistributedOptions
from mtltune.distributed.heartbeat import read_heartbeat
from mtltune.errors import SearchError
from mtltune.launch import default_run_folder, open_run
from mtltune.run.lock import read_run_lock
from mtltune.study import load_study


def test_open_run_holds_and_prepares_the_folder(write_study, tmp_path) -> None:
    study = load_study(write_study())
    assert default_run_folder(study).as_posix() == "runs/tiny"
    out = tmp_path / "run"
    with open_run(study, out) as run:
        assert run.study is study and run.folder.path == out and not run.resumed
        assert run.distributed is None and run.local_workers == []
        assert json.loads((out / "study.json").read_text())["study"]["name"] == "tiny"
        assert read_run_lock(out)["role"] == "search"
        with pytest.raises(SearchError, match="is in use by"), open_run(study, out):
            pass
    assert read_run_lock(out) is None
    with open_run(study, out) as again:
        assert again.resumed
    other = load_study(write_study({"seed": 11}, "other.yaml"))
    with pytest.raises(SearchError, match="different study"), open_run(other, out):
        pass


def test_opening_a_run_imports_no_tensorflow() -> None:
    code = "import sys, mtltune.launch; assert 'tensorflow' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


def test_local_workers_start_before_the_chief_listens_and_stop_with_the_run(
    write_study, tmp_path
) -> None:
    study = load_study(write_study())
    out = tmp_path / "run"
    with open_run(study, out, distributed=DistributedOptions(workers=1)) as run:
        assert read_run_lock(out)["role"] == "chief"
        (worker,) = run.local_workers
        assert worker.tuner_id == "tuner0" and worker.log == out / "workers" / "tuner0.log"
        deadline = time.monotonic() + 60
        while read_heartbeat(out, "tuner0") is None:  # claimed before importing TensorFlow
            assert worker.process.poll() is None, worker.log.read_text()
            assert time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.1)
        assert worker.process.poll() is None, "the worker stopped while its run was open"
    assert worker.process.poll() is not None, "the worker outlived its run"
    assert read_run_lock(out) is None

"""Opening a run: the run folder's lock, the folder itself, a distributed search's local workers.

Nothing here imports TensorFlow. ``mtltune search --workers N`` therefore opens its run, which
starts the local workers, before it imports TensorFlow itself: the workers' start-up (mostly
their own TensorFlow import) overlaps the chief's, and they read the chief's address from the
run folder's lock once it listens (``mtltune.distributed.worker.chief_address``).
``run_study`` opens the run itself when it is not given one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mtltune.distributed.chief import DistributedOptions
from mtltune.distributed.monitor import (
    LocalWorker,
    check_local_workers,
    start_local_workers,
    stop_local_workers,
)
from mtltune.run.fingerprint import study_fingerprint
from mtltune.run.folder import RunFolder, check_out_path, prepare_run_folder
from mtltune.run.lock import RunLock, acquire_run_lock, read_run_lock
from mtltune.run.stop import StopToken
from mtltune.study import Study


@dataclass(frozen=True)
class OpenRun:
    """A run folder this process holds, prepared for a study's search.

    Attributes:
        study: The study searched there.
        folder: The run folder.
        lock: Its lock, held until the run is closed.
        resumed: Whether the folder holds an earlier search of the study, which resumes.
        distributed: How the trials run (``None``: in this process).
        local_workers: The local worker processes started for ``distributed``.
        stop: The run's stop token: a request stops its trials and race at the next batch or
            run (``mtltune.run.stop``).
    """

    study: Study
    folder: RunFolder
    lock: RunLock
    resumed: bool
    distributed: DistributedOptions | None
    local_workers: list[LocalWorker]
    stop: StopToken = field(default_factory=StopToken)


def default_run_folder(study: Study) -> Path:
    """Where a study's search runs when no folder is given: ``runs/<study name>``."""
    return Path("runs") / study.name


@contextlib.contextmanager
def open_run(
    study: Study,
    out: str | Path | None = None,
    *,
    overwrite: bool = False,
    distributed: DistributedOptions | None = None,
    stop: StopToken | None = None,
) -> Iterator[OpenRun]:
    """Lock, create, clear or check the run folder, and start the local workers.

    Args:
        study: The validated study.
        out: Run folder (default ``runs/<study name>``).
        overwrite: Replace an earlier run of another study instead of refusing it.
        distributed: Run the trials in Keras Tuner's distributed mode; its local workers are
            started here, and wait for the chief's address in the lock.
        stop: The run's stop token (default: a new one); a signal handler requests it.

    Yields:
        The open run, for ``mtltune.search.run_study(study, run=...)``. The local workers
        wait for the chief's address as long as this process holds the folder (loading a
        large data set first is fine). On leaving, workers still running are stopped and the
        lock is released.

    Raises:
        RunFolderError: (an ``InputError``) If ``out`` is a file, lies under a file, cannot be
            written, or holds a user's files but no mtltune run.
        SearchError: If the folder is in use by another search, or holds a run of a different
            study and ``overwrite`` is off.
    """
    folder = RunFolder(Path(out) if out is not None else default_run_folder(study))
    if distributed is not None:
        check_local_workers(distributed.workers)
    role = "search" if distributed is None else "chief"
    check_out_path(folder.path)
    if read_run_lock(folder.path) is None:  # a live holder is named by acquire_run_lock
        folder.check_is_run_or_new()  # before the lock touches anything in it
    with acquire_run_lock(folder.path, role) as lock:
        resumed = prepare_run_folder(study, folder, overwrite=overwrite)
        local: list[LocalWorker] = []
        try:
            if distributed is not None and distributed.workers:
                local = start_local_workers(
                    folder.path,
                    distributed.workers,
                    distributed.worker_threads(),
                    trusted=(study_fingerprint(study), study.base_dir),
                )
            token = stop if stop is not None else StopToken()
            yield OpenRun(study, folder, lock, resumed, distributed, local, token)
        finally:
            stop_local_workers(local)

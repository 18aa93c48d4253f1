"""One worker of a distributed search (``mtltune worker RUN_DIR``).

A worker is a Keras Tuner in Keras Tuner's distributed mode: its oracle is an
``OracleClient`` of the chief (``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP``,
``KERASTUNER_ORACLE_PORT``). It reads the study from the run folder's ``study.json`` (so it runs
exactly the chief's study), prepares the data itself, asks the chief for trials until it has
none left, and writes checkpoints and per-trial histories into the shared run folder. It never
prepares, clears or overwrites the run folder, and never takes its lock.

While it runs it beats a heartbeat file (``mtltune.distributed.heartbeat``) and watches the
chief: if the process that started it is gone, or the chief does not answer for
``chief_timeout`` seconds, it stops (Keras Tuner's client would wait an hour per call).
"""

from __future__ import annotations

import os
import re
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mtltune.compat.tuner_private import pace_idle_answers, silence_keras_tuner_print
from mtltune.distributed.chief import CHIEF_ID, split_address
from mtltune.distributed.heartbeat import Heartbeat
from mtltune.distributed.trust import (
    TRUSTED_BASE_DIR,
    TRUSTED_FINGERPRINT,
    refuse_code_from_folder,
)
from mtltune.errors import InputError, Problem, SearchError, error_text
from mtltune.report.records import TrialRecord
from mtltune.run.files import LOCK_FILE, STUDY_FILE
from mtltune.run.fingerprint import saved_fingerprint, study_fingerprint
from mtltune.run.folder import RunFolder
from mtltune.run.imports import lean_imports, unused_packages
from mtltune.run.lock import describe_holder, read_run_lock
from mtltune.run.stop import StopToken
from mtltune.study import Study, load_study
from mtltune.terminal import stop_filter

ADDRESS_WAIT_SECONDS = 60.0
IDLE_SECONDS = 0.5
WATCH_SECONDS = 2.0

#: Packages that Keras and Keras Tuner import at their own import when installed, for what a
#: worker never uses (``mtltune.run.imports``): scikit-learn whatever the oracle, since a
#: worker's trials come from the chief's oracle. A worker imports Keras without them and with
#: the collector paused (``lean_imports``): 0.81× the CPU of the plain import, 4.9 s against
#: 6.1 s (``python benchmarks/heap_bench.py --parts imports``, benchmarks/RESULTS.md).
NOT_FOR_WORKERS = unused_packages()


def thread_settings(threads: int) -> tuple[int, int]:
    """``(intra_op, inter_op)`` TensorFlow threads for a worker given ``threads`` CPU threads."""
    return threads, min(2, threads)


def configure_threads(threads: int | None) -> None:
    """Limit TensorFlow's CPU threads; call before TensorFlow is imported (or does any work)."""
    if threads is None:
        return
    intra, inter = thread_settings(threads)
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(intra)
    os.environ["TF_NUM_INTEROP_THREADS"] = str(inter)
    os.environ["OMP_NUM_THREADS"] = str(intra)
    if "tensorflow" in sys.modules:
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(intra)
            tf.config.threading.set_inter_op_parallelism_threads(inter)
        except RuntimeError:  # TensorFlow already ran: the environment may still apply
            pass


def default_tuner_id() -> str:
    """A worker id unique across hosts: ``tuner-<host>-<pid>``."""
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname()).replace(CHIEF_ID, "chf")
    return f"tuner-{host}-{os.getpid()}"


def check_tuner_id(tuner_id: str) -> str:
    """Return a valid worker id or raise ``InputError`` (exit code 2) saying why not."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", tuner_id):
        raise InputError([Problem("--id", f"use letters, digits, '_', '.', '-'; got {tuner_id!r}")])
    if CHIEF_ID in tuner_id:
        raise InputError(
            [
                Problem(
                    "--id",
                    f"must not contain {CHIEF_ID!r} (Keras Tuner would take the worker "
                    f"for the chief); got {tuner_id!r}",
                )
            ]
        )
    return tuner_id


_CHANGED = (
    "the study in {marker} is not the one the chief that started this worker searches: the run "
    "folder was changed; restart the search"
)


def load_run_study(folder: Path, study_file: Path | None = None) -> Study:
    """The study of a run folder, from its ``study.json`` or from the same study's file.

    Args:
        folder: The run folder.
        study_file: The study YAML, when its data path differs on this host; it must be the
            run's study (same fingerprint, ``search.max_trials`` aside).

    Raises:
        SearchError: If the folder has no study or ``study_file`` is another study.
    """
    marker = folder / STUDY_FILE
    if not marker.is_file():
        raise SearchError(
            f"{marker} does not exist: {folder} is not the run folder of a started search. "
            f"Start the chief first (mtltune search STUDY --workers 0 --out {folder}) and pass "
            "the same folder, as this host sees it"
        )
    saved = RunFolder(folder).read_study_record()  # damaged: DamagedRunError naming it
    trusted = os.environ.get(TRUSTED_FINGERPRINT)
    if study_file is not None:
        study = load_study(study_file)
    else:
        refuse_code_from_folder(saved, marker, trusted is not None)
        if trusted is not None and saved_fingerprint(saved) != trusted:
            raise SearchError(_CHANGED.format(marker=marker))
        base = Path(os.environ.get(TRUSTED_BASE_DIR) or saved.get("base_dir") or ".")
        study = Study.from_dict(saved["study"], base_dir=base, source=str(marker))
    if trusted is not None and study_fingerprint(study) != trusted:
        raise SearchError(_CHANGED.format(marker=marker))
    if study_fingerprint(study) != saved.get("fingerprint"):
        where = study_file if study_file is not None else marker
        raise SearchError(
            f"the study in {where} is not the one the chief searches ({marker}); pass the "
            "same study file (only search.max_trials may differ) or leave --study out"
        )
    return study


def _chief_lock(folder: Path) -> dict[str, Any]:
    """What the lock of a folder a chief holds says (raises if no chief can serve a worker)."""
    info = read_run_lock(folder)
    if info is None:
        raise SearchError(
            f"no search is running on {folder} (no live lock {folder / LOCK_FILE}); start "
            f"the chief with `mtltune search STUDY --workers 0 --out {folder}`, or pass "
            "--chief HOST:PORT"
        )
    if info.get("serving") is False:
        raise SearchError(
            f"the search on {folder} has run all its trials (its chief, "
            f"{describe_holder(info)}, is evaluating them): there is nothing left to join"
        )
    if info.get("role") not in (None, "chief"):
        raise _serves_no_workers(folder, info)
    return info


def _serves_no_workers(folder: Path, info: dict[str, Any]) -> SearchError:
    return SearchError(
        f"{folder} is held by {describe_holder(info)}, which serves no workers; run "
        "the search with --workers, or pass --chief HOST:PORT"
    )


def chief_address(folder: Path, wait: float | None = None, *, local: bool = False) -> str:
    """The address a running chief wrote into the run folder's lock (waits while it starts).

    Args:
        folder: The run folder.
        wait: Seconds to wait for a starting chief to listen. Default: ``local`` workers wait
            as long as their chief holds the folder (it may still be loading a large data
            set; if it exits, its lock goes with it), others ``ADDRESS_WAIT_SECONDS``.
        local: For the workers a chief started itself (on its own host): its local address,
            if it wrote one.

    Raises:
        SearchError: If no chief holds the folder, or none listens in time.
    """
    if wait is None and not local:
        wait = ADDRESS_WAIT_SECONDS
    deadline = None if wait is None else time.monotonic() + wait
    while True:
        info = _chief_lock(folder)
        address = (info.get("local_address") if local else None) or info.get("address")
        if address:
            return str(address)
        if deadline is not None and time.monotonic() > deadline:
            raise _serves_no_workers(folder, info)
        time.sleep(0.25)


class Watchdog(threading.Thread):
    """Stops the worker process when its chief is gone.

    Args:
        address: The chief's ``HOST:PORT``.
        parent_pid: The chief's pid when the chief started this worker (checked every beat).
        timeout: Seconds the chief may be unreachable.
        on_death: Called with the reason before the process exits (exit code 1).
    """

    def __init__(
        self,
        address: str,
        parent_pid: int | None,
        timeout: float,
        on_death: Callable[[str], None],
    ) -> None:
        super().__init__(name="mtltune-watchdog", daemon=True)
        self.address = address
        self.parent_pid = parent_pid
        self.timeout = timeout
        self.on_death = on_death

    def run(self) -> None:
        """Check the chief every ``WATCH_SECONDS``."""
        import grpc

        channel = grpc.insecure_channel(self.address)
        unreachable_since: float | None = None
        while True:
            time.sleep(WATCH_SECONDS)
            if self.parent_pid is not None and os.getppid() != self.parent_pid:
                self._die(f"the chief (pid {self.parent_pid}) that started this worker is gone")
            try:
                grpc.channel_ready_future(channel).result(timeout=WATCH_SECONDS)
                unreachable_since = None
            except grpc.FutureTimeoutError:
                now = time.monotonic()
                unreachable_since = unreachable_since or now
                if now - unreachable_since > self.timeout:
                    self._die(
                        f"the chief at {self.address} has not answered for {self.timeout:g} s"
                    )

    def _die(self, reason: str) -> None:
        self.on_death(reason)
        print(f"mtltune worker: {reason}; stopping", file=sys.stderr, flush=True)
        stop_filter()  # os._exit does not wait for the stderr filter's thread
        os._exit(1)


def run_worker(
    folder: Path,
    chief: str | None = None,
    *,
    tuner_id: str | None = None,
    threads: int | None = None,
    parent_pid: int | None = None,
    study_file: Path | None = None,
    chief_timeout: float = 120.0,
    echo: Callable[[str], None] = print,
    stop: StopToken | None = None,
) -> int:
    """Run trials for the chief of ``folder`` until it has none left.

    Args:
        folder: The run folder shared with the chief.
        chief: The chief's ``HOST:PORT`` (default: read from the run folder's lock).
        tuner_id: This worker's Keras Tuner id (default ``tuner-<host>-<pid>``).
        threads: CPU threads for TensorFlow (default: TensorFlow's choice, all cores).
        parent_pid: The chief's pid, when the chief started this worker.
        study_file: The study YAML, if its data path differs on this host.
        chief_timeout: Seconds the chief may be unreachable before the worker stops.
        echo: Receives a line per trial.
        stop: The worker's stop token (its signal handler requests it; default: a new one).

    Returns:
        How many trials this worker ran.

    Raises:
        SearchError: If the folder, the study or the chief is not usable.
        InputError: If the study's data are invalid here, or the id is.
    """
    tuner_id = check_tuner_id(tuner_id) if tuner_id is not None else default_tuner_id()
    study = load_run_study(folder, study_file)
    if chief is None:
        _chief_lock(folder)  # fail now, not after importing TensorFlow, if no chief is there
    else:
        split_address(chief)
    heartbeat = Heartbeat(folder, tuner_id)
    heartbeat.claim(stale_after=chief_timeout)
    configure_threads(threads)  # before TensorFlow is imported
    heartbeat.start()
    try:
        import_keras()  # a chief that is starting too may start listening meanwhile
        address = chief or chief_address(folder, local=parent_pid is not None)
        host, port = split_address(address)
        os.environ.update(
            KERASTUNER_TUNER_ID=tuner_id,
            KERASTUNER_ORACLE_IP=host,
            KERASTUNER_ORACLE_PORT=str(port),
        )
        Watchdog(
            address, parent_pid, chief_timeout, lambda why: heartbeat.stop("failed", error=why)
        ).start()
        count = _search(study, folder, tuner_id, heartbeat, echo, stop or StopToken())
    except BaseException as exc:
        heartbeat.stop("failed", error=f"{type(exc).__name__}: {error_text(exc)}")
        raise
    heartbeat.stop("done")
    return count


def import_keras() -> None:
    """Import TensorFlow, Keras and Keras Tuner (via ``mtltune.tuning.tuner``) as a worker does.

    Without the packages in ``NOT_FOR_WORKERS``; call it before anything else imports Keras.
    """
    with lean_imports(NOT_FOR_WORKERS):
        import tensorflow  # noqa: F401

        from mtltune.tuning import tuner  # noqa: F401


class _WorkerTrials:
    """What a worker prints of its trials, and its heartbeat (the tuner does the rest)."""

    def __init__(self, tuner_id: str, heartbeat: Heartbeat, echo: Callable[[str], None]) -> None:
        self.tuner_id, self.heartbeat, self.echo = tuner_id, heartbeat, echo
        self.done: list[str] = []
        self.started: dict[str, float] = {}

    def trial_started(self, trial_id: str) -> None:
        """Beat with the trial and say it started."""
        self.started[trial_id] = time.perf_counter()
        self.heartbeat.beat(trial=trial_id)
        self.echo(f"{self.tuner_id}: trial {trial_id} started")

    def trial_finished(self, record: TrialRecord, records: Callable[[], list[TrialRecord]]) -> None:
        """Beat without a trial and say how it ended."""
        self.heartbeat.beat(trial=None)
        self.done.append(record.trial_id)
        seconds = time.perf_counter() - self.started.pop(record.trial_id, time.perf_counter())
        outcome = f"objective {record.objective:.5g}" if record.ok else record.message or ""
        self.echo(
            f"{self.tuner_id}: trial {record.trial_id} {record.status} {outcome} ({seconds:.1f} s)"
        )


def _search(
    study: Study,
    folder: Path,
    tuner_id: str,
    heartbeat: Heartbeat,
    echo: Callable[[str], None],
    stop: StopToken,
) -> int:
    import tensorflow as tf

    from mtltune.data import prepare_dataset
    from mtltune.tuning import tuner as core

    tf.config.experimental.enable_op_determinism()
    silence_keras_tuner_print()
    dataset = prepare_dataset(study)
    hypermodel = core.study_hypermodel(study, dataset)
    run = RunFolder(folder)
    trials = _WorkerTrials(tuner_id, heartbeat, echo)
    tuner = core.make_tuner(study, hypermodel, run, trials, stop, tuner_id=tuner_id, worker=True)
    # An oracle that has no trial to give yet (Hyperband between rounds) answers IDLE, and
    # Keras Tuner's worker asks again at once: wait a little instead of spinning.
    pace_idle_answers(tuner.oracle, IDLE_SECONDS)
    args, kwargs = core.search_arguments(study, dataset, run)
    with hypermodel.recycling():
        tuner.search(*args, **kwargs)
    return len(trials.done)

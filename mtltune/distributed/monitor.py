"""The chief's watch over its workers: local worker processes, trial news, dead workers.

Keras Tuner's chief waits forever for the trial of a worker that died. ``Monitor`` polls the
oracle and the workers instead: a local worker process that exits with an error, a worker
whose heartbeat file (``mtltune.distributed.heartbeat``) stays unchanged for ``heartbeat_timeout``
seconds, one that reports its own failure, or an exception inside the oracle, each end the
search with a ``SearchError`` that names the worker, its exit code or silence, the trial it
held and the last lines of its log. No TensorFlow here (Keras Tuner's oracle lock aside).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtltune.compat.tuner_private import ongoing_trials, oracle_locked
from mtltune.distributed.heartbeat import HeartbeatWatch, read_heartbeat
from mtltune.distributed.trust import TRUSTED_BASE_DIR, TRUSTED_FINGERPRINT
from mtltune.errors import InputError, Problem, SearchError
from mtltune.run.files import WORKERS_DIR
from mtltune.run.folder import RunFolder
from mtltune.terminal import quiet_environment

POLL_SECONDS = 0.2
STOP_GRACE_SECONDS = 15.0
TAIL_LINES = 12


def exit_description(code: int) -> str:
    """``exit code 1``, or ``exit code -9 (killed by SIGKILL)``."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"exit code {code} (killed by {name})"
    return f"exit code {code}"


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    """The last lines of a text file, indented, or a note that there is none."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"    (no log at {path})"
    kept = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(f"    | {line}" for line in kept) or "    (the log is empty)"


@dataclass
class LocalWorker:
    """A worker process this chief started.

    Attributes:
        tuner_id: Its Keras Tuner id.
        process: The process.
        log: Its stdout and stderr.
    """

    tuner_id: str
    process: subprocess.Popen[bytes]
    log: Path


def start_local_workers(
    folder: Path, count: int, threads: int, trusted: tuple[str, Path] | None = None
) -> list[LocalWorker]:
    """Start ``count`` ``mtltune worker`` processes for the chief that holds ``folder``.

    Each gets its own session (Ctrl-C reaches the chief only, which stops them), the chief's
    pid (a worker whose chief is gone stops), and a log ``RUN_DIR/workers/tunerK.log``. The
    chief need not listen yet: each worker reads its local address from the run folder's lock
    once it has imported TensorFlow, and waits for it as long as the chief holds the folder.
    ``trusted`` (the study's fingerprint and folder) reaches each worker in its environment,
    not through the run folder: a worker then runs only the chief's study and imports a study's
    own code only from the study's folder (``load_run_study``).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERASTUNER_")}
    quiet_environment(env)
    if trusted is not None:  # the study's fingerprint and folder, from the chief's memory
        env[TRUSTED_FINGERPRINT], env[TRUSTED_BASE_DIR] = trusted[0], str(trusted[1])
    env.setdefault("KERAS_BACKEND", "tensorflow")
    run = RunFolder(folder)
    started = []
    for k in range(count):
        tuner_id = f"tuner{k}"
        log = run.worker_log(tuner_id)
        # -P: neither the working directory nor any folder of the user's is put on sys.path,
        # so a pandas.py there is never imported in place of pandas (PYTHONPATH is honoured,
        # as in the chief).
        command = [
            sys.executable,
            "-P",
            "-m",
            "mtltune",
            "worker",
            str(folder),
            "--id",
            tuner_id,
            "--threads",
            str(threads),
            "--parent-pid",
            str(os.getpid()),
        ]
        with run.open_worker_log(tuner_id) as handle:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        started.append(LocalWorker(tuner_id, process, log))
    return started


def local_worker_limit() -> int:
    """Most local workers a search may start: the cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def check_local_workers(count: int) -> None:
    """Refuse more local workers than cores, before anything starts.

    Raises:
        InputError: Naming the limit and how to run more workers on other hosts.
    """
    limit = local_worker_limit()
    if count > limit:
        raise InputError(
            [
                Problem(
                    "--workers",
                    f"{count} local workers on {limit} cores would each import TensorFlow and "
                    f"compete for the same cores; pass --workers {limit} or fewer. For more, "
                    "start the search with --bind 0.0.0.0 and, on other hosts, "
                    "`mtltune worker RUN_DIR --chief HOST:PORT` (docs/distributed.md)",
                )
            ]
        )


def stop_local_workers(workers: list[LocalWorker], timeout: float = 10.0) -> None:
    """Terminate the workers still running (SIGTERM, then SIGKILL after ``timeout``)."""
    alive = [w for w in workers if w.process.poll() is None]
    for worker in alive:
        worker.process.terminate()
    deadline = time.monotonic() + timeout
    for worker in alive:
        try:
            worker.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()


class Monitor:
    """Watches the oracle and the workers until every trial has ended.

    Args:
        oracle: The chief's oracle.
        folder: The run folder.
        heartbeat_timeout: Seconds of heartbeat silence after which a worker this chief did
            not start is presumed dead.
        local: The workers this chief started.
        servicer: The gRPC servicer (its ``failure`` and ``stop_triggered``).
        on_trial: Called with ``("begin" | "end", trial)``.
        clock: Seconds, monotonic (for tests).
    """

    def __init__(
        self,
        oracle: Any,
        folder: Path,
        heartbeat_timeout: float,
        local: list[LocalWorker],
        servicer: Any,
        on_trial: Callable[[str, Any], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.oracle = oracle
        self.folder = folder
        self.heartbeat_timeout = heartbeat_timeout
        self.local = {w.tuner_id: w for w in local}
        self.servicer = servicer
        self.on_trial = on_trial
        self.clock = clock
        self.watch = HeartbeatWatch(folder, clock)
        self.begun: set[str] = set()
        self.ended: set[str] = set(list(oracle.end_order))  # reported before (a resumed run)
        self.finished_at: float | None = None

    def run(self) -> None:
        """Poll until the search is over."""
        while not self.poll():
            time.sleep(POLL_SECONDS)

    def poll(self) -> bool:
        """One look at the oracle and the workers; ``True`` once the search is over.

        Raises:
            SearchError: If the oracle failed or a worker died.
        """
        if self.servicer.failure is not None:
            raise SearchError(
                f"the oracle failed while serving a worker ({self.servicer.failure}); "
                "finished trials are kept: run the same command again to resume"
            )
        with oracle_locked(self.oracle):  # the gRPC threads change the oracle under this lock
            self._report_trials()
            ongoing = {tid: t.trial_id for tid, t in ongoing_trials(self.oracle).items()}
            connected = set(self.oracle.tuner_ids)
        self._check_local(ongoing)
        self._check_others(connected - set(self.local), ongoing)
        if not (self.servicer.stop_triggered and not ongoing):
            if self.local and not connected and all(_exited(w) for w in self.local.values()):
                raise SearchError(
                    "every local worker exited before the search finished; see their logs in "
                    f"{self.folder / WORKERS_DIR}"
                )
            return False
        # Every trial has ended. Let workers collect their stop, so none is cut off while it
        # writes a trial's history, then end (stop_local_workers terminates stragglers).
        if self.finished_at is None:
            self.finished_at = self.clock()
        waiting = connected or any(not _exited(w) for w in self.local.values())
        return not waiting or self.clock() - self.finished_at > STOP_GRACE_SECONDS

    def _report_trials(self) -> None:
        ended = [t for t in self.oracle.end_order if t not in self.ended]
        if ended:
            # Keras Tuner's oracle saves itself before it forgets the ended trial's worker, and
            # only a single-process tuner saves it again: without this, a resumed run would
            # take the last trial for an interrupted one and run it again.
            self.oracle.save()
        for trial_id in ended:
            trial = self.oracle.trials[trial_id]
            if trial_id not in self.begun:  # began and ended between two polls
                self.on_trial("begin", trial)
            self.begun.discard(trial_id)
            self.ended.add(trial_id)
            self.on_trial("end", trial)
        for trial in ongoing_trials(self.oracle).values():
            if trial.trial_id not in self.begun and trial.trial_id not in self.ended:
                self.begun.add(trial.trial_id)
                self.on_trial("begin", trial)

    def _check_local(self, ongoing: dict[str, str]) -> None:
        for worker in self.local.values():
            code = worker.process.poll()
            if code is None or code == 0:
                continue
            raise SearchError(
                f"worker {worker.tuner_id} (pid {worker.process.pid}) died with "
                f"{exit_description(code)}{_holding(ongoing, worker.tuner_id)}. "
                f"Last lines of its log {worker.log}:\n{tail(worker.log)}\n" + _RESUME
            )

    def _check_others(self, tuner_ids: set[str], ongoing: dict[str, str]) -> None:
        """Workers this chief did not start: judged by their heartbeat files."""
        limit = self.heartbeat_timeout
        for tuner_id in sorted(tuner_ids):
            info = read_heartbeat(self.folder, tuner_id) or {}
            if info.get("state") == "failed":
                raise SearchError(
                    f"{self.watch.describe(tuner_id)} failed{_holding(ongoing, tuner_id)}: "
                    f"{info.get('error') or 'no reason given'}. " + _RESUME
                )
            silence = self.watch.silence(tuner_id)
            if silence > limit:
                raise SearchError(
                    f"{self.watch.describe(tuner_id)} sent no heartbeat for {silence:.0f} s "
                    f"(limit {limit:g} s, --heartbeat-timeout){_holding(ongoing, tuner_id)}: it "
                    f"is presumed dead (its heartbeat file: "
                    f"{self.folder / WORKERS_DIR / (tuner_id + '.json')}). " + _RESUME
                )


_RESUME = (
    "Finished trials are kept: run the same command again to resume (interrupted trials run again)."
)


def _holding(ongoing: dict[str, str], tuner_id: str) -> str:
    trial = ongoing.get(tuner_id)
    return f" while running trial {trial}" if trial is not None else ""


def _exited(worker: LocalWorker) -> bool:
    return worker.process.poll() is not None

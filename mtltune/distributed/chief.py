"""Keras Tuner's distributed mode, chief side: the oracle server, local workers, dead workers.

With ``mtltune search STUDY --workers N`` the search process becomes Keras Tuner's *chief*:
its oracle decides every trial and serves them over gRPC through Keras Tuner's own
``OracleServicer``; workers are Keras Tuners whose oracle is Keras Tuner's ``OracleClient``
(environment ``KERASTUNER_TUNER_ID``, ``KERASTUNER_ORACLE_IP``, ``KERASTUNER_ORACLE_PORT``),
started here (``N`` local processes) or on other hosts (``mtltune worker RUN_DIR``), all
sharing the run folder: workers write checkpoints and histories, the chief the oracle's files.

What the chief adds to Keras Tuner's (``keras_tuner/src/distribute/oracle_chief.py``):

- it listens on a free port (or ``port``) and writes its address into the run folder's lock,
  where ``mtltune worker RUN_DIR`` finds it, and so do its local workers, which
  ``mtltune.launch.open_run`` starts before the chief listens (even before it imports
  TensorFlow, in ``mtltune search``);
- it notices dead workers (``mtltune.distributed.monitor``) instead of waiting forever for their
  trials: a local worker that
  exits with an error, or a worker whose heartbeat file (``mtltune.distributed.heartbeat``)
  stays unchanged for ``heartbeat_timeout`` seconds, ends the search with a ``SearchError``
  naming the worker, its exit code and the last lines of its log; finished trials are kept for
  a resume;
- an exception inside the oracle (which Keras Tuner only sends to the worker that asked) ends
  the search with that exception;
- it reports each trial as it starts and ends (progress lines, ``trials.csv``);
- it ends as soon as the last trial has ended (Keras Tuner's chief polls every 20 seconds);
- failure messages of failed trials reach the oracle (Keras Tuner's trial protocol has no
  field for them: workers leave them in the trial's folder).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtltune.aliases import deprecated_names
from mtltune.compat.tuner_private import (
    add_oracle_servicer,
    end_trial_response,
    oracle_servicer_class,
    silence_keras_tuner_print,
)
from mtltune.distributed.monitor import LocalWorker, Monitor, stop_local_workers
from mtltune.errors import SearchError, error_text
from mtltune.run.files import WORKERS_DIR
from mtltune.run.folder import RunFolder
from mtltune.run.lock import RunLock

CHIEF_ID = "chief"
WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")


@dataclass(frozen=True)
class DistributedOptions:
    """How a distributed search runs (a set of options; ``Distributed`` is its old name).

    Attributes:
        workers: Local worker processes to start (0: only workers started elsewhere with
            ``mtltune worker RUN_DIR``).
        bind: Address the chief listens on: ``127.0.0.1`` for this machine only, ``0.0.0.0``
            for workers on other hosts too.
        port: Port to listen on (0: a free one).
        heartbeat_timeout: Seconds of heartbeat silence after which a worker the chief did
            not start is presumed dead.
        threads: CPU threads per local worker (default: cores // workers, at least 1).
    """

    workers: int = 2
    bind: str = "127.0.0.1"
    port: int = 0
    heartbeat_timeout: float = 120.0
    threads: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.workers < 0:
            problems.append(f"workers must be >= 0, got {self.workers}")
        if not 0 <= self.port <= 65535:
            problems.append(f"port must be in 0..65535, got {self.port}")
        if self.heartbeat_timeout <= 0:
            problems.append(f"heartbeat_timeout must be > 0 seconds, got {self.heartbeat_timeout}")
        if self.threads is not None and self.threads < 1:
            problems.append(f"threads must be >= 1, got {self.threads}")
        if problems:
            raise ValueError("; ".join(problems))

    def worker_threads(self, cores: int | None = None) -> int:
        """CPU threads for each local worker."""
        cores = cores or os.cpu_count() or 1
        return self.threads or max(1, cores // max(1, self.workers))


#: ``Distributed``, the old name of ``DistributedOptions``, warns until it goes.
__getattr__ = deprecated_names(__name__, globals(), {"Distributed": "DistributedOptions"})


def split_address(text: str) -> tuple[str, int]:
    """``("host", port)`` from ``HOST:PORT`` (``[::1]:PORT`` for IPv6).

    Raises:
        SearchError: If the text is not ``HOST:PORT``.
    """
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise SearchError(f"a chief address must be HOST:PORT, e.g. 127.0.0.1:8470, got {text!r}")
    return host.strip("[]"), int(port)


def join_address(host: str, port: int) -> str:
    """``HOST:PORT``, with brackets around an IPv6 host."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def run_chief(
    tuner: Any,
    folder: Path,
    options: DistributedOptions,
    on_trial: Callable[[str, Any], None],
    lock: RunLock,
    stage: Callable[[str], None],
    local: list[LocalWorker],
) -> None:
    """Serve the tuner's oracle to workers until every trial has ended.

    Args:
        tuner: The chief's Keras Tuner (its oracle decides the trials).
        folder: The run folder shared with the workers.
        options: Address, heartbeat timeout.
        on_trial: Called with ``("begin" | "end", trial)`` as trials start and end.
        lock: The run folder's lock, held by this process (the address is written there).
        stage: Receives a line about the chief's address and workers.
        local: The local workers, already started (``mtltune.launch.open_run``): they wait
            for the address in the lock. They are stopped when this returns.

    Raises:
        SearchError: If a worker dies, the oracle fails, or the chief cannot listen.
    """
    import grpc

    silence_keras_tuner_print()
    oracle = tuner.oracle
    oracle.verbose = 0  # Keras Tuner's per-trial tables; the caller reports trials itself
    tuner.save()  # workers reload the oracle's search space from the run folder
    servicer = make_servicer(tuner, RunFolder(folder))
    server = grpc.server(_thread_pool())
    add_oracle_servicer(servicer, server)
    port = _listen(server, options)
    server.start()
    wildcard = options.bind in WILDCARD_HOSTS
    address = join_address(socket.gethostname() if wildcard else options.bind, port)
    local_address = join_address("127.0.0.1" if wildcard else options.bind, port)
    lock.update(address=address, local_address=local_address, port=port, serving=True)
    try:
        if local:
            stage(
                f"chief at {address}: {len(local)} local worker(s), "
                f"{options.worker_threads()} CPU thread(s) each; logs in {folder / WORKERS_DIR}"
            )
        else:
            stage(f"chief at {address}: waiting for workers (mtltune worker {folder})")
        Monitor(oracle, folder, options.heartbeat_timeout, local, servicer, on_trial).run()
    finally:
        stop_local_workers(local)
        server.stop(grace=None)
        lock.update(serving=False)  # a worker that comes now is told there is nothing to do


def _thread_pool() -> Any:
    from concurrent import futures

    # One thread, as Keras Tuner's chief: get_space and get_trial are not synchronised.
    return futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="mtltune-oracle")


def _listen(server: Any, options: DistributedOptions) -> int:
    target = join_address(options.bind.strip("[]") or "0.0.0.0", options.port)
    try:
        port = server.add_insecure_port(target)
    except RuntimeError:
        port = 0
    if not port:
        raise SearchError(
            f"the chief cannot listen on {target}: the port is in use or the address is not "
            "this machine's; pass another --port (0 picks a free one) or --bind"
        )
    return int(port)


def make_servicer(tuner: Any, folder: RunFolder) -> Any:
    """Keras Tuner's ``OracleServicer`` for the tuner's oracle, remembering oracle failures.

    ``EndTrial`` also attaches the failure message a worker left in the trial's folder (in the
    run folder ``folder``).
    """
    import keras_tuner as kt

    trial_module = kt.engine.trial

    class Servicer(oracle_servicer_class()):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(tuner.oracle)
            self.failure: str | None = None

        def _guard(self, name: str, call: Callable[[Any, Any], Any], request: Any, ctx: Any) -> Any:
            try:
                return call(request, ctx)
            except Exception as exc:
                if self.failure is None:
                    self.failure = f"{name}: {type(exc).__name__}: {error_text(exc)}"
                raise

        def GetSpace(self, request: Any, ctx: Any) -> Any:  # noqa: N802 - gRPC names
            return self._guard("GetSpace", super().GetSpace, request, ctx)

        def UpdateSpace(self, request: Any, ctx: Any) -> Any:  # noqa: N802
            return self._guard("UpdateSpace", super().UpdateSpace, request, ctx)

        def CreateTrial(self, request: Any, ctx: Any) -> Any:  # noqa: N802
            return self._guard("CreateTrial", super().CreateTrial, request, ctx)

        def UpdateTrial(self, request: Any, ctx: Any) -> Any:  # noqa: N802
            return self._guard("UpdateTrial", super().UpdateTrial, request, ctx)

        def EndTrial(self, request: Any, ctx: Any) -> Any:  # noqa: N802
            return self._guard("EndTrial", self._end_trial, request, ctx)

        def GetTrial(self, request: Any, ctx: Any) -> Any:  # noqa: N802
            return self._guard("GetTrial", super().GetTrial, request, ctx)

        def GetBestTrials(self, request: Any, ctx: Any) -> Any:  # noqa: N802
            return self._guard("GetBestTrials", super().GetBestTrials, request, ctx)

        def _end_trial(self, request: Any, ctx: Any) -> Any:
            trial = trial_module.Trial.from_proto(request.trial)
            if trial.status != trial_module.TrialStatus.COMPLETED:
                message = folder.read_trial_message(tuner.get_trial_dir(trial.trial_id))
                if message is not None:
                    trial.message = message
            self.oracle.end_trial(trial)
            return end_trial_response()

    return Servicer()

"""Private Keras Tuner names a distributed search relies on.

Keras Tuner 1.4's distributed mode has no public API beyond its environment variables; the
chief serves its oracle with the ``OracleServicer`` of ``keras_tuner.src.distribute``. Each
name is checked against keras-tuner 1.4.8; the tests named with it fail if it changes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any


def add_oracle_servicer(servicer: Any, server: Any) -> None:
    """Register an oracle servicer on a gRPC server.

    Checked against keras-tuner 1.4.8 (``keras_tuner.src.protos.get_service_grpc()``).
    Caught by
    ``tests/distributed/test_chief.py::test_two_local_workers_run_every_trial_exactly_once``.
    """
    from keras_tuner.src import protos

    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)


def oracle_servicer_class() -> type:
    """Keras Tuner's gRPC servicer of an oracle (``OracleServicer(oracle)``).

    Checked against keras-tuner 1.4.8 (``keras_tuner.src.distribute.oracle_chief``). Caught by
    ``tests/distributed/test_chief.py::test_two_local_workers_run_every_trial_exactly_once``.
    """
    from keras_tuner.src.distribute.oracle_chief import OracleServicer

    return OracleServicer


def end_trial_response() -> Any:
    """The (empty) gRPC answer to ``EndTrial``.

    Checked against keras-tuner 1.4.8 (``protos.get_service().EndTrialResponse``). Caught by
    ``tests/distributed/test_chief.py::test_two_local_workers_run_every_trial_exactly_once``.
    """
    from keras_tuner.src import protos

    return protos.get_service().EndTrialResponse()


def silence_keras_tuner_print() -> None:
    """Drop the stray ``print`` in Keras Tuner 1.4's ``Parent.to_proto`` (a debugging leftover).

    Every trial sent over gRPC with a conditional hyperparameter (the strategy's knobs) would
    print the strategy's name on the chief's and the workers' standard output. Only that
    module's ``print`` is replaced. Checked against keras-tuner 1.4.8
    (``keras_tuner.src.engine.conditions``). Caught by
    ``tests/distributed/test_chief.py::test_two_local_workers_run_every_trial_exactly_once`` (the
    search's
    output).
    """
    from keras_tuner.src.engine import conditions

    conditions.print = lambda *args, **kwargs: None  # type: ignore[attr-defined]


@contextlib.contextmanager
def oracle_locked(oracle: Any) -> Iterator[None]:
    """Hold the lock under which Keras Tuner's gRPC threads change an oracle.

    Checked against keras-tuner 1.4.8 (``keras_tuner.src.engine.oracle.LOCKS[oracle]``, taken
    by the ``synchronized`` methods). Caught by ``tests/distributed/test_monitor.py``.
    """
    from keras_tuner.src.engine.oracle import LOCKS

    with LOCKS[oracle]:
        yield


def ongoing_trials(oracle: Any) -> dict[str, Any]:
    """The oracle's running trials keyed by tuner id (an undocumented attribute).

    Checked against keras-tuner 1.4.8 (``Oracle.ongoing_trials``). Caught by
    ``tests/distributed/test_monitor.py``.
    """
    return dict(oracle.ongoing_trials)


def pace_idle_answers(client: Any, seconds: float) -> None:
    """Make a worker's oracle client wait ``seconds`` after an ``IDLE`` trial.

    An oracle with no trial to give yet (Hyperband between rounds) answers ``IDLE``, and Keras
    Tuner's ``BaseTuner.search`` asks again at once, with no hook in between: this wraps the
    client's ``create_trial`` on the instance. Checked against keras-tuner 1.4.8
    (``OracleClient.create_trial``; ``BaseTuner.search`` loops on ``TrialStatus.IDLE``).
    Caught by
    ``tests/distributed/test_chief.py::test_bayesian_and_hyperband_searches_run_on_workers``.
    """
    create = client.create_trial

    def create_trial(tuner_id: str) -> Any:
        trial = create(tuner_id)
        if trial.status == "IDLE":
            time.sleep(seconds)
        return trial

    client.create_trial = create_trial


def quiet_keras_tuner() -> None:
    """Stop Keras Tuner from printing each failed trial's traceback to the terminal.

    Keras Tuner prints it while its module-level ``DEBUG`` flag is on (the default); there is no
    public switch. mtltune shows one line per failed trial instead and keeps the traceback in
    the trial's folder (``mtltune.tuning.failures.keep_traceback``). Checked against
    keras-tuner 1.4.8 (``keras_tuner.src.config.DEBUG``). Caught by
    ``tests/cli/test_faults.py::test_failed_trials_print_one_line_each_and_keep_their_traceback``.
    """
    from keras_tuner.src import config

    config.DEBUG = False


def save_trial(oracle: Any, trial: Any) -> None:
    """Write a trial's ``trial.json`` now (after mtltune recorded metrics on a new trial).

    Checked against keras-tuner 1.4.8 (``Oracle._save_trial``). Caught by
    ``tests/tuning/test_oracle.py`` (the ``oracle_seconds`` of a resumed search).
    """
    oracle._save_trial(trial)


def is_duplicate(oracle: Any, values: dict[str, Any]) -> bool:
    """Whether an oracle already tried these values.

    Checked against keras-tuner 1.4.8 (``Oracle._duplicate``, a hash of the active values).
    Caught by
    ``tests/tuning/test_oracle_contract.py::test_a_discrete_space_is_searched_to_exhaustion``.
    """
    return bool(oracle._duplicate(values))


def set_seed(oracle: Any, seed: int) -> None:
    """Seed an oracle, zero included (Keras Tuner's constructor takes 0 for "no seed").

    Checked against keras-tuner 1.4.8 (``Oracle.seed`` and ``Oracle._seed_state``). Caught by
    ``tests/tuning/test_oracle.py::test_one_seed_gives_the_same_trials``.
    """
    oracle.seed = oracle._seed_state = seed


def attach_project(oracle: Any, directory: str, project_name: str) -> None:
    """Give an oracle used without a tuner its project folder (what a ``Tuner`` does).

    Checked against keras-tuner 1.4.8 (``Oracle._set_project_dir``). Caught by
    ``tests/tuning/test_oracle.py`` (every test drives an oracle without a tuner).
    """
    oracle._set_project_dir(directory, project_name)

"""The study's Keras Tuner: the tuner, its search arguments, trial records, stop requests.

The stop requests (``request_stop``, ``clear_stop``, ``check_stop``) live with the callbacks
in ``mtltune.model.callbacks``, and are importable from here as before.

Used by the search (``mtltune.search``) and by a distributed search's workers
(``mtltune.distributed.worker``), which build the same tuner around Keras Tuner's oracle client.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from collections.abc import Callable, Iterator
from typing import Any

import keras
import keras_tuner as kt

from mtltune.compat.tuner_private import quiet_keras_tuner
from mtltune.data import Dataset
from mtltune.model.callbacks import StopCheck, check_stop, clear_stop, request_stop
from mtltune.model.objectives import MONITOR, head_loss_key, head_metric_key, learned_weight_key
from mtltune.model.strategies import EPSILON, LEARNING_RATE, STRATEGY, read_plan
from mtltune.report.results import TrialRecord
from mtltune.run.files import PROJECT, TENSORBOARD
from mtltune.run.folder import RunFolder
from mtltune.study import Study
from mtltune.study.names import STOP_PREFIX
from mtltune.tuning.failures import failure_reason, keep_traceback
from mtltune.tuning.hypermodel import MultiTaskHyperModel
from mtltune.tuning.informed import INFORMED, SAMPLER
from mtltune.tuning.oracle import INFORMED_TRIAL, ORACLE_SECONDS, TPETuner, ordered, timed
from mtltune.tuning.reuse import stateless_study

__all__ = [
    "TUNERS",
    "check_stop",
    "clear_stop",
    "make_tuner",
    "ordered",
    "request_stop",
    "search_arguments",
    "study_hypermodel",
    "trial_record",
]

TUNERS: dict[str, type[kt.Tuner]] = {
    "tpe": TPETuner,
    "random": kt.RandomSearch,
    "bayesian": kt.BayesianOptimization,
    "hyperband": kt.Hyperband,
}

#: The oracles of the tuners built as ``kt.Tuner(oracle=...)``, timed (``oracle_seconds``).
_TIMED_ORACLES: dict[str, type[kt.Oracle]] = {
    "random": timed(kt.oracles.RandomSearchOracle),
    "bayesian": timed(kt.oracles.BayesianOptimizationOracle),
}


def study_hypermodel(study: Study, dataset: Dataset) -> MultiTaskHyperModel:
    """The hypermodel of a study on its prepared data."""
    return MultiTaskHyperModel.from_study(
        study,
        dataset.input_dim,
        {h: enc.units for h, enc in dataset.targets.items()},
        dataset.class_weights,
        dataset.target_scales,
        # Studies keep TensorFlow's caches across recycled trials where that is safe.
        stateless_build=stateless_study(study),
    )


def search_arguments(
    study: Study, dataset: Dataset, folder: RunFolder
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The positional and keyword arguments of ``tuner.search`` for a study (in any process)."""
    callbacks: list[keras.callbacks.Callback] = [StopCheck()]
    if study.report.tensorboard:
        # Keras Tuner gives each trial its own log folder and writes its hyperparameters.
        callbacks.append(keras.callbacks.TensorBoard(str(folder.path / TENSORBOARD)))
    kwargs = {
        "validation_data": (dataset.stop.x, dataset.stop.y),
        "epochs": study.training.max_epochs,
        "callbacks": callbacks,
        "verbose": 0,
    }
    return (dataset.train.x, dataset.train.y), kwargs


@contextlib.contextmanager
def _tuner_id(tuner_id: str | None) -> Iterator[None]:
    """Set ``KERASTUNER_TUNER_ID`` while Keras Tuner reads it (a tuner's constructor)."""
    if tuner_id is None:
        yield
        return
    previous = os.environ.get("KERASTUNER_TUNER_ID")
    os.environ["KERASTUNER_TUNER_ID"] = tuner_id
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("KERASTUNER_TUNER_ID", None)
        else:
            os.environ["KERASTUNER_TUNER_ID"] = previous


def make_tuner(
    study: Study,
    hypermodel: MultiTaskHyperModel,
    folder: RunFolder,
    on_trial: Callable[[str, kt.engine.trial.Trial], None] | None = None,
    *,
    tuner_id: str | None = None,
    worker: bool = False,
    before_end: Callable[[kt.engine.trial.Trial], None] | None = None,
) -> kt.Tuner:
    """The study's Keras Tuner, writing into the run folder (reloaded if it exists there).

    Args:
        study: The study (tuner kind, budget, seed).
        hypermodel: The hypermodel to tune.
        folder: The run folder.
        on_trial: Called with ``("begin" | "end", trial)`` around each trial.
        tuner_id: Keras Tuner's id of this tuner (``chief`` or a worker's id in a distributed
            search; default: ``KERASTUNER_TUNER_ID`` or ``tuner0``).
        worker: The tuner is a distributed search's worker: the chief's oracle decides its
            trials, and its own oracle only names the objective and the budget, so a Bayesian
            or TPE study's worker gets a random-search oracle (no scikit-learn, no Optuna).
        before_end: Called with each trial that ended, before the oracle hears of it (Keras
            Tuner's ``on_trial_end`` hook, before the default that reports it).
    """
    folder.adopt_tuner_state(tuner_id or os.environ.get("KERASTUNER_TUNER_ID", "tuner0"))
    quiet_keras_tuner()
    kind = study.search.tuner
    if worker and kind in ("bayesian", "tpe"):
        kind = "random"
    base = kt.Tuner if kind in _TIMED_ORACLES else TUNERS[kind]

    class _Tuner(base):  # type: ignore[valid-type, misc]
        def on_trial_begin(self, trial: Any) -> None:
            super().on_trial_begin(trial)
            if on_trial is not None:
                on_trial("begin", trial)

        def on_trial_end(self, trial: Any) -> None:
            if before_end is not None:
                before_end(trial)
            super().on_trial_end(trial)
            if on_trial is not None:
                on_trial("end", self.oracle.get_trial(trial.trial_id))

        def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return super().run_trial(trial, *args, **kwargs)
            except (kt.errors.FatalError, kt.errors.FailedTrialError):
                raise
            except Exception as exc:  # any error of a trial fails that trial only
                keep_traceback(self.get_trial_dir(trial.trial_id), exc, self.directory)
                raise kt.errors.FailedTrialError(failure_reason(exc)) from exc

    with _tuner_id(tuner_id), _without_reload_line():
        return _construct(_Tuner, kind, study, hypermodel, folder)


@contextlib.contextmanager
def _without_reload_line() -> Iterator[None]:
    """Keep Keras Tuner's ``Reloading Tuner from ...`` off stdout (a resumed search says so).

    Keras Tuner prints it from its constructor with ``print``; anything else printed meanwhile
    is passed on.
    """
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            yield
    finally:
        kept = [
            line
            for line in captured.getvalue().splitlines(keepends=True)
            if not line.startswith("Reloading Tuner from ")
        ]
        sys.stdout.write("".join(kept))


def _construct(
    tuner_class: type[kt.Tuner],
    kind: str,
    study: Study,
    hypermodel: MultiTaskHyperModel,
    folder: RunFolder,
) -> kt.Tuner:
    """Build a tuner of this kind for the study (``make_tuner``'s construction)."""
    search = study.search
    oracle: dict[str, Any] = {
        "objective": hypermodel.tuner_objective,
        "seed": study.seed,
        "max_trials": search.max_trials,
        # A diverging trial is a failed trial: never stop early on failures (run_study reports
        # a search whose every trial failed).
        "max_consecutive_failed_trials": search.max_trials + 1,
    }
    project: dict[str, Any] = {
        "directory": str(folder.path),
        "project_name": PROJECT,
        "overwrite": False,
        # Each execution is built with its own seed (MultiTaskHyperModel.build).
        "executions_per_trial": search.executions_per_trial,
    }
    if kind == "hyperband":
        oracle.pop("max_trials")
        epochs = study.training.max_epochs
        tuner = tuner_class(hypermodel, max_epochs=epochs, factor=3, **oracle, **project)
        tuner.oracle.max_trials = search.max_trials
        return tuner
    if kind == "tpe":
        base = search.baseline
        start = {LEARNING_RATE: base.learning_rate, EPSILON: base.epsilon}
        return tuner_class(
            hypermodel, informed=search.informed, start_values=start, **oracle, **project
        )
    if kind == "bayesian":
        oracle["num_initial_points"] = max(3, search.max_trials // 3)
    return tuner_class(oracle=_TIMED_ORACLES[kind](**oracle), hypermodel=hypermodel, **project)


def trial_record(trial: Any, hypermodel: MultiTaskHyperModel) -> TrialRecord:
    """Convert a Keras Tuner trial into a ``TrialRecord``."""
    hp = trial.hyperparameters
    values = {k: v for k, v in hp.values.items() if hp.is_active(k)}
    plan = read_plan(values, tuple(hypermodel.heads), hypermodel.search)
    metrics = trial.metrics

    def value(name: str) -> float | None:
        if not metrics.exists(name):
            return None
        got = metrics.get_last_value(name)
        return None if got is None else float(got)

    stop: dict[str, dict[str, float]] = {}
    for head, cfg in hypermodel.heads.items():
        entry = {"loss": value(STOP_PREFIX + head_loss_key(head))}
        entry.update({m: value(STOP_PREFIX + head_metric_key(head, m)) for m in cfg.metrics or []})
        if any(v is not None for v in entry.values()):
            stop[head] = {k: v for k, v in entry.items() if v is not None}
    status = str(getattr(trial.status, "value", trial.status))
    objective = value(MONITOR)
    message = None
    if trial.message:
        lines = [line for line in str(trial.message).strip().splitlines() if line.strip()]
        # The last traceback line (a one-line reason, see run_trial), without the exception's
        # module path and class.
        message = re.sub(r"^[\w.]+(Error|Exception): ", "", lines[-1]) if lines else None
    epochs, best_epoch, seconds = value("epochs"), value("best_epoch"), value("seconds")
    learned = {h: value(learned_weight_key(h)) for h in hypermodel.heads}
    described = plan.describe()
    if any(v is not None for v in learned.values()):
        described["learned_weights"] = learned
    return TrialRecord(
        trial_id=trial.trial_id,
        status=status,
        strategy=str(values.get(STRATEGY, plan.strategy)),
        hyperparameters=values,
        plan=described,
        objective=objective,
        stop=stop,
        epochs=int(epochs) if epochs is not None else None,
        best_epoch=int(best_epoch) if best_epoch is not None else None,
        seconds=seconds,
        message=message,
        origin=INFORMED if value(INFORMED_TRIAL) else SAMPLER,
        oracle_seconds=value(ORACLE_SECONDS),
    )

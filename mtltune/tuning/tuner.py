"""The study's Keras Tuner: ``MultiTaskTuner``, the one tuner class, and ``make_tuner``.

``MultiTaskTuner`` owns a trial's side effects through Keras Tuner's own hooks: it gives each
execution its seed (``run_trial``), keeps the trial's per-epoch logs (``on_epoch_end``) and
writes them to ``histories/<id>.json`` with the failure message of a failed trial
(``on_trial_end``, before the oracle hears of the end), makes the trial's record with its
typed plan, and honours the run's stop token after every batch and around every trial. What
it prints is its ``TrialObserver``'s: the search (``mtltune.search``) and a distributed
search's workers (``mtltune.distributed.worker``) use the same tuner and differ only there.
``MultiTaskTuner.outcome`` hands the steps after the search a ``SearchOutcome``: no Keras
Tuner object goes further.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import keras
import keras_tuner as kt

from mtltune.compat.tuner_private import quiet_keras_tuner
from mtltune.data import Dataset
from mtltune.model.multitask import MultiTaskModel
from mtltune.model.strategies import STRATEGY, TrainPlan, read_plan
from mtltune.report.results import TrialRecord
from mtltune.run.atomic import write_atomic
from mtltune.run.files import HISTORIES, MESSAGE_FILE, TENSORBOARD
from mtltune.run.folder import RunFolder
from mtltune.run.heap import FrozenHeapSearch
from mtltune.run.stop import StopToken
from mtltune.study import Study
from mtltune.study.names import (
    MONITOR,
    STOP_PREFIX,
    head_loss_key,
    head_metric_key,
    learned_weight_key,
)
from mtltune.tuning.build import (
    TIMED_ORACLES,
    TUNERS,
    construct,
    tuner_id_set,
    without_reload_line,
)
from mtltune.tuning.failures import failure_reason, keep_traceback
from mtltune.tuning.hypermodel import MultiTaskHyperModel
from mtltune.tuning.informed import INFORMED, SAMPLER
from mtltune.tuning.oracle import INFORMED_TRIAL, ORACLE_SECONDS, ordered
from mtltune.tuning.outcome import SearchOutcome
from mtltune.tuning.reuse import stateless_study

__all__ = [
    "TUNERS",
    "MultiTaskTuner",
    "SilentTrials",
    "TrialObserver",
    "make_tuner",
    "ordered",
    "search_arguments",
    "study_hypermodel",
    "trial_record",
]


class TrialObserver(Protocol):
    """Hears of a ``MultiTaskTuner``'s trials: what the search or a worker prints of them."""

    def trial_started(self, trial_id: str) -> None:
        """A trial starts."""

    def trial_finished(self, record: TrialRecord, records: Callable[[], list[TrialRecord]]) -> None:
        """A trial ended (completed or failed; the oracle knows it).

        Args:
            record: Its record.
            records: Every trial's record so far, on demand (``MultiTaskTuner.records``).
        """


class SilentTrials:
    """A ``TrialObserver`` that does nothing (a user's own search)."""

    def trial_started(self, trial_id: str) -> None:
        """Ignore."""

    def trial_finished(self, record: TrialRecord, records: Callable[[], list[TrialRecord]]) -> None:
        """Ignore."""


class _Executions(kt.HyperModel):
    """The hypermodel as ``MultiTaskTuner`` hands it to Keras Tuner: builds count executions.

    Keras Tuner builds a trial once per execution (``executions_per_trial``) with the same
    ``hp``; the tuner resets the count when a trial (or a reload) starts, and each build is
    ``MultiTaskHyperModel.build(hp, execution=k)``. The count is the tuner's, for one trial.
    """

    def __init__(self, hypermodel: MultiTaskHyperModel, started: Callable[[], None]) -> None:
        super().__init__(name=hypermodel.name, tunable=hypermodel.tunable)
        self.hypermodel = hypermodel
        self.started = started
        self.next = 0

    def build(self, hp: kt.HyperParameters) -> MultiTaskModel:
        """Build the trial's next execution."""
        self.started()
        execution, self.next = self.next, self.next + 1
        return self.hypermodel.build(hp, execution=execution)

    def fit(self, hp: kt.HyperParameters, model: Any, *args: Any, **kwargs: Any) -> Any:
        """Train as the hypermodel does."""
        return self.hypermodel.fit(hp, model, *args, **kwargs)


class MultiTaskTuner(FrozenHeapSearch, kt.Tuner):
    """A Keras Tuner tuner for a ``MultiTaskHyperModel`` that owns each trial's side effects.

    Works with any Keras Tuner oracle (``oracle=``), in a user's own search too; a study's
    search builds it with ``make_tuner`` (whose Hyperband and TPE tuners put this class
    before ``kt.Hyperband`` or ``TPETuner``, whose oracle they make).

    Args:
        hypermodel: The hypermodel (its heads and search space name the records' fields).
        observer: Hears of each trial (default: nothing is printed).
        stop: The run's stop token, checked after every batch and around every trial
            (default: a token of the tuner's own).
        histories: Folder for each trial's per-epoch logs, ``<trial id>.json`` (default:
            none written).
        root: The folder ``histories`` lies in, for atomic writes (default: ``histories``).
        messages: Write a failed trial's message into its trial folder (``MESSAGE_FILE``)
            before the oracle hears of the end: a distributed search's worker, whose oracle
            client cannot carry it to the chief.
        **kwargs: ``kt.Tuner``'s arguments (``oracle``, ``directory``, ``project_name``...), or
            those of the tuner class it is combined with.
    """

    def __init__(
        self,
        hypermodel: MultiTaskHyperModel,
        *args: Any,
        observer: TrialObserver | None = None,
        stop: StopToken | None = None,
        histories: Path | None = None,
        root: Path | None = None,
        messages: bool = False,
        **kwargs: Any,
    ) -> None:
        self.multitask = hypermodel
        self.observer: TrialObserver = observer or SilentTrials()
        self.stop = stop or StopToken()
        self.histories = histories
        self.root = root or histories
        self.messages = messages
        #: Per-epoch logs of the running trial's latest execution.
        self.history: dict[str, list[float]] = {}
        self._executions = _Executions(hypermodel, self._execution_started)
        super().__init__(*args, hypermodel=self._executions, **kwargs)

    def _execution_started(self) -> None:
        self.history = {}

    # -- Keras Tuner's hooks ---------------------------------------------------------------------

    def on_trial_begin(self, trial: Any) -> None:
        """Check the stop token, then announce the trial."""
        self.stop.check()
        super().on_trial_begin(trial)
        self.history = {}
        self._executions.next = 0
        self.observer.trial_started(trial.trial_id)

    def run_trial(self, trial: Any, *args: Any, **kwargs: Any) -> Any:
        """Keras Tuner's trial; any error of a trial fails that trial only (kept, summarised)."""
        self._executions.next = 0
        try:
            return super().run_trial(trial, *args, **kwargs)
        except (kt.errors.FatalError, kt.errors.FailedTrialError):
            raise
        except Exception as exc:
            self.history = {}  # a crashed trial leaves no history, as before it had one
            keep_traceback(self.get_trial_dir(trial.trial_id), exc, self.directory)
            raise kt.errors.FailedTrialError(failure_reason(exc)) from exc

    def on_batch_end(self, trial: Any, model: Any, batch: int, logs: Any = None) -> None:
        """Honour a stop request."""
        self.stop.check()

    def on_epoch_end(self, trial: Any, model: Any, epoch: int, logs: Any = None) -> None:
        """Keep the epoch's logs (as the hypermodel's callbacks left them) for the history."""
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))

    def on_trial_end(self, trial: Any) -> None:
        """Write the history and message, let the oracle hear of it, then announce it."""
        self._keep(trial)
        super().on_trial_end(trial)
        self.announce_end(self.oracle.get_trial(trial.trial_id))

    def load_model(self, trial: Any) -> Any:
        """Keras Tuner's reload of a trial's best-epoch model (built as its first execution)."""
        self._executions.next = 0
        return super().load_model(trial)

    # -- what the hooks do ---------------------------------------------------------------------

    def _keep(self, trial: Any) -> None:
        """Write the trial's history and, for a worker, its failure message."""
        if self.histories is not None and self.history:
            path = self.histories / f"{trial.trial_id}.json"
            write_atomic(path, json.dumps(self.history), root=self.root)
        if self.messages and trial.message:
            message = Path(self.get_trial_dir(trial.trial_id)) / MESSAGE_FILE
            write_atomic(message, trial.message, root=self.root)
        self.history = {}

    def announce_end(self, trial: Any) -> None:
        """Tell the observer a trial ended (also called by a distributed chief's monitor)."""
        self.observer.trial_finished(trial_record(trial, self.multitask), self.records)
        self.stop.check()

    def remote_trial(self, event: str, trial: Any) -> None:
        """A trial run by a worker started (``"begin"``) or ended (``"end"``): announce it."""
        self.stop.check()
        if event == "begin":
            self.observer.trial_started(trial.trial_id)
        else:
            self.announce_end(trial)

    def records(self) -> list[TrialRecord]:
        """Every trial's record, in trial-id order."""
        return [trial_record(t, self.multitask) for t in ordered(self.oracle.trials)]

    def outcome(self) -> SearchOutcome:
        """The search's trials, typed, for the steps after it (no Keras Tuner object inside)."""
        records = self.records()
        heads, search = tuple(self.multitask.heads), self.multitask.search
        plans: dict[str, TrainPlan] = {}
        for record in records:
            with contextlib.suppress(KeyError, ValueError):  # a trial without values
                plans[record.trial_id] = read_plan(record.hyperparameters, heads, search)
        return SearchOutcome(
            records=records,
            plans=plans,
            direction=self.multitask.objective.direction,
            loader=lambda trial_id: self.load_model(self.oracle.trials[trial_id]),
        )


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
    callbacks: list[keras.callbacks.Callback] = []
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


def make_tuner(
    study: Study,
    hypermodel: MultiTaskHyperModel,
    folder: RunFolder,
    observer: TrialObserver | None = None,
    stop: StopToken | None = None,
    *,
    tuner_id: str | None = None,
    worker: bool = False,
) -> MultiTaskTuner:
    """The study's ``MultiTaskTuner``, writing into the run folder (reloaded if it exists there).

    Args:
        study: The study (tuner kind, budget, seed).
        hypermodel: The hypermodel to tune.
        folder: The run folder (histories, Keras Tuner's project).
        observer: Hears of each trial (what the search or the worker prints).
        stop: The run's stop token.
        tuner_id: Keras Tuner's id of this tuner (``chief`` or a worker's id in a distributed
            search; default: ``KERASTUNER_TUNER_ID`` or ``tuner0``).
        worker: The tuner is a distributed search's worker: the chief's oracle decides its
            trials, and its own oracle only names the objective and the budget, so a Bayesian
            or TPE study's worker gets a random-search oracle (no scikit-learn, no Optuna); a
            failed trial's message is written for the chief.
    """
    folder.adopt_tuner_state(tuner_id or os.environ.get("KERASTUNER_TUNER_ID", "tuner0"))
    quiet_keras_tuner()
    kind = study.search.tuner
    if worker and kind in ("bayesian", "tpe"):
        kind = "random"
    base = kt.Tuner if kind in TIMED_ORACLES else TUNERS[kind]
    tuner_class = _with_oracle_of(base)
    own = {
        "observer": observer,
        "stop": stop,
        "histories": folder.path / HISTORIES,
        "root": folder.path,
        "messages": worker,
    }
    with tuner_id_set(tuner_id), without_reload_line():
        tuner = construct(tuner_class, kind, study, hypermodel, folder, own)
    assert isinstance(tuner, MultiTaskTuner)
    return tuner


def _with_oracle_of(base: type[kt.Tuner]) -> type[MultiTaskTuner]:
    """``MultiTaskTuner``, or it before a tuner class that makes its own oracle (Hyperband)."""
    if base is kt.Tuner:
        return MultiTaskTuner
    return type(f"MultiTask{base.__name__}", (MultiTaskTuner, base), {})


def trial_record(trial: Any, hypermodel: MultiTaskHyperModel) -> TrialRecord:
    """Convert a Keras Tuner trial into a ``TrialRecord``."""
    hp = trial.hyperparameters
    values = {k: v for k, v in hp.values.items() if hp.is_active(k)}
    try:
        described = read_plan(values, tuple(hypermodel.heads), hypermodel.search).describe()
    except (KeyError, ValueError):  # a trial whose values the oracle has not given yet
        described = {}
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
    if any(v is not None for v in learned.values()):
        described["learned_weights"] = learned
    return TrialRecord(
        trial_id=trial.trial_id,
        status=status,
        strategy=str(values.get(STRATEGY, described.get("strategy", ""))),
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

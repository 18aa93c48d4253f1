"""``run_study``: from a validated study to a ``StudyResult``.

Data are prepared and checked before anything is written. Keras Tuner's oracle runs the trials
(an existing run folder is resumed through Keras Tuner's reload), the best trial's model is
reloaded from its best-epoch checkpoint and evaluated on test once, and so is a baseline trained
with default hyperparameters under the same budget and seed. The search holds the run folder's
lock throughout (``mtltune.runlock``); with ``distributed`` its trials run in worker processes
while this process is Keras Tuner's chief (``mtltune.workers``), and the rest is the same.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import keras
import keras_tuner as kt
import tensorflow as tf

from mtltune.data import Dataset, describe, prepare_dataset
from mtltune.errors import SearchError
from mtltune.evaluation import evaluate, test_arrays, train_plan
from mtltune.hypermodel import MultiTaskHyperModel
from mtltune.objectives import MONITOR, head_loss_key, learned_weight_key
from mtltune.pareto import pareto_front
from mtltune.replicates import run_replicates, summarise
from mtltune.report import (
    PREDICTIONS_NPZ,
    REPLICATES_NPZ,
    write_atomic,
    write_report,
    write_trials,
)
from mtltune.results import Evaluation, StrategyBest, StudyResult, TrialRecord
from mtltune.runfolder import PROJECT, RunFolder, save_npz
from mtltune.runopen import OpenRun, open_run
from mtltune.strategies import STRATEGY, baseline_plan, declare
from mtltune.study import Study

if TYPE_CHECKING:
    from mtltune.workers import Distributed

HISTORIES = "histories"
TENSORBOARD = "tensorboard"
TUNERS: dict[str, type[kt.Tuner]] = {
    "random": kt.RandomSearch,
    "bayesian": kt.BayesianOptimization,
    "hyperband": kt.Hyperband,
}


_STOP = threading.Event()


def request_stop() -> None:
    """Ask a running search to stop at the next batch or trial boundary.

    For a SIGINT handler: a ``KeyboardInterrupt`` raised by the signal itself can land in a
    garbage-collection callback, where Python ignores it; this request is honoured at the next
    safe point by raising ``KeyboardInterrupt`` there. Finished trials are kept and the
    interrupted one runs again when the search is resumed.
    """
    _STOP.set()


def _check_stop() -> None:
    if _STOP.is_set():
        raise KeyboardInterrupt("search interrupted")


class _StopCheck(keras.callbacks.Callback):
    """Raises ``KeyboardInterrupt`` after a batch once a stop was requested."""

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        _check_stop()


class Progress(Protocol):
    """Receives live news of a search (the CLI draws it; the library stays silent)."""

    def stage(self, message: str) -> None:
        """A stage of the run starts (loading data, searching, baseline, evaluation)."""

    def trial_started(self, trial_id: str, total: int) -> None:
        """A trial starts."""

    def trial_finished(self, record: TrialRecord, total: int) -> None:
        """A trial ends (completed or failed)."""


class SilentProgress:
    """A ``Progress`` that reports nothing."""

    def stage(self, message: str) -> None:
        """Ignore."""

    def trial_started(self, trial_id: str, total: int) -> None:
        """Ignore."""

    def trial_finished(self, record: TrialRecord, total: int) -> None:
        """Ignore."""


def study_hypermodel(study: Study, dataset: Dataset) -> MultiTaskHyperModel:
    """The hypermodel of a study on its prepared data."""
    return MultiTaskHyperModel.from_study(
        study,
        dataset.input_dim,
        {h: enc.units for h, enc in dataset.targets.items()},
        dataset.class_weights,
    )


def search_arguments(
    study: Study, dataset: Dataset, folder: RunFolder
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The positional and keyword arguments of ``tuner.search`` for a study (in any process)."""
    callbacks: list[keras.callbacks.Callback] = [_StopCheck()]
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
            study's worker gets a random-search oracle (which needs no scikit-learn).
    """
    folder.adopt_tuner_state(tuner_id or os.environ.get("KERASTUNER_TUNER_ID", "tuner0"))
    search = study.search
    kind = "random" if worker and search.tuner == "bayesian" else search.tuner
    base = TUNERS[kind]

    class _Tuner(base):  # type: ignore[valid-type, misc]
        def on_trial_begin(self, trial: Any) -> None:
            super().on_trial_begin(trial)
            if on_trial is not None:
                on_trial("begin", trial)

        def on_trial_end(self, trial: Any) -> None:
            super().on_trial_end(trial)
            if on_trial is not None:
                on_trial("end", self.oracle.get_trial(trial.trial_id))

    common: dict[str, Any] = {
        "objective": hypermodel.tuner_objective,
        "seed": study.seed,
        "directory": str(folder.path),
        "project_name": PROJECT,
        "overwrite": False,
        # A diverging trial is a failed trial: never stop early on failures (run_study reports
        # a search whose every trial failed).
        "max_consecutive_failed_trials": search.max_trials + 1,
    }
    with _tuner_id(tuner_id):
        if kind == "hyperband":
            tuner = _Tuner(hypermodel, max_epochs=study.training.max_epochs, factor=3, **common)
            tuner.oracle.max_trials = search.max_trials
        elif kind == "bayesian":
            tuner = _Tuner(
                hypermodel,
                max_trials=search.max_trials,
                num_initial_points=max(3, search.max_trials // 3),
                **common,
            )
        else:
            tuner = _Tuner(hypermodel, max_trials=search.max_trials, **common)
    return tuner


def trial_record(trial: Any, hypermodel: MultiTaskHyperModel) -> TrialRecord:
    """Convert a Keras Tuner trial into a ``TrialRecord``."""
    hp = trial.hyperparameters
    values = {k: v for k, v in hp.values.items() if hp.is_active(k)}
    plan = declare(hp.copy(), tuple(hypermodel.heads), hypermodel.search)
    metrics = trial.metrics

    def value(name: str) -> float | None:
        if not metrics.exists(name):
            return None
        got = metrics.get_last_value(name)
        return None if got is None else float(got)

    stop: dict[str, dict[str, float]] = {}
    for head, cfg in hypermodel.heads.items():
        entry = {"loss": value("val_" + head_loss_key(head))}
        entry.update({m: value(f"val_{head}_{m}") for m in cfg.metrics or []})
        if any(v is not None for v in entry.values()):
            stop[head] = {k: v for k, v in entry.items() if v is not None}
    status = str(getattr(trial.status, "value", trial.status))
    objective = value(MONITOR)
    message = None
    if trial.message:
        lines = [line for line in str(trial.message).strip().splitlines() if line.strip()]
        # The last traceback line, without the exception's module path and class.
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
    )


def run_study(
    study: Study,
    out: str | Path | None = None,
    *,
    overwrite: bool = False,
    progress: Progress | None = None,
    dataset: Dataset | None = None,
    distributed: Distributed | None = None,
    report: bool = False,
    run: OpenRun | None = None,
) -> StudyResult:
    """Search the study, then evaluate the best trial and the baseline on test.

    Args:
        study: The validated study.
        out: Run folder (default ``runs/<study name>``).
        overwrite: Replace an existing run folder instead of resuming it.
        progress: Receives live news (default: silent).
        dataset: The prepared data, if the caller already has it.
        distributed: Run the trials in Keras Tuner's distributed mode, this process being the
            chief (``mtltune.workers``); default: in this process.
        report: Also write the report (``mtltune.report.write_report``) into the run folder
            before its lock is released, so no other search can start on the folder while
            the report is being written.
        run: The study's run, already opened with ``mtltune.runopen.open_run`` (which takes
            ``out``, ``overwrite`` and ``distributed`` instead): a caller that opens it
            before importing TensorFlow has its local workers start meanwhile.

    Returns:
        The study result (without ``report``, the caller writes the report with
        ``mtltune.report.write_report``).

    Raises:
        DataError: If the data are invalid (nothing is written).
        SearchError: If the folder holds another study's run or is in use by another search,
            if every trial failed, or if a worker of a distributed search died.
        ValueError: If ``run`` is given with ``out``, ``overwrite`` or ``distributed``, or is
            another study's.
    """
    started = time.perf_counter()
    if run is not None and (out is not None or overwrite or distributed is not None):
        raise ValueError("pass out, overwrite and distributed to open_run, not with run")
    if run is not None and run.study is not study:
        raise ValueError("the run was opened for another study")
    _STOP.clear()
    # Same study, same seed, same machine: same trials and the same per-head results.
    tf.config.experimental.enable_op_determinism()
    progress = progress or SilentProgress()
    progress.stage("preparing data")
    dataset = dataset or prepare_dataset(study)
    opened = (
        contextlib.nullcontext(run)
        if run is not None
        else open_run(study, out, overwrite=overwrite, distributed=distributed)
    )
    with opened as current:
        result = _run_opened(current, dataset, progress, started=started)
        if report:
            progress.stage("writing the report")
            write_report(result, current.folder.path)
        return result


def _run_opened(
    run: OpenRun, dataset: Dataset, progress: Progress, *, started: float
) -> StudyResult:
    """``run_study`` once this process holds the run folder, prepared."""
    study, folder, distributed, resumed = run.study, run.folder, run.distributed, run.resumed
    hypermodel = study_hypermodel(study, dataset)
    total = study.search.max_trials

    def on_trial(event: str, trial: Any) -> None:
        _check_stop()
        if event == "begin":
            hypermodel.last_history = None
            progress.trial_started(trial.trial_id, total)
            return
        if hypermodel.last_history is not None:
            history_path = folder.path / HISTORIES / f"{trial.trial_id}.json"
            write_atomic(history_path, json.dumps(hypermodel.last_history))
        # Keep trials.csv current, so an interrupted search still shows what finished.
        records = [trial_record(t, hypermodel) for t in _ordered(tuner.oracle.trials)]
        write_trials(records, folder.path)
        progress.trial_finished(next(r for r in records if r.trial_id == trial.trial_id), total)

    progress.stage("resuming search" if resumed else "searching")
    if distributed is None:
        tuner = make_tuner(study, hypermodel, folder, on_trial)
    else:
        from mtltune.workers import CHIEF_ID, run_chief

        tuner = make_tuner(study, hypermodel, folder, on_trial, tuner_id=CHIEF_ID)
    with warnings.catch_warnings():
        # The Bayesian oracle's Gaussian process warns about length scales on small budgets.
        warnings.filterwarnings("ignore", module="sklearn")
        if distributed is None:
            args, kwargs = search_arguments(study, dataset, folder)
            with hypermodel.recycling():
                tuner.search(*args, **kwargs)
        else:
            local = run.local_workers
            run_chief(tuner, folder.path, distributed, on_trial, run.lock, progress.stage, local)
    trials = [trial_record(t, hypermodel) for t in _ordered(tuner.oracle.trials)]
    write_trials(trials, folder.path)
    finished = [t for t in trials if t.ok]
    if not finished:
        reasons = sorted({t.message or t.status for t in trials})
        raise SearchError(f"all {len(trials)} trials failed; reasons: " + "; ".join(reasons[:5]))
    best_trial_kt = tuner.oracle.get_best_trials(1)[0]
    best_trial = next(t for t in trials if t.trial_id == best_trial_kt.trial_id)

    progress.stage(f"evaluating trial {best_trial.trial_id} on test")
    best_model = tuner.load_model(best_trial_kt)
    best = evaluate(best_model, dataset, hypermodel, epochs=best_trial.epochs)
    strategies = _best_of_each_strategy(
        finished, best_trial.trial_id, best, tuner, dataset, hypermodel, progress
    )
    progress.stage("training the baseline")
    base_plan = baseline_plan(tuple(study.heads), study.search.baseline)
    baseline_model, baseline_fit = train_plan(hypermodel, base_plan, dataset)
    baseline = evaluate(baseline_model, dataset, hypermodel, epochs=int(baseline_fit["epochs"]))
    save_npz(
        folder.path / PREDICTIONS_NPZ,
        test_arrays(dataset, {"best": best_model, "baseline": baseline_model}),
    )
    replicates = None
    if study.report.replicates > 0:
        count = study.report.replicates
        plans = {
            "best": declare(best_trial_kt.hyperparameters.copy(), tuple(study.heads), study.search),
            "baseline": base_plan,
        }
        arrays = run_replicates(
            study,
            hypermodel,
            plans,
            dataset,
            count,
            lambda k: progress.stage(f"replicate {k + 1} of {count}: best and baseline"),
        )
        save_npz(folder.path / REPLICATES_NPZ, arrays)
        replicates = summarise(arrays, hypermodel.heads, hypermodel.class_weights)
    points = {t.trial_id: {h: t.stop[h]["loss"] for h in study.heads} for t in finished}
    return StudyResult(
        study=study.resolved(),
        objective_name=hypermodel.objective.name,
        objective_direction=hypermodel.objective.direction,
        best_trial=best_trial,
        best=best,
        baseline=baseline,
        trials=trials,
        data=describe(dataset),
        seconds=time.perf_counter() - started,
        strategies=strategies,
        pareto=pareto_front(points, list(study.heads)),
        replicates=replicates,
    )


def _best_of_each_strategy(
    finished: list[TrialRecord],
    best_id: str,
    best: Evaluation,
    tuner: kt.Tuner,
    dataset: Dataset,
    hypermodel: MultiTaskHyperModel,
    progress: Progress,
) -> dict[str, StrategyBest]:
    """Each strategy's best trial by the stop objective, evaluated once on test."""
    sign = 1.0 if hypermodel.objective.direction == "min" else -1.0
    out = {}
    for strategy in dict.fromkeys(t.strategy for t in finished):
        top = min((t for t in finished if t.strategy == strategy), key=lambda t: sign * t.objective)
        evaluation = best
        if top.trial_id != best_id:
            progress.stage(f"evaluating {strategy}'s best trial {top.trial_id} on test")
            model = tuner.load_model(tuner.oracle.trials[top.trial_id])
            evaluation = evaluate(model, dataset, hypermodel, epochs=top.epochs)
        out[strategy] = StrategyBest(top.trial_id, evaluation)
    return out


def _ordered(trials: dict[str, Any]) -> list[Any]:
    return [trials[k] for k in sorted(trials, key=lambda k: (len(k), k))]

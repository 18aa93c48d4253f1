"""``run_study``: from a validated study to a ``StudyResult``.

Data are prepared and checked before anything is written. Keras Tuner's oracle runs the trials
(an existing run folder is resumed through Keras Tuner's reload), the best trial's model is
reloaded from its best-epoch checkpoint and evaluated on test once, and so is a baseline trained
with default hyperparameters under the same budget and seed. The search holds the run folder's
lock throughout (``mtltune.run.lock``); with ``distributed`` its trials run in worker processes
while this process is Keras Tuner's chief (``mtltune.distributed.chief``), and the rest is the same.
"""

from __future__ import annotations

import contextlib
import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import keras_tuner as kt
import tensorflow as tf

from mtltune.data import Dataset, describe, prepare_dataset
from mtltune.errors import SearchError
from mtltune.launch import OpenRun, open_run
from mtltune.model.strategies import TrainPlan, baseline_plan, read_plan
from mtltune.report import write_trials
from mtltune.report.confirmation import ConfirmRun
from mtltune.report.pareto import pareto_front
from mtltune.report.results import (
    Evaluation,
    StudyResult,
    TrialRecord,
    time_split,
)
from mtltune.report.tails import heavy_tails
from mtltune.report.verdict import verdict_of
from mtltune.report.writer import render_report
from mtltune.run.atomic import write_atomic
from mtltune.run.files import HISTORIES
from mtltune.run.sessions import Sessions
from mtltune.study import Study
from mtltune.tuning import afterwards, confirm, incumbent
from mtltune.tuning.evaluation import evaluate, train_baseline, with_test
from mtltune.tuning.export import save_best_model
from mtltune.tuning.hypermodel import MultiTaskHyperModel
from mtltune.tuning.phases import Phases
from mtltune.tuning.tuner import (
    check_stop,
    clear_stop,
    make_tuner,
    ordered,
    request_stop,
    search_arguments,
    study_hypermodel,
    trial_record,
)

if TYPE_CHECKING:
    from mtltune.distributed.chief import Distributed

__all__ = ["Progress", "SilentProgress", "request_stop", "run_study"]


class Progress(Protocol):
    """Receives live news of a search (the CLI draws it; the library stays silent)."""

    def stage(self, message: str) -> None:
        """A stage of the run starts (loading data, searching, baseline, evaluation)."""

    def trial_started(self, trial_id: str, total: int) -> None:
        """A trial starts."""

    def trial_finished(self, record: TrialRecord, total: int) -> None:
        """A trial ends (completed or failed)."""

    def confirm_finished(self, run: ConfirmRun, number: int, total: int) -> None:
        """A confirmation run ends (``search.confirm``)."""


class SilentProgress:
    """A ``Progress`` that reports nothing."""

    def stage(self, message: str) -> None:
        """Ignore."""

    def trial_started(self, trial_id: str, total: int) -> None:
        """Ignore."""

    def trial_finished(self, record: TrialRecord, total: int) -> None:
        """Ignore."""

    def confirm_finished(self, run: ConfirmRun, number: int, total: int) -> None:
        """Ignore."""


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
            chief (``mtltune.distributed.chief``); default: in this process.
        report: Also write the report (``mtltune.report.write_report``) into the run folder
            before its lock is released, so no other search can start on the folder while
            the report is being written.
        run: The study's run, already opened with ``mtltune.launch.open_run`` (which takes
            ``out``, ``overwrite`` and ``distributed`` instead): a caller that opens it
            before importing TensorFlow has its local workers start meanwhile.

    Returns:
        The study result (without ``report``, the caller writes the report with
        ``mtltune.report.write_report``). Whatever failed after the trials (confirmation,
        evaluation, baseline, export, replicates, plots) is in its ``failures``, and the rest
        is there: the report is written all the same.

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
    clear_stop()
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
            result, _ = render_report(result, current.folder.path)
        return result


def _run_opened(
    run: OpenRun, dataset: Dataset, progress: Progress, *, started: float
) -> StudyResult:
    """``run_study`` once this process holds the run folder, prepared.

    Every step after the trials runs through ``Phases``: a failure there is recorded in the
    result (``StudyResult.failures``) and the rest goes on, so the report is still written.
    """
    study, folder = run.study, run.folder
    sessions = Sessions(folder.path, run.resumed)
    sessions.set("preparation", time.perf_counter() - started)
    hypermodel = study_hypermodel(study, dataset)
    search_started = time.perf_counter()
    tuner, trials = _search(
        run, dataset, hypermodel, progress, lambda: time.perf_counter() - search_started, sessions
    )
    searched = time.perf_counter()
    sessions.set("search", searched - search_started)
    finished = [t for t in trials if t.ok]
    if not finished:
        reasons = sorted({t.message or t.status for t in trials})
        raise SearchError(f"all {len(trials)} trials failed; reasons: " + "; ".join(reasons[:5]))
    phases = Phases()
    direction = hypermodel.objective.direction
    base_plan = baseline_plan(tuple(study.heads), study.search.baseline)
    baseline_model, baseline = phases.run(
        "baseline",
        lambda: _baseline(base_plan, finished, tuner, dataset, hypermodel, progress),
        lambda: (None, afterwards.unscored(base_plan.describe(), phases, hypermodel.heads)),
        missing="the baseline's scores and predictions",
    )
    twin = incumbent.twin(finished, base_plan)
    challengers = [t for t in finished if t.plan != base_plan.describe()]
    confirmation, plans = (None, {})
    race_started = time.perf_counter()
    if baseline_model is not None:
        confirmation, plans = incumbent.race(
            study,
            folder.path,
            dataset,
            hypermodel,
            tuner,
            trials,
            baseline.objective,
            progress,
            phases,
        )
    race_seconds = time.perf_counter() - race_started
    sessions.set("race", race_seconds)
    if baseline_model is not None:  # the race is decided: the test split may be read
        scored = baseline
        baseline = phases.run(
            "evaluation",
            lambda: with_test(scored, baseline_model, dataset),
            lambda: afterwards.unscored(base_plan.describe(), phases, hypermodel.heads),
            run="equal weights",
            missing="the baseline's test scores",
        )
    leader_id = incumbent.leader(confirmation, challengers, direction)
    if leader_id is None:  # every completed trial is the equal-weights plan itself
        best_trial, best_model, best = twin, baseline_model, baseline
    else:
        best_trial = next(t for t in trials if t.trial_id == leader_id)
        progress.stage(f"evaluating trial {best_trial.trial_id} on test")
        best_model, best = phases.run(
            "evaluation",
            lambda: afterwards.evaluated(
                tuner, tuner.oracle.trials[leader_id], dataset, hypermodel, best_trial.epochs
            ),
            lambda: (None, afterwards.unscored(best_trial.plan, phases, hypermodel.heads)),
            run=f"trial {best_trial.trial_id}",
            missing="the leading trial's test scores",
        )
    strategies = afterwards.strategy_bests(
        finished, best_trial.trial_id, best, tuner, dataset, hypermodel, progress.stage, phases
    )
    if confirmation is not None and best_model is not None and baseline_model is not None:
        progress.stage("scoring the race's leader and equal weights on test, seed by seed")
        at_seed = {"best": best.test, "baseline": baseline.test}
        raced = confirmation
        confirmation = phases.run(
            "confirmation",
            lambda: confirm.paired_test(raced, hypermodel, dataset, plans, folder.path, at_seed),
            lambda: raced,
            run="test scores",
            missing="the seed-by-seed test scores of the leading trial and equal weights",
        )
    log_heads = {h for h, cfg in study.heads.items() if cfg.loss_scale == "log"}
    verdict = verdict_of(confirmation, best_trial, best, baseline, direction, log_heads)
    recommended = baseline_model if verdict.stands else best_model
    if recommended is not None:
        phases.run(
            "export",
            lambda: save_best_model(folder.path, recommended, study, dataset, hypermodel.heads),
            lambda: None,
            missing="best_model.keras and preprocessing.json",
        )
    pairs = (("best", best_model), ("baseline", baseline_model))
    models = {k: m for k, m in pairs if m is not None}
    arrays = phases.run(
        "export",
        lambda: incumbent.predictions(folder.path, dataset, models, hypermodel) if models else None,
        lambda: None,
        missing="predictions.npz (the prediction plots)",
    )
    role = "baseline" if verdict.stands else "best"
    tails = heavy_tails(arrays, study.heads, role) if arrays is not None else {}
    best_plan = read_plan(best_trial.hyperparameters, tuple(study.heads), study.search)
    plans = {"best": best_plan, "baseline": base_plan}
    replicates = None
    if leader_id is not None:  # never equal weights against themselves
        replicates = phases.run(
            "replicates",
            lambda: afterwards.replicates(
                study, hypermodel, dataset, plans, baseline, folder.path, progress.stage
            ),
            lambda: None,
            missing="the replicates",
        )
    for failed in (replicates or {}).get("failed", []):
        number, reason = failed.split(": ", 1)
        phases.record("replicates", number, reason, "this replicate (left out)")
    sessions.set("evaluation", time.perf_counter() - searched - race_seconds)
    points = {t.trial_id: {h: t.stop[h]["loss"] for h in study.heads} for t in finished}
    split = time_split(
        trials,
        preparation=sessions.total("preparation"),
        search=sessions.total("search"),
        evaluation=sessions.total("evaluation"),
        race=sessions.total("race"),
    )
    return StudyResult(
        study=study.resolved(),
        objective_name=hypermodel.objective.name,
        objective_direction=hypermodel.objective.direction,
        best_trial=best_trial,
        best=best,
        baseline=baseline,
        trials=trials,
        data=describe(dataset),
        seconds=sum(split.values()),
        strategies=strategies,
        pareto=pareto_front(points, list(study.heads)),
        replicates=replicates,
        confirmation=confirmation,
        verdict=verdict,
        tails=tails,
        time_split=split,
        failures=phases.failures,
    )


def _search(
    run: OpenRun,
    dataset: Dataset,
    hypermodel: MultiTaskHyperModel,
    progress: Progress,
    elapsed: Callable[[], float],
    sessions: Sessions,
) -> tuple[kt.Tuner, list[TrialRecord]]:
    """Run (or resume) the trials, here or on workers; the tuner and every trial's record.

    ``elapsed()`` is the search's seconds so far, recorded in ``sessions`` after every trial
    (an interrupted session's time counts in the report of the run it resumes into).
    """
    study, folder, distributed = run.study, run.folder, run.distributed
    total = study.search.max_trials

    def on_trial(event: str, trial: Any) -> None:
        check_stop()
        if event == "begin":
            hypermodel.last_history = None
            progress.trial_started(trial.trial_id, total)
            return
        if hypermodel.last_history is not None:
            history_path = folder.path / HISTORIES / f"{trial.trial_id}.json"
            write_atomic(history_path, json.dumps(hypermodel.last_history), root=folder.path)
        # Keep trials.csv current, so an interrupted search still shows what finished.
        records = [trial_record(t, hypermodel) for t in ordered(tuner.oracle.trials)]
        write_trials(records, folder.path)
        sessions.set("search", elapsed())
        progress.trial_finished(next(r for r in records if r.trial_id == trial.trial_id), total)

    progress.stage("resuming search" if run.resumed else "searching")
    if distributed is None:
        tuner = make_tuner(study, hypermodel, folder, on_trial)
    else:
        from mtltune.distributed.chief import CHIEF_ID, run_chief

        tuner = make_tuner(study, hypermodel, folder, on_trial, tuner_id=CHIEF_ID)
    done = len(tuner.oracle.trials)
    if run.resumed and done > total:
        progress.stage(
            f"this run already has {done} trials, more than search.max_trials={total}; "
            "reporting them (a smaller budget needs a new run: --out or --overwrite)"
        )
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
    trials = [trial_record(t, hypermodel) for t in ordered(tuner.oracle.trials)]
    write_trials(trials, folder.path)
    return tuner, trials


def _baseline(
    plan: TrainPlan,
    finished: list[TrialRecord],
    tuner: kt.Tuner,
    dataset: Dataset,
    hypermodel: MultiTaskHyperModel,
    progress: Progress,
) -> tuple[Any, Evaluation]:
    """The baseline's model and stop scores (its test scores come after the race).

    A completed trial of the very same plan (the TPE oracle's equal-weights trial) is the
    baseline already (same plan, seed and budget): its model is reloaded, not trained again.
    """
    twin = incumbent.twin(finished, plan)
    if twin is not None:
        progress.stage(f"the baseline is trial {twin.trial_id}'s plan: reloading it")
        model = tuner.load_model(tuner.oracle.trials[twin.trial_id])
        return model, evaluate(model, dataset, hypermodel, epochs=twin.epochs, test=False)
    progress.stage("training the baseline")
    evaluation, model = train_baseline(hypermodel, plan, dataset, test=False)
    return model, evaluation

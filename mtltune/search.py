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
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import tensorflow as tf

from mtltune.data import Dataset, describe, prepare_dataset
from mtltune.errors import SearchError
from mtltune.launch import OpenRun, open_run
from mtltune.report import write_trials
from mtltune.report.confirmation import ConfirmRun
from mtltune.report.pareto import pareto_front
from mtltune.report.results import StudyResult, TrialRecord, time_split
from mtltune.report.writer import render_report
from mtltune.run.heap import frozen_heap
from mtltune.run.sessions import Sessions
from mtltune.study import Study
from mtltune.tuning import aftersearch
from mtltune.tuning.hypermodel import MultiTaskHyperModel
from mtltune.tuning.outcome import SearchOutcome
from mtltune.tuning.phases import Phases
from mtltune.tuning.tuner import make_tuner, search_arguments, study_hypermodel

if TYPE_CHECKING:
    from mtltune.distributed.chief import DistributedOptions

__all__ = ["Progress", "SilentProgress", "run_study"]


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
    distributed: DistributedOptions | None = None,
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
    # What is alive now (TensorFlow, Keras, the data) is out of the garbage collector's sight
    # until the run ends: each collection walks only what the run made (mtltune.run.heap).
    with opened as current, frozen_heap():
        result = _run_opened(current, dataset, progress, started=started)
        if report:
            progress.stage("writing the report")
            result, _ = render_report(result, current.folder.path)
        return result


def _run_opened(
    run: OpenRun, dataset: Dataset, progress: Progress, *, started: float
) -> StudyResult:
    """``run_study`` once this process holds the run folder, prepared.

    The search gives a ``SearchOutcome``; the named phases after it
    (``mtltune.tuning.aftersearch``: race, score, compare, persist) record a failure in the
    result (``StudyResult.failures``) and go on, so the report is still written.
    """
    study, folder = run.study, run.folder
    sessions = Sessions(folder.path, run.resumed)
    sessions.set("preparation", time.perf_counter() - started)
    hypermodel = study_hypermodel(study, dataset)
    search_started = time.perf_counter()
    outcome = _search(
        run, dataset, hypermodel, progress, lambda: time.perf_counter() - search_started, sessions
    )
    searched = time.perf_counter()
    sessions.set("search", searched - search_started)
    if not outcome.finished:
        reasons = sorted({t.message or t.status for t in outcome.records})
        raise SearchError(
            f"all {len(outcome.records)} trials failed; reasons: " + "; ".join(reasons[:5])
        )
    after = aftersearch.After(study, folder.path, dataset, hypermodel, progress, Phases(), run.stop)
    raced = aftersearch.race(after, outcome)
    sessions.set("race", raced.seconds)
    scored = aftersearch.score(after, outcome, raced)
    compared = aftersearch.compare(after, raced, scored)
    kept = aftersearch.persist(after, outcome, raced, scored, compared)
    sessions.set("evaluation", time.perf_counter() - searched - raced.seconds)
    return _result(study, hypermodel, dataset, sessions, outcome, scored, compared, kept, after)


def _result(
    study: Study,
    hypermodel: MultiTaskHyperModel,
    dataset: Dataset,
    sessions: Sessions,
    outcome: SearchOutcome,
    scored: aftersearch.Scored,
    compared: aftersearch.Compared,
    kept: aftersearch.Kept,
    after: aftersearch.After,
) -> StudyResult:
    """The study's result from the phases' outputs."""
    trials = outcome.records
    points = {t.trial_id: {h: t.stop[h]["loss"] for h in study.heads} for t in outcome.finished}
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
        best_trial=scored.best_trial,
        best=scored.best,
        baseline=scored.baseline,
        trials=trials,
        data=describe(dataset),
        seconds=sum(split.values()),
        strategies=scored.strategies,
        pareto=pareto_front(points, list(study.heads)),
        replicates=kept.replicates,
        confirmation=compared.confirmation,
        verdict=compared.verdict,
        tails=kept.tails,
        time_split=split,
        failures=after.phases.failures,
    )


class _ChiefTrials:
    """What the search does as each trial starts and ends: ``trials.csv``, time, progress."""

    def __init__(
        self,
        run: OpenRun,
        progress: Progress,
        sessions: Sessions,
        elapsed: Callable[[], float],
    ) -> None:
        self.folder, self.progress, self.sessions, self.elapsed = (
            run.folder,
            progress,
            sessions,
            elapsed,
        )
        self.total = run.study.search.max_trials

    def trial_started(self, trial_id: str) -> None:
        """Show the trial."""
        self.progress.trial_started(trial_id, self.total)

    def trial_finished(self, record: TrialRecord, records: Callable[[], list[TrialRecord]]) -> None:
        """Keep ``trials.csv`` and the session's time current, then show the trial."""
        # So an interrupted search still shows what finished.
        write_trials(records(), self.folder.path)
        self.sessions.set("search", self.elapsed())
        self.progress.trial_finished(record, self.total)


def _search(
    run: OpenRun,
    dataset: Dataset,
    hypermodel: MultiTaskHyperModel,
    progress: Progress,
    elapsed: Callable[[], float],
    sessions: Sessions,
) -> SearchOutcome:
    """Run (or resume) the trials, here or on workers; the search's outcome.

    ``elapsed()`` is the search's seconds so far, recorded in ``sessions`` after every trial
    (an interrupted session's time counts in the report of the run it resumes into).
    """
    study, folder, distributed = run.study, run.folder, run.distributed
    total = study.search.max_trials
    progress.stage("resuming search" if run.resumed else "searching")
    observer = _ChiefTrials(run, progress, sessions, elapsed)
    tuner_id = None
    if distributed is not None:
        from mtltune.distributed.chief import CHIEF_ID

        tuner_id = CHIEF_ID
    tuner = make_tuner(study, hypermodel, folder, observer, run.stop, tuner_id=tuner_id)
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
            from mtltune.distributed.chief import run_chief

            local = run.local_workers
            run_chief(
                tuner, folder.path, distributed, tuner.remote_trial, run.lock, progress.stage, local
            )
    outcome = tuner.outcome()
    write_trials(outcome.records, folder.path)
    return outcome

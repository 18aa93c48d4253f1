"""The race against equal weights: train the challengers and the incumbent seed by seed.

After the search, the ``search.confirm.top`` best distinct configurations (the challengers,
never the equal-weights plan itself) race equal weights (the incumbent) on further
initialisation seeds, each seed dealing the train and stop rows anew when the split shuffles
(``mtltune.data.racesplits``: the search chose its challengers on its own stop rows, and a small
stop split flatters them); ``mtltune.report.race`` holds the rule that drops,
accepts or keeps racing each challenger. The incumbent's run at a seed is trained once and
shared by every challenger; its study-seed run is the search's equal-weights trial when there is
one, else the baseline run. Only the train and stop splits are read until the race is decided;
then the leading challenger's and the incumbent's runs are scored on test, seed by seed
(``paired_test``).

Each run's weights are kept in ``confirm/`` and its record in ``confirm.csv`` and
``confirm.json`` (with the study fingerprint), rewritten after every run: a resumed search
keeps the finished runs of the same study.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import keras_tuner as kt
import pandas as pd

from mtltune.data import Dataset, SplitArrays
from mtltune.data.racesplits import race_splits
from mtltune.errors import error_text
from mtltune.model.strategies import TrainPlan, baseline_plan
from mtltune.report.confirmation import (
    BASELINE,
    CONFIRM,
    SEARCH,
    Confirmation,
    ConfirmRun,
    distinct_top,
)
from mtltune.report.race import Decision, RaceRule, decide, gain, outpaced
from mtltune.report.results import HeadScores, TrialRecord
from mtltune.run.fingerprint import study_fingerprint
from mtltune.run.folder import RunFolder
from mtltune.run.stop import StopToken
from mtltune.study import Study
from mtltune.study.direction import Direction
from mtltune.tuning.evaluation import evaluate, head_scores, train_plan
from mtltune.tuning.hypermodel import MultiTaskHyperModel
from mtltune.tuning.outcome import SearchOutcome
from mtltune.tuning.phases import UnitError

#: Called after each race run trained here: ``(run, number, total)`` (total: at most).
OnRun = Callable[[ConfirmRun, int, int], None]
#: Each challenger's plan by trial id, then the incumbent's (``baseline``).
Plans = dict[str, TrainPlan]


def confirm_seeds(study: Study) -> list[int]:
    """Every further initialisation seed the race may use (the search ran with the study seed)."""
    confirm = study.search.confirm
    return [study.seed + 1000 + j for j in range(max(confirm.seeds, confirm.max_seeds))]


def race_rule(study: Study) -> RaceRule:
    """The study's race rule (``search.confirm``)."""
    confirm = study.search.confirm
    return RaceRule(seeds=confirm.seeds, max_seeds=confirm.max_seeds, level=confirm.level)


def candidate_plans(study: Study, outcome: SearchOutcome) -> Plans:
    """The challengers' plans (search order, never the incumbent's plan), then the incumbent's.

    The incumbent's plan is recognised by plan equality (``SearchOutcome.others``).
    """
    incumbent = baseline_plan(tuple(study.heads), study.search.baseline)
    challengers = outcome.others(incumbent)
    plans: Plans = {}
    for record in distinct_top(challengers, study.search.confirm.top, outcome.direction):
        plans[record.trial_id] = outcome.plan(record.trial_id)
    plans[BASELINE] = incumbent
    return plans


def run_race(
    study: Study,
    hypermodel: MultiTaskHyperModel,
    dataset: Dataset,
    plans: Plans,
    trials: list[TrialRecord],
    incumbent_objective: float,
    folder: Path,
    on_run: OnRun | None = None,
    stop: StopToken | None = None,
) -> Confirmation:
    """Race every challenger against the incumbent, seed by seed; train and stop only.

    Args:
        study: The study (seed, ``search.confirm``).
        hypermodel: Builds and trains the models.
        dataset: The search's splits (the test split is not read).
        plans: ``candidate_plans``: challengers by trial id, then ``baseline``.
        trials: The search's trials (each challenger's study-seed run).
        incumbent_objective: The incumbent's stop objective at the study seed.
        folder: The run folder (``confirm.csv``, ``confirm.json``, ``confirm/``).
        on_run: Called after each run trained here.
        stop: The run's stop token, checked before each run trained here.

    Returns:
        The race, decided, without test scores (``paired_test`` adds them).
    """
    direction = hypermodel.objective.direction
    rule = race_rule(study)
    by_id = {t.trial_id: t for t in trials}
    candidates = [c for c in plans if c != BASELINE]
    runs = [_search_run(by_id[c], study.seed) for c in candidates]
    runs.append(ConfirmRun(BASELINE, study.seed, SEARCH, incumbent_objective))
    screened = {
        c
        for c in candidates
        if by_id[c].objective is None
        or gain(incumbent_objective, float(by_id[c].objective), direction) <= 0
    }
    raced = [c for c in candidates if c not in screened]
    trainer = _Trainer(study, hypermodel, dataset, plans, folder, runs, on_run)
    trainer.stop = stop or StopToken()
    trainer.total = len(confirm_seeds(study)) * (len(raced) + 1) if raced else 0
    gains: dict[str, list[float]] = {c: [] for c in raced}
    decisions = {c: Decision(c, "open") for c in raced}
    used = [study.seed]
    with hypermodel.recycling():  # Each model is saved right after its training.
        for seed in confirm_seeds(study):
            active = [c for c in raced if decisions[c].status == "open"]
            if not active:
                break
            used.append(seed)
            incumbent = trainer.run(BASELINE, seed)
            for challenger in active:
                mine = trainer.run(challenger, seed)
                if not incumbent.ok:  # no pairing on this seed
                    continue
                gains[challenger].append(_gain(incumbent, mine, direction))
                decisions[challenger] = decide(challenger, gains[challenger], rule, len(raced))
            accepted = [d for d in decisions.values() if d.status == "accepted"]
            for challenger, decision in decisions.items():
                if decision.status == "open" and outpaced(decision, accepted):
                    decisions[challenger] = replace(decision, status="outpaced")
    final = [Decision(c, "screened") if c in screened else decisions[c] for c in candidates]
    return Confirmation(
        direction,
        used,
        candidates,
        runs,
        decisions=final,
        rule=rule,
        fresh_splits=study.split.shuffle,
    )


def _gain(incumbent: ConfirmRun, challenger: ConfirmRun, direction: Direction) -> float:
    """A challenger's gain on one seed; a failed run is the worst possible."""
    if not challenger.ok:
        return -float("inf")
    return gain(float(incumbent.objective), float(challenger.objective), direction)  # type: ignore[arg-type]


class _Trainer:
    """Trains (or reads back from an interrupted run) one race run, and records it."""

    def __init__(
        self,
        study: Study,
        hypermodel: MultiTaskHyperModel,
        dataset: Dataset,
        plans: Plans,
        folder: Path,
        runs: list[ConfirmRun],
        on_run: OnRun | None,
    ) -> None:
        self.study, self.hypermodel, self.dataset = study, hypermodel, dataset
        self.plans, self.folder, self.runs, self.on_run = plans, folder, runs, on_run
        self.kept = _kept_runs(study, folder)
        self.fingerprint = study_fingerprint(study)
        self.number, self.total = 0, 0
        self.stop = StopToken()
        self.partitions: dict[int, tuple[Dataset, SplitArrays]] = {}

    def partition(self, seed: int) -> tuple[Dataset, SplitArrays]:
        """The rows a race seed trains and stops on, and the rows that judge it.

        ``race_splits``: train and stop dealt anew when the split shuffles, the stop
        rows halved (one half stops the run, the other judges it). Every candidate at one seed
        gets the same rows, so the pairs stay paired.
        """
        if seed not in self.partitions:
            shuffle = self.study.split.shuffle
            self.partitions[seed] = race_splits(self.dataset, seed, shuffle=shuffle)
        return self.partitions[seed]

    def run(self, candidate: str, seed: int) -> ConfirmRun:
        """The run of a candidate at a seed (trained here unless kept), recorded."""
        self.number += 1
        got = self.kept.get((candidate, seed))
        if got is None:
            self.stop.check()
            plan = self.plans[candidate]
            try:
                data, judge = self.partition(seed)
                got = _train(self.hypermodel, data, judge, plan, candidate, seed, self.folder)
            except Exception as exc:  # the runs finished so far are kept in confirm.json
                raise UnitError(f"candidate {candidate}, seed {seed}", exc) from exc
        self.runs.append(got)
        _write(self.runs, self.folder, self.fingerprint, list(self.study.heads))
        if self.on_run is not None and (candidate, seed) not in self.kept:
            self.on_run(got, self.number, self.total)
        return got


def paired_test(
    confirmation: Confirmation,
    hypermodel: MultiTaskHyperModel,
    dataset: Dataset,
    plans: Plans,
    folder: Path,
    study_seed: dict[str, HeadScores],
) -> Confirmation:
    """Score the leading challenger and the incumbent on test, on every seed both ran.

    Args:
        confirmation: The race (decided).
        hypermodel: Builds the models the saved weights are loaded into.
        dataset: The splits.
        plans: ``candidate_plans``.
        folder: The run folder (``confirm/`` holds the weights).
        study_seed: Test scores of the study-seed runs, ``{"best": ..., "baseline": ...}``.
    """
    chosen = confirmation.chosen
    if chosen is None:
        return confirmation
    test: dict[str, list[HeadScores]] = {"best": [study_seed["best"]], BASELINE: []}
    test[BASELINE].append(study_seed[BASELINE])
    # One model per candidate, its weights loaded seed after seed: its scoring is traced once.
    models: dict[str, Any] = {}
    for seed in confirmation.seeds[1:]:
        both = [confirmation.objective(c, seed) for c in (chosen, BASELINE)]
        if any(v is None for v in both):  # not run, or diverged: no weights to pair
            continue
        for role, candidate in (("best", chosen), (BASELINE, BASELINE)):
            if candidate not in models:
                models[candidate] = hypermodel.build_plan(plans[candidate], seed=seed)
            model = models[candidate]
            model.load_weights(RunFolder(folder).confirm_weights_to_load(candidate, seed))
            test[role].append(head_scores(model, dataset.test))
    return confirmation.with_test(test)


def _search_run(trial: TrialRecord, seed: int) -> ConfirmRun:
    """A candidate's own search trial, as its study-seed run."""
    stop = {h: {"loss": s["loss"]} for h, s in trial.stop.items() if "loss" in s}
    return ConfirmRun(
        trial.trial_id, seed, SEARCH, trial.objective, stop, trial.epochs, trial.seconds
    )


def _train(
    hypermodel: MultiTaskHyperModel,
    dataset: Dataset,
    judge: SplitArrays,
    plan: TrainPlan,
    candidate: str,
    seed: int,
    folder: Path,
) -> ConfirmRun:
    """One race run: train, keep the best epoch's weights, score them on the judging rows.

    The run stops early on ``dataset.stop`` (half of the stop rows); its objective and per-head
    losses are those of the other half, ``judge``, at the epoch the first half chose.
    """
    start = time.perf_counter()
    try:
        model, fit = train_plan(hypermodel, plan, dataset, seed=seed)
    except kt.errors.FailedTrialError as exc:
        return ConfirmRun(candidate, seed, CONFIRM, None, message=error_text(exc))
    RunFolder(folder).write_confirm_weights(candidate, seed, model.save_weights)
    judged = evaluate(model, replace(dataset, stop=judge), hypermodel, test=False)
    stop = {h: {"loss": judged.stop[h]["loss"]} for h in hypermodel.heads}
    return ConfirmRun(
        candidate,
        seed,
        CONFIRM,
        judged.objective,
        stop,
        int(fit["epochs"]),
        time.perf_counter() - start,
    )


def _kept_runs(study: Study, folder: Path) -> dict[tuple[str, int], ConfirmRun]:
    """The finished confirmation runs of an interrupted search of the same study."""
    run_folder = RunFolder(folder)
    doc = run_folder.read_confirmation()
    if doc is None or doc.get("fingerprint") != study_fingerprint(study):
        return {}
    kept = {}
    for entry in doc.get("runs", []):
        try:  # confirm.json is read back like any file of a run folder: untrusted
            run = ConfirmRun(**entry)
        except TypeError:
            return {}  # not what mtltune wrote: the runs are trained again
        weights = run_folder.confirm_weights(run.candidate, run.seed).exists()
        if run.source == CONFIRM and (weights or not run.ok):
            kept[(run.candidate, run.seed)] = run
    return kept


def _write(runs: list[ConfirmRun], folder: Path, fingerprint: str, heads: list[str]) -> None:
    """Rewrite ``confirm.json`` and ``confirm.csv`` (atomically)."""
    doc = {"fingerprint": fingerprint, "runs": [asdict(r) for r in runs]}
    rows = []
    for run in runs:
        row: dict[str, Any] = {
            "candidate": run.candidate,
            "source": run.source,
            "seed": run.seed,
            "objective": run.objective,
            "epochs": run.epochs,
            "seconds": run.seconds,
        }
        row.update({f"stop_loss_{h}": run.stop.get(h, {}).get("loss") for h in heads})
        row["message"] = run.message
        rows.append(row)
    RunFolder(folder).write_confirmation(doc, pd.DataFrame(rows))

"""Confirmation runs: retrain the search's best configurations with further seeds, then choose.

A trial's stop objective is one run from one initialisation, and the best few trials of a
search often lie within seed noise of each other. After the search, the ``search.confirm.top``
best distinct configurations, and the baseline, are retrained with ``search.confirm.seeds``
further initialisation seeds each on the same splits; the configuration with the best mean stop
objective (its search trial included) is chosen. Only the train and stop splits are read until
the choice is made; then the chosen configuration's and the baseline's runs are scored on test,
seed by seed (``paired_test``).

Each run's weights are kept in ``confirm/`` and its record in ``confirm.csv`` and
``confirm.json`` (with the study fingerprint), rewritten after every run: a resumed search
keeps the finished runs of the same study.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import keras_tuner as kt
import pandas as pd

from mtltune.data import Dataset
from mtltune.errors import error_text
from mtltune.model.objectives import MONITOR, head_loss_key
from mtltune.model.strategies import TrainPlan, baseline_plan, declare
from mtltune.report.confirmation import (
    BASELINE,
    CONFIRM,
    SEARCH,
    Confirmation,
    ConfirmRun,
    distinct_top,
)
from mtltune.report.results import HeadScores, TrialRecord
from mtltune.run.atomic import write_atomic
from mtltune.run.files import CONFIRM_CSV, CONFIRM_DIR, CONFIRM_JSON
from mtltune.run.folder import study_fingerprint
from mtltune.study import Study
from mtltune.tuning.evaluation import head_scores, train_plan
from mtltune.tuning.hypermodel import MultiTaskHyperModel
from mtltune.tuning.phases import UnitError
from mtltune.tuning.tuner import check_stop

#: Called after each confirmation run trained here: ``(run, number, total)``.
OnRun = Callable[[ConfirmRun, int, int], None]
#: Each candidate's plan by trial id, then the baseline's.
Plans = dict[str, TrainPlan]


def confirm_seeds(study: Study) -> list[int]:
    """The further initialisation seeds (the search ran with the study seed)."""
    return [study.seed + 1000 + j for j in range(study.search.confirm.seeds)]


def candidate_plans(study: Study, tuner: kt.Tuner, trials: list[TrialRecord]) -> Plans:
    """The plans of the top distinct configurations (search order), then the baseline's."""
    direction = "max" if tuner.oracle.objective.direction == "max" else "min"
    plans: Plans = {}
    for record in distinct_top(trials, study.search.confirm.top, direction):
        hp = tuner.oracle.trials[record.trial_id].hyperparameters
        plans[record.trial_id] = declare(hp.copy(), tuple(study.heads), study.search)
    plans[BASELINE] = baseline_plan(tuple(study.heads), study.search.baseline)
    return plans


def run_confirmation(
    study: Study,
    hypermodel: MultiTaskHyperModel,
    dataset: Dataset,
    plans: Plans,
    trials: list[TrialRecord],
    folder: Path,
    on_run: OnRun | None = None,
) -> Confirmation:
    """Train every candidate (and the baseline) with the further seeds; train and stop only.

    Args:
        study: The study (seed, ``search.confirm``).
        hypermodel: Builds and trains the models.
        dataset: The search's splits (the test split is not read).
        plans: ``candidate_plans``: candidates by trial id, then ``baseline``.
        trials: The search's trials (each candidate's study-seed run).
        folder: The run folder (``confirm.csv``, ``confirm.json``, ``confirm/``).
        on_run: Called after each run trained here.

    Returns:
        The confirmation, without test scores (``paired_test`` adds them).
    """
    by_id = {t.trial_id: t for t in trials}
    candidates = [c for c in plans if c != BASELINE]
    runs = [_search_run(by_id[c], study.seed) for c in candidates]
    kept = _kept_runs(study, folder)
    todo = [(c, seed) for c in plans for seed in confirm_seeds(study)]
    fingerprint = study_fingerprint(study)
    with hypermodel.recycling():  # Each model is saved right after its training.
        for number, (candidate, seed) in enumerate(todo, 1):
            run = kept.get((candidate, seed))
            if run is None:
                check_stop()
                try:
                    run = _train(hypermodel, dataset, plans[candidate], candidate, seed, folder)
                except Exception as exc:  # the runs finished so far are kept in confirm.json
                    raise UnitError(f"candidate {candidate}, seed {seed}", exc) from exc
            runs.append(run)
            _write(runs, folder, fingerprint, list(study.heads))
            if on_run is not None and (candidate, seed) not in kept:
                on_run(run, number, len(todo))
    direction = hypermodel.objective.direction
    seeds = [study.seed, *confirm_seeds(study)]
    return Confirmation(direction=direction, seeds=seeds, candidates=candidates, runs=runs)


def paired_test(
    confirmation: Confirmation,
    hypermodel: MultiTaskHyperModel,
    dataset: Dataset,
    plans: Plans,
    folder: Path,
    study_seed: dict[str, HeadScores],
) -> Confirmation:
    """Score the chosen configuration and the baseline on test, seed by seed.

    Args:
        confirmation: The confirmation (its choice is made).
        hypermodel: Builds the models the saved weights are loaded into.
        dataset: The splits.
        plans: ``candidate_plans``.
        folder: The run folder (``confirm/`` holds the weights).
        study_seed: Test scores of the study-seed runs, ``{"best": ..., "baseline": ...}``.
    """
    test: dict[str, list[HeadScores]] = {}
    for role, candidate in (("best", confirmation.chosen), (BASELINE, BASELINE)):
        scores = [study_seed[role]]
        for seed in confirmation.seeds[1:]:
            ok = any(
                r.candidate == candidate and r.seed == seed and r.ok for r in confirmation.runs
            )
            if not ok:  # a diverged run has no weights: the pairing is incomplete
                return confirmation
            model = hypermodel.build_plan(plans[candidate], seed=seed)
            model.load_weights(_weights_path(folder, candidate, seed))
            scores.append(head_scores(model, dataset.test))
        test[role] = scores
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
    plan: TrainPlan,
    candidate: str,
    seed: int,
    folder: Path,
) -> ConfirmRun:
    """One confirmation run: train, keep the best epoch's weights, record the stop scores."""
    start = time.perf_counter()
    try:
        model, fit = train_plan(hypermodel, plan, dataset, seed=seed)
    except kt.errors.FailedTrialError as exc:
        return ConfirmRun(candidate, seed, CONFIRM, None, message=error_text(exc))
    path = _weights_path(folder, candidate, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{os.getpid()}-{path.name}")
    model.save_weights(temporary)
    os.replace(temporary, path)
    stop = {h: {"loss": fit["val_" + head_loss_key(h)]} for h in hypermodel.heads}
    return ConfirmRun(
        candidate,
        seed,
        CONFIRM,
        fit[MONITOR],
        stop,
        int(fit["epochs"]),
        time.perf_counter() - start,
    )


def _weights_path(folder: Path, candidate: str, seed: int) -> Path:
    return folder / CONFIRM_DIR / f"{candidate}-{seed}.weights.h5"


def _kept_runs(study: Study, folder: Path) -> dict[tuple[str, int], ConfirmRun]:
    """The finished confirmation runs of an interrupted search of the same study."""
    path = folder / CONFIRM_JSON
    if not path.exists():
        return {}
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    if doc.get("fingerprint") != study_fingerprint(study):
        return {}
    kept = {}
    for entry in doc.get("runs", []):
        run = ConfirmRun(**entry)
        weights = _weights_path(folder, run.candidate, run.seed).exists()
        if run.source == CONFIRM and (weights or not run.ok):
            kept[(run.candidate, run.seed)] = run
    return kept


def _write(runs: list[ConfirmRun], folder: Path, fingerprint: str, heads: list[str]) -> None:
    """Rewrite ``confirm.json`` and ``confirm.csv`` (atomically)."""
    doc = {"fingerprint": fingerprint, "runs": [asdict(r) for r in runs]}
    write_atomic(folder / CONFIRM_JSON, json.dumps(doc, indent=2))
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
    write_atomic(folder / CONFIRM_CSV, pd.DataFrame(rows).to_csv(index=False))

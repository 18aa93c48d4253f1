"""The named phases after the search, each with typed inputs and outputs.

``mtltune.search`` runs them in order on the search's ``SearchOutcome``:

1. ``race``: equal weights' model and stop scores (its twin among the trials reloaded, or
   trained), then the race of the best configurations against it (``Raced``);
2. ``score``: the leading trial and equal weights on test, and each strategy's best trial
   (``Scored``);
3. ``compare``: the race's seed-by-seed test scores and the verdict (``Compared``);
4. ``persist``: the recommended model, the predictions and the replicates (``Kept``).

Every step runs through ``Phases``: a failure is recorded and the rest goes on. No Keras Tuner
object enters here: the trials are the outcome's records and plans, a trial's model is
``SearchOutcome.load_model``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mtltune.data import Dataset
from mtltune.model.strategies import TrainPlan, baseline_plan
from mtltune.report.confirmation import Confirmation
from mtltune.report.results import Evaluation, StrategyBest, TrialRecord
from mtltune.report.tails import heavy_tails
from mtltune.report.verdict import Verdict, verdict_of
from mtltune.run.stop import StopToken
from mtltune.study import Study
from mtltune.tuning import afterwards, confirm, incumbent
from mtltune.tuning.evaluation import evaluate, train_baseline, with_test
from mtltune.tuning.export import save_best_model
from mtltune.tuning.hypermodel import MultiTaskHyperModel
from mtltune.tuning.incumbent import RaceNews
from mtltune.tuning.outcome import SearchOutcome
from mtltune.tuning.phases import Phases


@dataclass(frozen=True)
class After:
    """What every phase after the search reads.

    Attributes:
        study: The study.
        folder: The run folder.
        dataset: The prepared data.
        hypermodel: Builds and trains the models.
        news: Receives the stages and the race's runs (the search's ``Progress``).
        phases: Records the failures.
        stop: The run's stop token.
    """

    study: Study
    folder: Path
    dataset: Dataset
    hypermodel: MultiTaskHyperModel
    news: RaceNews
    phases: Phases
    stop: StopToken

    @property
    def base_plan(self) -> TrainPlan:
        """The equal-weights plan (``search.baseline``)."""
        return baseline_plan(tuple(self.study.heads), self.study.search.baseline)

    def unscored(self, plan: dict[str, Any]) -> Evaluation:
        """The stand-in of an evaluation that failed."""
        return afterwards.unscored(plan, self.phases, self.hypermodel.heads)


@dataclass(frozen=True)
class Raced:
    """Equal weights scored on stop, and the race.

    Attributes:
        baseline_model: Equal weights' model (``None`` if it could not be had).
        baseline: Its stop scores (no test scores yet).
        confirmation: The race, decided (``None`` without one).
        plans: The plans raced: challengers by trial id, then ``baseline``.
        seconds: The race's wall time.
    """

    baseline_model: Any | None
    baseline: Evaluation
    confirmation: Confirmation | None
    plans: dict[str, TrainPlan]
    seconds: float


@dataclass(frozen=True)
class Scored:
    """The leading trial and equal weights on test.

    Attributes:
        leader_id: The leading challenger's trial id (``None``: every trial is equal weights).
        best_trial: The leading trial (equal weights' twin without a challenger).
        best_model: Its model (``None`` if it could not be reloaded).
        best: Its scores.
        baseline: Equal weights' scores, test included.
        strategies: Each strategy's best trial, scored on test.
    """

    leader_id: str | None
    best_trial: TrialRecord
    best_model: Any | None
    best: Evaluation
    baseline: Evaluation
    strategies: dict[str, StrategyBest]


@dataclass(frozen=True)
class Compared:
    """The race with its test scores, and the verdict."""

    confirmation: Confirmation | None
    verdict: Verdict


@dataclass(frozen=True)
class Kept:
    """What was persisted beyond the models: the heavy tails and the replicates."""

    tails: dict[str, Any]
    replicates: dict[str, Any] | None


def race(after: After, outcome: SearchOutcome) -> Raced:
    """Equal weights' model and stop scores, then the race against it (test not read)."""
    base = after.base_plan
    baseline_model, baseline = after.phases.run(
        "baseline",
        lambda: _baseline(after, outcome, base),
        lambda: (None, after.unscored(base.describe())),
        missing="the baseline's scores and predictions",
    )
    started = time.perf_counter()
    confirmation, plans = None, {}
    if baseline_model is not None:
        confirmation, plans = incumbent.race(
            after.study,
            after.folder,
            after.dataset,
            after.hypermodel,
            outcome,
            baseline.objective,
            after.news,
            after.phases,
            after.stop,
        )
    return Raced(baseline_model, baseline, confirmation, plans, time.perf_counter() - started)


def _baseline(after: After, outcome: SearchOutcome, plan: TrainPlan) -> tuple[Any, Evaluation]:
    """The baseline's model and stop scores (its test scores come after the race).

    A completed trial of the very same plan (the TPE oracle's equal-weights trial) is the
    baseline already (same plan, seed and budget): its model is reloaded, not trained again.
    """
    twin = outcome.twin(plan)
    if twin is not None:
        after.news.stage(f"the baseline is trial {twin.trial_id}'s plan: reloading it")
        model = outcome.load_model(twin.trial_id)
        return model, evaluate(
            model, after.dataset, after.hypermodel, epochs=twin.epochs, test=False
        )
    after.news.stage("training the baseline")
    evaluation, model = train_baseline(after.hypermodel, plan, after.dataset, test=False)
    return model, evaluation


def score(after: After, outcome: SearchOutcome, raced: Raced) -> Scored:
    """Equal weights and the leading trial on test (the race is decided), and each strategy."""
    base = after.base_plan
    baseline = raced.baseline
    if raced.baseline_model is not None:
        model = raced.baseline_model
        baseline = after.phases.run(
            "evaluation",
            lambda: with_test(raced.baseline, model, after.dataset),
            lambda: after.unscored(base.describe()),
            run="equal weights",
            missing="the baseline's test scores",
        )
    leader_id = incumbent.leader(raced.confirmation, outcome.others(base), outcome.direction)
    if leader_id is None:  # every completed trial is the equal-weights plan itself
        twin = outcome.twin(base)
        assert twin is not None  # the finished trials are all equal weights
        best_trial, best_model, best = twin, raced.baseline_model, baseline
    else:
        best_trial = outcome.record(leader_id)
        after.news.stage(f"evaluating trial {best_trial.trial_id} on test")
        best_model, best = after.phases.run(
            "evaluation",
            lambda: afterwards.evaluated(outcome, best_trial, after.dataset, after.hypermodel),
            lambda: (None, after.unscored(best_trial.plan)),
            run=f"trial {best_trial.trial_id}",
            missing="the leading trial's test scores",
        )
    strategies = afterwards.strategy_bests(
        outcome,
        best_trial.trial_id,
        best,
        after.dataset,
        after.hypermodel,
        after.news.stage,
        after.phases,
    )
    return Scored(leader_id, best_trial, best_model, best, baseline, strategies)


def compare(after: After, raced: Raced, scored: Scored) -> Compared:
    """The race's leader and equal weights on test seed by seed, and the verdict."""
    confirmation = raced.confirmation
    if (
        confirmation is not None
        and scored.best_model is not None
        and raced.baseline_model is not None
    ):
        after.news.stage("scoring the race's leader and equal weights on test, seed by seed")
        at_seed = {"best": scored.best.test, "baseline": scored.baseline.test}
        run_race = confirmation
        confirmation = after.phases.run(
            "confirmation",
            lambda: confirm.paired_test(
                run_race, after.hypermodel, after.dataset, raced.plans, after.folder, at_seed
            ),
            lambda: run_race,
            run="test scores",
            missing="the seed-by-seed test scores of the leading trial and equal weights",
        )
    heads = after.study.heads
    log_heads = {h for h, cfg in heads.items() if cfg.loss_scale == "log"}
    direction = after.hypermodel.objective.direction
    verdict = verdict_of(
        confirmation, scored.best_trial, scored.best, scored.baseline, direction, log_heads
    )
    return Compared(confirmation, verdict)


def persist(
    after: After, outcome: SearchOutcome, raced: Raced, scored: Scored, compared: Compared
) -> Kept:
    """Save the recommended model and the predictions; run the replicates."""
    study, phases = after.study, after.phases
    stands = compared.verdict.stands
    recommended = raced.baseline_model if stands else scored.best_model
    if recommended is not None:
        phases.run(
            "export",
            lambda: save_best_model(
                after.folder, recommended, study, after.dataset, after.hypermodel.heads
            ),
            lambda: None,
            missing="best_model.keras and preprocessing.json",
        )
    pairs = (("best", scored.best_model), ("baseline", raced.baseline_model))
    models = {k: m for k, m in pairs if m is not None}
    arrays = phases.run(
        "export",
        lambda: (
            incumbent.predictions(after.folder, after.dataset, models, after.hypermodel)
            if models
            else None
        ),
        lambda: None,
        missing="predictions.npz (the prediction plots)",
    )
    role = "baseline" if stands else "best"
    tails = heavy_tails(arrays, study.heads, role) if arrays is not None else {}
    plans = {"best": outcome.plan(scored.best_trial.trial_id), "baseline": after.base_plan}
    replicates = None
    if scored.leader_id is not None:  # never equal weights against themselves
        replicates = phases.run(
            "replicates",
            lambda: afterwards.replicates(
                study,
                after.hypermodel,
                after.dataset,
                plans,
                scored.baseline,
                after.folder,
                after.news.stage,
            ),
            lambda: None,
            missing="the replicates",
        )
    for failed in (replicates or {}).get("failed", []):
        number, reason = failed.split(": ", 1)
        phases.record("replicates", number, reason, "this replicate (left out)")
    return Kept(tails, replicates)

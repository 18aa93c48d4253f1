"""The steps after the trials that score and retrain: each a function ``search`` runs.

``mtltune.search.run_study`` runs them through ``mtltune.tuning.phases.Phases``, which records
a failure instead of raising it; these functions say what they do and raise as they like.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mtltune.data import Dataset
from mtltune.model.strategies import TrainPlan
from mtltune.report.results import Evaluation, StrategyBest, TrialRecord
from mtltune.run.folder import RunFolder
from mtltune.study import Study
from mtltune.tuning.evaluation import evaluate
from mtltune.tuning.hypermodel import MultiTaskHyperModel
from mtltune.tuning.outcome import SearchOutcome
from mtltune.tuning.phases import Phases
from mtltune.tuning.replicates import run_replicates, summarise


def evaluated(
    outcome: SearchOutcome, trial: TrialRecord, dataset: Dataset, hypermodel: MultiTaskHyperModel
) -> tuple[Any, Evaluation]:
    """A trial's model, reloaded from its checkpoint, and its stop and test scores."""
    model = outcome.load_model(trial.trial_id)
    return model, evaluate(model, dataset, hypermodel, epochs=trial.epochs)


def unscored(plan: dict[str, Any], phases: Phases, heads: Any) -> Evaluation:
    """The stand-in of an evaluation that failed: NaN losses, the plan saying why."""
    nan = {h: {"loss": math.nan} for h in heads}
    reason = phases.failures[-1].reason if phases.failures else "not scored"
    return Evaluation(plan={**plan, "failed": reason}, objective=math.nan, stop=nan, test=nan)


def replicates(
    study: Study,
    hypermodel: MultiTaskHyperModel,
    dataset: Dataset,
    plans: dict[str, TrainPlan],
    baseline: Evaluation,
    folder: Path,
    stage: Callable[[str], None],
) -> dict[str, Any] | None:
    """The best and baseline plans retrained with other seeds (``report.replicates``)."""
    count = study.report.replicates
    if "diverged" in baseline.plan:
        stage(f"the baseline diverged ({baseline.plan['diverged']}); no replicates")
        return None
    if count <= 0:
        return None

    def on_replicate(k: int, kept: bool) -> None:
        what = "kept from an earlier session" if kept else "best and baseline"
        stage(f"replicate {k + 1} of {count}: {what}")

    arrays = run_replicates(study, hypermodel, plans, dataset, count, on_replicate, folder)
    RunFolder(folder).write_replicates(arrays)
    return summarise(arrays, hypermodel.heads, hypermodel.class_weights)


def strategy_bests(
    outcome: SearchOutcome,
    best_id: str,
    best: Evaluation,
    dataset: Dataset,
    hypermodel: MultiTaskHyperModel,
    stage: Callable[[str], None],
    phases: Phases,
) -> dict[str, StrategyBest]:
    """Each strategy's best trial by the stop objective, evaluated once on test.

    A strategy whose trial cannot be evaluated is left out of the comparison (recorded).
    """
    finished = outcome.finished
    out = {}
    for strategy in dict.fromkeys(t.strategy for t in finished):
        top = outcome.best([t for t in finished if t.strategy == strategy])
        assert top is not None  # the strategy has a finished trial
        evaluation: Evaluation | None = best
        if top.trial_id != best_id:
            stage(f"evaluating {strategy}'s best trial {top.trial_id} on test")
            evaluation = phases.run(
                "evaluation",
                lambda top=top: evaluated(outcome, top, dataset, hypermodel)[1],
                lambda: None,
                run=f"trial {top.trial_id}",
                missing=f"{strategy}'s line in the comparison of strategies",
            )
        if evaluation is not None:
            out[strategy] = StrategyBest(top.trial_id, evaluation)
    return out

"""Equal weights as the incumbent: its twin among the trials, the race, the leading challenger.

``mtltune.search.run_study`` calls these after the trials; ``mtltune.tuning.confirm`` trains
the race and ``mtltune.report.race`` holds its rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from mtltune.data import Dataset
from mtltune.model.strategies import TrainPlan
from mtltune.report.confirmation import Confirmation, ConfirmRun
from mtltune.report.records import TrialRecord
from mtltune.run.folder import RunFolder
from mtltune.run.stop import StopToken
from mtltune.study import Study
from mtltune.study.direction import Direction
from mtltune.tuning import confirm
from mtltune.tuning.evaluation import test_arrays
from mtltune.tuning.hypermodel import MultiTaskHyperModel
from mtltune.tuning.outcome import SearchOutcome
from mtltune.tuning.phases import Phases


class RaceNews(Protocol):
    """Receives the race's news (``mtltune.search.Progress`` is one)."""

    def stage(self, message: str) -> None:
        """A stage starts."""

    def confirm_finished(self, run: ConfirmRun, number: int, total: int) -> None:
        """A race run ends."""


def leader(
    confirmation: Confirmation | None, challengers: list[TrialRecord], direction: Direction
) -> str | None:
    """The race's leading challenger, or without a race the best challenger by objective."""
    if confirmation is not None and confirmation.chosen is not None:
        return confirmation.chosen
    if not challengers:
        return None
    if confirmation is not None:  # no challenger was raced: the best screened one leads
        ranked = [t for t in challengers if t.trial_id in confirmation.candidates]
        challengers = ranked or challengers
    rank = Direction(direction).key
    return min(challengers, key=lambda t: rank(float(t.objective))).trial_id  # type: ignore[arg-type]


def race(
    study: Study,
    folder: Path,
    dataset: Dataset,
    hypermodel: MultiTaskHyperModel,
    outcome: SearchOutcome,
    incumbent_objective: float,
    news: RaceNews,
    phases: Phases,
    stop: StopToken,
) -> tuple[Confirmation | None, dict[str, TrainPlan]]:
    """The race of the search's best configurations against equal weights, if one is run.

    Returns:
        The race (``None`` without one: ``search.confirm.top: 0``, no challenger, or the race
        failed, recorded in ``phases``) and the plans it raced.
    """
    if study.search.confirm.top <= 0:
        return None, {}
    plans = confirm.candidate_plans(study, outcome)
    if len(plans) <= 1:  # no challenger: every completed trial is equal weights
        return None, plans
    news.stage("racing the best configurations against equal weights")
    confirmation = phases.run(
        "confirmation",
        lambda: confirm.run_race(
            study,
            hypermodel,
            dataset,
            plans,
            outcome.records,
            incumbent_objective,
            folder,
            news.confirm_finished,
            stop,
        ),
        lambda: None,
        missing="the race (the leading trial is judged at the study seed alone)",
    )
    return confirmation, plans


def predictions(
    folder: Path, dataset: Dataset, models: dict[str, Any], hypermodel: MultiTaskHyperModel
) -> dict[str, Any]:
    """Write ``predictions.npz`` (test targets and each model's predictions); its arrays."""
    arrays = test_arrays(dataset, models, hypermodel.heads)
    RunFolder(folder).write_predictions(arrays)
    return arrays

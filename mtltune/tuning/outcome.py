"""``SearchOutcome``: what a search hands the steps after it, with no Keras Tuner object inside.

The trials' records, each completed trial's typed ``TrainPlan`` and a way to load a trial's
model from its best-epoch checkpoint. The race, the evaluation, the comparison of strategies
and the persistence (``mtltune.search``, ``mtltune.tuning.afterwards``, ``incumbent``,
``confirm``) read the search only through it; ``MultiTaskTuner.outcome`` makes it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mtltune.model.strategies import TrainPlan
from mtltune.report.records import TrialRecord


@dataclass(frozen=True)
class SearchOutcome:
    """The trials of a finished (or resumed and finished) search.

    Attributes:
        records: Every trial's record, in trial-id order.
        plans: The plan of every trial whose values give one, by trial id.
        direction: The objective's direction, ``"min"`` or ``"max"``.
        loader: Loads a trial's model (by trial id) from its best-epoch checkpoint.
    """

    records: list[TrialRecord]
    plans: Mapping[str, TrainPlan]
    direction: str
    loader: Callable[[str], Any]

    @property
    def finished(self) -> list[TrialRecord]:
        """The trials that completed with a finite objective, in trial-id order."""
        return [t for t in self.records if t.ok]

    def record(self, trial_id: str) -> TrialRecord:
        """The record of a trial.

        Raises:
            KeyError: If the search has no such trial.
        """
        for record in self.records:
            if record.trial_id == trial_id:
                return record
        raise KeyError(f"no trial {trial_id!r} in this search")

    def plan(self, trial_id: str) -> TrainPlan:
        """The typed plan of a trial (``KeyError`` if it has none)."""
        return self.plans[trial_id]

    def load_model(self, trial_id: str) -> Any:
        """A trial's model, reloaded from its best-epoch checkpoint."""
        return self.loader(trial_id)

    def best(self, records: list[TrialRecord] | None = None) -> TrialRecord | None:
        """The best of ``records`` (default: the finished trials) by objective; first on ties."""
        candidates = self.finished if records is None else [t for t in records if t.ok]
        if not candidates:
            return None
        sign = 1.0 if self.direction == "min" else -1.0
        return min(candidates, key=lambda t: sign * float(t.objective))  # type: ignore[arg-type]

    def twin(self, plan: TrainPlan) -> TrialRecord | None:
        """The first finished trial whose plan equals ``plan`` (the baseline's twin), if any."""
        return next((t for t in self.finished if self.plans.get(t.trial_id) == plan), None)

    def others(self, plan: TrainPlan) -> list[TrialRecord]:
        """The finished trials whose plan is not ``plan`` (the challengers of equal weights)."""
        return [t for t in self.finished if self.plans.get(t.trial_id) != plan]

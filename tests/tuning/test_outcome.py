"""SearchOutcome: the records with their typed plans, the best trial, equal weights' twin."""

from __future__ import annotations

import math

import pytest

from mtltune import SearchOutcome, separate_plan, weighted_plan
from mtltune.report.records import TrialRecord

HEADS = ("a", "b")
EQUAL = weighted_plan(HEADS, learning_rate=1e-3, epsilon=1e-7)
TILTED = weighted_plan(HEADS, learning_rate=1e-3, epsilon=1e-7, weights={"a": 1.0, "b": 3.0})
SEPARATE = separate_plan({"a": 1e-3, "b": 2e-3}, epsilon=1e-7)


def _record(trial_id: str, plan, objective: float | None, status: str = "COMPLETED"):
    return TrialRecord(
        trial_id=trial_id,
        status=status,
        strategy=plan.strategy,
        hyperparameters={},
        plan=plan.describe(),
        objective=objective,
    )


def _outcome(direction: str = "min") -> SearchOutcome:
    records = [
        _record("0", EQUAL, 0.5),
        _record("1", TILTED, 0.3),
        _record("2", SEPARATE, None, status="FAILED"),
        _record("3", SEPARATE, 0.4),
        _record("4", EQUAL, math.nan),
    ]
    plans = {"0": EQUAL, "1": TILTED, "2": SEPARATE, "3": SEPARATE, "4": EQUAL}
    return SearchOutcome(records, plans, direction, loader=lambda trial_id: f"model {trial_id}")


def test_finished_trials_are_the_completed_ones_with_a_finite_objective() -> None:
    assert [t.trial_id for t in _outcome().finished] == ["0", "1", "3"]


def test_the_best_trial_is_picked_from_the_records_in_the_objectives_direction() -> None:
    assert _outcome("min").best().trial_id == "1"
    assert _outcome("max").best().trial_id == "0"
    outcome = _outcome()
    separate = [t for t in outcome.records if t.strategy == "separate"]
    assert outcome.best(separate).trial_id == "3"
    assert outcome.best([outcome.record("2")]) is None


def test_equal_weights_twin_is_found_by_plan_equality() -> None:
    outcome = _outcome()
    assert outcome.twin(EQUAL).trial_id == "0"  # "4" is the same plan but did not finish
    assert outcome.twin(weighted_plan(HEADS, learning_rate=2e-3, epsilon=1e-7)) is None
    assert [t.trial_id for t in outcome.others(EQUAL)] == ["1", "3"]


def test_a_trials_plan_record_and_model_are_looked_up_by_id() -> None:
    outcome = _outcome()
    assert outcome.plan("3") == SEPARATE
    assert outcome.record("1").plan == TILTED.describe()
    assert outcome.load_model("1") == "model 1"
    with pytest.raises(KeyError):
        outcome.record("9")

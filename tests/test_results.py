"""StudyResult: ratios and the report.json document."""

from __future__ import annotations

import pytest

from mtltune.results import Evaluation, StudyResult, TrialRecord

PLAN = {
    "strategy": "weighted",
    "epsilon": 1e-7,
    "learning_rate": 1e-3,
    "loss_weights": {"a": 0.5, "b": 1.5},
}


def make_result() -> StudyResult:
    best_trial = TrialRecord(
        trial_id="1",
        status="COMPLETED",
        strategy="weighted",
        hyperparameters={"strategy": "weighted", "loss_weight_a": 0.2, "loss_weight_b": 0.6},
        plan=PLAN,
        objective=0.4,
        stop={"a": {"loss": 0.2}, "b": {"loss": 0.8}},
        epochs=10,
        best_epoch=7,
        seconds=1.5,
    )
    failed = TrialRecord(
        trial_id="2",
        status="FAILED",
        strategy="separate",
        hyperparameters={"strategy": "separate"},
        plan={"strategy": "separate", "epsilon": 1e-7, "learning_rates": {"a": 1.0, "b": 1.0}},
        objective=None,
        message="diverged at epoch 2: loss_a=nan",
    )
    best = Evaluation(
        plan=PLAN,
        objective=0.4,
        stop={"a": {"loss": 0.2}, "b": {"loss": 0.8}},
        test={
            "a": {"loss": 0.25, "mae": 0.4, "loss_clean": 0.05},
            "b": {"loss": 1.0, "accuracy": 0.9},
        },
        epochs=10,
    )
    baseline = Evaluation(
        plan=PLAN,
        objective=0.5,
        stop={"a": {"loss": 0.3}, "b": {"loss": 0.9}},
        test={
            "a": {"loss": 0.5, "mae": 0.6, "loss_clean": 0.2},
            "b": {"loss": 0.8, "accuracy": 0.85},
        },
        epochs=12,
    )
    return StudyResult(
        study={
            "name": "toy",
            "seed": 0,
            "heads": {"a": {}, "b": {}},
            "search": {"tuner": "random"},
        },
        objective_name="geometric mean of per-head stop losses",
        objective_direction="min",
        best_trial=best_trial,
        best=best,
        baseline=baseline,
        trials=[best_trial, failed],
        data={"rows": {"train": 10, "stop": 5, "test": 5}},
        seconds=3.0,
    )


def test_ratios() -> None:
    result = make_result()
    assert result.ratio == pytest.approx({"a": 2.0, "b": 0.8})
    assert result.ratio_clean == pytest.approx({"a": 4.0})


def test_trial_ok() -> None:
    result = make_result()
    assert [t.ok for t in result.trials] == [True, False]


def test_report_document_has_the_promised_keys() -> None:
    doc = make_result().to_dict()
    assert {"study", "objective", "best", "baseline", "ratio"} <= set(doc)
    assert doc["objective"] == {
        "name": "geometric mean of per-head stop losses",
        "direction": "min",
        "value": 0.4,
    }
    assert {"trial_id", "strategy", "hyperparameters", "stop", "test"} <= set(doc["best"])
    assert doc["best"]["trial_id"] == "1"
    assert doc["best"]["test"]["a"]["loss"] == 0.25
    assert doc["baseline"]["test"]["b"]["accuracy"] == 0.85
    assert doc["trials"] == {"total": 2, "completed": 1, "failed": 1}
    assert doc["ratio_clean"] == pytest.approx({"a": 4.0})

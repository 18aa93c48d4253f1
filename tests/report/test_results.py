"""StudyResult: trial status, per-head ratios and the report.json document."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from mtltune import StudyResult
from mtltune.report.results import Evaluation, TrialRecord

PLAN = {
    "strategy": "weighted",
    "epsilon": 1e-7,
    "learning_rate": 1e-3,
    "loss_weights": {"a": 0.5, "b": 1.5},
}
SEPARATE_PLAN = {"strategy": "separate", "epsilon": 1e-3, "learning_rates": {"a": 0.01, "b": 0.02}}


def make_result(**changes) -> StudyResult:
    """Two heads (a: regression with a clean target, b: classification), one failed trial."""
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
    fields = {
        "study": {
            "name": "toy",
            "seed": 0,
            "heads": {"a": {}, "b": {}},
            "search": {"tuner": "random"},
        },
        "objective_name": "geometric mean of per-head stop losses",
        "objective_direction": "min",
        "best_trial": best_trial,
        "best": best,
        "baseline": baseline,
        "trials": [best_trial, failed],
        "data": {"rows": {"train": 10, "stop": 5, "test": 5}},
        "seconds": 3.0,
    }
    fields.update(changes)
    return StudyResult(**fields)


def with_test(result: StudyResult, best: dict, baseline: dict | None = None) -> StudyResult:
    return dataclasses.replace(
        result,
        best=dataclasses.replace(result.best, test=best),
        baseline=dataclasses.replace(result.baseline, test=baseline or result.baseline.test),
    )


# ---------------------------------------------------------------------------------------------
# Trials


def test_trial_ok() -> None:
    result = make_result()
    assert [t.ok for t in result.trials] == [True, False]


@pytest.mark.parametrize(
    ("status", "objective", "ok"),
    [
        ("COMPLETED", 0.3, True),
        ("COMPLETED", math.nan, False),
        ("COMPLETED", math.inf, False),
        ("COMPLETED", None, False),
        ("FAILED", 0.3, False),
        ("INVALID", None, False),
        ("RUNNING", 0.3, False),
    ],
)
def test_trial_ok_needs_completion_and_a_finite_objective(status, objective, ok) -> None:
    trial = TrialRecord("7", status, "weighted", {}, PLAN, objective)
    assert trial.ok is ok


def test_trial_record_defaults() -> None:
    trial = TrialRecord("7", "RUNNING", "weighted", {}, PLAN, None)
    assert trial.stop == {} and trial.epochs is None and trial.message is None


# ---------------------------------------------------------------------------------------------
# Ratios


def test_heads_in_study_order() -> None:
    assert make_result().heads == ["a", "b"]


def test_ratios() -> None:
    result = make_result()
    assert result.ratio == pytest.approx({"a": 2.0, "b": 0.8})  # baseline / best
    assert result.ratio_clean == pytest.approx({"a": 4.0})  # only heads with a clean loss
    assert set(result.ratio) == set(result.heads)


def test_ratio_above_one_means_the_search_helped() -> None:
    result = make_result()
    for head in result.heads:
        helped = result.best.test[head]["loss"] < result.baseline.test[head]["loss"]
        assert (result.ratio[head] > 1) is helped


def test_ratio_of_a_zero_loss_is_infinite() -> None:
    result = with_test(make_result(), {"a": {"loss": 0.0}, "b": {"loss": 1.0}})
    assert result.ratio["a"] == math.inf
    assert result.ratio["b"] == pytest.approx(0.8)


def test_ratio_of_a_nan_loss_is_nan() -> None:
    # a NaN test loss must not read as "the search helped infinitely"
    result = with_test(make_result(), {"a": {"loss": math.nan}, "b": {"loss": 1.0}})
    assert math.isnan(result.ratio["a"])


def test_no_clean_targets_no_clean_ratio() -> None:
    plain = {"a": {"loss": 0.25}, "b": {"loss": 1.0}}
    result = with_test(make_result(), plain, {"a": {"loss": 0.5}, "b": {"loss": 0.5}})
    assert result.ratio_clean == {}
    assert result.ratio == pytest.approx({"a": 2.0, "b": 0.5})
    assert "ratio_clean" not in result.to_dict()


# ---------------------------------------------------------------------------------------------
# The report.json document


def test_report_document_has_the_promised_keys() -> None:
    result = make_result()
    doc = result.to_dict()
    assert {"study", "objective", "best", "baseline", "ratio"} <= set(doc)
    assert doc["study"] == result.study
    assert doc["objective"] == {
        "name": "geometric mean of per-head stop losses",
        "direction": "min",
        "value": 0.4,
    }
    assert {"trial_id", "strategy", "hyperparameters", "stop", "test"} <= set(doc["best"])
    assert doc["best"]["trial_id"] == "1"
    assert doc["best"]["strategy"] == "weighted"
    assert doc["best"]["hyperparameters"] == result.best_trial.hyperparameters
    assert doc["best"]["stop"] == {"a": {"loss": 0.2}, "b": {"loss": 0.8}}
    assert doc["best"]["test"] == result.best.test
    assert doc["best"]["plan"] == PLAN
    assert doc["baseline"]["test"] == result.baseline.test
    assert doc["baseline"]["test"]["b"]["accuracy"] == 0.85
    assert doc["ratio"] == pytest.approx({"a": 2.0, "b": 0.8})
    assert doc["ratio_clean"] == pytest.approx({"a": 4.0})
    assert doc["trials"] == {"total": 2, "completed": 1, "failed": 1}
    assert doc["data"] == {"rows": {"train": 10, "stop": 5, "test": 5}}
    assert doc["seconds"] == 3.0


def test_report_document_is_plain_json_data() -> None:
    doc = make_result().to_dict()
    assert json.loads(json.dumps(doc, allow_nan=False)) == doc


def test_report_document_is_a_copy() -> None:
    result = make_result()
    doc = result.to_dict()
    doc["best"]["test"]["a"]["loss"] = 123.0
    doc["baseline"]["plan"]["epsilon"] = 1.0
    assert result.best.test["a"]["loss"] == 0.25
    assert result.baseline.plan["epsilon"] == 1e-7


def test_best_trial_metadata_in_the_document() -> None:
    trial = dataclasses.replace(
        make_result().best_trial, trial_id="09", strategy="separate", plan=SEPARATE_PLAN
    )
    doc = make_result(best_trial=trial, objective_direction="max").to_dict()
    assert doc["best"]["trial_id"] == "09"
    assert doc["best"]["strategy"] == "separate"
    assert doc["objective"]["direction"] == "max"

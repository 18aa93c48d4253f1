"""Report files: report.json (strict JSON), report.md, trials.csv, atomic writes."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from test_results import make_result

from mtltune import write_report
from mtltune.report import report_json, write_atomic


def test_write_report_files(tmp_path) -> None:
    result = make_result()
    paths = write_report(result, tmp_path)
    assert set(paths) == {"report.json", "report.md", "trials.csv"}
    doc = json.loads(paths["report.json"].read_text())
    assert doc["ratio"] == pytest.approx(result.ratio)
    assert doc["best"]["stop"] == {"a": {"loss": 0.2}, "b": {"loss": 0.8}}
    markdown = paths["report.md"].read_text()
    assert "| a |" in markdown and "| b |" in markdown
    assert "clean ratio" in markdown and "diverged at epoch 2" in markdown
    assert "loss weights (normalised to mean 1): a 0.5, b 1.5" in markdown
    trials = pd.read_csv(paths["trials.csv"])
    assert list(trials["trial_id"]) == [1, 2]
    assert list(trials["status"]) == ["COMPLETED", "FAILED"]
    assert trials.loc[0, "stop_loss_a"] == pytest.approx(0.2)
    assert trials.loc[0, "weight_b"] == pytest.approx(1.5)
    assert trials.loc[1, "message"] == "diverged at epoch 2: loss_a=nan"
    assert math.isnan(trials.loc[1, "objective"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "report.md", "trials.csv"]


def test_report_json_is_strict_even_with_infinite_ratios() -> None:
    result = make_result()
    result.best.test["a"]["loss"] = 0.0
    text = report_json(result)
    assert json.loads(text)["ratio"]["a"] == "inf"


def test_write_atomic_replaces_and_leaves_no_temporary_file(tmp_path) -> None:
    target = tmp_path / "out.txt"
    write_atomic(target, "one")
    write_atomic(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]

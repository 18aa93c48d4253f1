"""Report files: report.json (strict JSON), report.md, trials.csv, atomic writes."""

from __future__ import annotations

import dataclasses
import json
import math
import stat
from pathlib import Path

import pandas as pd
import pytest
from test_results import SEPARATE_PLAN, make_result

from mtltune import write_report
from mtltune.report import head_table, report_json, report_markdown, trials_table
from mtltune.report.results import TrialRecord
from mtltune.run.atomic import write_atomic

FILES = ["pareto.csv", "report.json", "report.md", "trials.csv"]
LISTING = sorted([*FILES, "plots"])
PLOTS = ["plots/hyperparameters.png", "plots/objective.png", "plots/pareto.png"]


def strict_loads(text: str):
    def reject(constant: str):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=reject)


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ---------------------------------------------------------------------------------------------
# write_report


def test_write_report_writes_the_files_and_plots(tmp_path) -> None:
    paths = write_report(make_result(), tmp_path)
    assert set(paths) == set(FILES) | set(PLOTS)
    assert all(paths[name] == tmp_path / name for name in FILES)
    assert all(paths[name].is_file() and paths[name].stat().st_size > 0 for name in FILES)
    assert listing(tmp_path) == LISTING  # no temporary files left behind


def test_write_report_creates_the_run_folder(tmp_path) -> None:
    run = tmp_path / "runs" / "first"
    paths = write_report(make_result(), str(run))
    assert listing(run) == LISTING
    assert paths["report.json"].parent == run


def test_write_report_overwrites_a_previous_report(tmp_path) -> None:
    write_report(make_result(), tmp_path)
    write_report(make_result(seconds=42.0), tmp_path)
    assert strict_loads((tmp_path / "report.json").read_text())["seconds"] == 42.0
    assert listing(tmp_path) == LISTING


# ---------------------------------------------------------------------------------------------
# report.json


def test_report_json_is_strict_and_round_trips_the_numbers(tmp_path) -> None:
    result = make_result()
    paths = write_report(result, tmp_path)
    doc = strict_loads(paths["report.json"].read_text(encoding="utf-8"))
    assert doc == result.to_dict()  # every number survives exactly
    assert doc["objective"]["value"] == 0.4
    assert doc["best"]["plan"]["epsilon"] == 1e-7
    assert doc["best"]["test"] == result.best.test
    assert doc["baseline"]["test"] == result.baseline.test
    assert doc["ratio"] == result.ratio
    assert doc["ratio_clean"] == result.ratio_clean
    assert doc["best"]["hyperparameters"] == {
        "strategy": "weighted",
        "loss_weight_a": 0.2,
        "loss_weight_b": 0.6,
    }
    assert paths["report.json"].read_text().endswith("\n")


def test_report_json_keeps_awkward_floats_exactly(tmp_path) -> None:
    result = make_result()
    value = 0.1 + 0.2
    best = dataclasses.replace(result.best, objective=value)
    doc = strict_loads(report_json(make_result(best=best)))
    assert doc["objective"]["value"] == value


def test_report_json_is_strict_even_with_infinite_ratios() -> None:
    result = make_result()
    best = dataclasses.replace(
        result.best, test={"a": {"loss": 0.0, "loss_clean": 0.0}, "b": {"loss": 1.0}}
    )
    doc = strict_loads(report_json(make_result(best=best)))
    assert doc["ratio"]["a"] == "inf"
    assert doc["ratio_clean"]["a"] == "inf"
    assert doc["ratio"]["b"] == pytest.approx(0.8)


def test_report_json_is_strict_with_nan_scores() -> None:
    result = make_result()
    baseline = dataclasses.replace(result.baseline, objective=math.nan)
    doc = strict_loads(report_json(make_result(baseline=baseline)))
    assert doc["baseline"]["objective"] == "nan"


# ---------------------------------------------------------------------------------------------
# report.md


def test_report_markdown_has_the_head_table_and_each_head(tmp_path) -> None:
    result = make_result()
    markdown = write_report(result, tmp_path)["report.md"].read_text(encoding="utf-8")
    assert markdown.startswith("# mtltune report: toy\n")
    assert "## Per-head test performance" in markdown
    header, rows = head_table(result)
    assert "| " + " | ".join(header) + " |" in markdown
    assert [row[0] for row in rows] == ["a", "b"]
    table = [line for line in markdown.splitlines() if line.startswith(("| a |", "| b |"))]
    assert table == [
        # head, best stop loss, best test loss, best accuracy, best mae, baseline test loss,
        # ratio, best clean loss, baseline clean loss, clean ratio
        "| a | 0.2 | 0.25 | – | 0.4 | 0.5 | 2 | 0.05 | 0.2 | 4 |",
        "| b | 0.8 | 1 | 0.9 | – | 0.8 | 0.8 | – | – | – |",
    ]
    assert "best test loss" in markdown and "baseline test loss" in markdown
    assert "clean ratio" in markdown
    assert "geometric mean of per-head stop losses" in markdown and "minimise" in markdown


def test_report_markdown_lists_trials_and_the_failure(tmp_path) -> None:
    markdown = report_markdown(make_result())
    assert "Trials: 2 (1 completed, 1 failed)" in markdown
    assert "| 1 | weighted | 0.4 | 10 | 0.2 | 0.8 |" in markdown
    assert "- `2` (FAILED): diverged at epoch 2: loss_a=nan" in markdown
    assert "Rows: train 10, stop 5, test 5." in markdown
    assert "tuner `random`" in markdown


def test_report_markdown_describes_both_plans() -> None:
    result = make_result()
    baseline = dataclasses.replace(result.baseline, plan=SEPARATE_PLAN)
    markdown = report_markdown(make_result(baseline=baseline))
    assert "loss weights (normalised to mean 1): a 0.5, b 1.5" in markdown
    assert "learning rate: 0.001" in markdown
    assert "learning rate per head: a 0.01, b 0.02" in markdown
    assert "Adam epsilon: 1e-07" in markdown


def test_report_markdown_ranks_by_the_objective_direction() -> None:
    result = make_result()
    trials = [
        TrialRecord(
            str(i),
            "COMPLETED",
            "weighted",
            {},
            result.best_trial.plan,
            value,
            stop={"a": {"loss": 1.0}, "b": {"loss": 1.0}},
            epochs=3,
        )
        for i, value in ((11, 0.5), (12, 0.9), (13, 0.7))
    ]
    for direction, order in (("min", ["11", "13", "12"]), ("max", ["12", "13", "11"])):
        markdown = report_markdown(make_result(trials=trials, objective_direction=direction))
        ranked = [
            line.split(" | ")[0][2:] for line in markdown.splitlines() if "| weighted |" in line
        ]
        assert ranked == order, direction
        assert f"({direction}imise)" in markdown
    assert "Failed trials" not in markdown


def test_compact_head_table() -> None:
    header, rows = head_table(make_result(), compact=True)
    assert header == ["head", "test loss", "accuracy", "mae", "baseline", "ratio", "clean ratio"]
    assert rows[0] == ["a", 0.25, None, 0.4, 0.5, pytest.approx(2.0), pytest.approx(4.0)]
    assert rows[1][0] == "b" and rows[1][-1] is None


# ---------------------------------------------------------------------------------------------
# trials.csv


def test_trials_csv_has_one_row_per_trial(tmp_path) -> None:
    result = make_result()
    trials = pd.read_csv(write_report(result, tmp_path)["trials.csv"])
    assert len(trials) == len(result.trials) == 2
    assert trials["trial_id"].astype(str).tolist() == ["1", "2"]
    assert trials["status"].tolist() == ["COMPLETED", "FAILED"]
    assert trials["strategy"].tolist() == ["weighted", "separate"]
    assert trials.loc[0, "objective"] == pytest.approx(0.4)
    assert trials.loc[0, "stop_loss_a"] == pytest.approx(0.2)
    assert trials.loc[0, "stop_loss_b"] == pytest.approx(0.8)
    assert trials.loc[0, "weight_b"] == pytest.approx(1.5)
    assert trials.loc[0, "hp_loss_weight_a"] == pytest.approx(0.2)
    assert trials.loc[0, "best_epoch"] == 7
    assert trials.loc[1, "message"] == "diverged at epoch 2: loss_a=nan"
    assert math.isnan(trials.loc[1, "objective"])
    assert pd.isna(trials.loc[0, "message"])


def test_trials_csv_quotes_awkward_messages(tmp_path) -> None:
    result = make_result()
    message = 'ValueError: "bad", very bad\nsecond line'
    failed = dataclasses.replace(result.trials[1], message=message)
    write_report(make_result(trials=[result.trials[0], failed]), tmp_path)
    trials = pd.read_csv(tmp_path / "trials.csv")
    assert len(trials) == 2
    assert trials.loc[1, "message"] == message


def test_trials_table_columns() -> None:
    table = trials_table(make_result().trials)
    assert list(table.columns[:7]) == [
        "trial_id",
        "status",
        "strategy",
        "objective",
        "seconds",
        "epochs",
        "best_epoch",
    ]
    assert table.columns[-1] == "message"
    assert trials_table([]).empty


# ---------------------------------------------------------------------------------------------
# write_atomic


def test_write_atomic_replaces_and_leaves_no_temporary_file(tmp_path) -> None:
    target = tmp_path / "out.txt"
    write_atomic(target, "one", root=tmp_path)
    write_atomic(target, "two", root=tmp_path)
    assert target.read_text() == "two"
    assert listing(tmp_path) == ["out.txt"]


def test_write_atomic_creates_folders_and_writes_utf8(tmp_path) -> None:
    target = tmp_path / "a" / "b" / "out.md"
    write_atomic(target, "σ² — ok\n", root=tmp_path)
    assert target.read_text(encoding="utf-8") == "σ² — ok\n"
    assert listing(target.parent) == ["out.md"]


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path) -> None:
    target = tmp_path / "out.txt"
    write_atomic(target, "old", root=tmp_path)
    with pytest.raises(TypeError):
        write_atomic(target, None, root=tmp_path)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert listing(tmp_path) == ["out.txt"]


def test_write_atomic_keeps_the_usual_file_permissions(tmp_path) -> None:
    # mkstemp creates 0600 files; a report should be as readable as a plainly written file
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic = tmp_path / "atomic.txt"
    write_atomic(atomic, "x", root=tmp_path)
    assert stat.S_IMODE(atomic.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)

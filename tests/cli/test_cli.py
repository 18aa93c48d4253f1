"""The command line: validate/show without TensorFlow, search end to end, exit codes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mtltune.cli import app

runner = CliRunner()


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_validate_and_help_do_not_import_tensorflow(write_study) -> None:
    path = write_study()
    code = f"""
import sys
from typer.testing import CliRunner
from mtltune.cli import app
runner = CliRunner()
study = {str(path)!r}
for args in (["--help"], ["search", "--help"], ["worker", "--help"], ["validate", study],
             ["show", study]):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, (args, result.output)
assert "tensorflow" not in sys.modules, "TensorFlow was imported"
assert "keras" not in sys.modules, "Keras was imported"
print("ok")
"""
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert "ok" in done.stdout


def test_python_dash_m_runs_the_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mtltune", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0
    assert "search" in done.stdout and "validate" in done.stdout


def test_validate_reports_rows(write_study) -> None:
    result = runner.invoke(app, ["validate", str(write_study())])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output and "train 150" in result.output


def test_show_prints_the_resolved_study_with_defaults(write_study) -> None:
    result = runner.invoke(app, ["show", str(write_study()), "--set", "search.max_trials=7"])
    assert result.exit_code == 0, result.output
    assert "max_trials: 7" in result.output
    assert "loss: mse" in result.output  # a default filled in


def test_invalid_study_exits_2_naming_the_key_and_writes_nothing(write_study, tmp_path) -> None:
    path = write_study({"search": {"max_trails": 3}})
    out = tmp_path / "never"
    result = runner.invoke(app, ["search", str(path), "--out", str(out)])
    assert result.exit_code == 2
    assert "search.max_trails" in result.output and "max_trials" in result.output
    assert not out.exists()
    assert runner.invoke(app, ["validate", str(path)]).exit_code == 2


def test_invalid_data_exits_2_and_writes_nothing(write_study, tmp_path) -> None:
    path = write_study({"heads": {"y0": {"target": "nope"}}})
    out = tmp_path / "never"
    result = runner.invoke(app, ["search", str(path), "--out", str(out)])
    assert result.exit_code == 2
    assert "heads.y0.target" in result.output and "nope" in result.output
    assert not out.exists()


def test_search_end_to_end(write_study, tmp_path) -> None:
    path = write_study({"search": {"max_trials": 2, "strategies": ["weighted", "separate"]}})
    out = tmp_path / "run"
    result = runner.invoke(app, ["search", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    trial_lines = [line for line in result.output.splitlines() if " of 2 " in line]
    assert [line.split()[2] for line in trial_lines] == ["1", "2"], result.output  # one each
    assert "oracle" in result.output and "verdict: " in result.output
    assert "one run each" in result.output or "paired seeds" in result.output
    report = json.loads((out / "report.json").read_text())
    assert {"study", "objective", "best", "baseline", "ratio"} <= set(report)
    assert {"trial_id", "strategy", "hyperparameters", "stop", "test"} <= set(report["best"])
    assert set(report["ratio"]) == {"y0", "y1", "y2"}
    assert report["objective"]["value"] > 0
    assert set(report["best"]["test"]["y0"]) >= {"loss", "mae", "rmse"}
    trials = pd.read_csv(out / "trials.csv")
    assert len(trials) == 2
    assert {"trial_id", "status", "objective", "seconds", "stop_loss_y0"} <= set(trials.columns)
    assert set(trials["origin"]) == {"sampler"}  # the random tuner has no informed trials
    assert {"training", "oracle", "race", "evaluation", "report"} <= set(report["time_split"])
    assert "y0" in (out / "report.md").read_text() and "- Time: " in (out / "report.md").read_text()

    # Resumed with --replicates (report.* may change on resume): the option sets
    # report.replicates, and the replicates run.
    again = runner.invoke(app, ["search", str(path), "--out", str(out), "--replicates", "2"])
    assert again.exit_code == 0, again.output
    assert "resuming search" in again.output
    assert len(pd.read_csv(out / "trials.csv")) == 2
    report = json.loads((out / "report.json").read_text())
    assert report["study"]["report"]["replicates"] == 2
    assert report["replicates"]["count"] == 2
    assert "## Replicates (2)" in (out / "report.md").read_text()


def test_search_into_another_studys_folder_exits_1(tiny_run, write_study, tmp_path) -> None:
    out = Path(shutil.copytree(tiny_run[1], tmp_path / "run"))  # a finished run of TINY
    other = write_study({"seed": 11, "search": {"max_trials": 1}}, name="other.yaml")
    result = runner.invoke(app, ["search", str(other), "--out", str(out)])
    assert result.exit_code == 1
    assert "--overwrite" in result.output


# ---------------------------------------------------------------------------------------------
# Every bad input: exit code 2, the key path / column / row and what is wrong, nothing written.

BASE_ROWS = pd.DataFrame(
    {
        "x": [float(i) for i in range(40)],
        "colour": ["red", "blue"] * 20,
        "price": [float(i % 7) for i in range(40)],
        "sold": ["no", "yes"] * 20,
    }
)
BASE_STUDY = {
    "name": "bad",
    "data": {"source": "rows.csv", "inputs": ["x", "colour"]},
    "split": {"train": 0.5, "stop": 0.25, "test": 0.25, "shuffle": False},
    "heads": {"price": {}, "sold": {"kind": "binary"}},
}


def _rows(**changes) -> pd.DataFrame:
    frame = BASE_ROWS.copy()
    for column, (index, value) in changes.items():
        frame[column] = frame[column].astype(object)
        frame.loc[index, column] = value
    return frame


BAD_INPUTS = {
    "malformed yaml": ("name: bad\nheads: [oops\n", None, ["malformed YAML", "line 3"]),
    "unknown key": ({"traning": {}}, None, ["traning", "did you mean 'training'"]),
    "wrong type": ({"training": {"max_epochs": "ten"}}, None, ["training.max_epochs", "'ten'"]),
    "split sum": ({"split": {"train": 0.5, "stop": 0.5, "test": 0.5}}, None, ["must be 1"]),
    "empty split": (
        {"split": {"train": 0.98, "stop": 0.01, "test": 0.01}},
        None,
        ["split.stop", "no rows"],
    ),
    "missing file": ({"data": {"source": "gone.csv"}}, None, ["data.source", "does not exist"]),
    "unreadable file": ({"data": {"source": "rows.parquet"}}, b"not parquet", ["cannot read"]),
    "absent column": (
        {"heads": {"price": {"target": "cost"}}},
        None,
        ["heads.price.target", "'cost'", "available columns: x, colour, price, sold"],
    ),
    "non-numeric input": ({}, _rows(x=(5, "5,5")), ["column 'x'", "'5,5'", "data row 6"]),
    "nan target": (
        {},
        _rows(price=(3, float("nan"))),
        ["heads.price.target", "1 missing", "data.missing"],
    ),
    "infinite input": ({}, _rows(x=(2, float("inf"))), ["column 'x'", "first data rows: 3"]),
    "single class": ({}, BASE_ROWS.assign(sold="yes"), ["heads.sold.target", "2 classes"]),
    "unseen class": ({}, _rows(sold=(39, "maybe")), ["train never saw", "'maybe'", "test"]),
    "duplicate head": (
        "name: bad\ndata: {source: rows.csv, inputs: [x]}\nheads:\n  price: {}\n  price: {}\n",
        None,
        ["duplicate key 'price'"],
    ),
    "invalid head name": ({"heads": {"price-usd": {"target": "price"}}}, None, ["head names"]),
    "range min above max": (
        {"search": {"loss_weight": {"min": 5.0, "max": 1.0}}},
        None,
        ["search.loss_weight", "min must be <= max"],
    ),
    "non-positive log bound": (
        {"search": {"learning_rate": {"min": -1.0, "max": 0.1}}},
        None,
        ["search.learning_rate.min", "greater than 0"],
    ),
    "unknown tuner": ({"search": {"tuner": "grid"}}, None, ["search.tuner", "'hyperband'"]),
    "unknown strategy": (
        {"search": {"strategies": ["joint"]}},
        None,
        ["search.strategies.0", "'separate'"],
    ),
    "unknown loss": (
        {"heads": {"price": {"loss": "mape"}}},
        None,
        ["heads.price", "mse, mae, huber"],
    ),
    "custom loss not importable": (
        {"heads": {"price": {"loss": "nowhere_mod:fn"}}},
        None,
        ["heads.price.loss", "cannot import module 'nowhere_mod'"],
    ),
    "unknown metric": (
        {"heads": {"sold": {"kind": "binary", "metrics": ["f1"]}}},
        None,
        ["heads.sold", "accuracy, auc, precision, recall"],
    ),
    # Issue 17: what search refused (or crashed on), validate refuses first.
    "seed beyond numpy": ({"seed": 2**32}, None, ["seed", "less than or equal to 4294967295"]),
    "head named like a trunk layer": (
        {"heads": {"trunk_0": {"target": "price"}}},
        None,
        ["'trunk_0'", "shared trunk"],
    ),
    "head named inputs": ({"heads": {"inputs": {"target": "price"}}}, None, ["'inputs'"]),
    "head name ending in a newline": (
        {"heads": {"price\n": {"target": "price"}}},
        None,
        ["is not a name"],
    ),
    "head name too long": (
        {"heads": {"p" * 250: {"target": "price"}}},
        None,
        ["250 characters long", "at most 64"],
    ),
    "head named like another head's hidden layer": (
        {"heads": {"price": {"hidden": [4]}, "price_hidden_0": {"target": "price"}}},
        None,
        ["'price_hidden_0'", "hidden layer 0"],
    ),
    "uses name ending in a newline": (
        {"heads": {"price": {"loss": "gaussian_nll", "uses": ["v\n"]}}},
        None,
        ["is not a name"],
    ),
    "huge batch size": (
        {"training": {"batch_size": 10**13}},
        None,
        ["training.batch_size", "less than or equal to 1048576"],
    ),
    "infinite baseline learning rate": (
        {"search": {"baseline": {"learning_rate": float("inf")}}},
        None,
        ["search.baseline.learning_rate", "finite number"],
    ),
    "huge baseline learning rate": (
        {"search": {"baseline": {"learning_rate": 1e9}}},
        None,
        ["search.baseline.learning_rate", "less than or equal to 1"],
    ),
    "infinite search range": (
        {"search": {"loss_weight": {"min": 1.0, "max": float("inf")}}},
        None,
        ["search.loss_weight.max", "finite number"],
    ),
    "custom loss module exits": (
        {"heads": {"price": {"loss": "exiting_losses_mod:f"}}},
        None,
        ["heads.price.loss", "SystemExit(0)", "must not exit"],
        {"exiting_losses_mod.py": "raise SystemExit(0)\n"},
    ),
    "alias bomb": (
        "".join(
            f"x{i}: &a{i} [{', '.join([f'*a{i - 1}' if i else 'lol'] * 9)}]\n" for i in range(9)
        )
        + "name: bad\nseed: *a8\n",
        None,
        ["expands to more than 100,000 values"],
    ),
    "recursive alias": ("name: &n [*n]\n", None, ["contains itself"]),
    "study file too large": (
        "name: bad\n# " + "x" * 1_000_100 + "\n",
        None,
        ["bytes; a study may be at most 1,000,000 bytes"],
    ),
    "list too long": ({"data": {"inputs": ["x"] * 10_001}}, None, ["10,001 items"]),
    "huge value quoted short": (
        {"training": {"max_epochs": "t" * 100_000}},
        None,
        ["training.max_epochs", "(100,002 characters)"],
    ),
    "target beyond float32": (
        {},
        _rows(price=(4, 1e39)),
        ["column 'price'", "float32", "data row 5"],
    ),
    "input whose statistics overflow": (
        {},
        _rows(x=(2, 1e308)),
        ["column 'x'", "float32", "data row 3"],
    ),
    "duplicate column": ({}, BASE_ROWS.assign(dup=0.0).rename(columns={"dup": "x"}), ["['x']"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS), ids=list(BAD_INPUTS))
def test_bad_input_exits_2_with_an_actionable_message(case, tmp_path) -> None:
    import yaml
    from conftest import deep_update

    study, rows, words, *extra = BAD_INPUTS[case]
    for name, text in (extra[0] if extra else {}).items():
        (tmp_path / name).write_text(text)
    if isinstance(rows, bytes):
        (tmp_path / "rows.parquet").write_bytes(rows)
        rows = None
    (rows if rows is not None else BASE_ROWS).to_csv(tmp_path / "rows.csv", index=False)
    path = tmp_path / "study.yaml"
    text = study if isinstance(study, str) else yaml.safe_dump(deep_update(BASE_STUDY, study))
    path.write_text(text)
    out = tmp_path / "run"
    before = _snapshot(tmp_path)
    for command in (["validate", str(path)], ["search", str(path), "--out", str(out)]):
        result = runner.invoke(app, command)
        assert result.exit_code == 2, (command, result.output)
        flat = " ".join(result.output.split())
        for word in words:
            assert word in flat, (word, result.output)
        assert "Traceback" not in result.output
        assert len(result.output) < 3000, "a message quotes a value at full length"
    assert not out.exists()
    assert _snapshot(tmp_path) == before  # nothing of the user's changed


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under a folder with its content (a user's files, to compare after a run)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_every_trial_failing_exits_1_with_the_reasons(write_study, tmp_path) -> None:
    path = write_study(
        {
            "search": {
                "max_trials": 2,
                "strategies": ["weighted"],
                "learning_rate": {"min": 1e12, "max": 1e13},
            },
            "training": {"max_epochs": 5},
        }
    )
    result = runner.invoke(app, ["search", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1
    flat = " ".join(result.output.split())
    assert "all 2 trials failed" in flat and "diverged" in flat
    assert len(pd.read_csv(tmp_path / "run" / "trials.csv")) == 2


def test_ctrl_c_keeps_finished_trials_and_the_next_run_resumes(write_study, tmp_path) -> None:
    import os
    import signal

    from conftest import start_search_until_a_trial_finishes, write_interruptible_study

    from mtltune.terminal import is_tensorflow_noise

    path = write_interruptible_study(write_study)
    out = tmp_path / "run"
    csv = out / "trials.csv"
    # --verbose, TensorFlow's log level unset: its C++ lines come back (quiet without it:
    # tests/cli/test_terminal.py).
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    process = start_search_until_a_trial_finishes(path, out, "--verbose", env=env)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output
    assert "run the same command to resume" in output
    assert any(is_tensorflow_noise(line.encode()) for line in output.splitlines()), output
    finished = pd.read_csv(csv, dtype={"trial_id": str})
    assert (finished["status"] == "COMPLETED").sum() >= 1

    result = runner.invoke(app, ["search", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "resuming search" in result.output
    after = pd.read_csv(csv, dtype={"trial_id": str})
    assert len(after) == 3 and after["trial_id"].is_unique
    assert set(finished["trial_id"]) <= set(after["trial_id"])


def test_report_and_trials_commands_rerender_without_tensorflow(tiny_run) -> None:
    _, run_dir = tiny_run
    code = f"""
import sys
from pathlib import Path
from typer.testing import CliRunner
from mtltune.cli import app
run = Path({str(run_dir)!r})
runner = CliRunner()
(run / "report.md").unlink()
result = runner.invoke(app, ["report", str(run)])
assert result.exit_code == 0, result.output
# (the line may wrap at 80 columns inside a long path)
assert (run / "report.md").exists() and "8 plots" in " ".join(result.output.split()), result.output
result = runner.invoke(app, ["trials", str(run), "--sort", "y1"])
assert result.exit_code == 0, result.output
assert "3 trials of tiny" in result.output
assert runner.invoke(app, ["trials", str(run), "--sort", "nope"]).exit_code == 2
assert "tensorflow" not in sys.modules, "TensorFlow was imported"
print("ok")
"""
    done = run_python(code)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok" in done.stdout


def test_trials_sorted_by_a_head(tiny_run) -> None:
    result, run_dir = tiny_run
    output = runner.invoke(app, ["trials", str(run_dir), "--sort", "y0"]).output
    order = sorted(result.trials, key=lambda t: t.stop["y0"]["loss"])
    lines = output.splitlines()
    positions = [
        next(i for i, r in enumerate(lines) if r.split()[:1] == [t.trial_id]) for t in order
    ]
    assert positions == sorted(positions)


def test_report_of_a_folder_without_a_run_exits_2(tmp_path) -> None:
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "report.json" in result.output

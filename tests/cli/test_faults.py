"""Faults: nothing of the user's lost, no code run uninvited, nothing half-written (issue 17).

Each test asserts the exit code, the words of the message, and what changed on disk.
"""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mtltune import SearchError, Study, load_study
from mtltune.cli import app
from mtltune.run import files
from mtltune.run.folder import RunFolder, prepare_run_folder
from mtltune.study.usercode import import_problem

runner = CliRunner()


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def _flat(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------------
# The run folder: recognised by study.json only; --overwrite clears exactly what mtltune wrote.


def test_run_entries_name_every_top_level_file_mtltune_writes() -> None:
    inside_a_trial = {files.MESSAGE_FILE, files.TRACEBACK_FILE}
    names = {
        value
        for key, value in vars(files).items()
        if key.isupper() and isinstance(value, str) and value not in inside_a_trial
    }
    assert names - {files.LOCK_FILE} == set(files.RUN_ENTRIES)


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_users_folder_is_refused_with_or_without_overwrite(
    write_study, tmp_path, overwrite
) -> None:
    proj = tmp_path / "proj"
    (proj / "tuner").mkdir(parents=True)
    (proj / "tuner" / "__init__.py").write_text("code")
    (proj / "workers").mkdir()
    (proj / "workers" / "notes.txt").write_text("n")
    for name in ("report.md", "report.json", "trials.csv", "pareto.csv", "predictions.npz"):
        (proj / name).write_text("mine")
    before = _files(proj)
    command = ["search", str(write_study()), "--out", str(proj)]
    result = runner.invoke(app, command + (["--overwrite"] if overwrite else []))
    assert result.exit_code == 2, result.output
    flat = _flat(result.output)
    assert "holds no mtltune run" in flat and "tuner, workers" in flat
    assert _files(proj) == before


def test_overwrite_clears_every_run_entry_and_keeps_the_users_files(tiny_raw, tmp_path) -> None:
    folder = RunFolder(tmp_path / "run")
    prepare_run_folder(Study.from_dict(tiny_raw), folder, overwrite=False)
    for name in set(files.RUN_ENTRIES) - {files.STUDY_FILE}:
        path = folder.path / name
        if "." in name:
            path.write_text("old")
        else:
            path.mkdir(exist_ok=True)
            (path / "old.json").write_text("old")
    (folder.path / "notes.txt").write_text("mine")
    (folder.path / "mine").mkdir()
    other = Study.from_dict({**tiny_raw, "seed": 42})
    assert prepare_run_folder(other, folder, overwrite=True) is False
    left = sorted(p.name for p in folder.path.iterdir())
    assert left == sorted(["mine", "notes.txt", files.STUDY_FILE])
    assert (folder.path / "notes.txt").read_text() == "mine"


def test_a_changed_data_file_is_refused_like_a_changed_study(tmp_path) -> None:
    rows = pd.DataFrame({"x": [float(i) for i in range(30)], "y": [i % 5 for i in range(30)]})
    rows.to_csv(tmp_path / "rows.csv", index=False)
    (tmp_path / "s.yaml").write_text(
        "name: s\ndata: {source: rows.csv, inputs: [x]}\nheads: {y: {}}\n"
    )
    study = load_study(tmp_path / "s.yaml")
    folder = RunFolder(tmp_path / "run")
    assert prepare_run_folder(study, folder, overwrite=False) is False
    assert prepare_run_folder(study, folder, overwrite=False) is True
    rows.assign(y=rows["y"] * 1000).to_csv(tmp_path / "rows.csv", index=False)
    with pytest.raises(SearchError, match="other data"):
        prepare_run_folder(study, folder, overwrite=False)


@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_out_naming_a_file_exits_2_before_training(write_study, tmp_path, where) -> None:
    (tmp_path / "taken").write_text("mine")
    out = tmp_path / "taken" if where == "a file" else tmp_path / "taken" / "run"
    result = runner.invoke(app, ["search", str(write_study()), "--out", str(out)])
    assert result.exit_code == 2, result.output
    flat = _flat(result.output)
    assert "--out" in flat and "taken" in flat and "is a file" in flat
    assert (tmp_path / "taken").read_text() == "mine"


# ---------------------------------------------------------------------------------------------
# User code: only the module the study names comes from the study's folder.


def test_a_study_folder_cannot_shadow_installed_packages(tmp_path) -> None:
    marker = tmp_path / "ran.txt"
    (tmp_path / "faults_ok_losses.py").write_text(
        "import faults_sibling_mod\ndef mse(y_true, y_pred):\n    return 0.0\n"
    )
    (tmp_path / "faults_sibling_mod.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    problem = import_problem("faults_ok_losses:mse", tmp_path)
    assert problem is not None and "faults_sibling_mod" in problem  # not found: not imported
    assert not marker.exists()
    assert str(tmp_path) not in sys.path
    assert importlib.util.find_spec("faults_sibling_mod") is None
    (tmp_path / "faults_plain_losses.py").write_text("def mse(y_true, y_pred):\n    return 0\n")
    assert import_problem("faults_plain_losses:mse", tmp_path) is None


# ---------------------------------------------------------------------------------------------
# --set merges a partial override into the default.


def test_a_partial_set_merges_into_the_default(write_study) -> None:
    path = write_study()
    result = runner.invoke(app, ["show", str(path), "--set", "search.learning_rate.max=0.05"])
    assert result.exit_code == 0, result.output
    shown = result.output
    assert "max: 0.05" in shown and "min: 0.0001" in shown


# ---------------------------------------------------------------------------------------------
# Trials that fail: one line each on the terminal, the traceback kept in the run folder.

BROKEN = "def f(y_true, y_pred):\n    raise ValueError('my loss is broken')\n"
WRONG_SHAPE = "import tensorflow as tf\n\ndef f(y_true, y_pred):\n    return tf.zeros([3, 7])\n"
FAILING = {
    "search": {"max_trials": 2, "strategies": ["weighted"]},
    "training": {"max_epochs": 2},
}


def test_failed_trials_print_one_line_each_and_keep_their_traceback(write_study, tmp_path) -> None:
    path = write_study({**FAILING, "heads": {"y0": {"loss": "faults_broken_loss:f"}}})
    (tmp_path / "faults_broken_loss.py").write_text(BROKEN)
    out = tmp_path / "run"
    result = runner.invoke(app, ["search", str(path), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if "FAILED" in line]
    assert len(lines) == 2 and all("my loss is broken" in line for line in lines)
    trials = pd.read_csv(out / "trials.csv")
    assert list(trials["message"]) == ["my loss is broken"] * 2
    kept = (out / "tuner" / "trial_0" / files.TRACEBACK_FILE).read_text()
    assert "Traceback" in kept and "ValueError: my loss is broken" in kept


def test_a_custom_loss_of_the_wrong_shape_fails_its_trials(write_study, tmp_path) -> None:
    path = write_study({**FAILING, "heads": {"y0": {"loss": "faults_shape_loss:f"}}})
    (tmp_path / "faults_shape_loss.py").write_text(WRONG_SHAPE)
    result = runner.invoke(app, ["search", str(path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1, result.output
    flat = _flat(result.output)
    assert "all 2 trials failed" in flat and "returned a tensor of shape [3, 7]" in flat


def test_a_diverging_baseline_is_reported_not_raised(tiny_raw, tmp_path) -> None:
    from mtltune import run_study, write_report
    from mtltune.report.readback import load_result
    from mtltune.study import BaselineConfig

    study = Study.from_dict({**tiny_raw, "search": {**tiny_raw["search"], "max_trials": 1}})
    wild = BaselineConfig.model_construct(learning_rate=1e12, epsilon=1e-7)
    study = study.model_copy(update={"search": study.search.model_copy(update={"baseline": wild})})
    result = run_study(study, tmp_path / "run")
    assert "diverged" in result.baseline.plan
    assert all(math.isnan(s["loss"]) for s in result.baseline.test.values())
    write_report(result, tmp_path / "run")
    assert "**diverged**" in (tmp_path / "run" / "report.md").read_text()
    again = load_result(tmp_path / "run", check_files=True)
    assert math.isnan(again.baseline.objective)


# ---------------------------------------------------------------------------------------------
# Damaged run folders: check first, then write; exit 1 naming what is damaged.


@pytest.fixture
def run_copy(tiny_run, tmp_path) -> Path:
    """A writable copy of the shared finished tiny run."""
    return Path(shutil.copytree(tiny_run[1], tmp_path / "run"))


@pytest.mark.parametrize(
    "content",
    [b'{"study": {"na', b"[]", b"{}", bytes(range(256))],
    ids=["cut", "list", "empty", "bytes"],
)
@pytest.mark.parametrize("command", ["report", "trials"])
def test_a_damaged_report_json_exits_1_naming_it(run_copy, command, content) -> None:
    (run_copy / "report.json").write_bytes(content)
    before = _files(run_copy)
    result = runner.invoke(app, [command, str(run_copy)])
    assert result.exit_code == 1, result.output
    assert "report.json is damaged" in _flat(result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert _files(run_copy) == before


@pytest.mark.parametrize("damage", ["history", "predictions", "plots"])
def test_report_checks_its_files_before_writing_any(run_copy, damage) -> None:
    best = json.loads((run_copy / "report.json").read_text())["best"]["trial_id"]
    if damage == "history":
        (run_copy / "histories" / f"{best}.json").write_text('{"loss_y0": [1, ')
        name = f"{best}.json"
    elif damage == "predictions":
        (run_copy / "predictions.npz").write_bytes(b"PK\x03\x04 not a zip")
        name = "predictions.npz"
    else:
        shutil.rmtree(run_copy / "plots")
        (run_copy / "plots").write_text("mine")
        name = "plots"
    before = _files(run_copy)
    result = runner.invoke(app, ["report", str(run_copy)])
    assert result.exit_code == 1, result.output
    assert f"{name} is damaged" in _flat(result.output)
    assert _files(run_copy) == before


def test_trials_of_an_unfinished_run_are_shown(run_copy) -> None:
    (run_copy / "report.json").unlink()
    result = runner.invoke(app, ["trials", str(run_copy), "--sort", "y1"])
    assert result.exit_code == 0, result.output
    assert "3 trials of tiny" in result.output
    assert "has not finished" in _flat(result.output)


# ---------------------------------------------------------------------------------------------
# Property: a study validate accepts searches to the end or fails cleanly, never a traceback.

HOSTILE_NAMES = ["y", "trunk_0", "inputs", "y\n", "h" * 70, "objective", "h_hidden_0", "ü", "Y_1"]
HOSTILE_RATES = [1e-4, 1.0, 1e-300, 0.5, 1e9, 1e308, math.inf, math.nan, -1.0, 0.0]


def _hostile_study(draw) -> dict:
    from hypothesis import strategies as st

    names = draw(st.lists(st.sampled_from(HOSTILE_NAMES), min_size=1, max_size=2, unique=True))
    shared = [draw(st.sampled_from([1, 3]))]  # one list twice: the YAML holds an alias
    heads = {
        name: {"target": f"y{i}", "hidden": shared if i == 0 else []}
        for i, name in enumerate(names)
    }
    rate = st.sampled_from(HOSTILE_RATES)
    return {
        "name": "hostile",
        "seed": draw(st.sampled_from([0, 2**32 - 1, 2**32, -1])),
        "data": {"source": "builtin:hetero_sine", "params": {"n": 60, "tasks": 2}},
        "heads": heads,
        "model": {"units": shared},
        "training": {
            "max_epochs": draw(st.sampled_from([1, 2])),
            "batch_size": draw(st.sampled_from([16, 1, 10**13, 0])),
            "patience": 1,
        },
        "search": {
            "tuner": "random",
            "max_trials": 1,
            "strategies": [draw(st.sampled_from(["weighted", "separate"]))],
            "learning_rate": {"min": draw(rate), "max": 0.01},
            "baseline": {"learning_rate": draw(rate)},
        },
    }


def test_a_study_validate_accepts_never_ends_in_a_traceback(tmp_path_factory, monkeypatch) -> None:
    import yaml
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    # An error no check foresaw surfaces as an exception here, not as the CLI's last-resort line.
    monkeypatch.setenv("MTLTUNE_TRACEBACK", "1")
    searched = []

    @settings(
        max_examples=10,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.data())
    def check(data) -> None:
        folder = tmp_path_factory.mktemp("hostile")
        text = yaml.safe_dump(_hostile_study(data.draw), allow_unicode=True)
        path = folder / "study.yaml"
        path.write_text(text, encoding="utf-8")
        checked = runner.invoke(app, ["validate", str(path)])
        assert checked.exit_code in (0, 2), checked.output
        assert isinstance(checked.exception, SystemExit | None), checked.output
        if checked.exit_code == 2:
            return
        searched.append(text)
        result = runner.invoke(app, ["search", str(path), "--out", str(folder / "run")])
        assert result.exit_code in (0, 1, 2), (text, result.output)
        assert isinstance(result.exception, SystemExit | None), (text, result.exception)
        assert "Traceback" not in result.output

    check()
    assert searched, "no generated study was valid: the property was never exercised"


# ---------------------------------------------------------------------------------------------
# The same property on real tables: categorical inputs of any cardinality (issue 26.1), and a
# data path naming anything a path can name (each refused at once: exit 2 and a message).


def test_ten_thousand_categories_then_another_categorical_input_encode_in_place() -> None:
    import numpy as np

    from mtltune.data import InputEncoder

    zips = [f"z{i:05d}" for i in range(10_000)]
    encoder = InputEncoder(numeric={}, categorical={"zip": zips, "region": ["a", "b", "c"]})
    table = pd.DataFrame({"zip": ["z09999", "z00000", "unseen"], "region": ["c", "a", "b"]})
    x = encoder.transform(table)
    assert x.shape == (3, 10_003)
    assert np.flatnonzero(x[0]).tolist() == [9_999, 10_002]  # the last zip, then region c
    assert np.flatnonzero(x[1]).tolist() == [0, 10_000]
    assert np.flatnonzero(x[2]).tolist() == [10_001]  # an unseen zip is all zeros


def _categorical_table(path: Path, cardinality: int, rows: int, seed: int) -> None:
    import numpy as np

    rng = np.random.default_rng(seed)
    zips = rng.integers(0, cardinality, rows)
    region = rng.integers(0, 3, rows)
    pd.DataFrame(
        {
            "zip": [f"z{z}" for z in zips],
            "region": [f"r{r}" for r in region],
            "size": rng.normal(size=rows),
            "price": zips % 7 + region + rng.normal(scale=0.1, size=rows),
        }
    ).to_csv(path, index=False)


def test_a_table_validate_accepts_with_categorical_inputs_of_any_cardinality_searches(
    tmp_path_factory, monkeypatch
) -> None:
    import yaml
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    monkeypatch.setenv("MTLTUNE_TRACEBACK", "1")

    @settings(
        max_examples=4,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(st.sampled_from([1, 2, 127, 128, 129, 255, 256, 700]), st.integers(0, 3))
    def check(cardinality: int, seed: int) -> None:
        folder = tmp_path_factory.mktemp("categories")
        _categorical_table(folder / "rows.csv", cardinality, max(60, 2 * cardinality), seed)
        study = {
            "name": "cats",
            "seed": seed,
            "data": {
                "source": "rows.csv",
                "inputs": ["zip", "region", "size"],
                "categorical": ["zip", "region"],
            },
            "heads": {"price": {}},
            "model": {"units": [4]},
            "training": {"max_epochs": 1, "batch_size": 64, "patience": 1},
            "search": {"tuner": "random", "max_trials": 1, "confirm": {"top": 0}},
            "report": {"plots": False},
        }
        path = folder / "study.yaml"
        path.write_text(yaml.safe_dump(study))
        checked = runner.invoke(app, ["validate", str(path)])
        assert checked.exit_code in (0, 2), checked.output
        assert isinstance(checked.exception, SystemExit | None), checked.output
        if checked.exit_code == 2:
            return
        result = runner.invoke(app, ["search", str(path), "--out", str(folder / "run")])
        assert result.exit_code == 0, (cardinality, result.output)

    check()


def _data_path_kinds(folder: Path) -> dict[str, Path]:
    import os

    (folder / "folder.csv").mkdir(parents=True)
    os.mkfifo(folder / "fifo.csv")
    (folder / "device.csv").symlink_to("/dev/zero")
    (folder / "empty.csv").write_bytes(b"")
    (folder / "binary.csv").write_bytes(bytes(range(256)) * 40)
    (folder / "binary.parquet").write_bytes(bytes(range(256)) * 40)
    (folder / "loop.csv").symlink_to(folder / "loop.csv")
    (folder / "dangling.csv").symlink_to(folder / "gone.csv")
    (folder / "header.csv").write_text("x,price\n")
    (folder / "nul.csv").write_bytes(b"x,price\n1,\x00\n")
    return {p.name: p for p in sorted(folder.iterdir())}


@pytest.mark.parametrize(
    "name",
    [
        "folder.csv",
        "fifo.csv",
        "device.csv",
        "empty.csv",
        "binary.csv",
        "binary.parquet",
        "loop.csv",
        "dangling.csv",
        "header.csv",
        "nul.csv",
    ],
)
@pytest.mark.parametrize("command", ["validate", "search"])
def test_a_data_path_of_any_kind_is_refused_at_once_with_exit_2(tmp_path, name, command) -> None:
    import time

    import yaml

    paths = _data_path_kinds(tmp_path / "data")
    study = tmp_path / "study.yaml"
    source = {"source": str(paths[name]), "inputs": ["x"]}
    study.write_text(yaml.safe_dump({"name": "kinds", "data": source, "heads": {"price": {}}}))
    args = [command, str(study)] + (["--out", str(tmp_path / "run")] if command == "search" else [])
    started = time.perf_counter()
    result = runner.invoke(app, args)
    assert time.perf_counter() - started < 1.0, name
    assert result.exit_code == 2, (name, result.output)
    assert isinstance(result.exception, SystemExit), (name, result.exception)
    assert "error: Invalid data" in result.output and "Traceback" not in result.output
    assert "data.source" in result.output or "column 'price'" in result.output
    assert not (tmp_path / "run").exists()  # nothing written

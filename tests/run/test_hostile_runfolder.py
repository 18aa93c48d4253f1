"""Hostile round two (issue 29): a run folder is untrusted input, and nothing outside it is written.

One tiny run is trained once per session; each case copies it, tampers with the copy, runs a
command, and asserts the exit code, the words of the message, and checksums: nothing outside
the run folder changed or appeared, and no file of the user's changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import mtltune
from mtltune.cli import app
from mtltune.run.lock import acquire_run_lock

runner = CliRunner()

STUDY = {
    "name": "hostile",
    "seed": 1,
    "data": {
        "source": "data.csv",
        "inputs": ["x", "code"],
        "categorical": ["code"],
        "missing": "drop",
    },
    "split": {"train": 0.5, "stop": 0.25, "test": 0.25, "shuffle": True},
    "heads": {"y0": {}, "y1": {}},
    "model": {"units": [8]},
    "training": {"max_epochs": 2, "batch_size": 32, "patience": 2},
    "search": {"tuner": "random", "max_trials": 1, "confirm": {"top": 0}},
    "report": {"replicates": 0},
}


def rows(n: int = 160, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=0.1, size=n)  # std < 1: 3e38 standardised overflows float32
    code = rng.integers(1, 4, size=n)
    return pd.DataFrame(
        {"x": x, "code": code, "y0": x + code, "y1": 2 * x - code + rng.normal(0, 0.1, n)}
    )


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Path:
    """A finished run of STUDY (its study file and data beside it), trained once."""
    base = tmp_path_factory.mktemp("trained")
    table = rows()
    table["code"] = table["code"].astype(float)
    table.loc[5, "code"] = np.nan  # pandas reads the codes as floats: 1.0, 2.0, 3.0
    table.to_csv(base / "data.csv", index=False)
    (base / "study.yaml").write_text(yaml.safe_dump(STUDY))
    result = runner.invoke(app, ["search", str(base / "study.yaml"), "--out", str(base / "run")])
    assert result.exit_code == 0, result.output
    return base


@pytest.fixture
def case(trained, tmp_path) -> Path:
    """A copy of the trained study, data and run under ``tmp_path/work`` (links kept)."""
    work = tmp_path / "work"
    shutil.copytree(trained, work, symlinks=True)
    (work / "run" / "mtltune.lock").unlink(missing_ok=True)
    return work


def checksums(top: Path, skip: Path | None = None) -> dict[str, str]:
    """sha256 of every file under ``top`` (links by their target), the run folder left out."""
    out = {}
    for path in sorted(top.rglob("*")):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        if path.is_symlink():
            out[str(path.relative_to(top))] = "link:" + os.readlink(path)
        elif path.is_file():
            out[str(path.relative_to(top))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def flat(text: str) -> str:
    return " ".join(text.split())


def edit_json(path: Path, change: Callable[[dict], None]) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


# ---------------------------------------------------------------------------------------------
# Tampered run folders: each (tamper, command, exit code, words); nothing outside the run changes.


def _lock_to_victim(work: Path) -> None:
    (work / "victim.txt").write_text("precious")
    (work / "run" / "mtltune.lock").symlink_to(work / "victim.txt")


def _plot_to_outside(work: Path) -> None:
    (work / "fig.png").write_bytes(b"mine")
    (work / "run" / "plots" / "objective.png").unlink()
    (work / "run" / "plots" / "objective.png").symlink_to("../../fig.png")


def _plots_folder_to_outside(work: Path) -> None:
    (work / "mine").mkdir()
    (work / "mine" / "objective.png").write_bytes(b"mine")
    shutil.rmtree(work / "run" / "plots")
    (work / "run" / "plots").symlink_to("../mine")


def _escaping_head(work: Path) -> None:
    def rename(doc: dict) -> None:
        text = json.dumps(doc).replace('"y1"', '"../../../../ESCAPE"')
        doc.clear()
        doc.update(json.loads(text))

    edit_json(work / "run" / "report.json", rename)


def _escaping_trial(work: Path) -> None:
    def rename(doc: dict) -> None:
        doc["best"]["trial_id"] = "../../../secret"
        for record in doc["trial_records"]:
            record["trial_id"] = "../../../secret"

    edit_json(work / "run" / "report.json", rename)


def _model_elsewhere(work: Path) -> None:
    shutil.copy(work / "run" / "best_model.keras", work / "elsewhere.keras")
    edit_json(work / "run" / "preprocessing.json", lambda d: d.update(model="../elsewhere.keras"))


def _drop_key(work: Path) -> None:
    edit_json(work / "run" / "preprocessing.json", lambda d: d["inputs"].pop("numeric"))


def _std(value: float) -> Callable[[Path], None]:
    def tamper(work: Path) -> None:
        path = work / "run" / "preprocessing.json"
        doc = json.loads(path.read_text())
        doc["inputs"]["numeric"]["x"]["std"] = value
        path.write_text(json.dumps(doc).replace('"std": "nan"', '"std": NaN'))

    return tamper


def _not_json(work: Path) -> None:
    path = work / "run" / "preprocessing.json"
    path.write_text(path.read_text()[:40])


def _model_not_zip(work: Path) -> None:
    (work / "run" / "best_model.keras").write_bytes(b"not a zip at all")


def _model_bomb(work: Path) -> None:
    # A few hundred KiB holding a 40 MB config.json: refused before Keras opens it.
    with zipfile.ZipFile(work / "run" / "best_model.keras", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", b" " * (40 << 20))
        z.writestr("metadata.json", b"{}")


def _heads_renamed(work: Path) -> None:
    def rename(doc: dict) -> None:
        doc["heads"]["z1"] = doc["heads"].pop("y1")

    edit_json(work / "run" / "preprocessing.json", rename)


def _lambda_model(work: Path) -> None:
    import keras

    doc = json.loads((work / "run" / "preprocessing.json").read_text())
    width = len(doc["inputs"]["features"])
    inputs = keras.Input(shape=(width,), name="inputs")
    out = keras.layers.Lambda(lambda t: t[:, :1] * 0 + 7)(inputs)
    model = keras.Model(inputs, {"y0": out, "y1": out})
    target = work / "run" / "best_model.keras"
    target.unlink()
    model.save(target)


def _truncated_oracle(work: Path) -> None:
    path = work / "run" / "tuner" / "oracle.json"
    path.write_text(path.read_text()[: len(path.read_text()) // 2])


def _tuner_elsewhere(work: Path) -> None:
    shutil.move(work / "run" / "tuner", work / "elsewhere")
    (work / "run" / "tuner").symlink_to("../elsewhere")


PREDICT = ["predict", "{run}", "{work}/new.csv"]
REPORT = ["report", "{run}"]
SEARCH = ["search", "{work}/study.yaml", "--out", "{run}"]

TAMPERED = {
    "lock is a link to a user's file (search)": (
        _lock_to_victim,
        SEARCH,
        1,
        ["mtltune.lock", "symbolic link"],
    ),
    "lock is a link to a user's file (report)": (
        _lock_to_victim,
        REPORT,
        1,
        ["mtltune.lock", "symbolic link"],
    ),
    "a plot is a link out of the folder": (
        _plot_to_outside,
        REPORT,
        1,
        ["objective.png", "symbolic link"],
    ),
    "plots/ is a link to a user's folder": (
        _plots_folder_to_outside,
        REPORT,
        1,
        ["plots", "symbolic link"],
    ),
    "report.json names a head ../../ESCAPE": (
        _escaping_head,
        REPORT,
        1,
        ["report.json", "head name", "ESCAPE"],
    ),
    "report.json names a trial ../../secret": (
        _escaping_trial,
        REPORT,
        1,
        ["report.json", "trial id"],
    ),
    "preprocessing.json chooses the model file": (
        _model_elsewhere,
        PREDICT,
        1,
        ["preprocessing.json", "model"],
    ),
    "preprocessing.json lacks a key": (
        _drop_key,
        PREDICT,
        1,
        ["preprocessing.json", "key inputs.numeric", "missing"],
    ),
    "preprocessing.json is not JSON": (
        _not_json,
        PREDICT,
        1,
        ["preprocessing.json", "not valid JSON"],
    ),
    "preprocessing.json has a NaN std": (
        _std(float("nan")),
        PREDICT,
        1,
        ["preprocessing.json", "inputs.numeric.x.std", "finite"],
    ),
    "preprocessing.json has a zero std": (
        _std(0.0),
        PREDICT,
        1,
        ["preprocessing.json", "inputs.numeric.x.std", "greater than 0"],
    ),
    "best_model.keras is not a zip": (
        _model_not_zip,
        PREDICT,
        1,
        ["best_model.keras", "not a Keras archive"],
    ),
    "best_model.keras unpacks to 40 MB of config": (
        _model_bomb,
        PREDICT,
        1,
        ["best_model.keras", "config.json unpacks to 41,943,040 bytes"],
    ),
    "model outputs do not match the heads": (
        _heads_renamed,
        PREDICT,
        1,
        ["best_model.keras", "lack the heads z1"],
    ),
    "model holds a Lambda layer": (
        _lambda_model,
        PREDICT,
        1,
        ["best_model.keras", "Keras cannot load", "Lambda"],
    ),
    "tuner/oracle.json truncated, search resumes": (
        _truncated_oracle,
        SEARCH,
        1,
        ["oracle.json", "not valid JSON"],
    ),
    "tuner/ is a link out of the folder": (_tuner_elsewhere, SEARCH, 1, ["tuner", "symbolic link"]),
}


@pytest.mark.parametrize("name", list(TAMPERED), ids=list(TAMPERED))
def test_a_tampered_run_folder_is_refused_naming_the_file(name, case) -> None:
    tamper, command, code, words = TAMPERED[name]
    work, run = case, case / "run"
    rows(20, seed=9).drop(columns=["y0", "y1"]).to_csv(work / "new.csv", index=False)
    tamper(work)
    before = checksums(work.parent, skip=run)
    args = [a.format(run=run, work=work) for a in command]
    result = runner.invoke(app, args)
    text = flat(result.output)
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 3
    for word in words:
        assert word in text, (word, text)
    assert checksums(work.parent, skip=run) == before  # nothing outside the run changed
    assert not list(work.parent.rglob("ESCAPE*")) and not (work / "new_predictions.csv").exists()


def test_an_untampered_run_passes_every_check_resumes_rerenders_and_predicts(case) -> None:
    # The checks refuse what was tampered with, not what mtltune wrote (Keras Tuner's
    # build_config.json holds `null`, a valid JSON value).
    run = case / "run"
    rows(20, seed=9).drop(columns=["y0", "y1"]).to_csv(case / "new.csv", index=False)
    result = runner.invoke(app, ["search", str(case / "study.yaml"), "--out", str(run)])
    assert result.exit_code == 0 and "resuming search" in result.output, result.output
    assert runner.invoke(app, ["report", str(run)]).exit_code == 0
    result = runner.invoke(app, ["predict", str(run), str(case / "new.csv")])
    assert result.exit_code == 0 and "20 rows predicted" in result.output, result.output
    assert "warning" not in result.output


def test_a_users_file_named_mtltune_lock_is_untouched_when_its_folder_is_refused(case) -> None:
    mine = case / "mine"
    mine.mkdir()
    (mine / "mtltune.lock").write_text("my notes, not a lock")
    (mine / "data.txt").write_text("d")
    before = checksums(case)
    result = runner.invoke(app, ["search", str(case / "study.yaml"), "--out", str(mine)])
    assert result.exit_code == 2, result.output
    assert "holds no mtltune run" in flat(result.output) and "mtltune.lock" in flat(result.output)
    assert checksums(case) == before


def test_report_refuses_while_a_search_holds_the_folder(case) -> None:
    run = case / "run"
    (run / "trials.csv").write_text("trial_id,status\n0,ok\n1,ok\n2,ok\n3,ok\n")
    before = checksums(run)
    with acquire_run_lock(run, "search"):  # another open file: flock refuses it like a process
        result = runner.invoke(app, ["report", str(run)])
        assert result.exit_code == 1, result.output
        assert "in use by another search" in flat(result.output)
        assert "once the search ends" in flat(result.output)
        assert {k: v for k, v in checksums(run).items() if k != "mtltune.lock"} == before
    result = runner.invoke(app, ["report", str(run)])  # free again: the report is rewritten
    assert result.exit_code == 0, result.output
    assert not (run / "mtltune.lock").exists()


def test_report_on_a_folder_that_is_no_run_touches_nothing(tmp_path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("n")
    before = checksums(tmp_path)
    result = runner.invoke(app, ["report", str(tmp_path / "mine")])
    assert result.exit_code == 2 and "finished run folder" in flat(result.output)
    assert checksums(tmp_path) == before


# ---------------------------------------------------------------------------------------------
# predict: the run folder first, then --out; the study's checks per column and row.


def test_predict_on_a_missing_run_folder_says_so_before_looking_at_out(case) -> None:
    rows(5).to_csv(case / "x.csv", index=False)
    (case / "x_predictions.csv").write_text("mine")
    before = checksums(case)
    result = runner.invoke(app, ["predict", str(case / "doesnotexist"), str(case / "x.csv")])
    assert result.exit_code == 2, result.output
    assert "no such run folder" in flat(result.output) and "already exists" not in result.output
    assert checksums(case) == before


def written(path: Path) -> Path:
    path.write_text("mine")
    return path


OUT_CASES = {
    "a folder, with --overwrite": (
        lambda w: (w / "outdir").mkdir() or w / "outdir",
        ["--overwrite"],
        ["is a folder"],
    ),
    "a path under a file": (lambda w: written(w / "afile") / "p.csv", [], ["afile is a file"]),
    "an existing file, no --overwrite": (
        lambda w: written(w / "p.csv"),
        [],
        ["already exists", "--overwrite"],
    ),
    "a folder nothing may be written to": (
        lambda w: Path("/proc/mtltune_predictions.csv"),
        [],
        ["cannot write predictions", "/proc"],
    ),
}


@pytest.mark.parametrize("name", list(OUT_CASES), ids=list(OUT_CASES))
def test_predict_out_that_cannot_be_written_exits_2(name, case) -> None:
    make, extra, words = OUT_CASES[name]
    rows(5).to_csv(case / "new.csv", index=False)
    target = make(case)
    before = checksums(case)
    result = runner.invoke(
        app, ["predict", str(case / "run"), str(case / "new.csv"), "--out", str(target), *extra]
    )
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in flat(result.output), (word, result.output)
    assert checksums(case) == before


BAD_ROWS = {
    "a value beyond float32": (
        lambda t: t.assign(x=[1e39, *t["x"][1:]]),
        ["column 'x'", "float32", "data row 1"],
    ),
    "a value whose standardised input overflows": (
        lambda t: t.assign(x=[3e38, *t["x"][1:]]),
        ["column 'x'", "overflows float32", "data row 1"],
    ),
}


@pytest.mark.parametrize("name", list(BAD_ROWS), ids=list(BAD_ROWS))
def test_predict_applies_the_studys_data_checks_per_column_and_row(name, case) -> None:
    change, words = BAD_ROWS[name]
    change(rows(10)).to_csv(case / "new.csv", index=False)
    result = runner.invoke(app, ["predict", str(case / "run"), str(case / "new.csv")])
    assert result.exit_code == 2, result.output
    for word in words:
        assert word in flat(result.output), (word, result.output)
    assert not (case / "new_predictions.csv").exists()


def test_integer_codes_match_the_float_codes_of_train_and_unseen_ones_are_counted(case) -> None:
    run = mtltune.load_run(case / "run")
    assert run.preprocessing.inputs.categorical["code"] == ["1", "2", "3"]
    table = rows(30, seed=4).drop(columns=["y0", "y1"])
    as_ints = run.predict(table)
    as_floats = run.predict(table.assign(code=table["code"].astype(float)))
    assert as_ints.unseen == {} and as_floats.unseen == {}
    pd.testing.assert_frame_equal(as_ints.table, as_floats.table)
    table.loc[[2, 7, 9], "code"] = 9
    assert run.predict(table).unseen == {"code": (3, "9")}
    table.to_csv(case / "new.csv", index=False)
    result = runner.invoke(app, ["predict", str(case / "run"), str(case / "new.csv")])
    assert result.exit_code == 0, result.output
    assert "column 'code': 3 rows hold categories unseen in training (first: '9')" in flat(
        result.output
    )


def test_input_error_is_public() -> None:
    assert mtltune.InputError is mtltune.errors.InputError
    assert "InputError" in mtltune.__all__
    assert issubclass(mtltune.DataError, mtltune.InputError)

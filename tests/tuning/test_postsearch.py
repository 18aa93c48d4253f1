"""After the trials: no failure loses the search, and a resumed search continues where it failed.

Issue 30 (replicates that re-draw the data fit everything on their own train split; a failure
in confirmation, evaluation, the baseline, export, the replicates or the plots is recorded and
the report written; resume keeps the finished confirmation runs and replicates) and issue 26
items 4 (a smaller budget on a finished run, time across sessions), 5 (the keys a fingerprint
mismatch differs in) and 10 (no Keras Tuner reload line, no retracing during replicates).
"""

from __future__ import annotations

import gc
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import TINY, built_once, deep_update

from mtltune import SearchError, Study, prepare_dataset, run_study
from mtltune.errors import plain_text
from mtltune.run.folder import RunFolder, prepare_run_folder

#: A race of one challenger on one further seed (2 runs), two replicates, no figures but where
#: a test draws them. The race's own rules (more seeds while undecided) are test_confirm's.
STUDY = deep_update(
    TINY,
    {
        "data": {"params": {"n": 200}},
        "training": {"max_epochs": 2},
        "search": {"max_trials": 3, "confirm": {"top": 1, "seeds": 1, "max_seeds": 1}},
        "report": {"replicates": 2, "plots": False},
    },
)
INJECTED = "\x1b[1minjected\x1b[0m failure"


class Recorder:
    """A ``Progress`` keeping every stage line."""

    def __init__(self) -> None:
        self.stages: list[str] = []
        self.frozen: list[int] = []  # objects out of the garbage collector's sight, per stage

    def stage(self, message: str) -> None:
        self.stages.append(message)
        self.frozen.append(gc.get_freeze_count())

    def trial_started(self, trial_id: str, total: int) -> None:
        pass

    def trial_finished(self, record: Any, total: int) -> None:
        pass

    def confirm_finished(self, run: Any, number: int, total: int) -> None:
        pass


def _counted(monkeypatch, owner: Any, name: str, fail_on: int | None = None) -> list[int]:
    """Count the calls of ``owner.name``; make call number ``fail_on`` (from 1) raise."""
    calls: list[int] = []
    original = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if fail_on is not None and len(calls) == fail_on:
            raise ValueError(INJECTED)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)
    return calls


@pytest.fixture(scope="session")
def searched(tmp_path_factory) -> Path:
    """A run folder whose trials are done, interrupted before anything after them.

    Built once for all xdist workers (:func:`conftest.built_once`): every test copies it, and
    the long tests here spread over the workers.
    """
    from mtltune.tuning import confirm

    def stop(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    def search(folder: Path) -> None:
        out = folder / "run"
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(confirm, "candidate_plans", stop)
            with pytest.raises(KeyboardInterrupt):
                run_study(Study.from_dict(STUDY), out)
        assert (out / "trials.csv").exists() and not (out / "report.json").exists()

    return built_once(tmp_path_factory, "searched", search) / "run"


def _copy(searched: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(searched, out)
    (out / "mtltune.lock").unlink(missing_ok=True)
    return out


def _report(out: Path) -> dict[str, Any]:
    text = (out / "report.json").read_text()
    assert "\x1b" not in text and "\x1b" not in (out / "report.md").read_text()
    return json.loads(text)


def _race_runs(out: Path) -> set[tuple[str, int]]:
    """The race's runs trained so far (``confirm.json``), as (candidate, seed)."""
    path = out / "confirm.json"
    if not path.exists():
        return set()
    runs = json.loads(path.read_text())["runs"]
    return {(r["candidate"], r["seed"]) for r in runs if r["source"] == "confirm"}


def _inject(monkeypatch, phase: str) -> None:
    import mtltune.report.plots
    from mtltune.tuning import aftersearch, replicates

    if phase == "confirmation":
        from mtltune.tuning import confirm

        _counted(monkeypatch, confirm, "_train", fail_on=2)
    elif phase == "evaluation":
        from mtltune.tuning import afterwards

        _counted(monkeypatch, afterwards, "evaluate", fail_on=1)
    elif phase == "baseline":
        _counted(monkeypatch, aftersearch, "train_baseline", fail_on=1)
    elif phase == "export":
        _counted(monkeypatch, aftersearch, "save_best_model", fail_on=1)
    elif phase == "replicates":
        _counted(monkeypatch, replicates, "_replicate", fail_on=2)
    else:
        _counted(monkeypatch, mtltune.report.plots, "draw_all", fail_on=1)


@pytest.mark.parametrize(
    "phase", ["confirmation", "evaluation", "baseline", "export", "replicates", "plots"]
)
def test_a_failure_after_the_trials_leaves_a_report_and_resume_picks_up_there(
    searched, tmp_path, monkeypatch, phase
) -> None:
    from mtltune.tuning import confirm, replicates

    out = _copy(searched, tmp_path)
    raw = deep_update(STUDY, {"report": {"plots": phase == "plots"}})
    study = Study.from_dict(raw)
    with monkeypatch.context() as patch:
        _inject(patch, phase)
        result = run_study(study, out, report=True)
    doc = _report(out)
    assert [f["phase"] for f in doc["failures"]] == [phase]
    assert "injected failure" in doc["failures"][0]["reason"]
    assert "Incomplete report" in (out / "report.md").read_text()
    assert [f.phase for f in result.failures] == [phase]
    first_seconds = doc["seconds"]

    # Resume: only what failed runs again; finished race runs and replicates are kept.
    raced_before = _race_runs(out)
    trained = _counted(monkeypatch, confirm, "_train")
    replicated = _counted(monkeypatch, replicates, "_replicate")
    resumed = run_study(study, out, report=True)
    doc = _report(out)
    assert doc["failures"] == [] and resumed.failures == []
    # The race resumes where it stopped (after a failed baseline it had not started): each of
    # its runs is trained once over both sessions, none twice.
    raced_after = _race_runs(out)
    assert raced_before <= raced_after and len(raced_after) == len(set(raced_after))
    assert len(trained) == len(raced_after - raced_before)
    assert len(trained) >= (1 if phase in ("confirmation", "baseline") else 0)
    if phase not in ("confirmation", "baseline"):
        assert trained == []
    assert len(replicated) == (1 if phase == "replicates" else 0)
    assert doc["replicates"]["count"] == 2
    assert doc["confirmation"]["chosen"] == resumed.best_trial.trial_id
    # Time across sessions: the total holds both sessions and is the sum of its parts.
    assert doc["seconds"] > first_seconds
    assert doc["seconds"] == pytest.approx(sum(doc["time_split"].values()), rel=1e-6)


def test_a_replicate_that_raises_is_left_out_named_and_the_cli_exits_1(
    searched, tmp_path, monkeypatch
) -> None:
    import yaml
    from typer.testing import CliRunner

    from mtltune.cli import app
    from mtltune.tuning import replicates

    out = _copy(searched, tmp_path)
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(STUDY))
    _counted(monkeypatch, replicates, "_replicate", fail_on=1)
    result = CliRunner().invoke(app, ["search", str(path), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "\x1b" not in result.output
    text = " ".join(result.output.split())
    assert "replicates (replicate 1): ValueError: injected failure" in text
    doc = _report(out)
    assert doc["replicates"]["count"] == 1
    assert doc["replicates"]["failed"] == ["replicate 1: ValueError: injected failure"]
    assert "replicate 1: ValueError: injected failure" in (out / "report.md").read_text()
    # Getting out of a failing replicate phase: report.* may change on resume.
    monkeypatch.undo()
    again = CliRunner().invoke(app, ["search", str(path), "--out", str(out), "--replicates", "0"])
    assert again.exit_code == 0, again.output
    assert "replicates" not in _report(out)


def test_a_rare_category_outside_a_replicates_train_split_completes(tmp_path) -> None:
    from mtltune.tuning.replicates import replicate_seed

    rng = np.random.default_rng(0)
    n = 120
    table = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "kind": rng.choice(["a", "b", "c"], n),
            "y": rng.normal(size=n),
            "grade": rng.choice(["p", "q"], n),
        }
    )
    raw = {
        "name": "rare",
        "seed": 5,
        "data": {"source": "rows.csv", "inputs": ["x", "kind"], "categorical": ["kind"]},
        "split": {"train": 0.5, "stop": 0.25, "test": 0.25, "shuffle": True},
        "heads": {"y": {}, "grade": {"kind": "multiclass"}},
        "model": {"units": [4]},
        "training": {"max_epochs": 2, "batch_size": 32, "patience": 1},
        "search": {"tuner": "random", "max_trials": 1, "confirm": {"top": 0}},
        "report": {"replicates": 2, "plots": False},
    }
    (tmp_path / "rows.csv").write_text(table.to_csv(index=False))
    study = Study.from_dict(raw, base_dir=tmp_path)
    train = set(prepare_dataset(study).train.rows)
    first, second = (prepare_dataset(study, seed=replicate_seed(5, k)) for k in (0, 1))
    # A rare category in the search's train split and the first replicate's test split.
    rare = next(int(r) for r in first.test.rows if r in train)
    table.loc[rare, "kind"] = "rare"
    # A rare class the second replicate's train split lacks: its draw is unusable.
    rare_class = next(
        int(r) for r in second.test.rows if r in train and r in set(first.train.rows) and r != rare
    )
    table.loc[rare_class, "grade"] = "r"
    (tmp_path / "rows.csv").write_text(table.to_csv(index=False))
    study = Study.from_dict(raw, base_dir=tmp_path)
    widths = [prepare_dataset(study, seed=s).input_dim for s in (5, replicate_seed(5, 0))]
    assert widths == [5, 4]  # x and four kinds; the replicate's train split lacks "rare"

    result = run_study(study, tmp_path / "run")
    assert result.failures == []
    assert result.replicates is not None and result.replicates["count"] == 1
    [unusable] = result.replicates["unusable"]
    assert unusable.startswith("replicate 2: Invalid data:") and "heads.grade" in unusable


def test_a_fingerprint_mismatch_names_each_key_and_whether_it_may_change(tmp_path) -> None:
    folder = RunFolder(tmp_path / "run")
    prepare_run_folder(Study.from_dict(TINY), folder, overwrite=False)
    changed = deep_update(TINY, {"training": {"patience": 1}, "report": {"replicates": 3}})
    with pytest.raises(SearchError) as refused:
        prepare_run_folder(Study.from_dict(changed), folder, overwrite=False)
    message = " ".join(str(refused.value).split())
    assert "training.patience: 2 in the run, 1 now (fixed for this run)" in message
    assert "report.replicates: 0 in the run, 3 now (may change on resume)" in message
    assert "Only search.max_trials, report.* may change" in message
    # report.* alone: the same run, resumed.
    only_report = deep_update(TINY, {"report": {"replicates": 3, "plots": False}})
    assert prepare_run_folder(Study.from_dict(only_report), folder, overwrite=False)
    saved = json.loads((folder.path / "study.json").read_text())
    assert saved["study"]["report"]["replicates"] == 3


def test_a_smaller_budget_on_a_finished_run_says_so_and_the_reload_line_stays_off(
    searched, tmp_path, capfd
) -> None:
    out = _copy(searched, tmp_path)
    smaller = Study.from_dict(
        deep_update(STUDY, {"search": {"max_trials": 2}, "report": {"replicates": 0}})
    )
    progress = Recorder()
    result = run_study(smaller, out, progress=progress)
    assert len(result.trials) == 3
    assert "this run already has 3 trials, more than search.max_trials=2; reporting them" in (
        " ".join(progress.stages)
    )
    # The run's heap was frozen once the run started (mtltune.run.heap), and given back.
    assert progress.stages[0] == "preparing data" and progress.frozen[0] == 0
    assert len(progress.stages) > 2 and all(count > 0 for count in progress.frozen[1:])
    assert gc.get_freeze_count() == 0
    captured = capfd.readouterr()
    assert "Reloading Tuner" not in captured.out + captured.err


def test_replicates_predict_without_keras_predict_and_without_retracing(
    tiny_study, tiny_dataset, monkeypatch, caplog
) -> None:
    import keras

    from mtltune.model.strategies import baseline_plan
    from mtltune.tuning.replicates import run_replicates
    from mtltune.tuning.tuner import study_hypermodel

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("Keras' predict traces a function per model")

    monkeypatch.setattr(keras.Model, "predict", refuse)
    hypermodel = study_hypermodel(tiny_study, tiny_dataset)
    plan = baseline_plan(tuple(tiny_study.heads), tiny_study.search.baseline)
    with caplog.at_level("WARNING"):
        arrays = run_replicates(
            tiny_study, hypermodel, {"best": plan, "baseline": plan}, tiny_dataset, 5
        )
    assert int(arrays["count"]) == 5
    assert "retracing" not in caplog.text


def test_plain_text_drops_terminal_escape_codes() -> None:
    text = "\x1b[1mInput 0\x1b[0m of layer \x1b]0;title\x07'x'\x1b[31m!\x1b[0m\nnext"
    assert plain_text(text) == "Input 0 of layer 'x'!\nnext"

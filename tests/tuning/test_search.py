"""run_study end to end on a tiny study: trials, best model, baseline, resume, failures."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import TINY, deep_update

from mtltune import SearchError, StudyResult, load_study, run_study
from mtltune.launch import open_run
from mtltune.run.fingerprint import study_fingerprint
from mtltune.search import SilentProgress

#: The two-trial study most tests here read: searched once (``two_trials``), with TensorBoard.
TWO_TRIALS = {"search": {"max_trials": 2}, "report": {"tensorboard": True, "plots": False}}


@dataclass(frozen=True)
class TwoTrials:
    """The shared two-trial search and what was seen while it ran.

    Attributes:
        path: The study file.
        out: The run folder.
        result: The search's result.
        refused: The messages of the two ``run_study`` calls refused on the open run.
        seen: Per finished trial: its id, the trial ids then in trials.csv, how many completed.
        held: The run lock as read while the report was written.
    """

    path: Path
    out: Path
    result: StudyResult
    refused: list[str]
    seen: list[tuple[str, set[str], int]]
    held: list[dict[str, Any] | None]


@pytest.fixture(scope="module")
def two_trials(tmp_path_factory) -> TwoTrials:
    """One search of :data:`TWO_TRIALS`, opened beforehand and searched in place with its report.

    Before the search, two calls that misuse the open run are refused; during it, every finished
    trial reads trials.csv, and the report's writing reads the run lock.
    """
    import pandas as pd

    from mtltune import search
    from mtltune.run.lock import read_run_lock

    base = tmp_path_factory.mktemp("two_trials")
    path = base / "study.yaml"
    path.write_text(yaml.safe_dump(deep_update(TINY, TWO_TRIALS), sort_keys=False))
    out = base / "run"
    seen: list[tuple[str, set[str], int]] = []
    held: list[dict[str, Any] | None] = []

    class Watch(SilentProgress):
        def trial_finished(self, record, total) -> None:
            rows = pd.read_csv(out / "trials.csv")
            ids = set(rows["trial_id"].astype(str))
            seen.append((record.trial_id, ids, int((rows["status"] == "COMPLETED").sum())))

    write = search.render_report

    def checked(result, folder):
        held.append(read_run_lock(folder))  # another search would be refused now
        return write(result, folder)

    study = load_study(path)
    refused: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(search, "render_report", checked)
        with open_run(study, out) as run:
            for misuse in (
                lambda: run_study(study, base / "elsewhere", run=run),
                lambda: run_study(load_study(path), run=run),
            ):
                try:
                    misuse()
                except ValueError as exc:
                    refused.append(str(exc))
            result = run_study(study, run=run, report=True, progress=Watch())
    return TwoTrials(path, out, result, refused, seen, held)


def _copy(two_trials: TwoTrials, to: Path) -> Path:
    return Path(shutil.copytree(two_trials.out, to))


def test_search_evaluates_best_and_baseline_on_test(two_trials) -> None:
    result = two_trials.result
    assert len(result.trials) == 2
    assert all(t.status == "COMPLETED" for t in result.trials)
    assert {t.strategy for t in result.trials} <= {"weighted", "separate"}
    objectives = [t.objective for t in result.trials]
    assert result.best_trial.objective == min(objectives)
    # The reloaded best-epoch checkpoint scores on stop what the trial reported.
    assert result.best.objective == pytest.approx(result.best_trial.objective, rel=1e-4)
    for head in load_study(two_trials.path).heads:
        assert result.best.stop[head]["loss"] == pytest.approx(
            result.best_trial.stop[head]["loss"], rel=1e-4
        )
        assert set(result.best.test[head]) == {"loss", "mae", "rmse", "loss_clean"}
        assert result.ratio[head] == pytest.approx(
            result.baseline.test[head]["loss"] / result.best.test[head]["loss"]
        )
    assert result.baseline.plan["loss_weights"] == {"y0": 1.0, "y1": 1.0, "y2": 1.0}
    assert (two_trials.out / "tuner").is_dir()


def test_trials_hold_only_their_strategys_knobs(write_study, tmp_path) -> None:
    study = load_study(write_study({"search": {"max_trials": 6}, "seed": 5}))
    result = run_study(study, tmp_path / "run")
    strategies = {t.strategy for t in result.trials}
    assert strategies == {"weighted", "separate"}, "six trials should sample both strategies"
    for trial in result.trials:
        names = set(trial.hyperparameters)
        if trial.strategy == "weighted":
            assert {"loss_weight_y0", "learning_rate"} <= names
            assert "learning_rate_y0" not in names
            assert sum(trial.plan["loss_weights"].values()) == pytest.approx(3.0)
        else:
            assert "learning_rate_y0" in names
            assert not any(n.startswith("loss_weight_") for n in names)


def test_same_seed_same_trials(two_trials, tmp_path) -> None:
    study = load_study(two_trials.path)
    first = two_trials.result
    second = run_study(study, tmp_path / "two")
    assert [t.hyperparameters for t in first.trials] == [t.hyperparameters for t in second.trials]
    for a, b in zip(first.trials, second.trials, strict=True):
        assert a.objective == pytest.approx(b.objective, rel=1e-6)
        for head in study.heads:
            assert a.stop[head]["loss"] == pytest.approx(b.stop[head]["loss"], rel=1e-6)
    for head in study.heads:
        assert first.best.test[head] == pytest.approx(second.best.test[head], rel=1e-6)
        assert first.baseline.test[head] == pytest.approx(second.baseline.test[head], rel=1e-6)


def test_existing_run_resumes_and_keeps_finished_trials(two_trials, tmp_path) -> None:
    first = two_trials.result
    out = _copy(two_trials, tmp_path / "run")
    again = run_study(load_study(two_trials.path, ["search.max_trials=3"]), out)
    assert len(again.trials) == 3
    kept = {t.trial_id: t for t in again.trials}
    for trial in first.trials:
        assert kept[trial.trial_id].hyperparameters == trial.hyperparameters
        assert kept[trial.trial_id].objective == pytest.approx(trial.objective)


def test_a_different_study_in_the_folder_is_refused(two_trials, write_study, tmp_path) -> None:
    out = _copy(two_trials, tmp_path / "run")
    other = load_study(write_study({"search": {"max_trials": 1}, "seed": 99}, name="other.yaml"))
    with pytest.raises(SearchError, match="different study"):
        run_study(other, out)
    result = run_study(other, out, overwrite=True)
    marker = json.loads((out / "study.json").read_text())
    assert marker["fingerprint"] == study_fingerprint(other)
    assert len(result.trials) == 1


def test_every_trial_failing_is_a_search_error(write_study, tmp_path) -> None:
    study = load_study(
        write_study(
            {
                "search": {
                    "max_trials": 2,
                    "strategies": ["weighted"],
                    "learning_rate": {"min": 1e12, "max": 1e13},
                },
                "training": {"max_epochs": 20},
            }
        )
    )
    with pytest.raises(SearchError, match=r"all 2 trials failed.*diverged"):
        run_study(study, tmp_path / "run")


def test_kill_9_mid_search_then_resume_loses_and_duplicates_nothing(write_study, tmp_path) -> None:
    """With the TPE oracle (the default): its saved state after a kill -9 repeats the killed
    trial, loses none and proposes no configuration twice."""
    import os
    import signal
    import time

    import pandas as pd
    from conftest import start_search_until_a_trial_finishes, write_interruptible_study

    path = write_interruptible_study(write_study, {"search": {"tuner": "tpe"}})
    out = tmp_path / "run"
    csv = out / "trials.csv"
    process = start_search_until_a_trial_finishes(path, out)
    try:
        time.sleep(
            0.5
        )  # into the next trial (inverse-loss), at least 1.5 s (conftest.INTERRUPTIBLE)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.communicate()
    before = pd.read_csv(csv, dtype={"trial_id": str})
    assert list(before["status"]) == ["COMPLETED"]
    killed = json.loads((out / "tuner" / "trial_1" / "trial.json").read_text())
    assert killed["status"] == "RUNNING"

    result = run_study(load_study(path), out)
    ids = [t.trial_id for t in result.trials]
    assert ids == ["0", "1", "2"]
    assert all(t.status == "COMPLETED" for t in result.trials)
    assert [t.origin for t in result.trials] == ["informed", "informed", "sampler"]
    assert result.trials[0].objective == pytest.approx(before["objective"][0])
    configs = [tuple(sorted(t.hyperparameters.items())) for t in result.trials]
    assert len(set(configs)) == 3
    after = pd.read_csv(csv, dtype={"trial_id": str})
    assert sorted(after["trial_id"]) == ids


def test_a_diverging_trial_fails_and_the_search_goes_on(write_study, tmp_path) -> None:
    import pandas as pd

    study = load_study(
        write_study(
            {
                "seed": 1,
                "search": {
                    "max_trials": 4,
                    "strategies": ["weighted"],
                    "learning_rate": {"min": 1e-3, "max": 1e12},
                },
                "training": {"max_epochs": 5},
            }
        )
    )
    result = run_study(study, tmp_path / "run")
    statuses = [t.status for t in result.trials]
    assert "FAILED" in statuses and "COMPLETED" in statuses, statuses
    assert result.best_trial.status == "COMPLETED"
    rows = pd.read_csv(tmp_path / "run" / "trials.csv")
    failed = rows[rows["status"] == "FAILED"]
    assert failed["message"].str.contains(r"diverged at epoch \d+, batch \d+").all()
    assert failed["objective"].isna().all()


def test_every_strategy_trains_in_one_search_and_is_reported(write_study, tmp_path) -> None:
    everything = ["weighted", "separate", "uncertainty", "geometric"]
    study = load_study(
        write_study(
            {
                "seed": 1,  # this seed's random oracle samples all four in six trials
                "search": {"max_trials": 6, "strategies": everything},
                "heads": {"y2": {"loss": "gaussian_nll", "clean_target": None}},
            }
        )
    )
    result = run_study(study, tmp_path / "run")
    assert {t.strategy for t in result.trials} == set(everything)
    assert all(t.ok for t in result.trials), [t.message for t in result.trials]
    assert set(result.strategies) == set(everything)
    for name, best in result.strategies.items():
        trials = [t for t in result.trials if t.strategy == name]
        assert best.trial_id == min(trials, key=lambda t: t.objective).trial_id
        assert set(best.evaluation.test) == {"y0", "y1", "y2"}
    uncertainty = [t for t in result.trials if t.strategy == "uncertainty"]
    assert all(set(t.plan["learned_weights"]) == {"y0", "y1", "y2"} for t in uncertainty)
    learned = result.strategies["uncertainty"].evaluation.plan["learned_weights"]
    assert learned["y2"] == 1.0  # a log-likelihood head keeps weight 1
    assert learned["y0"] > 0 and learned["y1"] > 0
    document = result.to_dict()
    assert set(document["strategies"]) == set(everything)


def test_trials_csv_is_kept_current_during_the_search(two_trials) -> None:
    for trial_id, ids, _ in two_trials.seen:
        assert trial_id in ids
    assert [completed for _, _, completed in two_trials.seen] == [1, 2]


def test_tensorboard_logs_each_trial_when_asked(two_trials) -> None:
    logs = two_trials.out / "tensorboard"
    trial_dirs = sorted(p.name for p in logs.iterdir())
    assert len(trial_dirs) == 2
    events = list(logs.rglob("events.out.tfevents.*"))
    assert events and all(e.stat().st_size > 0 for e in events)


def test_the_report_is_written_while_the_run_folder_is_locked(two_trials) -> None:
    from mtltune.run.lock import read_run_lock

    held = two_trials.held
    assert held and held[0] is not None and held[0]["role"] == "search"
    assert (two_trials.out / "report.md").is_file()
    assert read_run_lock(two_trials.out) is None


def test_a_run_opened_beforehand_is_searched_in_place(two_trials) -> None:
    not_with_run, another_study = two_trials.refused
    assert "not with run" in not_with_run and "another study" in another_study
    result = two_trials.result
    assert [t.trial_id for t in result.trials] == ["0", "1"]
    assert (two_trials.out / "report.md").exists()
    assert not (two_trials.out.parent / "elsewhere").exists()

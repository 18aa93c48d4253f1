"""run_study end to end on a tiny study: trials, best model, baseline, resume, failures."""

from __future__ import annotations

import json

import pytest

from mtltune import SearchError, load_study, run_study
from mtltune.launch import open_run
from mtltune.run.fingerprint import study_fingerprint


def test_search_evaluates_best_and_baseline_on_test(write_study, tmp_path) -> None:
    study = load_study(write_study({"search": {"max_trials": 4}}))
    result = run_study(study, tmp_path / "run")
    assert len(result.trials) == 4
    assert all(t.status == "COMPLETED" for t in result.trials)
    assert {t.strategy for t in result.trials} <= {"weighted", "separate"}
    objectives = [t.objective for t in result.trials]
    assert result.best_trial.objective == min(objectives)
    # The reloaded best-epoch checkpoint scores on stop what the trial reported.
    assert result.best.objective == pytest.approx(result.best_trial.objective, rel=1e-4)
    for head in study.heads:
        assert result.best.stop[head]["loss"] == pytest.approx(
            result.best_trial.stop[head]["loss"], rel=1e-4
        )
        assert set(result.best.test[head]) == {"loss", "mae", "rmse", "loss_clean"}
        assert result.ratio[head] == pytest.approx(
            result.baseline.test[head]["loss"] / result.best.test[head]["loss"]
        )
    assert result.baseline.plan["loss_weights"] == {"y0": 1.0, "y1": 1.0, "y2": 1.0}
    assert (tmp_path / "run" / "tuner").is_dir()


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


def test_same_seed_same_trials(write_study, tmp_path) -> None:
    study = load_study(write_study({"search": {"max_trials": 2}}))
    first = run_study(study, tmp_path / "one")
    second = run_study(study, tmp_path / "two")
    assert [t.hyperparameters for t in first.trials] == [t.hyperparameters for t in second.trials]
    for a, b in zip(first.trials, second.trials, strict=True):
        assert a.objective == pytest.approx(b.objective, rel=1e-6)
        for head in study.heads:
            assert a.stop[head]["loss"] == pytest.approx(b.stop[head]["loss"], rel=1e-6)
    for head in study.heads:
        assert first.best.test[head] == pytest.approx(second.best.test[head], rel=1e-6)
        assert first.baseline.test[head] == pytest.approx(second.baseline.test[head], rel=1e-6)


def test_existing_run_resumes_and_keeps_finished_trials(write_study, tmp_path) -> None:
    path = write_study({"search": {"max_trials": 2}})
    first = run_study(load_study(path), tmp_path / "run")
    again = run_study(load_study(path, ["search.max_trials=3"]), tmp_path / "run")
    assert len(again.trials) == 3
    kept = {t.trial_id: t for t in again.trials}
    for trial in first.trials:
        assert kept[trial.trial_id].hyperparameters == trial.hyperparameters
        assert kept[trial.trial_id].objective == pytest.approx(trial.objective)


def test_a_different_study_in_the_folder_is_refused(write_study, tmp_path) -> None:
    run_study(load_study(write_study({"search": {"max_trials": 1}})), tmp_path / "run")
    other = load_study(write_study({"search": {"max_trials": 1}, "seed": 99}, name="other.yaml"))
    with pytest.raises(SearchError, match="different study"):
        run_study(other, tmp_path / "run")
    result = run_study(other, tmp_path / "run", overwrite=True)
    marker = json.loads((tmp_path / "run" / "study.json").read_text())
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


def test_trials_csv_is_kept_current_during_the_search(write_study, tmp_path) -> None:
    import pandas as pd

    from mtltune.search import SilentProgress

    seen: list[int] = []

    class Watch(SilentProgress):
        def trial_finished(self, record, total) -> None:
            rows = pd.read_csv(tmp_path / "run" / "trials.csv")
            assert record.trial_id in set(rows["trial_id"].astype(str))
            seen.append(int((rows["status"] == "COMPLETED").sum()))

    run_study(
        load_study(write_study({"search": {"max_trials": 2}})), tmp_path / "run", progress=Watch()
    )
    assert seen == [1, 2]


def test_kill_9_mid_search_then_resume_loses_and_duplicates_nothing(write_study, tmp_path) -> None:
    import os
    import signal
    import time

    import pandas as pd
    from conftest import start_search_until_a_trial_finishes, write_interruptible_study

    path = write_interruptible_study(write_study)
    out = tmp_path / "run"
    csv = out / "trials.csv"
    process = start_search_until_a_trial_finishes(path, out)
    try:
        time.sleep(0.5)  # into the next trial, which lasts at least 2 s (conftest.INTERRUPTIBLE)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.communicate()
    before = pd.read_csv(csv, dtype={"trial_id": str})
    finished = before[before["status"] == "COMPLETED"]
    assert len(finished) == 1

    result = run_study(load_study(path), out)
    ids = [t.trial_id for t in result.trials]
    assert len(ids) == len(set(ids)) == 3
    assert all(t.status == "COMPLETED" for t in result.trials)
    by_id = {t.trial_id: t for t in result.trials}
    for _, row in finished.iterrows():
        assert by_id[row["trial_id"]].objective == pytest.approx(row["objective"])
    after = pd.read_csv(csv, dtype={"trial_id": str})
    assert sorted(after["trial_id"]) == sorted(ids)


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


def test_tensorboard_logs_each_trial_when_asked(write_study, tmp_path) -> None:
    study = load_study(write_study({"search": {"max_trials": 2}, "report": {"tensorboard": True}}))
    run_study(study, tmp_path / "run")
    logs = tmp_path / "run" / "tensorboard"
    trial_dirs = sorted(p.name for p in logs.iterdir())
    assert len(trial_dirs) == 2
    events = list(logs.rglob("events.out.tfevents.*"))
    assert events and all(e.stat().st_size > 0 for e in events)


def test_the_report_is_written_while_the_run_folder_is_locked(
    write_study, tmp_path, monkeypatch
) -> None:
    from mtltune import search
    from mtltune.run.lock import read_run_lock

    held = []
    write = search.render_report

    def checked(result, folder):
        held.append(read_run_lock(folder))  # another search would be refused now
        return write(result, folder)

    monkeypatch.setattr(search, "render_report", checked)
    study = load_study(write_study({"search": {"max_trials": 1}, "report": {"plots": False}}))
    run_study(study, tmp_path / "run", report=True)
    assert held and held[0] is not None and held[0]["role"] == "search"
    assert (tmp_path / "run" / "report.md").is_file()
    assert read_run_lock(tmp_path / "run") is None


def test_a_run_opened_beforehand_is_searched_in_place(write_study, tmp_path) -> None:
    study = load_study(write_study({"search": {"max_trials": 2}}))
    with open_run(study, tmp_path / "run") as run:
        with pytest.raises(ValueError, match="not with run"):
            run_study(study, tmp_path / "elsewhere", run=run)
        with pytest.raises(ValueError, match="another study"):
            run_study(load_study(write_study({"search": {"max_trials": 2}})), run=run)
        result = run_study(study, run=run, report=True)
    assert [t.trial_id for t in result.trials] == ["0", "1"]
    assert (tmp_path / "run" / "report.md").exists()
    assert not (tmp_path / "elsewhere").exists()

"""Confirmation runs: the choice by mean stop objective, the untouched test split, resume."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from mtltune import load_study, prepare_dataset, run_study
from mtltune.report.confirmation import Confirmation, ConfirmRun
from mtltune.search import SilentProgress

CONFIRM = {"search": {"max_trials": 3, "confirm": {"top": 2, "seeds": 1}}}


class Runs(SilentProgress):
    """Records the confirmation runs trained (not those kept from an earlier run)."""

    def __init__(self) -> None:
        self.trained: list[tuple[str, int]] = []

    def confirm_finished(self, run: ConfirmRun, number: int, total: int) -> None:
        self.trained.append((run.candidate, run.seed))


def _confirmation(objectives: dict[str, list[float]]) -> Confirmation:
    runs = [
        ConfirmRun(c, seed, "search" if seed == 0 else "confirm", v)
        for c, values in objectives.items()
        for seed, v in enumerate(values)
    ]
    return Confirmation("min", [0, 1, 2], list(objectives), runs)


def test_the_best_mean_wins_and_the_verdict_says_whether_it_is_clear() -> None:
    # a won the search (0.10) by luck; b is better on average (0.13 against 0.23).
    clear = _confirmation({"a": [0.10, 0.30, 0.29], "b": [0.12, 0.13, 0.14]})
    assert clear.chosen == "b"
    assert clear.summary("b")["mean"] == pytest.approx(0.13)
    assert clear.clear is True  # a's mean 0.23 is worse than b's worst run 0.14
    close = _confirmation({"a": [0.10, 0.16, 0.15], "b": [0.12, 0.13, 0.14]})
    assert close.chosen == "b"
    assert close.clear is False  # a's mean 0.1367 lies within b's runs 0.12-0.14
    assert close.verdict == "indistinguishable within seed noise"


def test_a_search_chooses_the_best_mean_and_resume_keeps_its_runs(write_study, tmp_path) -> None:
    study = load_study(write_study(CONFIRM))
    first = Runs()
    result = run_study(study, tmp_path / "run", progress=first, report=True)
    table = pd.read_csv(tmp_path / "run" / "confirm.csv", dtype={"candidate": str})
    candidates = table[table.candidate != "baseline"]
    means = candidates.groupby("candidate").objective.mean()
    assert len(means) == 2 and len(candidates) == 4  # 2 configurations x (search + 1 seed)
    assert result.best_trial.trial_id == means.idxmin()
    assert len(first.trained) == 3  # two candidates and the baseline, one further seed each
    assert len(result.confirmation.test["best"]) == 2  # paired on the study seed and one more
    assert "## Confirmation" in (tmp_path / "run" / "report.md").read_text()
    # An interruption lost the last run: a resumed search trains only that one again.
    saved = json.loads((tmp_path / "run" / "confirm.json").read_text())
    lost = saved["runs"].pop()
    (tmp_path / "run" / "confirm.json").write_text(json.dumps(saved))
    again = Runs()
    resumed = run_study(study, tmp_path / "run", progress=again)
    assert again.trained == [(lost["candidate"], lost["seed"])]
    assert resumed.best_trial.trial_id == result.best_trial.trial_id
    # Runs of another version of the study are not kept.
    saved["fingerprint"] = "another study"
    (tmp_path / "run" / "confirm.json").write_text(json.dumps(saved))
    fresh = Runs()
    run_study(study, tmp_path / "run", progress=fresh)
    assert len(fresh.trained) == 3


class _Poisoned:
    """A split whose every attribute read fails: the test split before the choice."""

    def __getattr__(self, name: str) -> None:
        raise LookupError(f"the test split was read ({name})")

    def __len__(self) -> int:
        raise LookupError("the test split was read (len)")


def test_confirmation_never_reads_the_test_split(write_study, tmp_path) -> None:
    study = load_study(write_study(CONFIRM))
    dataset = dataclasses.replace(prepare_dataset(study), test=_Poisoned())
    with pytest.raises(LookupError, match="test split was read"):
        run_study(study, tmp_path / "run", dataset=dataset)
    # Every confirmation run finished (and the choice was made) before the test split was read.
    table = pd.read_csv(tmp_path / "run" / "confirm.csv")
    assert len(table) == 2 * 2 + 1  # 2 candidates x 2 runs, the baseline's further seed


def test_top_0_keeps_the_searchs_single_best_trial(write_study, tmp_path) -> None:
    study = load_study(write_study({"search": {"max_trials": 3, "confirm": {"top": 0}}}))
    result = run_study(study, tmp_path / "run")
    assert result.confirmation is None
    assert result.best_trial.objective == min(t.objective for t in result.trials)
    assert not (tmp_path / "run" / "confirm.csv").exists()


def test_executions_per_trial_averages_runs_with_different_seeds(write_study, tmp_path) -> None:
    one = run_study(load_study(write_study({"search": {"max_trials": 1}})), tmp_path / "one")
    two = run_study(
        load_study(write_study({"search": {"max_trials": 1, "executions_per_trial": 2}})),
        tmp_path / "two",
    )
    first, both = one.trials[0], two.trials[0]
    assert first.hyperparameters == both.hyperparameters
    # Had the second execution repeated the first one's seed, the mean would be its value.
    assert both.objective != pytest.approx(first.objective, rel=1e-6)


def test_the_confirmation_survives_report_json_and_renders_the_paired_table() -> None:
    from mtltune.report.confirmation import confirmation_lines

    scores = [{"a": {"loss": 1.0}}, {"a": {"loss": 2.0}}, {"a": {"loss": 3.0}}]
    base = [{"a": {"loss": 2.0}}, {"a": {"loss": 2.0}}, {"a": {"loss": 8.0}}]
    confirmation = _confirmation({"x": [0.2, 0.3, 0.4], "y": [0.1, 0.5, 0.6]}).with_test(
        {"best": scores, "baseline": base}
    )
    again = Confirmation.from_dict(json.loads(json.dumps(confirmation.to_dict())))
    assert again == confirmation
    paired = again.paired("loss", set())["a"]
    assert paired["ratio"] == pytest.approx(4.0 / 2.0)  # mean 4 against mean 2
    assert paired["best_wins"] == 2  # 1 < 2 and 3 < 8; 2 = 2 is no win
    text = "\n".join(confirmation_lines(again, [], set()))
    assert "`x` (chosen)" in text and "| a | 2 ± 1 | 4 ± 3.5 | 2 | 2 of 3 |" in text

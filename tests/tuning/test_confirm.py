"""Confirmation runs: the choice by mean stop objective, the untouched test split, resume."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from mtltune import load_study, prepare_dataset, run_study
from mtltune.report.confirmation import Confirmation, ConfirmRun
from mtltune.search import SilentProgress

# A baseline that hardly learns in three epochs: every challenger beats it at the study seed and
# is raced; one further seed (the rule: win every seed, as no test is possible below three).
CONFIRM = {
    "search": {
        "max_trials": 3,
        "baseline": {"learning_rate": 1e-6},
        "confirm": {"top": 2, "seeds": 1, "max_seeds": 1},
    },
    "report": {"plots": False},
}


class Runs(SilentProgress):
    """Records the race runs trained (not those kept from an earlier run)."""

    def __init__(self) -> None:
        self.trained: list[tuple[str, int]] = []

    def confirm_finished(self, run: ConfirmRun, number: int, total: int) -> None:
        self.trained.append((run.candidate, run.seed))


def test_the_race_trains_each_plan_once_per_seed_and_resume_keeps_its_runs(
    write_study, tmp_path
) -> None:
    study = load_study(write_study(CONFIRM))
    first = Runs()
    result = run_study(study, tmp_path / "run", progress=first, report=True)
    table = pd.read_csv(tmp_path / "run" / "confirm.csv", dtype={"candidate": str})
    assert not table.duplicated(["candidate", "seed"]).any()  # no plan twice on one seed
    challengers = table[table.candidate != "baseline"]
    assert challengers.candidate.nunique() == 2 and len(challengers) == 4  # search + 1 seed
    assert len(first.trained) == 3  # equal weights once, each challenger once, seed 1003
    assert sorted(first.trained) == sorted(set(first.trained))
    race = result.confirmation
    assert {d.status for d in race.decisions} <= {"accepted", "dropped", "stands"}
    assert result.verdict.recommended == race.recommended
    if race.recommended != "baseline":
        assert result.best_trial.trial_id == race.recommended
    assert len(race.test["best"]) == 2  # paired on the study seed and one more
    report = (tmp_path / "run" / "report.md").read_text()
    assert report.splitlines()[2].startswith("**verdict: ")
    assert "## The race against equal weights" in report
    assert race.fresh_splits and "each dealing the train and stop rows anew" in report
    # An interruption lost the last run: a resumed search trains only that one again.
    saved = json.loads((tmp_path / "run" / "confirm.json").read_text())
    lost = saved["runs"].pop()
    (tmp_path / "run" / "confirm.json").write_text(json.dumps(saved))
    again = Runs()
    resumed = run_study(study, tmp_path / "run", progress=again)
    assert again.trained == [(lost["candidate"], lost["seed"])]
    assert resumed.verdict == result.verdict
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
    # Every race run finished (and the race was decided) before the test split was read.
    table = pd.read_csv(tmp_path / "run" / "confirm.csv")
    assert len(table) == 2 * 2 + 2  # 2 challengers x 2 runs, equal weights x 2 runs


def test_top_0_keeps_the_searchs_single_best_trial(tiny_run) -> None:
    result, run_dir = tiny_run  # the shared run of three trials, confirmation off
    assert result.study["search"]["confirm"]["top"] == 0 and len(result.trials) == 3
    assert result.confirmation is None
    assert result.best_trial.objective == min(t.objective for t in result.trials)
    assert not (run_dir / "confirm.csv").exists()


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


def test_the_race_survives_report_json_and_renders_its_tables() -> None:
    from mtltune.report.confirmation import confirmation_lines
    from mtltune.report.race import Decision

    scores = [{"a": {"loss": 1.0}}, {"a": {"loss": 2.0}}, {"a": {"loss": 3.0}}]
    base = [{"a": {"loss": 2.0}}, {"a": {"loss": 2.0}}, {"a": {"loss": 8.0}}]
    runs = [
        ConfirmRun(c, seed, "search" if seed == 0 else "confirm", v)
        for c, values in {"x": [0.2, 0.3, 0.4], "baseline": [0.3, 0.4, 0.5]}.items()
        for seed, v in enumerate(values)
    ]
    decisions = [Decision("x", "stands", [0.29, 0.22], None, 0.05)]
    race = Confirmation("min", [0, 1, 2], ["x"], runs, {}, decisions).with_test(
        {"best": scores, "baseline": base}
    )
    again = Confirmation.from_dict(json.loads(json.dumps(race.to_dict())))
    assert again == race
    assert again.chosen == "x" and again.recommended == "baseline"
    paired = again.paired("loss", set())["a"]
    assert paired["ratio"] == pytest.approx(4.0 / 2.0)  # mean 4 against mean 2
    assert paired["best_wins"] == 2  # 1 < 2 and 3 < 8; 2 = 2 is no win
    text = "\n".join(confirmation_lines(again, [], set()))
    assert "**Recommended: equal weights (they stand)**" in text
    assert "| `x` | – | not significant at the seed cap | 2 | 2 of 2 | 22.5 % |" in text
    assert "| a | 2 ± 1 | 4 ± 3.5 | 2 | 2 of 3 |" in text

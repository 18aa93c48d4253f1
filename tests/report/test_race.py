"""The race against equal weights: the rule on constructed objectives, the verdict, the export."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from mtltune.report.confirmation import Confirmation, ConfirmRun, confirmation_lines
from mtltune.report.race import (
    INCUMBENT,
    Decision,
    RaceRule,
    Verdict,
    decide,
    gain,
    one_sided_p,
    recommend,
)
from mtltune.report.results import Evaluation, TrialRecord
from mtltune.report.tails import heavy_tails
from mtltune.report.verdict import verdict_of

RULE = RaceRule(seeds=3, max_seeds=5, level=0.05)


def test_a_gain_is_the_log_ratio_and_points_to_the_better_one() -> None:
    assert gain(0.2, 0.1, "min") == pytest.approx(math.log(2))
    assert gain(0.1, 0.2, "min") < 0
    assert gain(0.8, 0.9, "max") > 0  # a higher accuracy is better
    assert gain(0.0, -1.0, "min") == 1.0  # not positive: a plain difference


def test_a_challenger_not_better_on_average_is_dropped_at_once() -> None:
    assert decide("3", [-0.01], RULE, 3).status == "dropped"
    assert decide("3", [0.05, -0.2], RULE, 3).status == "dropped"
    assert decide("3", [0.0], RULE, 3).status == "dropped"  # a tie is no gain


def test_a_challenger_must_pass_the_test_after_the_first_seeds() -> None:
    # Better on every seed by about 10 %: significant at 0.05 / 3 after three seeds.
    assert decide("3", [0.1, 0.11, 0.09], RULE, 3).status == "accepted"
    # Two seeds are not enough, however good.
    assert decide("3", [0.1, 0.11], RULE, 3).status == "open"
    # Better on average but noisy: open, then equal weights stand at the cap.
    noisy = [0.05, -0.04, 0.06]
    assert decide("3", noisy, RULE, 3).status == "open"
    assert decide("3", [*noisy, -0.03, 0.05], RULE, 3).status == "stands"


def test_bonferroni_makes_the_test_stricter_with_more_challengers() -> None:
    gains = [0.05, 0.03, 0.07]
    p = one_sided_p(gains)
    assert 0.05 / 10 < p < 0.05
    assert decide("3", gains, RULE, 1).status == "accepted"
    assert decide("3", gains, RULE, 10).status == "open"


def test_without_enough_seeds_for_a_test_a_challenger_must_win_every_seed() -> None:
    rule = RaceRule(seeds=2, max_seeds=2, level=0.05)
    assert decide("3", [0.01, 0.02], rule, 3).status == "accepted"
    assert decide("3", [0.05, -0.01], rule, 3).status == "stands"


def test_the_recommendation_is_the_accepted_challenger_with_the_largest_gain() -> None:
    decisions = [
        Decision("1", "accepted", [0.1, 0.1, 0.1]),
        Decision("2", "accepted", [0.2, 0.2, 0.2, 0.0]),  # compared on the shared three
        Decision("3", "stands", [0.5, -0.4, 0.5]),
    ]
    assert recommend(decisions) == "2"
    assert recommend([Decision("3", "stands", [0.1]), Decision("4", "dropped", [-1.0])]) == (
        INCUMBENT
    )


def _evaluation(objective: float, loss: float = 1.0) -> Evaluation:
    scores = {"a": {"loss": loss}}
    return Evaluation(plan={"strategy": "weighted"}, objective=objective, stop=scores, test=scores)


def _trial(trial_id: str, objective: float) -> TrialRecord:
    return TrialRecord(
        trial_id=trial_id,
        status="COMPLETED",
        strategy="weighted",
        hyperparameters={},
        plan={"strategy": "weighted"},
        objective=objective,
        stop={"a": {"loss": objective}},
    )


def test_a_diverging_best_trial_is_never_recommended_over_equal_weights() -> None:
    # "best trial 2: objective 38.207, baseline 0.28028" without a race (top: 0).
    verdict = verdict_of(None, _trial("2", 38.207), _evaluation(38.207), _evaluation(0.28), "min")
    assert verdict.stands and verdict.recommended == INCUMBENT
    assert verdict.line().startswith("verdict: equal weights stand")
    better = verdict_of(None, _trial("2", 0.2), _evaluation(0.2), _evaluation(0.28), "min")
    assert not better.stands and better.unconfirmed and "study seed only" in better.line()


def _race(objectives: dict[str, list[float]], decisions: list[Decision]) -> Confirmation:
    runs = [
        ConfirmRun(c, seed, "search" if seed == 0 else "confirm", v)
        for c, values in objectives.items()
        for seed, v in enumerate(values)
    ]
    seeds = list(range(len(next(iter(objectives.values())))))
    return Confirmation(
        "min", seeds, [c for c in objectives if c != INCUMBENT], runs, {}, decisions
    )


def test_a_tie_with_equal_weights_is_reported_as_a_tie_and_equal_weights_stand() -> None:
    # The chosen trial's mean 530.6 against the baseline's 530.4 over the same seeds.
    race = _race(
        {"2": [520.0, 531.0, 540.8], INCUMBENT: [530.0, 530.9, 530.3]},
        [decide("2", [gain(530.9, 531.0, "min"), gain(530.3, 540.8, "min")], RULE, 1)],
    )
    assert race.recommended == INCUMBENT and race.chosen == "2"
    verdict = verdict_of(race, _trial("2", 520.0), _evaluation(520.0), _evaluation(530.0), "min")
    assert verdict.stands and "equal weights stand" in verdict.line()
    again = Confirmation.from_dict(json.loads(json.dumps(race.to_dict())))
    assert again == race


def test_the_race_table_means_only_the_further_seeds_judged_runs() -> None:
    # The study seed's run (the search's own, stopped and scored on all stop rows) is not
    # averaged with the further seeds' runs, which are judged on the other half.
    race = _race(
        {"2": [100.0, 0.5, 0.7], INCUMBENT: [200.0, 0.6, 0.8]},
        [decide("2", [gain(0.6, 0.5, "min"), gain(0.8, 0.7, "min")], RULE, 1)],
    )
    assert race.further_mean("2") == pytest.approx(0.6)
    assert race.further_mean(INCUMBENT) == pytest.approx(0.7)
    table = confirmation_lines(race, [_trial("2", 100.0)], set())
    header = next(line for line in table if line.startswith("| trial |"))
    assert header.rstrip(" |").endswith("mean judged objective, further seeds")
    row = next(line for line in table if line.startswith("| `2` |"))
    base = next(line for line in table if line.startswith("| equal weights |"))
    assert row.rstrip(" |").endswith("0.6") and base.rstrip(" |").endswith("0.7")
    assert "| incumbent | 2 |" in base


def test_a_race_nobody_entered_says_so_without_seeds_tests_or_files_it_did_not_make() -> None:
    # Both challengers were worse than equal weights at the study seed: none was retrained.
    race = _race(
        {"1": [0.21], "3": [0.22], INCUMBENT: [0.2]},
        [Decision("1", "screened", [], None, 0.0), Decision("3", "screened", [], None, 0.0)],
    )
    text = "\n".join(confirmation_lines(race, [_trial("1", 0.21), _trial("3", 0.22)], set()))
    assert "none was retrained on further seeds: equal weights stand" in text
    assert "No paired comparison on test: no challenger was raced." in text
    for absent in ("nan", "confirm.csv", "(none)", "/1 after", "t-test"):
        assert absent not in text, absent
    base = next(line for line in text.splitlines() if line.startswith("| equal weights |"))
    assert base.rstrip(" |").endswith("–")


def test_an_exact_tie_at_the_study_seed_reads_no_better_not_zero_percent_lower() -> None:
    verdict = verdict_of(None, _trial("1", 0.25), _evaluation(0.25), _evaluation(0.25), "min")
    assert verdict.stands
    assert "trial 1, was no better at the study seed" in verdict.line()
    assert "0.0 %" not in verdict.line()


def test_a_winning_challenger_gets_a_one_line_verdict_with_its_interval() -> None:
    gains = [0.03, 0.031, 0.029, 0.032]
    race = _race(
        {"10": [0.9, 0.9, 0.9, 0.9, 0.9], INCUMBENT: [1.0] * 5},
        [decide("10", gains, RULE, 1)],
    )
    verdict = verdict_of(race, _trial("10", 0.9), _evaluation(0.9), _evaluation(1.0), "min")
    assert verdict.recommended == "10" and verdict.won == 4 and verdict.seeds == 4
    lo, hi = verdict.interval
    assert lo < verdict.objective_ratio < hi
    assert verdict.line().startswith("verdict: trial 10 (weighted) beats equal weights: stop ")
    assert "3.0 % lower" in verdict.line() and "4 of 4 seeds" in verdict.line()
    assert Verdict.from_dict(json.loads(json.dumps(verdict.to_dict()))) == verdict


def test_heavy_tails_are_flagged_with_the_robust_ratio() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=1000)
    best, base = y + 0.1, y + 0.2
    best[:5] += 100.0  # five rows carry nearly all of the best model's squared error
    arrays = {"y/price": y, "best/price": best, "baseline/price": base}
    heads = {"price": type("Head", (), {"kind": "regression", "loss": "mse"})()}
    flagged = heavy_tails(arrays, heads, "best")
    assert flagged["price"]["share"] > 0.9 and flagged["price"]["rows"] == 10
    assert flagged["price"]["mae_ratio"] < 1  # on the absolute error, the best is worse here
    assert heavy_tails({**arrays, "best/price": y + 0.1}, heads, "best") == {}


def test_equal_weights_are_never_a_challenger_and_best_model_is_the_recommendation(
    write_study, tmp_path
) -> None:
    import keras

    from mtltune import load_study, run_study

    study = load_study(
        write_study(
            {
                "search": {
                    "tuner": "tpe",
                    "max_trials": 3,
                    "confirm": {"top": 3, "seeds": 1, "max_seeds": 1},
                },
                "report": {"plots": False},
            }
        )
    )
    result = run_study(study, tmp_path / "run", report=True)
    twin = result.trials[0]  # the informed equal-weights trial: the incumbent itself
    assert twin.plan["loss_weights"] == {"y0": 1.0, "y1": 1.0, "y2": 1.0}
    assert twin.trial_id not in result.confirmation.candidates
    table = pd.read_csv(tmp_path / "run" / "confirm.csv", dtype={"candidate": str})
    assert twin.trial_id not in set(table.candidate)
    assert not table.duplicated(["candidate", "seed"]).any()
    arrays = np.load(tmp_path / "run" / "predictions.npz")
    role = "baseline" if result.verdict.stands else "best"
    model = keras.saving.load_model(tmp_path / "run" / "best_model.keras")
    predicted = model.predict(arrays["x"], verbose=0)
    for head in ("y0", "y1", "y2"):
        np.testing.assert_allclose(
            np.ravel(predicted[head]), np.ravel(arrays[f"{role}/{head}"]), rtol=1e-4, atol=1e-5
        )
    doc = json.loads((tmp_path / "run" / "report.json").read_text())
    assert next(iter(doc)) == "verdict" and doc["verdict"]["recommended"] == (
        result.verdict.recommended
    )


def test_once_one_is_accepted_an_open_challenger_races_on_only_while_it_could_lead() -> None:
    from mtltune.report.race import outpaced

    accepted = [Decision("10", "accepted", [0.10, 0.11, 0.09])]
    behind = Decision("11", "open", [0.05, 0.12, 0.02, 0.04])  # 0.063 < 0.10 on 3 shared
    ahead = Decision("09", "open", [0.20, 0.15, 0.01])  # 0.12 > 0.10: it could still lead
    assert outpaced(behind, accepted) and not outpaced(ahead, accepted)
    assert not outpaced(behind, [])

"""The TPE oracle (Optuna inside Keras Tuner) and its informed first trials."""

from __future__ import annotations

import math

import keras_tuner as kt
import pandas as pd
import pytest

from mtltune import SearchConfig, TPEOracle, TPETuner, load_study, run_study
from mtltune.compat.tuner_private import attach_project
from mtltune.model.strategies import declare

HEADS = ("a", "b", "c")
SPACE = SearchConfig(
    strategies=["weighted", "separate", "uncertainty"],
    loss_weight={"min": 0.1, "max": 10.0},
    learning_rate={"min": 1e-4, "max": 1e-2},
    epsilon={"min": 1e-7, "max": 1e-3},
)
LOSSES = {"a": 0.1, "b": 0.4, "c": 1.6}
LEARNED = {"a": 9.0, "b": 3.0, "c": 1.0}


def drive(folder, seed: int = 5, trials: int = 14, informed: bool = True) -> TPEOracle:
    """Run an oracle on the declared space with made-up results (no training)."""
    hp = kt.HyperParameters()
    declare(hp, HEADS, SPACE)
    oracle = TPEOracle(
        objective=kt.Objective("score", "min"),
        max_trials=trials,
        seed=seed,
        hyperparameters=hp,
        informed=informed,
        start_values={"learning_rate": 1e-3, "epsilon": 1e-4},
    )
    oracle.verbose = 0
    attach_project(oracle, str(folder), "p")  # what a Tuner does with its oracle
    for _ in range(trials):
        trial = oracle.create_trial("tuner0")
        values = trial.hyperparameters.values
        metrics = {"score": sum(math.log(v) for v in values.values() if isinstance(v, float))}
        metrics.update({f"val_loss_{h}": v for h, v in LOSSES.items()})
        if values["strategy"] == "uncertainty":
            metrics.update({f"learned_weight_{h}": v for h, v in LEARNED.items()})
        oracle.update_trial(trial.trial_id, metrics)
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    return oracle


def values_of(oracle: TPEOracle) -> list[dict]:
    return [oracle.trials[k].hyperparameters.values for k in sorted(oracle.trials)]


def test_proposals_stay_in_their_ranges_and_conditions(tmp_path) -> None:
    oracle = drive(tmp_path)
    active = {
        "weighted": {"strategy", "epsilon", "learning_rate", "loss_weight_a", "loss_weight_b"},
        "separate": {"strategy", "epsilon", "learning_rate_a", "learning_rate_b"},
        "uncertainty": {"strategy", "epsilon", "learning_rate"},
    }
    for values in values_of(oracle):
        names = {k for k in values if not k.endswith("_c")}
        assert names == active[values["strategy"]], values
        assert 1e-7 <= values["epsilon"] <= 1e-3
        for name, value in values.items():
            if name.startswith("learning_rate"):
                assert 1e-4 <= value <= 1e-2
        if values["strategy"] == "weighted":  # K-1 ratios: the first head is the reference
            assert values["loss_weight_a"] == 1.0
            assert all(0.01 <= values[f"loss_weight_{h}"] <= 100.0 for h in "bc")
    seconds = [t.metrics.get_last_value("oracle_seconds") for t in oracle.trials.values()]
    assert all(s is not None and 0 <= s < 5 for s in seconds)


def test_one_seed_gives_the_same_trials(tmp_path) -> None:
    first = values_of(drive(tmp_path / "a", seed=5))
    assert values_of(drive(tmp_path / "b", seed=5)) == first
    assert values_of(drive(tmp_path / "c", seed=6)) != first


def test_informed_trials_follow_the_stop_losses_and_learned_weights(tmp_path) -> None:
    oracle = drive(tmp_path)
    values = values_of(oracle)
    equal, inverse = values[0], values[1]
    assert equal["strategy"] == "weighted" and equal["learning_rate"] == 1e-3
    assert [equal[f"loss_weight_{h}"] for h in HEADS] == [1.0, 1.0, 1.0]
    # w_i ∝ 1/L_i, relative to the reference head a: L_a / L_i.
    for h in HEADS:
        assert inverse[f"loss_weight_{h}"] == pytest.approx(LOSSES["a"] / LOSSES[h])
    assert inverse["learning_rate"] == equal["learning_rate"]
    # Adam's epsilon scaled by the smallest normalised weight (head c's, from equal weights).
    smallest = (LOSSES["a"] / LOSSES["c"]) / (sum(LOSSES["a"] / v for v in LOSSES.values()) / 3)
    assert inverse["epsilon"] == pytest.approx(equal["epsilon"] * smallest)
    keys = list(oracle.informed_trials.values())
    assert keys[:2] == ["equal", "inverse_loss:00"]
    for trial_id, key in oracle.informed_trials.items():
        if key.startswith("learned:"):
            source = oracle.trials[key.split(":")[1]].hyperparameters.values
            proposed = oracle.trials[trial_id].hyperparameters.values
            assert source["strategy"] == "uncertainty" and proposed["strategy"] == "weighted"
            assert proposed["loss_weight_b"] == pytest.approx(LEARNED["b"] / LEARNED["a"])
            assert proposed["learning_rate"] == source["learning_rate"]
    assert any(k.startswith("learned:") for k in keys)
    assert not drive(tmp_path / "off", informed=False).informed_trials


def test_search_records_origin_and_time_split(write_study, tmp_path) -> None:
    study = load_study(
        write_study(
            {"search": {"tuner": "tpe", "strategies": ["weighted"]}, "report": {"plots": False}}
        )
    )
    result = run_study(study, tmp_path / "run", report=True)
    trials = pd.read_csv(tmp_path / "run" / "trials.csv")
    # Equal weights, then 1/L from it; the third is informed too if the second beat the first
    # (it is then re-weighted from its own stop losses), else the sampler's.
    second_won = result.trials[1].objective < result.trials[0].objective
    third = "informed" if second_won else "sampler"
    assert list(trials["origin"]) == ["informed", "informed", third]
    assert trials["oracle_seconds"].notna().all()
    first = result.trials[0]
    # The equal-weights trial has the baseline's plan: it is the baseline, not trained again.
    assert result.baseline.objective == pytest.approx(first.objective)
    assert result.baseline.plan == first.plan
    inverse = {h: 1 / first.stop[h]["loss"] for h in study.heads}
    mean = sum(inverse.values()) / len(inverse)
    weights = result.trials[1].plan["loss_weights"]
    assert weights == pytest.approx({h: w / mean for h, w in inverse.items()})
    split = pd.read_json(tmp_path / "run" / "report.json", typ="series")["time_split"]
    assert {"training", "oracle", "evaluation", "report"} <= set(split)
    assert split["oracle"] == pytest.approx(trials["oracle_seconds"].sum())

    off = load_study(write_study({"search": {"tuner": "tpe", "informed": False}}, "off.yaml"))
    run_study(off, tmp_path / "off")
    assert set(pd.read_csv(tmp_path / "off" / "trials.csv")["origin"]) == {"sampler"}


# A kill -9 mid-search and the oracle's resume: tests/tuning/test_search.py
# (test_kill_9_mid_search_then_resume_loses_and_duplicates_nothing runs the TPE oracle).


def test_library_users_pass_the_oracle_to_keras_tuner(tmp_path) -> None:
    from twoheads import build, data

    from mtltune import MultiTaskHyperModel

    hypermodel = MultiTaskHyperModel(
        build,
        heads={"a": {}, "b": {"kind": "binary"}},
        search={"strategies": ["weighted"]},
        training={"max_epochs": 2, "patience": 1},
    )
    tuner = TPETuner(
        hypermodel,
        objective=hypermodel.tuner_objective,
        max_trials=2,
        seed=1,
        directory=str(tmp_path),
        project_name="mine",
    )
    (x, y), (x_stop, y_stop) = data(64, 0), data(32, 1)
    tuner.search(x, y, validation_data=(x_stop, y_stop), verbose=0)
    first, second = (tuner.oracle.trials[k] for k in sorted(tuner.oracle.trials))
    assert first.hyperparameters.values["loss_weight_b"] == 1.0
    # No start values given: the equal-weights trial runs at the hypermodel's baseline.
    baseline = hypermodel.search.baseline
    assert first.hyperparameters.values["learning_rate"] == baseline.learning_rate
    assert first.hyperparameters.values["epsilon"] == baseline.epsilon
    loss_a, loss_b = (first.metrics.get_last_value(f"val_loss_{h}") for h in "ab")
    assert second.hyperparameters.values["loss_weight_b"] == pytest.approx(loss_a / loss_b)
    assert second.metrics.get_last_value("informed_trial") == 1.0


def _completed(space: kt.HyperParameters, trial_id: str, values: dict, score: float, losses: dict):
    """A completed Keras Tuner trial with these values, score and per-head stop losses."""
    hp = space.copy()
    hp.values.update(values)
    trial = kt.engine.trial.Trial(hp, trial_id=trial_id, status="COMPLETED")
    for head, loss in losses.items():
        trial.metrics.register(f"val_loss_{head}", direction="min")
        trial.metrics.update(f"val_loss_{head}", loss)
    trial.score = score
    return trial


def test_each_new_best_weighted_trial_is_reweighted_at_its_own_optimizer() -> None:
    from mtltune.tuning.informed import next_proposal

    space = kt.HyperParameters()
    declare(space, HEADS, SPACE)
    weighted = {"strategy": "weighted", "learning_rate": 1e-3, "epsilon": 1e-4}
    equal = {**weighted, "loss_weight_a": 1.0, "loss_weight_b": 1.0, "loss_weight_c": 1.0}
    sampled = {**equal, "learning_rate": 5e-3, "epsilon": 1e-6, "loss_weight_b": 3.0}
    trials = [
        _completed(space, "00", equal, 2.0, LOSSES),
        _completed(space, "01", sampled, 1.0, {"a": 0.2, "b": 0.1, "c": 0.8}),
    ]
    done = {"00": "equal", "02": "inverse_loss:00"}
    proposal = next_proposal(space, trials, done, {})
    # Trial 01 beat every earlier weighted trial: w ∝ 1/L at its learning rate and epsilon.
    assert proposal.key == "inverse_loss:01"
    assert proposal.values["learning_rate"] == 5e-3
    # Epsilon falls with the smallest weight ratio, so no head's eps / w_i grows: normalised
    # weights (1, 3, 1) -> (1, 2, 0.25), head c's falls from 0.6 to 0.2308 of the mean.
    new_c = 0.25 / ((1 + 2 + 0.25) / 3)
    assert proposal.values["epsilon"] == pytest.approx(1e-6 * new_c / 0.6)
    assert proposal.values["loss_weight_b"] == pytest.approx(0.2 / 0.1)
    assert proposal.values["loss_weight_c"] == pytest.approx(0.2 / 0.8)

    # A weighted trial that did not beat an earlier one is not re-weighted.
    trials[1].score = 3.0
    assert next_proposal(space, trials, done, {}) is None
    # An inverse-loss trial is re-weighted too (w <- 1/L(w)), until its weights are its own
    # 1/L within 20 %: the iteration has converged.
    trials[1].score = 1.0
    iterated = {**done, "01": "inverse_loss:00"}
    assert next_proposal(space, trials, iterated, {}).key == "inverse_loss:01"
    trials[1].hyperparameters.values.update({"loss_weight_b": 2.1, "loss_weight_c": 0.26})
    assert next_proposal(space, trials, iterated, {}) is None


def test_the_good_fraction_is_tpe_gamma() -> None:
    """Guards mtltune.compat.optuna_deprecated: Optuna's deprecated ``gamma`` still splits."""
    import warnings

    import optuna

    from mtltune.compat.optuna_deprecated import good_count, tpe_sampler

    assert [good_count(0.25, n) for n in (1, 4, 5, 20, 200)] == [1, 1, 2, 5, 25]

    def split(sampler: optuna.samplers.TPESampler) -> list[float]:
        """The values TPE models as good after 8 trials of a 1-D space."""
        study = optuna.create_study(sampler=sampler)
        dist = optuna.distributions.FloatDistribution(0.0, 1.0)
        for x in [0.1 * i for i in range(8)]:
            study.add_trial(
                optuna.trial.create_trial(params={"x": x}, distributions={"x": dist}, value=x)
            )
        seen = []
        original = optuna.samplers._tpe.sampler._split_trials

        def spy(study, trials, n_below, *args):
            below, above = original(study, trials, n_below, *args)
            seen.extend(t.value for t in below)
            return below, above

        optuna.samplers._tpe.sampler._split_trials = spy
        try:
            study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=1)
        finally:
            optuna.samplers._tpe.sampler._split_trials = original
        return seen

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the deprecation warning is kept off the terminal
        quarter = tpe_sampler(0.25, n_startup_trials=1, seed=0)
    assert split(quarter) == [0.0, 0.1]  # ceil(0.25 * 8) = 2 good trials
    assert split(optuna.samplers.TPESampler(n_startup_trials=1, seed=0)) == [0.0]  # Optuna's
    with pytest.raises(ValueError, match="good_fraction"):
        TPEOracle(objective=kt.Objective("score", "min"), good_fraction=1.5)

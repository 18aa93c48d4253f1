"""Keras Tuner's oracle contract, held by every oracle mtltune offers users.

Each property is checked on Keras Tuner's own ``RandomSearchOracle`` (the control: a property
it fails is not Keras Tuner's contract) and on ``mtltune.TPEOracle``. The oracles are driven
directly (``create_trial``, ``update_trial``, ``end_trial``) with made-up objectives, as a
tuner drives them, so no model is trained; two cases run a real tuner on a tiny model.
"""

from __future__ import annotations

import json
import logging
import math
import statistics
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras_tuner as kt
import numpy as np
import pytest

from mtltune import TPEOracle, TPETuner
from mtltune.compat.tuner_private import attach_project

ORACLES: dict[str, Callable[..., kt.Oracle]] = {
    "random": kt.oracles.RandomSearchOracle,
    # Few start-up trials, so that most proposals come from TPE's model.
    "tpe": lambda **kw: TPEOracle(n_startup_trials=kw.pop("n_startup_trials", 3), **kw),
}

Score = Callable[[dict[str, Any]], float]


@pytest.fixture(params=sorted(ORACLES))
def make(request, tmp_path: Path) -> Callable[..., kt.Oracle]:
    """A factory of oracles of the parametrised kind, each with a project folder."""

    def make(space: kt.HyperParameters | None = None, **kwargs: Any) -> kt.Oracle:
        kwargs.setdefault("objective", kt.Objective("score", "min"))
        kwargs.setdefault("seed", 11)
        project = kwargs.pop("project", "p")
        oracle = ORACLES[request.param](hyperparameters=space, **kwargs)
        oracle.verbose = 0
        attach_project(oracle, str(tmp_path), project)  # what a Tuner does with its oracle
        return oracle

    make.kind = request.param  # type: ignore[attr-defined]
    return make


def run(
    oracle: kt.Oracle,
    score: Score,
    trials: int,
    tuner_id: str = "tuner0",
    status: str = "COMPLETED",
    metric: str = "score",
) -> list[dict[str, Any]]:
    """Run up to ``trials`` trials (fewer if the oracle stops); their values."""
    done = []
    for _ in range(trials):
        trial = oracle.create_trial(tuner_id)
        if trial.status != "RUNNING":
            assert trial.status == "STOPPED"
            break
        values = dict(trial.hyperparameters.values)
        oracle.update_trial(trial.trial_id, {metric: score(values)})
        trial.status = status
        oracle.end_trial(trial)
        done.append(values)
    return done


def every_kind() -> kt.HyperParameters:
    """One hyperparameter of each type, sampling and step (ranges not multiples included)."""
    hp = kt.HyperParameters()
    hp.Int("i_lin", 1, 20)
    hp.Int("i_step", 3, 40, step=5)  # 40 is not on the grid 3, 8, ..., 38
    hp.Int("i_log", 1, 1000, sampling="log")
    hp.Int("i_log_step", 2, 256, step=2, sampling="log")  # 2, 4, 8, ..., 256
    hp.Int("i_rev", 1, 1000, sampling="reverse_log")
    hp.Int("i_rev_step", 1, 100, step=3, sampling="reverse_log")
    hp.Float("f_lin", -1.0, 1.0)
    hp.Float("f_step", 0.0, 0.55, step=0.1)  # a range not a multiple of the step
    hp.Float("f_log", 1e-4, 1e-1, sampling="log")
    hp.Float("f_log_step", 1e-4, 1e-1, step=10, sampling="log")  # 1e-4, 1e-3, 1e-2, 1e-1
    hp.Float("f_rev", 1.0, 1000.0, sampling="reverse_log")
    hp.Float("f_rev_step", 1.0, 1000.0, step=10, sampling="reverse_log")
    hp.Choice("c_str", ["a", "b", "c"])
    hp.Choice("c_int", [8, 16, 32])
    hp.Boolean("flag")
    hp.Fixed("fixed", "always")
    return hp


def _score(values: dict[str, Any]) -> float:
    """A made-up objective of every kind of value (no two values score alike)."""
    total = 0.0
    for name, value in sorted(values.items()):
        number = float(value) if isinstance(value, int | float) else len(str(value))
        total += math.sin(number + len(name))
    return total


def test_every_type_and_sampling_proposes_values_keras_tuner_allows(make, caplog) -> None:
    space = every_kind()
    oracle = make(space, max_trials=25)
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        done = run(oracle, _score, 25)
    assert len(done) == 25
    for values in done:
        assert set(values) == {hp.name for hp in space.space}
        for hp in space.space:
            value = values[hp.name]
            if isinstance(hp, kt.engine.hyperparameters.Fixed):
                assert value == hp.value
            elif isinstance(
                hp, kt.engine.hyperparameters.Choice | kt.engine.hyperparameters.Boolean
            ):
                assert value in hp.values
            else:
                assert hp.min_value <= value <= hp.max_value, (hp.name, value)
                kind = int if isinstance(hp, kt.engine.hyperparameters.Int) else float
                assert isinstance(value, kind), (hp.name, value)
                if hp.step is not None:  # on Keras Tuner's own grid
                    assert value in set(hp.values), (hp.name, value)
    # A range that is not a multiple of its step is no reason for a warning per proposal.
    noise = [str(w.message) for w in caught if "optuna" in str(w.filename)]
    noise += [r.getMessage() for r in caplog.records if r.name.startswith("optuna")]
    assert not noise, noise[:3]


def test_a_log_step_is_a_multiplier(make) -> None:
    hp = kt.HyperParameters()
    hp.Int("batch", 2, 256, step=2, sampling="log")
    hp.Float("lr", 1e-4, 1e-1, step=10, sampling="log")
    done = run(make(hp, max_trials=20), lambda v: math.log(v["batch"]) - math.log(v["lr"]), 20)
    assert {v["batch"] for v in done} <= {2, 4, 8, 16, 32, 64, 128, 256}
    assert all(any(math.isclose(v["lr"], g) for g in (1e-4, 1e-3, 1e-2, 1e-1)) for v in done)


@pytest.mark.parametrize("sampling", ["log", "reverse_log"])
def test_log_and_reverse_log_crowd_their_own_end(make, sampling) -> None:
    hp = kt.HyperParameters()
    hp.Float("x", 1.0, 1000.0, sampling=sampling)
    done = run(make(hp, max_trials=30), lambda v: 1.0, 30)  # a flat objective
    median = statistics.median(v["x"] for v in done)
    # Log-uniform values crowd the low end (median ≈ 32), reverse_log the high end (≈ 969).
    assert median < 200 if sampling == "log" else median > 800


def test_values_off_the_grid_are_tolerated_and_never_proposed(make) -> None:
    hp = kt.HyperParameters()
    hp.Float("dropout", 0.0, 0.5, step=0.1)
    hp.Int("units", 8, 64, step=8)
    oracle = make(hp, max_trials=30)
    grid = set(hp.space[0].values)
    # A trial's values can leave the grid: a default met during the trial, an edited trial.
    trial = oracle.create_trial("tuner0")
    trial.hyperparameters.values.update(dropout=0.25, units=12)
    oracle.update_trial(trial.trial_id, {"score": 0.0})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    done = run(oracle, lambda v: abs(v["dropout"] - 0.25) + v["units"] / 64, 12)
    assert len(done) == 12
    assert all(v["dropout"] in grid and v["units"] % 8 == 0 for v in done)
    # The step changes between a run and its resume: the old values are off the new grid.
    oracle.hyperparameters = kt.HyperParameters()
    oracle.hyperparameters.Float("dropout", 0.0, 0.5, step=0.25)
    oracle.hyperparameters.Int("units", 8, 64, step=7)
    done = run(oracle, lambda v: v["dropout"] + v["units"], 8)
    assert done and all(
        v["dropout"] in (0.0, 0.25, 0.5) and (v["units"] - 8) % 7 == 0 for v in done
    )


def test_one_name_under_two_conditions_takes_each_branchs_values(make) -> None:
    hp = kt.HyperParameters()
    hp.Choice("model", ["v1", "v2"])
    with hp.conditional_scope("model", "v1"):
        hp.Choice("act", ["relu", "tanh"])
        hp.Int("depth", 1, 3)
    with hp.conditional_scope("model", "v2"):
        hp.Choice("act", ["gelu", "elu"])
        hp.Float("width", 0.5, 2.0)
    allowed = {"v1": {"relu", "tanh"}, "v2": {"gelu", "elu"}}
    proposed = []
    oracle = make(hp, max_trials=20)
    for _ in range(20):
        trial = oracle.create_trial("tuner0")
        values = dict(trial.hyperparameters.values)
        proposed.append(values)
        oracle.update_trial(trial.trial_id, {"score": len(str(values))})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    assert {v["model"] for v in proposed} == {"v1", "v2"}
    for values in proposed:
        # Keras Tuner keeps a trial's value of a name only if its last declaration is active
        # (``HyperParameters.ensure_active_values``): here under v2.
        assert ("act" in values) == (values["model"] == "v2")
        assert values.get("act", "relu") in allowed[values["model"]]
        assert ("depth" in values) == (values["model"] == "v1")
        assert ("width" in values) == (values["model"] == "v2")


def test_fixed_values_and_new_entries_follow_the_space(make) -> None:
    hp = kt.HyperParameters()
    hp.Fixed("units", 32)
    hp.Float("x", 0.0, 1.0)
    oracle = make(hp, max_trials=8)
    trial = oracle.create_trial("tuner0")
    assert trial.hyperparameters.values["units"] == 32
    # The hypermodel declares a new hyperparameter during the trial: the space grows by it.
    trial.hyperparameters.Choice("extra", ["p", "q"])
    oracle.update_trial(trial.trial_id, {"score": 1.0})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    done = run(oracle, lambda v: v["x"] + (v["extra"] == "p"), 7)
    assert len(done) == 7
    assert all(v["units"] == 32 and v["extra"] in ("p", "q") for v in done)


@pytest.mark.parametrize(
    ("declare", "points"),
    [
        (lambda hp: (hp.Boolean("a"), hp.Boolean("b")), 4),
        (lambda hp: hp.Int("x", 1, 12), 12),
        (lambda hp: (hp.Choice("k", ["a", "b", "c"]), hp.Float("f", 0, 0.5, step=0.25)), 9),
    ],
    ids=["two_booleans", "int_1_12", "choice_and_grid"],
)
def test_a_discrete_space_is_searched_to_exhaustion(make, declare, points) -> None:
    hp = kt.HyperParameters()
    declare(hp)

    def score(values: dict[str, Any]) -> float:
        return sum(float(v) if not isinstance(v, str) else ord(v) for v in values.values())

    done = run(make(hp, max_trials=40), score, 40)
    keys = [tuple(sorted(v.items())) for v in done]
    assert len(keys) == len(set(keys))  # no point twice, then STOPPED within the budget
    if make.kind == "random":
        # Keras Tuner gives up after 20 draws in a row land on tried points: near the end of
        # a space it may stop with a point left.
        assert len(keys) >= points - 2
    else:
        assert len(keys) == points  # TPEOracle stops only when no point is left


def test_a_large_discrete_space_is_not_stopped_early(make) -> None:
    hp = kt.HyperParameters()
    hp.Int("x", 1, 100)
    done = run(make(hp, max_trials=40), lambda v: abs(v["x"] - 50), 40)
    assert len({v["x"] for v in done}) == 40


def test_maximisation_ranks_the_highest_score_best(make) -> None:
    hp = kt.HyperParameters()
    hp.Float("x", 0.0, 1.0)
    oracle = make(hp, max_trials=15, objective=kt.Objective("acc", "max"))
    done = run(oracle, lambda v: -((v["x"] - 0.7) ** 2), 15, metric="acc")
    best = oracle.get_best_trials(3)
    scores = [t.score for t in best]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == pytest.approx(max(-((v["x"] - 0.7) ** 2) for v in done))


def test_retries_then_failures_then_a_stop(make) -> None:
    hp = kt.HyperParameters()
    hp.Float("x", 0.0, 1.0)
    oracle = make(hp, max_trials=10, max_retries_per_trial=1, max_consecutive_failed_trials=2)
    first = oracle.create_trial("tuner0")
    values = dict(first.hyperparameters.values)
    first.status = "INVALID"
    oracle.end_trial(first)
    again = oracle.create_trial("tuner0")  # the retry: same trial, same values
    assert (again.trial_id, dict(again.hyperparameters.values)) == (first.trial_id, values)
    oracle.update_trial(again.trial_id, {"score": float("nan")})  # NaN: invalid, no retry left
    again.status = "COMPLETED"
    oracle.end_trial(again)
    assert oracle.trials[first.trial_id].status == "FAILED"
    second = oracle.create_trial("tuner0")
    assert second.trial_id != first.trial_id
    second.status = "FAILED"
    with pytest.raises(RuntimeError, match="consecutive failures"):
        oracle.end_trial(second)


@pytest.mark.parametrize(
    "objective", [["val_loss"], ["loss", kt.Objective("acc", "max")]], ids=["one", "two"]
)
def test_an_objective_list_is_scored_by_its_sum(make, objective) -> None:
    hp = kt.HyperParameters()
    hp.Float("x", 0.0, 1.0)
    oracle = make(hp, max_trials=10, objective=objective)
    assert oracle.objective.direction == "min"
    for _ in range(10):
        trial = oracle.create_trial("tuner0")
        x = trial.hyperparameters.values["x"]
        metrics = {"val_loss": x, "loss": x, "acc": 2 * x}
        # What a tuner reports: the metrics and their sum, a maximised one subtracted.
        metrics["multi_objective"] = x if len(objective) == 1 else x - 2 * x
        oracle.update_trial(trial.trial_id, metrics)
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
    best = oracle.get_best_trials(1)[0]
    xs = [t.hyperparameters.values["x"] for t in oracle.trials.values()]
    assert best.hyperparameters.values["x"] == (min(xs) if len(objective) == 1 else max(xs))


def test_a_reloaded_oracle_goes_on_where_it_stopped(make) -> None:
    hp = kt.HyperParameters()
    hp.Float("x", 0.0, 1.0)
    hp.Choice("k", ["a", "b"])

    def score(v: dict[str, Any]) -> float:
        return v["x"] + (v["k"] == "a")

    whole = run(make(hp.copy(), max_trials=10, project="whole"), score, 10)
    first = make(hp.copy(), max_trials=10, project="split")
    run(first, score, 6)
    first.save()  # a tuner saves its oracle after each end_trial
    resumed = make(hp.copy(), max_trials=10, project="split")
    resumed.reload()
    assert len(resumed.trials) == 6
    rest = run(resumed, score, 10)
    assert len(resumed.trials) == 10 and len(rest) == 4
    ids = sorted(resumed.trials)
    assert ids == [f"{i:02d}" for i in range(10)]
    # The same seed: the interrupted search proposes what the uninterrupted one did.
    assert [resumed.trials[i].hyperparameters.values for i in ids] == whole


def test_concurrent_tuners_share_one_oracle(make, tmp_path) -> None:
    hp = kt.HyperParameters()
    hp.Float("x", 0.0, 1.0)
    hp.Int("n", 1, 1000)
    oracle = make(hp, max_trials=24)
    errors: list[BaseException] = []

    def tuner(tuner_id: str) -> None:
        try:
            run(oracle, lambda v: v["x"] * v["n"], 100, tuner_id=tuner_id)
        except BaseException as error:  # reported by the test
            errors.append(error)

    threads = [threading.Thread(target=tuner, args=(f"tuner{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert len(oracle.trials) == 24 and not oracle.ongoing_trials
    keys = {tuple(sorted(t.hyperparameters.values.items())) for t in oracle.trials.values()}
    assert len(keys) == 24
    for trial_id in oracle.trials:
        saved = json.loads((tmp_path / "p" / f"trial_{trial_id}" / "trial.json").read_text())
        assert saved["status"] == "COMPLETED" and saved["trial_id"] == trial_id


TUNERS = {"random": kt.RandomSearch, "tpe": TPETuner}


@pytest.mark.parametrize("kind", sorted(TUNERS))
def test_the_tuner_takes_keras_tuners_common_arguments(kind, tmp_path) -> None:
    hp = kt.HyperParameters()
    hp.Float("x", 0.0, 1.0)
    tuner = TUNERS[kind](
        hypermodel=lambda hp: None,
        objective="val_loss",
        max_trials=7,
        seed=5,
        hyperparameters=hp,
        tune_new_entries=False,
        allow_new_entries=False,
        max_retries_per_trial=2,
        max_consecutive_failed_trials=4,
        directory=str(tmp_path),
        project_name=kind,
    )
    oracle = tuner.oracle
    assert (oracle.max_trials, oracle.seed, oracle.objective.name) == (7, 5, "val_loss")
    assert not oracle.tune_new_entries and not oracle.allow_new_entries
    assert (oracle.max_retries_per_trial, oracle.max_consecutive_failed_trials) == (2, 4)
    assert [h.name for h in oracle.hyperparameters.space] == ["x"]


def _tiny_model(hp: kt.HyperParameters) -> Any:
    import keras

    model = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(hp.Int("units", 1, 4)), keras.layers.Dense(1)]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(hp.Float("lr", 1e-3, 1e-1, sampling="log")), loss="mse"
    )
    return model


@pytest.mark.parametrize("kind", sorted(TUNERS))
def test_a_real_search_with_an_objective_list(kind, tmp_path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 2)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    tuner = TUNERS[kind](
        _tiny_model,
        objective=["loss", "val_loss"],
        max_trials=2,
        seed=2,
        directory=str(tmp_path),
        project_name=kind,
    )
    tuner.search(x, y, validation_data=(x, y), epochs=1, verbose=0)
    trials = list(tuner.oracle.trials.values())
    assert len(trials) == 2 and all(t.status == "COMPLETED" for t in trials)
    for trial in trials:
        total = trial.metrics.get_best_value("multi_objective")
        assert trial.score == pytest.approx(total)
    assert (
        tuner.get_best_hyperparameters()[0].values
        == min(trials, key=lambda t: t.score).hyperparameters.values
    )


def test_tpe_grids_are_keras_tuners_own() -> None:
    """Guards ``mtltune.tuning.tpespace``: its grid is Keras Tuner's, value for value."""
    from mtltune.tuning.tpespace import grid_index, grid_size, grid_value

    for hp in every_kind().space:
        if getattr(hp, "step", None) is None:
            continue
        grid = [grid_value(hp, i) for i in range(grid_size(hp))]
        assert grid == list(hp.values), hp.name
        assert [grid_index(hp, v) for v in grid] == list(range(len(grid))), hp.name

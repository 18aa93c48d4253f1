"""MultiTaskHyperModel inside a user's own Keras Tuner code, and its fit contract."""

from __future__ import annotations

import keras
import keras_tuner as kt
import numpy as np
import pytest

from mtltune import MultiTaskHyperModel, separate_plan, weighted_plan

HEADS = {"a": {}, "b": {"kind": "binary", "metrics": ["accuracy"]}}


def user_build(hp: kt.HyperParameters) -> keras.Model:
    inputs = keras.Input((3,), name="features")
    hidden = keras.layers.Dense(hp.Int("units", 4, 8, step=4), activation="relu")(inputs)
    return keras.Model(
        inputs,
        {
            "a": keras.layers.Dense(1, name="a")(hidden),
            "b": keras.layers.Dense(1, activation="sigmoid", name="b")(hidden),
        },
    )


def user_data(n: int, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    return x, {"a": x[:, :1] * 3.0, "b": (x[:, 1:2] > 0).astype("float32")}


def test_works_in_a_users_random_search(tmp_path) -> None:
    hypermodel = MultiTaskHyperModel(
        user_build, HEADS, training={"max_epochs": 2, "patience": 1}, seed=1
    )
    tuner = kt.RandomSearch(
        hypermodel,
        objective=hypermodel.tuner_objective,
        max_trials=3,
        seed=1,
        directory=str(tmp_path),
        project_name="user",
    )
    x, y = user_data(64, 0)
    xv, yv = user_data(32, 1)
    tuner.search(x, y, validation_data=(xv, yv), verbose=0)
    trials = list(tuner.oracle.trials.values())
    assert len(trials) == 3
    for trial in trials:
        assert trial.status == "COMPLETED"
        assert trial.metrics.exists("val_objective")
        assert trial.metrics.exists("val_loss_a") and trial.metrics.exists("val_b_accuracy")
        # The weight-free score is the geometric mean of the per-head stop losses.
        a = trial.metrics.get_last_value("val_loss_a")
        b = trial.metrics.get_last_value("val_loss_b")
        assert trial.metrics.get_last_value("val_objective") == pytest.approx(np.sqrt(a * b))
    best = tuner.get_best_models(1)[0]
    assert set(best(xv)) == {"a", "b"}
    assert "units" in tuner.get_best_hyperparameters(1)[0].values


def fit_plan(hypermodel: MultiTaskHyperModel, plan) -> dict[str, float]:
    model = hypermodel.build_plan(plan)
    x, y = user_data(64, 0)
    xv, yv = user_data(32, 1)
    return hypermodel.fit(None, model, x, y, validation_data=(xv, yv))


def test_multiplying_all_weights_by_ten_leaves_the_score_unchanged() -> None:
    hypermodel = MultiTaskHyperModel(user_build, HEADS, training={"max_epochs": 3}, seed=2)
    weights = {"a": 0.3, "b": 2.0}
    one = fit_plan(
        hypermodel, weighted_plan(["a", "b"], learning_rate=0.01, epsilon=1e-7, weights=weights)
    )
    ten = fit_plan(
        hypermodel,
        weighted_plan(
            ["a", "b"],
            learning_rate=0.01,
            epsilon=1e-7,
            weights={h: 10 * w for h, w in weights.items()},
        ),
    )
    assert ten["val_objective"] == pytest.approx(one["val_objective"], rel=1e-6)
    for head in ("a", "b"):
        assert ten[f"val_loss_{head}"] == pytest.approx(one[f"val_loss_{head}"], rel=1e-6)


def test_fit_returns_best_epoch_stop_logs_and_restores_it() -> None:
    hypermodel = MultiTaskHyperModel(
        user_build, HEADS, training={"max_epochs": 6, "patience": 2}, seed=3
    )
    model = hypermodel.build_plan(separate_plan({"a": 0.05, "b": 0.05}, epsilon=1e-7))
    x, y = user_data(64, 0)
    xv, yv = user_data(32, 1)
    results = hypermodel.fit(None, model, x, y, validation_data=(xv, yv))
    assert 1 <= results["best_epoch"] <= results["epochs"] <= 6
    logs = model.evaluate(xv, yv, verbose=0, return_dict=True)
    # The model holds the best epoch's weights: its stop losses are the reported ones.
    assert logs["loss_a"] == pytest.approx(results["val_loss_a"], rel=1e-4)
    assert logs["loss_b"] == pytest.approx(results["val_loss_b"], rel=1e-4)


def test_fit_requires_the_stop_split() -> None:
    hypermodel = MultiTaskHyperModel(user_build, HEADS)
    model = hypermodel.build_plan(weighted_plan(["a", "b"], learning_rate=1e-3, epsilon=1e-7))
    x, y = user_data(8, 0)
    with pytest.raises(ValueError, match="validation_data"):
        hypermodel.fit(None, model, x, y)


def test_a_diverging_trial_is_a_failed_trial() -> None:
    hypermodel = MultiTaskHyperModel(user_build, HEADS, training={"max_epochs": 20}, seed=0)
    model = hypermodel.build_plan(weighted_plan(["a", "b"], learning_rate=1e12, epsilon=1e-7))
    x, y = user_data(64, 0)
    xv, yv = user_data(32, 1)
    with pytest.raises(kt.errors.FailedTrialError, match="diverged at epoch"):
        hypermodel.fit(None, model, x, y, validation_data=(xv, yv))


def test_build_creates_fresh_optimizers_every_time() -> None:
    hypermodel = MultiTaskHyperModel(user_build, HEADS)
    hp = kt.HyperParameters()
    first, second = hypermodel.build(hp), hypermodel.build(hp)
    assert first.head_optimizers[0] is not second.head_optimizers[0]
    assert first.head_optimizers[0].built and second.head_optimizers[0].built


def test_objective_direction_follows_the_metric() -> None:
    hypermodel = MultiTaskHyperModel(
        user_build, HEADS, objective={"kind": "head", "head": "b", "metric": "accuracy"}
    )
    assert hypermodel.tuner_objective.direction == "max"
    assert hypermodel.tuner_objective.name == "val_objective"

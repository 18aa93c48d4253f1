"""MultiTaskHyperModel inside a user's own Keras Tuner code, and its fit contract."""

from __future__ import annotations

import gc

import keras
import keras_tuner as kt
import numpy as np
import pytest
from twoheads import build as user_build
from twoheads import data as user_data

from mtltune import MultiTaskHyperModel, load_study, separate_plan, weighted_plan
from mtltune.model import loop
from mtltune.tuning.reuse import stateless_study

HEADS = {"a": {}, "b": {"kind": "binary", "metrics": ["accuracy"]}}


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


RECYCLED_PLANS = [
    weighted_plan(["a", "b"], learning_rate=0.02, epsilon=1e-3, weights={"a": 4.0}),
    separate_plan({"a": 0.003, "b": 0.03}, epsilon=1e-2),
]


@pytest.mark.parametrize("plan", RECYCLED_PLANS, ids=lambda p: p.strategy)
def test_a_recycled_model_trains_exactly_like_a_fresh_one(plan) -> None:
    def same_strategy_other_settings():
        if plan.strategy == "weighted":
            return weighted_plan(["a", "b"], learning_rate=0.001, epsilon=1e-7)
        return separate_plan({"a": 0.05, "b": 0.001}, epsilon=1e-6)

    fixed = {"units": 8}
    hypermodel = MultiTaskHyperModel(
        user_build, HEADS, training={"max_epochs": 4, "patience": 4}, seed=4
    )
    hp = kt.HyperParameters()
    hp.Fixed("units", fixed["units"])
    x, y = user_data(64, 0)
    xv, yv = user_data(32, 1)
    with hypermodel.recycling():
        first = hypermodel.build_plan(same_strategy_other_settings(), hp)
        hypermodel.fit(None, first, x, y, validation_data=(xv, yv))
        recycled = hypermodel.build_plan(plan, hp)
        assert recycled is first
        got = hypermodel.fit(None, recycled, x, y, validation_data=(xv, yv))
    fresh = hypermodel.build_plan(plan, hp)
    assert fresh is not recycled
    want = hypermodel.fit(None, fresh, x, y, validation_data=(xv, yv))
    for key in ("val_objective", "val_loss_a", "val_loss_b", "val_b_accuracy", "epochs"):
        assert got[key] == pytest.approx(want[key], rel=1e-6), key
    for mine, reference in zip(recycled.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-6, atol=1e-7)
    # The recycled model's steps were traced once, for its first plan, whatever the split size.
    loop.evaluate(recycled, *user_data(45, 2))
    assert loop.loop_of(recycled).traces == {"train": 1, "evaluate": 1}


def test_models_are_recycled_only_inside_the_block_and_after_their_fit() -> None:
    hypermodel = MultiTaskHyperModel(user_build, HEADS, training={"max_epochs": 1}, seed=4)
    hp = kt.HyperParameters()
    hp.Fixed("units", 4)
    plan = weighted_plan(["a", "b"], learning_rate=1e-3, epsilon=1e-7)
    x, y = user_data(16, 0)
    xv, yv = user_data(8, 1)
    first = hypermodel.build_plan(plan, hp)
    hypermodel.fit(None, first, x, y, validation_data=(xv, yv))
    assert hypermodel.build_plan(plan, hp) is not first, "recycled outside the block"
    with hypermodel.recycling():
        built = hypermodel.build_plan(plan, hp)
        assert hypermodel.build_plan(plan, hp) is not built, "recycled before its fit ended"
        hypermodel.fit(None, built, x, y, validation_data=(xv, yv))
        other = separate_plan({"a": 1e-3, "b": 1e-3}, epsilon=1e-7)
        assert hypermodel.build_plan(other, hp) is not built, "recycled for another strategy"
        wider = kt.HyperParameters()
        wider.Fixed("units", 8)
        assert hypermodel.build_plan(plan, wider) is not built, "recycled for another network"
        assert hypermodel.build_plan(plan, hp) is built
        # After a new model's first fit, the long-lived heap is hidden from the collector...
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0, "...until the block ends"
    hypermodel.fit(None, built, x, y, validation_data=(xv, yv))
    assert hypermodel.build_plan(plan, hp) is not built, "the pool outlived the block"


def test_a_study_hypermodel_keeps_tensorflow_caches_only_inside_the_block(
    tiny_study, tiny_dataset, monkeypatch
) -> None:
    """Seeding and clear_session would clear TensorFlow's caches at each trial; not for a study.

    A recycled model then keeps its instantiated epoch, and still trains exactly like a fresh one.
    """
    from tensorflow.python.eager import context

    clears = []
    real = context.pywrap_tfe.TFE_ContextClearCaches
    monkeypatch.setattr(
        context.pywrap_tfe, "TFE_ContextClearCaches", lambda h: (clears.append(h), real(h))
    )
    heads = list(tiny_study.heads)
    study_model = MultiTaskHyperModel.from_study(
        tiny_study, tiny_dataset.input_dim, dict.fromkeys(heads, 1), stateless_build=True
    )
    train, stop = tiny_dataset.train, tiny_dataset.stop

    def fit(model):
        return study_model.fit(None, model, train.x, train.y, validation_data=(stop.x, stop.y))

    plans = [
        separate_plan(dict.fromkeys(heads, 0.01), epsilon=1e-3),
        separate_plan(dict.fromkeys(heads, 0.002), epsilon=1e-6),
    ]
    with study_model.recycling():
        first = study_model.build_plan(plans[0])
        fit(first)
        keras.backend.clear_session()  # what Keras Tuner calls before every build
        recycled = study_model.build_plan(plans[1])  # seeds with keras.utils.set_random_seed
        got = fit(recycled)
    assert recycled is first and clears == []
    fresh = study_model.build_plan(plans[1])
    assert clears, "outside the block, seeding clears the caches as TensorFlow does"
    want = fit(fresh)
    assert got["epochs"] == want["epochs"]
    assert got["val_objective"] == pytest.approx(want["val_objective"], rel=1e-6)
    for mine, reference in zip(recycled.get_weights(), fresh.get_weights(), strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-6, atol=1e-7)
    # A user's build_fn may use stateful random kernels: for it the caches are still cleared,
    # unless its author says it does not.
    clears.clear()
    with MultiTaskHyperModel(user_build, HEADS).recycling():
        keras.utils.set_random_seed(1)
    assert clears
    clears.clear()
    with MultiTaskHyperModel(user_build, HEADS, stateless_build=True).recycling():
        keras.utils.set_random_seed(1)
    assert clears == []


def test_a_study_with_a_custom_loss_clears_tensorflow_caches(write_study, tmp_path) -> None:
    # The user's loss might draw from TensorFlow's stateful random ops.
    (tmp_path / "cache_rule_losses.py").write_text("def mse(y_true, y_pred):\n    return 0.0\n")
    plain = load_study(write_study())
    custom = load_study(
        write_study({"heads": {"y0": {"loss": "cache_rule_losses:mse"}}}, "custom.yaml")
    )
    for study, stateless in ((plain, True), (custom, False)):
        assert stateless_study(study) is stateless
        # A library user opts in; by default the caches are cleared as TensorFlow does.
        hypermodel = MultiTaskHyperModel.from_study(study, 1, dict.fromkeys(study.heads, 1))
        assert hypermodel.stateless_build is False


def test_a_network_that_differs_only_without_variables_is_not_recycled() -> None:
    def build(hp: kt.HyperParameters) -> keras.Model:
        inputs = keras.Input((3,))
        hidden = keras.layers.Dense(4, activation=hp.Choice("act", ["relu", "tanh"]))(inputs)
        a = keras.layers.Dense(1, name="a")(hidden)
        return keras.Model(inputs, {"a": a, "b": keras.layers.Dense(1, name="b")(hidden)})

    hypermodel = MultiTaskHyperModel(build, {"a": {}, "b": {}}, training={"max_epochs": 1})
    plan = weighted_plan(["a", "b"], learning_rate=1e-3, epsilon=1e-7)
    x, y = user_data(16, 0)
    y = {"a": y["a"], "b": y["a"]}
    relu, tanh = kt.HyperParameters(), kt.HyperParameters()
    relu.Fixed("act", "relu")
    tanh.Fixed("act", "tanh")
    with hypermodel.recycling():
        first = hypermodel.build_plan(plan, relu)
        hypermodel.fit(None, first, x, y, validation_data=(x, y))
        assert hypermodel.build_plan(plan, tanh) is not first

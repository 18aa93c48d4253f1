"""DWA, GradNorm, PCGrad and FAMO: their arithmetic on hand-made numbers, and their direction.

The unit tests check each method's formula on gradients and losses whose result is worked out
by hand from the paper's definition; the toy tests train a two-head model whose head ``a`` is
learned fast (a clean linear target) and head ``b`` slowly (mostly noise), and check that the
method moves the weights the way its paper predicts: towards the slower head.
"""

from __future__ import annotations

import math

import keras_tuner as kt
import numpy as np
import pytest
import tensorflow as tf
from twoheads import build as user_build
from twoheads import data as user_data
from twoheads import two_head_net

from mtltune import HeadConfig, MultiTaskHyperModel, MultiTaskModel, SearchConfig
from mtltune.model import loop
from mtltune.model.balancing import (
    dwa_weights,
    famo_logit_gradient,
    famo_objective,
    gradnorm_weight_gradient,
    pcgrad,
    renormalise,
)
from mtltune.model.strategies import STRATEGIES, declare, single_optimizer_plan

HEADS = {"a": HeadConfig(), "b": HeadConfig()}
METHODS = ["dwa", "gradnorm", "pcgrad", "famo"]


def close(tensor: tf.Tensor, expected: list[float], tol: float = 1e-5) -> None:
    np.testing.assert_allclose(np.asarray(tensor), expected, rtol=tol, atol=tol)


# -- the formulas --------------------------------------------------------------------------------


def test_pcgrad_projects_two_conflicting_gradients_off_each_other() -> None:
    grads = tf.constant([[1.0, 0.0], [-1.0, 1.0]])  # g1·g2 = -1 < 0
    # g1 - (g1·g2)/|g2|² g2 = [0.5, 0.5]; g2 - (g2·g1)/|g1|² g1 = [0, 1]; their sum:
    combined = pcgrad(tf, grads, tf.constant([3, 0], "int64"))
    close(combined, [0.5, 1.5])
    # The sum conflicts with neither head's gradient (the paper's two-task guarantee).
    assert float(tf.tensordot(combined, grads[0], 1)) >= 0
    assert float(tf.tensordot(combined, grads[1], 1)) >= 0


def test_pcgrad_leaves_agreeing_gradients_alone_and_its_order_is_seeded() -> None:
    agreeing = tf.constant([[1.0, 0.0], [1.0, 1.0]])
    close(pcgrad(tf, agreeing, tf.constant([0, 0], "int64")), [2.0, 1.0])
    rng = np.random.default_rng(0)
    three = tf.constant(rng.normal(size=(3, 6)), "float32")
    seed = tf.constant([5, 0], "int64")
    close(pcgrad(tf, three, seed), np.asarray(pcgrad(tf, three, seed)).tolist())


def test_gradnorm_raises_the_weight_of_the_head_with_the_smaller_gradient_norm() -> None:
    # Equal training rates (r = 1): the target is the mean norm, 2; G = [1, 3].
    grad, l_grad = gradnorm_weight_gradient(
        tf, tf.constant([1.0, 1.0]), tf.constant([1.0, 3.0]), tf.constant([0.5, 0.5]), 1.5
    )
    close(grad, [-1.0, 3.0])  # sign(G - target) · ‖∇W L_i‖: descending raises w_1, lowers w_2
    assert float(l_grad) == pytest.approx(2.0)


def test_gradnorm_raises_the_weight_of_the_head_that_trains_slower() -> None:
    # Equal norms; head 1's loss fell less (L/L0 = 0.8 against 0.4): r = [4/3, 2/3], α = 1.
    grad, l_grad = gradnorm_weight_gradient(
        tf, tf.constant([1.0, 1.0]), tf.constant([1.0, 1.0]), tf.constant([0.8, 0.4]), 1.0
    )
    close(grad, [-1.0, 1.0])
    assert float(l_grad) == pytest.approx(2 / 3, rel=1e-5)
    # α = 0: no pull towards equal rates, only towards equal norms (already equal).
    _, flat = gradnorm_weight_gradient(
        tf, tf.constant([1.0, 1.0]), tf.constant([1.0, 1.0]), tf.constant([0.8, 0.4]), 0.0
    )
    assert float(flat) == pytest.approx(0.0)


def test_gradnorm_renormalises_to_sum_k_with_positive_weights() -> None:
    close(renormalise(tf, tf.constant([0.5, 2.0, 0.5])), [0.5, 2.0, 0.5])
    close(renormalise(tf, tf.constant([1.0, 3.0])), [0.5, 1.5])
    weights = np.asarray(renormalise(tf, tf.constant([2.0, -1.0])))
    assert weights.sum() == pytest.approx(2.0) and (weights > 0).all()


def test_dwa_weights_from_loss_histories_and_one_for_the_first_two_epochs() -> None:
    previous = tf.constant([[1.0, 2.0], [2.0, 2.0]])  # L(t-1), L(t-2): r = [0.5, 1]
    expected = 2 * np.exp([0.5 / 2, 1.0 / 2]) / np.exp([0.5 / 2, 1.0 / 2]).sum()
    close(dwa_weights(tf, previous, tf.constant(2.0), 2.0), expected.tolist())
    close(dwa_weights(tf, previous, tf.constant(1.0), 2.0), [1.0, 1.0])
    close(dwa_weights(tf, previous, tf.constant(0.0), 2.0), [1.0, 1.0])
    # A high temperature flattens the weights towards 1.
    hot = np.asarray(dwa_weights(tf, previous, tf.constant(3.0), 1e6))
    np.testing.assert_allclose(hot, [1.0, 1.0], atol=1e-5)


def test_dwa_history_over_epochs_through_the_model_state() -> None:
    model = MultiTaskModel(two_head_net(), HEADS, single_optimizer_plan("dwa", **RATES))
    state = model.strategy_state
    strategy = STRATEGIES["dwa"]
    seen = [np.asarray(model._weights).tolist()]  # the weights of epoch 1
    for epoch_losses in ([4.0, 1.0], [2.0, 1.0], [1.0, 0.9], [0.5, 0.9]):
        # Two batches of 8 and 24 rows with the epoch's mean loss.
        for rows in (8.0, 24.0):
            strategy.add_batch(tf, state, tf.constant(epoch_losses), tf.constant(rows))
        model.end_epoch()
        seen.append(np.asarray(model._weights).tolist())  # the weights of the next epoch
    assert seen[0] == [1.0, 1.0] and seen[1] == [1.0, 1.0]  # epochs 1 and 2
    history = {
        3: ([2.0, 1.0], [4.0, 1.0]),
        4: ([1.0, 0.9], [2.0, 1.0]),
        5: ([0.5, 0.9], [1.0, 0.9]),
    }
    for epoch, (last, before) in history.items():
        ratios = np.divide(last, before) / 2.0  # T = 2
        expected = 2 * np.exp(ratios) / np.exp(ratios).sum()
        np.testing.assert_allclose(seen[epoch - 1], expected, rtol=1e-5)
    assert seen[4][1] > 1.0 > seen[4][0]  # the head whose loss fell less gets more weight
    model.end_epoch()  # no batch since: nothing changes
    assert np.asarray(model._weights).tolist() == seen[4]


def test_famo_update_on_a_two_head_quadratic() -> None:
    theta = tf.Variable([2.0, 1.0])
    logits = tf.Variable([0.0, 0.0])
    with tf.GradientTape() as tape:
        losses = theta**2  # ℓ1 = θ1², ℓ2 = θ2²: [4, 1]
        objective = famo_objective(tf, logits, tf.math.log(losses))
    d = tape.gradient(objective, theta)
    # z = [1/2, 1/2]; c = 1/(z1/ℓ1 + z2/ℓ2) = 1.6; d = c·Σ z_i/ℓ_i ∇ℓ_i = [0.8, 1.6].
    close(d, [0.8, 1.6])
    theta.assign_sub(0.1 * d)  # θ' = [1.92, 0.84]
    after = tf.math.log(theta**2)
    grad = famo_logit_gradient(tf, logits, tf.math.log(losses), after, 0.01)
    delta = np.log([4.0, 1.0]) - np.log([1.92**2, 0.84**2])
    expected = 0.5 * (delta - delta.mean())  # z ⊙ (δ − zᵀδ) + γξ with ξ = 0
    close(grad, expected.tolist())
    # Head 1's log loss fell less: descending the gradient raises its logit.
    assert float(grad[0]) < 0 < float(grad[1])
    # The decay pulls the logits back towards 0.
    decayed = famo_logit_gradient(tf, tf.constant([1.0, -1.0]), after, after, 0.1)
    assert float(decayed[0]) > 0 > float(decayed[1])


# -- the search space ----------------------------------------------------------------------------


def test_each_method_declares_its_own_hyperparameters_in_its_scope() -> None:
    search = SearchConfig(strategies=["weighted", *METHODS])
    hp = kt.HyperParameters()
    declare(hp, ("a", "b"), search)
    names = {p.name for p in hp.space}
    own = {
        "dwa": {"dwa_temperature"},
        "gradnorm": {"gradnorm_alpha", "gradnorm_weight_rate"},
        "pcgrad": set(),
        "famo": {"famo_weight_rate", "famo_decay"},
    }
    assert set().union(*own.values()) <= names
    for strategy, mine in own.items():
        hp.values["strategy"] = strategy
        hp.values.update({n: 0.05 for n in mine})
        plan = declare(hp, ("a", "b"), search)
        assert plan.strategy == strategy and hp.is_active("learning_rate")
        assert plan.settings == dict.fromkeys(mine, 0.05)
        assert {n for n in set().union(*own.values()) if hp.is_active(n)} == mine
        assert plan.describe().get("settings", {}) == plan.settings


def test_the_ranges_come_from_the_study_and_the_defaults_from_the_papers() -> None:
    search = SearchConfig(strategies=["dwa"], methods={"dwa_temperature": {"min": 1, "max": 3}})
    hp = kt.HyperParameters()
    plan = declare(hp, ("a", "b"), search)
    spec = hp._hps["dwa_temperature"][0]
    assert (spec.min_value, spec.max_value, spec.sampling) == (1, 3, "log")
    assert plan.settings == {"dwa_temperature": 2.0}  # Liu et al.'s T = 2
    assert single_optimizer_plan("famo", **RATES).settings == {
        "famo_weight_rate": 0.025,
        "famo_decay": 1e-3,
    }


# -- the direction on a two-head toy problem -----------------------------------------------------

RATES = {"learning_rate": 0.01, "epsilon": 1e-7}


def fast_and_slow(n: int = 256) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Head a: a clean linear target (its loss falls fast); head b: mostly noise (slow)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2)).astype("float32")
    return x, {
        "a": (2.0 * x[:, :1]).astype("float32"),
        "b": (0.3 * np.sin(x[:, 1:]) + rng.normal(size=(n, 1))).astype("float32"),
    }


@pytest.mark.parametrize("strategy", ["dwa", "gradnorm", "famo"])
def test_the_weights_move_towards_the_slower_head(strategy: str) -> None:
    """DWA, GradNorm and FAMO all give more weight to the head whose loss falls less."""
    x, y = fast_and_slow()
    model = MultiTaskModel(two_head_net(), HEADS, single_optimizer_plan(strategy, **RATES))
    model.compile()
    history = loop.fit(model, x, y, (x, y), epochs=5, batch_size=32)
    learned = model.learned_weights()
    assert learned["b"] > 1.0 > learned["a"]
    assert sum(learned.values()) == pytest.approx(2.0, rel=1e-4)
    assert history["learned_weight_b"][-1] > history["learned_weight_b"][0]
    assert history["loss_a"][-1] < history["loss_a"][0]


def test_pcgrad_steps_the_trunk_by_the_projected_gradients() -> None:
    """One PCGrad step on conflicting heads: the trunk moves by Adam on pcgrad's combination."""
    x, y = fast_and_slow(64)
    y["b"] = -y["a"]  # the heads' trunk gradients conflict
    lr, eps = 0.01, 1.0
    plan = single_optimizer_plan("pcgrad", learning_rate=lr, epsilon=eps)
    model = MultiTaskModel(two_head_net(), HEADS, plan)
    model.compile()
    layer = model.net.get_layer("trunk")
    trunk = [layer.kernel, layer.bias]  # the shared variables: projected as one vector
    with tf.GradientTape(persistent=True) as tape:
        out = model(x, training=True)
        losses = [tf.reduce_mean(tf.square(y[h] - out[h])) for h in ("a", "b")]
    flat = tf.stack(
        [tf.concat([tf.reshape(g, [-1]) for g in tape.gradient(loss, trunk)], 0) for loss in losses]
    )
    assert float(tf.tensordot(flat[0], flat[1], 1)) < 0
    combined = pcgrad(tf, flat, tf.constant([0, 0], "int64")).numpy()
    plain = flat.numpy().sum(axis=0)
    assert not np.allclose(combined, plain, rtol=0.05)
    before = np.concatenate([v.numpy().reshape(-1) for v in trunk])
    model.train_batch((tf.constant(x), {h: tf.constant(v) for h, v in y.items()}))
    # Adam's first step (TensorFlow's kernel): -lr·c·g/(c·|g| + ε) with c = sqrt(1 - β₂).
    c = math.sqrt(1 - 0.999)
    expected = -lr * c * combined / (c * np.abs(combined) + eps)
    step = np.concatenate([v.numpy().reshape(-1) for v in trunk]) - before
    np.testing.assert_allclose(step, expected, rtol=1e-3, atol=1e-8)


@pytest.mark.parametrize("strategy", METHODS)
def test_a_recycled_model_starts_again_from_its_new_plan(strategy: str) -> None:
    x, y = fast_and_slow(64)
    model = MultiTaskModel(two_head_net(), HEADS, single_optimizer_plan(strategy, **RATES))
    model.compile()
    loop.fit(model, x, y, (x, y), epochs=3, batch_size=32)
    settings = {k: v * 2 for k, v in STRATEGIES[strategy].defaults.items()}
    plan = single_optimizer_plan(strategy, **RATES, settings=settings)
    model.recycle(two_head_net(1), plan)
    for name, variable in model.strategy_state.items():
        value = np.asarray(variable)
        if name.startswith("setting:"):
            assert float(value) == pytest.approx(settings[name.removeprefix("setting:")])
        else:
            assert not value.any()
    if model.task_weights is not None:
        start = STRATEGIES[strategy].task_weights_init
        assert np.asarray(model.task_weights).tolist() == [start, start]
    weights = model.learned_weights()
    assert weights is None or weights == pytest.approx({"a": 1.0, "b": 1.0})
    assert math.isfinite(loop.fit(model, x, y, (x, y), epochs=1, batch_size=32)["loss"][0])


@pytest.mark.parametrize("strategy", METHODS)
def test_a_diverging_method_is_a_failed_trial(strategy: str) -> None:
    hypermodel = MultiTaskHyperModel(
        user_build, {"a": {}, "b": {"kind": "binary"}}, training={"max_epochs": 20}, seed=0
    )
    plan = single_optimizer_plan(strategy, learning_rate=1e12, epsilon=1e-7)
    model = hypermodel.build_plan(plan)
    x, y = user_data(64, 0)
    xv, yv = user_data(32, 1)
    with pytest.raises(kt.errors.FailedTrialError, match="diverged at epoch"):
        hypermodel.fit(None, model, x, y, validation_data=(xv, yv))


def test_mtltune_show_prints_the_methods_ranges(write_study) -> None:
    from typer.testing import CliRunner

    from mtltune.cli import app

    study = write_study({"search": {"strategies": ["weighted", *METHODS]}})
    result = CliRunner().invoke(app, ["show", str(study)])
    assert result.exit_code == 0, result.output
    assert "- famo" in result.output and "methods:" in result.output
    for name in ("dwa_temperature", "gradnorm_alpha", "gradnorm_weight_rate", "famo_decay"):
        assert f"  {name}:" in result.output

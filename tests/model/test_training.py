"""MultiTaskModel: both strategies train, per-head optimizers own separate moments."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from twoheads import two_head_net

from mtltune import HeadConfig, MultiTaskModel, separate_plan, weighted_plan

HEADS = {"a": HeadConfig(), "b": HeadConfig()}


def toy_data(n: int = 64) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 2)).astype("float32")
    return x, {
        "a": (x[:, :1] * 2.0).astype("float32"),
        "b": (np.sin(x[:, 1:]) * 10.0).astype("float32"),
    }


def test_weighted_trains_and_logs_unweighted_head_losses() -> None:
    x, y = toy_data()
    model = MultiTaskModel(
        two_head_net(), HEADS, weighted_plan(["a", "b"], learning_rate=0.01, epsilon=1e-7)
    )
    model.compile()
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0).history
    assert history["loss_a"][-1] < history["loss_a"][0]
    assert history["loss_b"][-1] < history["loss_b"][0]
    # Equal weights normalised to mean 1: the total is the plain sum of head losses.
    assert history["loss"][-1] == pytest.approx(
        history["loss_a"][-1] + history["loss_b"][-1], rel=1e-4
    )
    assert len(model.head_optimizers) == 1


def test_weights_are_normalised_to_mean_one() -> None:
    plan = weighted_plan(["a", "b"], learning_rate=1e-3, epsilon=1e-7, weights={"a": 1, "b": 3})
    assert plan.loss_weights == pytest.approx({"a": 0.5, "b": 1.5})
    scaled = weighted_plan(["a", "b"], learning_rate=1e-3, epsilon=1e-7, weights={"a": 10, "b": 30})
    assert scaled.loss_weights == plan.loss_weights


def test_weighted_total_uses_normalised_weights() -> None:
    x, y = toy_data()
    plan = weighted_plan(["a", "b"], learning_rate=1e-3, epsilon=1e-7, weights={"a": 1, "b": 3})
    model = MultiTaskModel(two_head_net(), HEADS, plan)
    model.compile()
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(0.5 * logs["loss_a"] + 1.5 * logs["loss_b"], rel=1e-5)


def test_separate_builds_one_optimizer_per_head_on_its_own_variables() -> None:
    net = two_head_net()
    model = MultiTaskModel(net, HEADS, separate_plan({"a": 1e-3, "b": 1e-2}, epsilon=1e-7))
    model.compile()
    assert len(model.head_optimizers) == 2
    names = [{v.path for v in group} for group in model._variable_groups]
    trunk = {v.path for v in net.get_layer("trunk").trainable_variables}
    own_a = {v.path for v in net.get_layer("a").trainable_variables}
    own_b = {v.path for v in net.get_layer("b").trainable_variables}
    assert names[0] == trunk | own_a
    assert names[1] == trunk | own_b
    rates = [float(opt.learning_rate) for opt in model.head_optimizers]
    assert rates == pytest.approx([1e-3, 1e-2])


def test_separate_step_applies_each_heads_adam_with_its_own_moments() -> None:
    """One step from the same start equals two independent Adam first steps, summed on the trunk.

    Adam's first update is lr·g/(|g|+eps) per coordinate (bias-corrected moments equal g and g²),
    so the trunk moves by the sum of each head's own normalised gradient times its own rate.
    """
    x, y = toy_data(16)
    lr = {"a": 1e-3, "b": 1e-2}
    eps = 1e-7
    model = MultiTaskModel(two_head_net(), HEADS, separate_plan(lr, epsilon=eps))
    model.compile()
    trunk_kernel = model.net.get_layer("trunk").kernel
    before = np.array(trunk_kernel.numpy())
    losses = model._loss_fns
    grads = {}
    for head in ("a", "b"):
        with tf.GradientTape() as tape:
            out = model(x, training=True)
            loss = losses[head](y[head], out[head])
        grads[head] = tape.gradient(loss, trunk_kernel.value).numpy()
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, shuffle=False)
    after = trunk_kernel.numpy()
    expected = before - sum(lr[h] * grads[h] / (np.abs(grads[h]) + eps) for h in lr)
    np.testing.assert_allclose(after, expected, rtol=1e-3, atol=1e-6)
    # Each optimizer holds its own first moment of the shared kernel: that head's gradient.
    for head, opt in zip(("a", "b"), model.head_optimizers, strict=True):
        moment = opt.moments(trunk_kernel)[0].numpy()
        np.testing.assert_allclose(moment, (1 - opt.beta_1) * grads[head], rtol=1e-3, atol=1e-7)
    m_a = model.head_optimizers[0].moments(trunk_kernel)[0].numpy()
    m_b = model.head_optimizers[1].moments(trunk_kernel)[0].numpy()
    assert not np.allclose(m_a, m_b)


def test_separate_trains_both_heads() -> None:
    x, y = toy_data()
    model = MultiTaskModel(
        two_head_net(), HEADS, separate_plan({"a": 0.01, "b": 0.01}, epsilon=1e-7)
    )
    model.compile()
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0).history
    assert history["loss_a"][-1] < history["loss_a"][0]
    assert history["loss_b"][-1] < history["loss_b"][0]


def test_classification_heads_log_metrics() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(96, 3)).astype("float32")
    y = {
        "yes": (x[:, 0] > 0).astype("float32")[:, None],
        "kind": (x[:, 1] > 0).astype("int32") + (x[:, 2] > 1).astype("int32"),
    }
    heads = {
        "yes": HeadConfig(kind="binary"),
        "kind": HeadConfig(kind="multiclass"),
    }
    inputs = keras.Input((3,))
    trunk = keras.layers.Dense(8, activation="relu")(inputs)
    net = keras.Model(
        inputs,
        {
            "yes": keras.layers.Dense(1, activation="sigmoid", name="yes")(trunk),
            "kind": keras.layers.Dense(3, activation="softmax", name="kind")(trunk),
        },
    )
    model = MultiTaskModel(net, heads, weighted_plan(list(heads), learning_rate=0.01, epsilon=1e-7))
    model.compile()
    model.fit(x, y, epochs=3, verbose=0)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert {"loss_yes", "loss_kind", "yes_accuracy", "yes_auc", "kind_accuracy"} <= set(logs)
    assert 0.0 <= logs["kind_accuracy"] <= 1.0
    assert logs["yes_accuracy"] > 0.5


def test_list_outputs_are_matched_by_layer_name() -> None:
    inputs = keras.Input((2,))
    trunk = keras.layers.Dense(4)(inputs)
    net = keras.Model(
        inputs, [keras.layers.Dense(1, name="b")(trunk), keras.layers.Dense(1, name="a")(trunk)]
    )
    model = MultiTaskModel(net, HEADS, weighted_plan(["a", "b"], learning_rate=1e-3, epsilon=1e-7))
    x, _ = toy_data(4)
    out = model(x)
    np.testing.assert_allclose(out["a"], net(x)[1])
    np.testing.assert_allclose(out["b"], net(x)[0])


def test_missing_output_names_the_outputs() -> None:
    inputs = keras.Input((2,))
    net = keras.Model(inputs, {"a": keras.layers.Dense(1, name="a")(inputs)})
    with pytest.raises(ValueError, match=r"no outputs named \['b'\].*outputs are \['a'\]"):
        MultiTaskModel(net, HEADS, weighted_plan(["a", "b"], learning_rate=1e-3, epsilon=1e-7))


# ---------------------------------------------------------------------------------------------
# uncertainty and geometric strategies


def test_geometric_gradient_weights_each_head_by_one_over_its_loss() -> None:
    from mtltune.model.strategies import single_optimizer_plan

    x, y = toy_data(32)
    model = MultiTaskModel(
        two_head_net(), HEADS, single_optimizer_plan("geometric", learning_rate=1e-3, epsilon=1e-7)
    )
    model.compile()
    variables = model.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        stacked, _ = model.forward(x, y, training=True)
        losses = tf.unstack(stacked)
        total = model._total(stacked)
    grads = tape.gradient(total, variables)
    per_head = [
        # head a's loss does not reach head b's layer: a None gradient is a zero one
        [
            np.zeros(v.shape) if g is None else g.numpy()
            for v, g in zip(variables, tape.gradient(loss, variables), strict=True)
        ]
        for loss in losses
    ]
    geo = float(total)
    la, lb = (float(v) for v in losses)
    assert geo == pytest.approx(np.sqrt(la * lb), rel=1e-5)
    for g, ga, gb in zip(grads, *per_head, strict=True):
        expected = geo / 2 * (ga / la + gb / lb)
        np.testing.assert_allclose(g.numpy(), expected, rtol=1e-4, atol=1e-7)


def test_uncertainty_learns_log_variances_and_logs_weights() -> None:
    from mtltune.model.strategies import single_optimizer_plan

    x, y = toy_data(128)
    model = MultiTaskModel(
        two_head_net(),
        HEADS,
        single_optimizer_plan("uncertainty", learning_rate=0.05, epsilon=1e-7),
    )
    model.compile()
    assert model.log_variances is not None
    assert any(v is model.log_variances for v in model.head_optimizers[0]._trainable_variables)
    history = model.fit(x, y, epochs=40, batch_size=32, verbose=0).history
    learned = model.learned_weights()
    assert history["learned_weight_a"][-1] == pytest.approx(learned["a"], rel=1e-5)
    # exp(-s) tends to 1/L: the noisier, larger-loss head b gets the smaller weight.
    assert learned["b"] < learned["a"]
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert learned["b"] == pytest.approx(1 / logs["loss_b"], rel=0.5)


def test_a_loss_can_read_another_output() -> None:
    from mtltune.model.strategies import weighted_plan as plan

    keras.utils.set_random_seed(0)
    inputs = keras.Input((2,))
    trunk = keras.layers.Dense(8, activation="tanh")(inputs)
    net = keras.Model(
        inputs,
        {
            "rating": keras.layers.Dense(1, name="rating")(trunk),
            "rating_logvar": keras.layers.Dense(1, name="rating_logvar")(trunk),
        },
    )
    heads = {"rating": HeadConfig(loss="gaussian_nll", uses=["rating_logvar"])}
    model = MultiTaskModel(net, heads, plan(["rating"], learning_rate=0.01, epsilon=1e-7))
    model.compile()
    x, y = toy_data(64)
    out = model(x)
    expected = np.mean(
        np.exp(-out["rating_logvar"]) * (out["rating"] - y["a"]) ** 2 + out["rating_logvar"]
    )
    logs = model.evaluate(x, {"rating": y["a"]}, verbose=0, return_dict=True)
    assert logs["loss_rating"] == pytest.approx(float(expected), rel=1e-5)
    history = model.fit(x, {"rating": y["a"]}, epochs=10, verbose=0).history
    assert history["loss_rating"][-1] < history["loss_rating"][0]

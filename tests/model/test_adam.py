"""FusedAdam: Keras' Adam, updated by TensorFlow's fused kernel; Keras' path where it must.

FlatAdam: FusedAdam's update over flat moment buffers, one kernel per step.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import pytest
import tensorflow as tf

from mtltune import FusedAdam
from mtltune.model.adam import FlatAdam


def small_net(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2)(hidden))


def batches(steps: int = 6) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(1)
    out = []
    for _ in range(steps):
        x = rng.normal(size=(8, 3)).astype("float32")
        out.append((x, np.stack([x.sum(1), np.sin(x[:, 0])], 1).astype("float32")))
    return out


def train(optimizer: keras.optimizers.Optimizer, *, compiled: bool = True) -> list[np.ndarray]:
    """Train ``small_net`` for a few steps with ``optimizer``; its final weights."""
    net = small_net()
    optimizer.build(net.trainable_variables)

    def step(x: tf.Tensor, y: tf.Tensor) -> None:
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(net(x) - y))
        optimizer.apply(tape.gradient(loss, net.trainable_variables), net.trainable_variables)

    run = tf.function(step) if compiled else step
    for x, y in batches():
        run(tf.constant(x), tf.constant(y))
    return [np.array(v.numpy()) for v in net.trainable_variables]


def assert_weights(actual: list[np.ndarray], expected: list[np.ndarray], **tolerance) -> None:
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected, strict=True):
        np.testing.assert_allclose(a, e, **tolerance)


@pytest.mark.parametrize("compiled", [True, False], ids=["tf.function", "eager"])
def test_same_updates_as_keras_adam_to_rounding(compiled: bool) -> None:
    options = {"learning_rate": 0.01, "epsilon": 1e-3}
    fused = train(FusedAdam(**options), compiled=compiled)
    reference = train(keras.optimizers.Adam(**options), compiled=compiled)
    assert_weights(fused, reference, rtol=1e-5, atol=1e-6)
    # Training moved the weights: the comparison is not between two untouched networks.
    start = [np.array(v.numpy()) for v in small_net().trainable_variables]
    assert any(not np.allclose(f, s) for f, s in zip(fused, start, strict=True))


def test_epsilon_and_learning_rate_may_be_variables_read_at_each_step() -> None:
    epsilon = keras.Variable(1e-3, trainable=False)
    optimizer = FusedAdam(learning_rate=0.01, epsilon=epsilon)
    with_variable = train(optimizer)
    assert_weights(with_variable, train(FusedAdam(learning_rate=0.01, epsilon=1e-3)), rtol=0)
    # A new value is read by the next steps (a recycled model's tuned epsilon).
    epsilon.assign(0.5)
    optimizer.learning_rate.assign(0.002)
    changed = train(FusedAdam(learning_rate=0.002, epsilon=0.5))
    assert not np.allclose(changed[0], with_variable[0])


def traced_ops(optimizer: keras.optimizers.Optimizer) -> list[str]:
    """The op types of one traced ``apply`` of ``optimizer`` on ``small_net``."""
    net = small_net()
    variables = net.trainable_variables
    optimizer.build(variables)
    grads = [tf.ones_like(v) for v in variables]

    @tf.function
    def apply() -> None:
        optimizer.apply(grads, variables)

    graph = apply.get_concrete_function().graph
    functions = [graph] + [f.graph for f in graph._functions.values() if hasattr(f, "graph")]
    return [op.type for g in functions for op in g.get_operations()]


def test_one_fused_kernel_per_variable_and_fewer_ops_than_keras() -> None:
    fused = traced_ops(FusedAdam(learning_rate=0.01))
    keras_ops = traced_ops(keras.optimizers.Adam(learning_rate=0.01))
    assert fused.count("ResourceApplyAdam") == len(small_net().trainable_variables) == 4
    assert "ResourceApplyAdam" not in keras_ops
    assert len(fused) < len(keras_ops) / 2, (len(fused), len(keras_ops))


def test_deterministic() -> None:
    assert_weights(
        train(FusedAdam(learning_rate=0.01)), train(FusedAdam(learning_rate=0.01)), rtol=0
    )


def test_amsgrad_takes_keras_own_update_exactly() -> None:
    fused = train(FusedAdam(learning_rate=0.01, amsgrad=True))
    assert_weights(fused, train(keras.optimizers.Adam(learning_rate=0.01, amsgrad=True)), rtol=0)


def fit_weights(optimizer: keras.optimizers.Optimizer) -> list[np.ndarray]:
    """Keras ``fit`` of ``small_net`` with ``optimizer``, unshuffled; its final weights."""
    net = small_net()
    net.compile(optimizer=optimizer, loss="mse")
    x, y = (np.concatenate(parts) for parts in zip(*batches(), strict=True))
    net.fit(x, y, epochs=3, batch_size=8, shuffle=False, verbose=0)
    return [np.array(v.numpy()) for v in net.trainable_variables]


def fit_in_a_strategy(make: Callable[[], keras.optimizers.Optimizer]) -> list[np.ndarray]:
    """``fit_weights`` inside a one-device distribution strategy, the optimizer made inside."""
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        return fit_weights(make())


def test_inside_a_distribution_strategy_keras_own_update_exactly() -> None:
    reference = fit_in_a_strategy(lambda: keras.optimizers.Adam(learning_rate=0.01))
    assert_weights(fit_in_a_strategy(lambda: FusedAdam(learning_rate=0.01)), reference, rtol=0)
    # Outside a strategy, the same fit takes the fused kernel (close, not bit-identical).
    outside = fit_weights(FusedAdam(learning_rate=0.01))
    assert_weights(outside, reference, rtol=1e-5, atol=1e-6)


def test_clipping_and_weight_decay_stay_keras() -> None:
    options = {"learning_rate": 0.01, "clipnorm": 0.1, "weight_decay": 0.05}
    assert_weights(
        train(FusedAdam(**options)), train(keras.optimizers.Adam(**options)), rtol=1e-5, atol=1e-6
    )


def test_config_and_serialisation_round_trip() -> None:
    optimizer = FusedAdam(learning_rate=0.003, beta_1=0.8, epsilon=1e-4, name="adam_0")
    config = optimizer.get_config()
    assert config["epsilon"] == pytest.approx(1e-4) and config["beta_1"] == pytest.approx(0.8)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(optimizer))
    assert type(restored) is FusedAdam
    assert restored.get_config() == config


# ---------------------------------------------------------------------------------------------
# FlatAdam


@pytest.mark.parametrize("compiled", [True, False], ids=["tf.function", "eager"])
def test_flat_adam_is_fused_adam_bit_for_bit(compiled: bool) -> None:
    options = {"learning_rate": 0.01, "epsilon": 1e-3, "clipnorm": 0.5}
    flat = FlatAdam(**options)
    assert_weights(
        train(flat, compiled=compiled), train(FusedAdam(**options), compiled=compiled), rtol=0
    )
    assert flat.flat


def test_flat_adam_runs_one_kernel_per_step_on_flat_moments() -> None:
    optimizer = FlatAdam(learning_rate=0.01)
    ops = traced_ops(optimizer)
    assert ops.count("ResourceApplyAdam") == 1
    size = sum(int(np.prod(v.shape)) for v in small_net().trainable_variables)
    flat = [v for v in optimizer.variables if "flat" in v.name]
    assert [tuple(v.shape) for v in flat] == [(size,)] * 3


def test_flat_adam_moments_are_fused_adams_per_variable() -> None:
    flat, fused = FlatAdam(learning_rate=0.01), FusedAdam(learning_rate=0.01)
    train(flat)
    train(fused)
    for index, variable in enumerate(fused._trainable_variables):
        momentum, velocity = flat.moments(flat._trainable_variables[index])
        assert momentum.shape == variable.shape
        np.testing.assert_array_equal(momentum, fused._momentums[index].numpy())
        np.testing.assert_array_equal(velocity, fused._velocities[index].numpy())
    assert float(tf.reduce_sum(tf.abs(flat._flat_delta.value))) == 0.0  # zeroed after each step


def test_flat_adam_leaves_a_variable_without_gradient_as_keras_does() -> None:
    """A step without a gradient for a variable keeps its value and its moments (Keras skips it)."""

    def two_steps(optimizer: keras.optimizers.Optimizer) -> list[np.ndarray]:
        net = small_net()
        variables = net.trainable_variables
        x, y = batches(1)[0]
        for skip in (None, 0):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(net(x) - y))
            grads = tape.gradient(loss, variables)
            optimizer.apply([None if i == skip else g for i, g in enumerate(grads)], variables)
        return [np.array(v.numpy()) for v in variables]

    flat = FlatAdam(learning_rate=0.01)
    with pytest.warns(UserWarning, match="Gradients do not exist"):
        flat_weights = two_steps(flat)
    with pytest.warns(UserWarning, match="Gradients do not exist"):
        keras_weights = two_steps(keras.optimizers.Adam(learning_rate=0.01))
    assert_weights(flat_weights, keras_weights, rtol=1e-5, atol=1e-6)
    # The skipped kernel's moments are those of the first step: (1 - β) times its gradient.
    momentum, velocity = flat.moments(flat._trainable_variables[0])
    assert float(tf.reduce_max(tf.abs(momentum))) > 0.0
    np.testing.assert_allclose(velocity, (1 - 0.999) / (1 - 0.9) ** 2 * momentum**2, rtol=1e-4)


def test_flat_adam_where_the_kernel_cannot_run_is_keras_adam() -> None:
    flat = FlatAdam(learning_rate=0.01, amsgrad=True)
    weights = train(flat)
    assert not flat.flat
    assert_weights(weights, train(keras.optimizers.Adam(learning_rate=0.01, amsgrad=True)), rtol=0)
    momentum, _ = flat.moments(flat._trainable_variables[1])
    np.testing.assert_array_equal(momentum, flat._momentums[1].numpy())
    reference = fit_in_a_strategy(lambda: keras.optimizers.Adam(learning_rate=0.01))
    assert_weights(fit_in_a_strategy(lambda: FlatAdam(learning_rate=0.01)), reference, rtol=0)


def test_flat_adam_state_saves_and_loads(tmp_path) -> None:
    net = small_net()
    net.compile(optimizer=FlatAdam(learning_rate=0.01), loss="mse")
    x, y = (np.concatenate(parts) for parts in zip(*batches(), strict=True))
    net.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    net.save(tmp_path / "net.keras")
    loaded = keras.saving.load_model(tmp_path / "net.keras")
    assert type(loaded.optimizer) is FlatAdam
    for saved, restored in zip(net.optimizer.variables, loaded.optimizer.variables, strict=True):
        np.testing.assert_array_equal(saved.numpy(), restored.numpy())

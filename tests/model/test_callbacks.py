"""``BestEpochStopping``: Keras' early-stopping rule, best weights kept inside TensorFlow."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from mtltune.model.callbacks import BestEpochStopping, snapshot_of


def small_model() -> keras.Model:
    inputs = keras.Input((2,))
    hidden = keras.layers.Dense(3, name="hidden")(inputs)
    outputs = keras.layers.BatchNormalization(name="norm")(hidden)  # non-trainable weights too
    return keras.Model(inputs, outputs)


def run(callback: keras.callbacks.Callback, values: list[float]) -> tuple[keras.Model, int]:
    """Drive the callback over epochs whose weights all equal the epoch's index."""
    model = small_model()
    callback.set_model(model)
    model.stop_training = False
    callback.on_train_begin()
    epochs = 0
    for epoch, value in enumerate(values):
        for weight in model.weights:
            weight.assign(np.full(weight.shape, float(epoch), dtype="float32"))
        callback.on_epoch_end(epoch, {"val_objective": value})
        epochs = epoch + 1
        if model.stop_training:
            break
    callback.on_train_end()
    return model, epochs


SEQUENCES = {
    "improves then stalls": [5.0, 4.0, 3.0, 3.5, 3.2, 3.1, 3.0, 2.0],
    "never improves after the first": [1.0, 2.0, 3.0, 4.0],
    "ties are not improvements": [2.0, 1.0, 1.0, 1.0, 0.5],
    "improves to the end": [4.0, 3.0, 2.0, 1.0],
    "starts with NaN": [math.nan, 3.0, 2.0, 2.5, 2.6, 2.7],
    "one epoch": [1.0],
}


@pytest.mark.parametrize("name", sorted(SEQUENCES))
@pytest.mark.parametrize("mode", ["min", "max"])
def test_stops_and_restores_exactly_like_keras(name: str, mode: str) -> None:
    values = SEQUENCES[name]
    ours = BestEpochStopping(monitor="val_objective", mode=mode, patience=2)
    keras_stop = keras.callbacks.EarlyStopping(
        monitor="val_objective", mode=mode, patience=2, restore_best_weights=True
    )
    model, epochs = run(ours, values)
    reference, reference_epochs = run(keras_stop, values)
    assert epochs == reference_epochs
    assert ours.best_epoch == keras_stop.best_epoch
    assert ours.stopped_epoch == keras_stop.stopped_epoch
    for mine, theirs in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)


def test_a_missing_monitor_keeps_and_restores_nothing() -> None:
    callback = BestEpochStopping(monitor="val_objective", mode="min", patience=2)
    model = small_model()
    callback.set_model(model)
    callback.on_train_begin()
    with pytest.warns(UserWarning, match="val_objective"):
        callback.on_epoch_end(0, {"loss": 1.0})
    model.weights[0].assign(np.ones(model.weights[0].shape, dtype="float32"))
    callback.on_train_end()
    np.testing.assert_array_equal(model.weights[0].numpy(), 1.0)


def test_the_snapshot_is_made_once_per_model_and_is_not_a_weight() -> None:
    model = small_model()
    count = len(model.weights)
    snapshot = snapshot_of(model)
    assert snapshot_of(model) is snapshot
    assert len(model.weights) == count
    kernel = model.get_layer("hidden").kernel
    kernel.assign(np.full(kernel.shape, 2.0, dtype="float32"))
    snapshot.save()
    kernel.assign(np.zeros(kernel.shape, dtype="float32"))
    snapshot.restore()
    np.testing.assert_array_equal(kernel.numpy(), 2.0)
    snapshot.save()
    snapshot.restore()
    traces = snapshot.traces()
    # Another model of the same shapes (a new trial's) reuses the compiled copy.
    other = snapshot_of(small_model())
    other.save()
    other.restore()
    assert other.traces() == traces

"""The in-memory epoch loop: same training as Keras' ``fit``, one compiled call per epoch."""

from __future__ import annotations

import keras
import keras_tuner as kt
import numpy as np
import pytest
import tensorflow as tf
from twoheads import build, data

from mtltune import MultiTaskHyperModel, separate_plan, weighted_plan
from mtltune.model import loop

HEADS = {"a": {"metrics": ["mae"]}, "b": {"kind": "binary", "metrics": ["accuracy"]}}


def hypermodel(**training) -> MultiTaskHyperModel:
    return MultiTaskHyperModel(build, HEADS, training={"max_epochs": 3, **training}, seed=5)


PLANS = {
    "weighted": weighted_plan(["a", "b"], learning_rate=0.01, epsilon=1e-4, weights={"b": 3.0}),
    "separate": separate_plan({"a": 0.01, "b": 0.02}, epsilon=1e-4),
}


@pytest.mark.parametrize("strategy", sorted(PLANS))
def test_one_epoch_trains_exactly_as_keras_fit(strategy: str) -> None:
    # 70 rows in batches of 16: four full batches and a short one, in file order.
    x, y = data(70, 0)
    xv, yv = data(40, 1)
    ours = hypermodel().build_plan(PLANS[strategy])
    theirs = hypermodel().build_plan(PLANS[strategy])
    history = loop.fit(ours, x, y, (xv, yv), epochs=2, batch_size=16, shuffle=False)
    keras_history = theirs.fit(
        x, y, validation_data=(xv, yv), epochs=2, batch_size=16, shuffle=False, verbose=0
    ).history
    for mine, reference in zip(ours.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_allclose(mine, reference, rtol=1e-5, atol=1e-6)
    assert set(history) == set(keras_history)
    for key, values in keras_history.items():
        np.testing.assert_allclose(history[key], values, rtol=1e-5, atol=1e-6, err_msg=key)


def test_evaluate_scores_every_row_in_chunks(monkeypatch) -> None:
    model = hypermodel().build_plan(PLANS["weighted"])
    x, y = data(50, 2)
    whole = loop.evaluate(model, x, y)
    # Fresh loop, chunks of 7 rows: the last chunk is short; the means must not change.
    model.epoch_loop = None
    monkeypatch.setattr(loop, "EVAL_BATCH_SIZE", 7)
    chunked = loop.evaluate(model, x, y)
    keras_logs = model.evaluate(x, y, batch_size=50, verbose=0, return_dict=True)
    for key in ("loss_a", "loss_b", "a_mae", "b_accuracy", "loss"):
        assert chunked[key] == pytest.approx(whole[key], rel=1e-5)
        assert whole[key] == pytest.approx(keras_logs[key], rel=1e-5)


def test_an_epoch_stops_at_the_first_diverging_batch() -> None:
    model = hypermodel().build_plan(weighted_plan(["a", "b"], learning_rate=1e15, epsilon=1e-7))
    x, y = data(320, 0)
    seen: list[tuple[int, float]] = []

    class Spy(keras.callbacks.Callback):
        def on_train_batch_end(self, batch: int, logs=None) -> None:
            seen.append((batch, logs["loss"]))

    history = loop.fit(model, x, y, data(20, 1), epochs=5, batch_size=8, callbacks=[Spy()])
    assert len(seen) == 1, "training goes on after a non-finite loss"
    batch, loss = seen[0]
    assert not np.isfinite(loss)
    assert batch < 40 - 1, "the epoch ran to its end"
    assert history == {}, "a diverged epoch is not logged"


BRANCHING_LOSS = """
import tensorflow as tf


def branching(y_true, y_pred):
    if tf.reduce_mean(y_pred) > 0:  # a Python branch on a tensor: only autograph converts it
        return tf.reduce_mean(tf.square(y_true - y_pred))
    return tf.reduce_mean(tf.abs(y_true - y_pred))
"""


def test_a_custom_loss_is_traced_as_keras_fit_traces_it(tmp_path, monkeypatch) -> None:
    # Keras' fit traces its step without autograph (do_not_convert), and so does the loop: a
    # loss that Keras' fit rejects is rejected here in the same way, not silently converted.
    (tmp_path / "branching_losses.py").write_text(BRANCHING_LOSS)
    monkeypatch.syspath_prepend(str(tmp_path))
    heads = {**HEADS, "a": {"loss": "branching_losses:branching"}}
    x, y = data(32, 0)
    models = [
        MultiTaskHyperModel(build, heads, training={"max_epochs": 1}, seed=5).build_plan(
            PLANS["weighted"]
        )
        for _ in range(2)
    ]
    with pytest.raises(tf.errors.OperatorNotAllowedInGraphError):
        models[0].fit(x, y, epochs=1, batch_size=16, verbose=0)
    with pytest.raises(tf.errors.OperatorNotAllowedInGraphError):
        loop.fit(models[1], x, y, data(16, 1), epochs=1, batch_size=16)


def test_epochs_and_evaluation_are_traced_once_per_model_for_any_split_size() -> None:
    model = hypermodel().build_plan(PLANS["separate"])
    x, y = data(64, 0)
    for n in (40, 33):  # a different stop-split size does not trace the step again either
        loop.fit(model, x, y, data(n, 1), epochs=3, batch_size=16)
    for n in (50, 5000):  # test splits of other sizes, one longer than a chunk
        loop.evaluate(model, *data(n, 2))
    assert loop.loop_of(model).traces == {"train": 1, "evaluate": 1}


def test_keras_tuner_checkpoint_is_written_once_with_the_best_epoch(tmp_path) -> None:
    from keras_tuner.src.engine.tuner_utils import SaveBestEpoch

    hm = hypermodel(max_epochs=8, patience=3)
    model = hm.build_plan(PLANS["weighted"])
    x, y = data(64, 0)
    xv, yv = data(32, 1)
    path = tmp_path / "best.weights.h5"
    checkpoint = SaveBestEpoch(kt.Objective("val_objective", "min"), str(path))
    results = hm.fit(None, model, x, y, validation_data=(xv, yv), callbacks=[checkpoint])
    assert path.exists()
    reloaded = hm.build_plan(PLANS["weighted"])
    reloaded.load_weights(str(path))
    logs = loop.evaluate(reloaded, xv, yv)
    assert logs["loss_a"] == pytest.approx(results["val_loss_a"], rel=1e-5)
    assert logs["loss_b"] == pytest.approx(results["val_loss_b"], rel=1e-5)


def test_initial_epoch_resumes_the_epoch_count() -> None:
    model = hypermodel().build_plan(PLANS["weighted"])
    x, y = data(32, 0)
    epochs: list[int] = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs=None) -> None:
            epochs.append(epoch)

    history = loop.fit(
        model, x, y, data(16, 1), epochs=5, batch_size=8, callbacks=[Spy()], initial_epoch=3
    )
    assert epochs == [3, 4]
    assert len(history["val_loss_a"]) == 2


def test_in_memory_accepts_arrays_and_structures_only() -> None:
    x, y = data(4, 0)
    assert loop.in_memory(x, y, {"x": x}, [x, x])
    assert not loop.in_memory(x, None)
    assert not loop.in_memory({}, y)
    assert not loop.in_memory(x, np.float32(1.0))


@pytest.mark.parametrize(("shuffle", "same_order"), [(True, True), ("epoch", False)])
def test_shuffle_draws_one_order_per_fit_or_one_per_epoch(shuffle, same_order) -> None:
    x, y = data(48, 0)
    model = hypermodel().build_plan(PLANS["weighted"])
    orders: list[np.ndarray] = []
    epoch_loop = loop.loop_of(model)
    original = epoch_loop.train_epoch

    def spy(x_, y_, order, batch_size):
        orders.append(np.array(order))
        return original(x_, y_, order, batch_size)

    epoch_loop.train_epoch = spy
    loop.fit(model, x, y, data(16, 1), epochs=3, batch_size=16, shuffle=shuffle, seed=4)
    assert len(orders) == 3
    assert sorted(orders[0].tolist()) == list(range(48))
    assert not np.array_equal(orders[0], np.arange(48))
    assert all(np.array_equal(o, orders[0]) for o in orders) == same_order

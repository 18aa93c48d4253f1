"""Head losses and metrics against hand computations."""

from __future__ import annotations

import numpy as np
import pytest

from mtltune import HeadConfig
from mtltune.model.heads import make_loss, make_metrics, output_layer


def test_regression_losses_match_hand_computation() -> None:
    y = np.array([[0.0], [1.0], [3.0]], dtype="float32")
    p = np.array([[0.5], [1.0], [0.0]], dtype="float32")
    err = p - y
    assert float(make_loss(HeadConfig(loss="mse"))(y, p)) == pytest.approx(np.mean(err**2))
    assert float(make_loss(HeadConfig(loss="mae"))(y, p)) == pytest.approx(np.mean(np.abs(err)))
    a = np.abs(err)
    huber = np.where(a <= 1.0, 0.5 * a**2, a - 0.5)
    assert float(make_loss(HeadConfig(loss="huber"))(y, p)) == pytest.approx(np.mean(huber))


def test_cross_entropies_match_hand_computation() -> None:
    y = np.array([[1.0], [0.0]], dtype="float32")
    p = np.array([[0.8], [0.3]], dtype="float32")
    expected = -np.mean(np.log([0.8, 0.7]))
    assert float(make_loss(HeadConfig(kind="binary"))(y, p)) == pytest.approx(expected, rel=1e-5)
    codes = np.array([2, 0], dtype="int32")
    probs = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]], dtype="float32")
    expected = -np.mean(np.log([0.5, 0.6]))
    got = float(make_loss(HeadConfig(kind="multiclass"))(codes, probs))
    assert got == pytest.approx(expected, rel=1e-5)


def test_metrics_are_named_after_the_head() -> None:
    metrics = make_metrics("price", HeadConfig(metrics=["mae", "rmse"]))
    assert [m.name for m in metrics] == ["price_mae", "price_rmse"]
    accuracy = make_metrics("kind", HeadConfig(kind="multiclass"))[0]
    accuracy.update_state(np.array([1, 0]), np.array([[0.1, 0.9], [0.2, 0.8]]))
    assert float(accuracy.result()) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("kind", "activation"),
    [("regression", "linear"), ("binary", "sigmoid"), ("multiclass", "softmax")],
)
def test_output_layer_activation(kind: str, activation: str) -> None:
    layer = output_layer("h", HeadConfig(kind=kind), 3 if kind == "multiclass" else 1)
    assert layer.name == "h"
    assert layer.activation.__name__ == activation


def test_constant_prediction_loss_uses_train_statistics_only() -> None:
    from mtltune.model.heads import constant_prediction_loss

    train = np.array([[1.0], [3.0]], dtype="float32")  # mean 2
    stop = np.array([[0.0], [4.0], [2.0]], dtype="float32")
    got = constant_prediction_loss(HeadConfig(), train, stop)
    assert got == pytest.approx(np.mean((stop - 2.0) ** 2))
    labels = np.array([0, 0, 1, 2], dtype="int32")  # add-one smoothed: 3/7, 2/7, 2/7
    got = constant_prediction_loss(HeadConfig(kind="multiclass"), labels, np.array([1, 0]))
    assert got == pytest.approx(-np.mean(np.log([2 / 7, 3 / 7])), rel=1e-5)
    positives = np.array([[1.0], [0.0], [0.0], [0.0]], dtype="float32")
    got = constant_prediction_loss(HeadConfig(kind="binary"), positives, np.array([[1.0]]))
    assert got == pytest.approx(-np.log(0.25), rel=1e-5)


# ---------------------------------------------------------------------------------------------
# Losses of issue 3: weighted cross-entropies, one-hot labels, Gaussian NLL, custom losses.


def test_weighted_binary_crossentropy_matches_hand_computation() -> None:
    y = np.array([[1.0], [0.0], [0.0]], dtype="float32")
    p = np.array([[0.8], [0.3], [0.1]], dtype="float32")
    head = HeadConfig(kind="binary", loss="weighted_binary_crossentropy")
    got = float(make_loss(head, [0.5, 4.0])(y, p))
    expected = np.mean([4.0 * -np.log(0.8), 0.5 * -np.log(0.7), 0.5 * -np.log(0.9)])
    assert got == pytest.approx(expected, rel=1e-5)


def test_weighted_categorical_crossentropy_from_labels_and_one_hot() -> None:
    codes = np.array([2, 0, 1], dtype="int32")
    one_hot = np.eye(3, dtype="float32")[codes]
    probs = np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1], [0.1, 0.7, 0.2]], dtype="float32")
    weights = [1.0, 2.0, 3.0]
    expected = np.mean([3.0 * -np.log(0.5), 1.0 * -np.log(0.6), 2.0 * -np.log(0.7)])
    head = HeadConfig(kind="multiclass", loss="weighted_categorical_crossentropy")
    assert float(make_loss(head, weights)(codes, probs)) == pytest.approx(expected, rel=1e-5)
    assert float(make_loss(head, weights)(one_hot, probs)) == pytest.approx(expected, rel=1e-5)
    plain = make_loss(HeadConfig(kind="multiclass"))
    assert float(plain(one_hot, probs)) == pytest.approx(float(plain(codes, probs)), rel=1e-6)


def test_gaussian_nll_matches_hand_computation() -> None:
    y = np.array([[1.0], [2.0]], dtype="float32")
    p = np.array([[1.5], [1.0]], dtype="float32")
    v = np.array([[0.0], [-1.0]], dtype="float32")
    head = HeadConfig(loss="gaussian_nll")
    got = float(make_loss(head)(y, p, v))
    expected = np.mean([np.exp(0.0) * 0.25 + 0.0, np.exp(1.0) * 1.0 - 1.0])
    assert got == pytest.approx(expected, rel=1e-5)
    assert head.loss_scale == "log"


def test_custom_loss_is_imported_and_averaged(tmp_path, monkeypatch) -> None:
    (tmp_path / "heads_cubic_losses.py").write_text(
        "import keras\n\ndef cubic(y_true, y_pred):\n"
        "    return keras.ops.abs(y_pred - y_true) ** 3\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    loss = make_loss(HeadConfig(loss="heads_cubic_losses:cubic"))
    y = np.array([[0.0], [1.0]], dtype="float32")
    p = np.array([[2.0], [1.0]], dtype="float32")
    assert float(loss(y, p)) == pytest.approx(4.0)


def test_balanced_class_weights_follow_frequencies() -> None:
    from mtltune.model.heads import balanced_class_weights

    labels = np.array([0, 0, 0, 1])
    assert balanced_class_weights(labels) == pytest.approx([4 / 6, 4 / 2])

"""Head kinds on the Keras side: output layer, loss object and metric objects of each head."""

from __future__ import annotations

from collections.abc import Mapping

import keras
import numpy as np

from mtltune.study import HeadConfig

#: Activation of the output layer of a study-built head.
OUTPUT_ACTIVATIONS = {"regression": "linear", "binary": "sigmoid", "multiclass": "softmax"}


def make_loss(head: HeadConfig) -> keras.losses.Loss:
    """The loss object of a head (mean over the batch; heads output probabilities).

    Args:
        head: The head's configuration (loss name already validated against its kind).

    Returns:
        A fresh Keras loss.
    """
    factories = {
        "mse": keras.losses.MeanSquaredError,
        "mae": keras.losses.MeanAbsoluteError,
        "huber": keras.losses.Huber,
        "binary_crossentropy": keras.losses.BinaryCrossentropy,
        # Labels are integer codes (see mtltune.data.TargetEncoder).
        "categorical_crossentropy": keras.losses.SparseCategoricalCrossentropy,
    }
    return factories[str(head.loss)]()


def make_metrics(name: str, head: HeadConfig) -> list[keras.metrics.Metric]:
    """Fresh metric objects of a head, named ``<head>_<metric>``.

    Args:
        name: The head (output) name.
        head: The head's configuration.

    Returns:
        One Keras metric per name in ``head.metrics``.
    """
    binary = head.kind == "binary"
    factories = {
        "mse": keras.metrics.MeanSquaredError,
        "mae": keras.metrics.MeanAbsoluteError,
        "rmse": keras.metrics.RootMeanSquaredError,
        "accuracy": keras.metrics.BinaryAccuracy
        if binary
        else keras.metrics.SparseCategoricalAccuracy,
        "auc": keras.metrics.AUC,
        "precision": keras.metrics.Precision,
        "recall": keras.metrics.Recall,
    }
    return [factories[m](name=f"{name}_{m}") for m in head.metrics or []]


def output_layer(name: str, head: HeadConfig, units: int) -> keras.layers.Dense:
    """The output layer of a study-built head, named after the head."""
    return keras.layers.Dense(units, activation=OUTPUT_ACTIVATIONS[head.kind], name=name)


def constant_prediction_loss(head: HeadConfig, y_train: np.ndarray, y_eval: np.ndarray) -> float:
    """The head's loss on ``y_eval`` of the best constant fitted on ``y_train``.

    The constant is the train mean (regression), the train positive rate (binary) or the train
    class frequencies (multiclass): what a model that ignores its inputs can do.
    """
    y_train = np.asarray(y_train)
    y_eval = np.asarray(y_eval)
    n = y_eval.shape[0]
    if head.kind == "multiclass":
        classes = int(max(y_train.max(), y_eval.max())) + 1
        counts = np.bincount(y_train.astype(int).ravel(), minlength=classes) + 1.0
        prediction = np.tile(counts / counts.sum(), (n, 1))
    else:
        constant = float(np.mean(y_train))
        if head.kind == "binary":
            constant = min(max(constant, 1e-3), 1 - 1e-3)
        prediction = np.full((n, *y_eval.shape[1:]), constant)
    return float(make_loss(head)(y_eval, prediction.astype("float32")))


def reference_losses(
    heads: Mapping[str, HeadConfig],
    y_train: Mapping[str, np.ndarray],
    y_eval: Mapping[str, np.ndarray],
) -> dict[str, float]:
    """``constant_prediction_loss`` of every head."""
    return {h: constant_prediction_loss(cfg, y_train[h], y_eval[h]) for h, cfg in heads.items()}

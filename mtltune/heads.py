"""Head kinds on the Keras side: output layer, loss object and metric objects of each head."""

from __future__ import annotations

import keras

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

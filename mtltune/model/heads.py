"""Head kinds on the Keras side: output layer, loss object and metric objects of each head."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from mtltune.study import HeadConfig
from mtltune.study.catalog import CLASS_WEIGHTED_LOSSES, is_custom_loss
from mtltune.study.heads import is_log_likelihood
from mtltune.study.names import head_metric_key
from mtltune.study.usercode import import_loss

#: Activation of the output layer of a study-built head.
OUTPUT_ACTIVATIONS = {"regression": "linear", "binary": "sigmoid", "multiclass": "softmax"}


LossFn = Callable[..., Any]
"""A head loss: ``loss(y_true, y_pred, *auxiliary_outputs) -> scalar`` (mean over the batch)."""


def make_loss(head: HeadConfig, class_weights: Sequence[float] | None = None) -> LossFn:
    """The loss of a head, as a function returning the batch mean.

    Args:
        head: The head's configuration (loss name already validated against its kind).
        class_weights: Per-class weights in code order, for the weighted cross-entropies.

    Returns:
        ``loss(y_true, y_pred, *aux)``; ``aux`` are the outputs named in ``head.uses``.
    """
    name = str(head.loss)
    if is_custom_loss(name):
        function = import_loss(name)

        def custom(y_true: Any, y_pred: Any, *aux: Any) -> Any:
            value = function(y_true, y_pred, *aux)
            check_loss_shape(name, value, y_pred)
            return ops.mean(value)

        return custom
    if name in CLASS_WEIGHTED_LOSSES and class_weights is None:
        raise ValueError(f"loss {name} needs class weights (set class_weights on the head)")
    builtin: dict[str, LossFn] = {
        "mse": keras.losses.MeanSquaredError(),
        "mae": keras.losses.MeanAbsoluteError(),
        "huber": keras.losses.Huber(),
        "gaussian_nll": gaussian_nll,
        "binary_crossentropy": binary_crossentropy,
        "categorical_crossentropy": categorical_crossentropy,
    }
    if name == "weighted_binary_crossentropy":
        return functools.partial(binary_crossentropy, class_weights=class_weights)
    if name == "weighted_categorical_crossentropy":
        return functools.partial(categorical_crossentropy, class_weights=class_weights)
    return builtin[name]


def check_loss_shape(name: str, value: Any, y_pred: Any) -> None:
    """Refuse what a custom loss returns unless it is a scalar or one value per row.

    Checked when the loss is first traced (the first batch), on static shapes: a loss that
    returns a tensor of another shape (``tf.zeros([3, 7])``) would be averaged into a
    meaningless score.

    Raises:
        ValueError: Naming the loss, the shape it returned and the shapes allowed.
    """
    shape = tuple(getattr(value, "shape", ()))
    expected = tuple(getattr(y_pred, "shape", ()))
    fits = len(shape) <= max(len(expected), 1) and all(
        got is None or (want is not None and got == want) or (got == 1 and i > 0)
        for i, (got, want) in enumerate(zip(shape, expected, strict=False))
    )
    if not fits:
        rows = "batch" if not expected or expected[0] is None else expected[0]
        raise ValueError(
            f"custom loss {name} returned a tensor of shape {list(shape)} for predictions of "
            f"shape {list(expected)}; return a scalar or one loss per row (shape [{rows}])"
        )


def gaussian_nll(y_true: Any, y_pred: Any, log_variance: Any) -> Any:
    """Gaussian negative log-likelihood with a predicted log-variance ``v`` (up to constants).

    ``mean(exp(-v)·(y_pred - y_true)² + v)``: the loss of a head that predicts its own
    uncertainty (the rating model's ``exp(-v)·(prediction - rating)² + v``).
    """
    y_true = ops.reshape(ops.cast(y_true, y_pred.dtype), ops.shape(y_pred))
    log_variance = ops.reshape(log_variance, ops.shape(y_pred))
    return ops.mean(ops.exp(-log_variance) * ops.square(y_pred - y_true) + log_variance)


def binary_crossentropy(
    y_true: Any, y_pred: Any, class_weights: Sequence[float] | None = None
) -> Any:
    """Binary cross-entropy of probabilities, optionally weighted per class (0, 1)."""
    y = ops.reshape(ops.cast(y_true, y_pred.dtype), ops.shape(y_pred))
    ce = binary_crossentropy_values(y, y_pred)
    if class_weights is not None:
        w0, w1 = (float(w) for w in class_weights)
        ce = ce * (w0 + (w1 - w0) * y)
    return ops.mean(ce)


def binary_crossentropy_values(y_true: Any, y_pred: Any) -> Any:
    """Each element's binary cross-entropy (targets and probabilities of one shape).

    The probabilities are clipped to ``[ε, 1 − ε]`` (``keras.config.epsilon()``); the heads'
    loss and the fused groups' (``mtltune.model.fused.vector_loss``) both compute it here.
    """
    eps = keras.config.epsilon()
    p = ops.clip(y_pred, eps, 1.0 - eps)
    y = ops.cast(y_true, p.dtype)
    return -(y * ops.log(p) + (1.0 - y) * ops.log(1.0 - p))


def categorical_crossentropy(
    y_true: Any, y_pred: Any, class_weights: Sequence[float] | None = None
) -> Any:
    """Categorical cross-entropy of probabilities, from integer labels or one-hot rows."""
    eps = keras.config.epsilon()
    p = ops.clip(y_pred, eps, 1.0)
    classes = p.shape[-1]
    one_hot = len(y_true.shape) == 2 and y_true.shape[-1] == classes and classes > 1
    if one_hot:
        target = ops.cast(y_true, p.dtype)
    else:
        target = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), classes, dtype=p.dtype)
    ce = -ops.sum(target * ops.log(p), axis=-1)
    if class_weights is not None:
        ce = ce * ops.sum(target * ops.convert_to_tensor(class_weights, dtype=p.dtype), axis=-1)
    return ops.mean(ce)


def make_metrics(
    name: str, head: HeadConfig, skip: Collection[str] = ()
) -> list[keras.metrics.Metric]:
    """Fresh metric objects of a head, named ``<head>_<metric>``.

    Args:
        name: The head (output) name.
        head: The head's configuration.
        skip: Metric names (``<head>_<metric>``) not to make (computed elsewhere).

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
    # Errors in the target's units are summed in float64 (their squares may pass float32's max).
    wide = {"mse", "mae", "rmse"}
    return [
        factories[m](name=head_metric_key(name, m), **({"dtype": "float64"} if m in wide else {}))
        for m in head.metrics or []
        if head_metric_key(name, m) not in skip
    ]


def output_layer(name: str, head: HeadConfig, units: int) -> keras.layers.Dense:
    """The output layer of a study-built head, named after the head."""
    return keras.layers.Dense(units, activation=OUTPUT_ACTIVATIONS[head.kind], name=name)


def constant_prediction_loss(
    head: HeadConfig,
    y_train: np.ndarray,
    y_eval: np.ndarray,
    class_weights: Sequence[float] | None = None,
) -> float:
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
    loss = make_loss(head, class_weights)
    return float(loss(y_eval, prediction.astype("float32")))


def reference_losses(
    heads: Mapping[str, HeadConfig],
    y_train: Mapping[str, np.ndarray],
    y_eval: Mapping[str, np.ndarray],
    class_weights: Mapping[str, Sequence[float]] | None = None,
) -> dict[str, float]:
    """``constant_prediction_loss`` of every head whose loss reads only its own output.

    Heads whose loss reads other outputs, is a log-likelihood or is a user's function have no
    constant-predictor reference (and so no objective floor).
    """
    class_weights = class_weights or {}
    return {
        h: constant_prediction_loss(cfg, y_train[h], y_eval[h], class_weights.get(h))
        for h, cfg in heads.items()
        if not cfg.uses and not is_log_likelihood(cfg) and not is_custom_loss(str(cfg.loss))
    }


def balanced_class_weights(labels: np.ndarray, classes: int | None = None) -> list[float]:
    """``n / (classes · n_c)`` per class code from training labels (scikit-learn's 'balanced')."""
    codes = np.asarray(labels).astype(int).ravel()
    counts = np.bincount(codes, minlength=classes or 0).astype(float)
    return [len(codes) / (len(counts) * c) if c > 0 else 1.0 for c in counts]

"""Names a study may use: head kinds, their losses and metrics, strategies, tuners.

Plain tables with no dependency, so that validating a study never imports TensorFlow. The Keras
objects behind these names are built in ``mtltune.model.heads``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mtltune.study.direction import Direction

HeadKind = Literal["regression", "binary", "multiclass"]
StrategyName = Literal[
    "weighted", "separate", "uncertainty", "geometric", "dwa", "gradnorm", "pcgrad", "famo"
]
TunerName = Literal["tpe", "random", "bayesian", "hyperband"]


@dataclass(frozen=True)
class KindSpec:
    """What a head kind allows.

    Attributes:
        default_loss: Loss used when the study names none.
        losses: Loss names this kind accepts.
        default_metrics: Metrics reported when the study names none.
        metrics: Metric names this kind accepts.
    """

    default_loss: str
    losses: tuple[str, ...]
    default_metrics: tuple[str, ...]
    metrics: tuple[str, ...]


KINDS: dict[str, KindSpec] = {
    "regression": KindSpec(
        default_loss="mse",
        losses=("mse", "mae", "huber", "gaussian_nll"),
        default_metrics=("mae", "rmse"),
        metrics=("mse", "mae", "rmse"),
    ),
    "binary": KindSpec(
        default_loss="binary_crossentropy",
        losses=("binary_crossentropy", "weighted_binary_crossentropy"),
        default_metrics=("accuracy", "auc"),
        metrics=("accuracy", "auc", "precision", "recall"),
    ),
    "multiclass": KindSpec(
        default_loss="categorical_crossentropy",
        losses=("categorical_crossentropy", "weighted_categorical_crossentropy"),
        default_metrics=("accuracy",),
        metrics=("accuracy",),
    ),
}

#: Direction in which each metric improves; every loss improves downwards.
METRIC_DIRECTIONS: dict[str, Direction] = {
    "loss": Direction.MIN,
    "mse": Direction.MIN,
    "mae": Direction.MIN,
    "rmse": Direction.MIN,
    "accuracy": Direction.MAX,
    "auc": Direction.MAX,
    "precision": Direction.MAX,
    "recall": Direction.MAX,
}

#: Losses that read a second output of the model, and the name of that output for head ``h``.
AUXILIARY_OUTPUTS: dict[str, str] = {"gaussian_nll": "{head}_logvar"}

#: Losses that are negative log-likelihoods (may be negative): the objective uses ``exp(L)``.
LOG_SCALE_LOSSES = frozenset({"gaussian_nll"})

#: Losses that take per-class weights (``class_weights`` on the head).
CLASS_WEIGHTED_LOSSES = frozenset(
    {"weighted_binary_crossentropy", "weighted_categorical_crossentropy"}
)


def is_custom_loss(name: str) -> bool:
    """Whether a loss name is an import path ``package.module:function``."""
    return ":" in name

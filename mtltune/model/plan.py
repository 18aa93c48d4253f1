"""A trial's training plan (``TrainPlan``), the hyperparameters' names, and the plans by hand.

``TrainPlan`` is what a strategy reads from a trial's values (``mtltune.model.strategies.
read_plan``) and what the model trains by; ``weighted_plan``, ``separate_plan``,
``single_optimizer_plan`` and ``baseline_plan`` build one without a search (a user's own Keras
Tuner code, the baseline, the benchmarks). Nothing here imports TensorFlow or Keras Tuner.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mtltune.study import BaselineConfig

STRATEGY = "strategy"
EPSILON = "epsilon"
LEARNING_RATE = "learning_rate"


def loss_weight_name(head: str) -> str:
    """Hyperparameter name of a head's raw loss weight (``weighted``)."""
    return f"loss_weight_{head}"


def head_learning_rate_name(head: str) -> str:
    """Hyperparameter name of a head's learning rate (``separate``)."""
    return f"learning_rate_{head}"


@dataclass(frozen=True)
class TrainPlan:
    """How one model is trained: its strategy and optimizer settings.

    Attributes:
        strategy: A name in ``STRATEGIES`` (``weighted``, ``separate``, ...).
        epsilon: Adam's epsilon, for every optimizer.
        learning_rates: One rate keyed ``"*"`` (one optimizer) or one per head (``separate``).
        loss_weights: Normalised (mean 1) loss weight per head (``weighted``); all 1 for
            ``separate``; empty for the strategies that set the weights themselves.
        settings: The strategy's own hyperparameters (``dwa``'s temperature, say), by name.
    """

    strategy: str
    epsilon: float
    learning_rates: dict[str, float]
    loss_weights: dict[str, float] = field(default_factory=dict)
    settings: dict[str, float] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary, for the report.

        One learning rate or one per head, the strategy's settings if any, and the loss weights
        of a one-optimizer plan that has them (``weighted``'s).
        """
        described: dict[str, Any] = {"strategy": self.strategy, "epsilon": self.epsilon}
        one_rate = "*" in self.learning_rates
        if one_rate:
            described["learning_rate"] = self.learning_rates["*"]
        else:
            described["learning_rates"] = dict(self.learning_rates)
        if self.settings:
            described["settings"] = dict(self.settings)
        if one_rate and self.loss_weights:
            described["loss_weights"] = dict(self.loss_weights)
        return described


def normalise_weights(raw: Mapping[str, float]) -> dict[str, float]:
    """Rescale positive weights to mean 1 (only their ratios matter under Adam).

    Raises:
        ValueError: If a weight is not positive.
    """
    if any(w <= 0 for w in raw.values()):
        raise ValueError(f"loss weights must be positive, got {dict(raw)}")
    mean = sum(raw.values()) / len(raw)
    return {h: w / mean for h, w in raw.items()}


def weighted_plan(
    heads: Sequence[str],
    *,
    learning_rate: float,
    epsilon: float,
    weights: Mapping[str, float] | None = None,
) -> TrainPlan:
    """A ``weighted`` plan; weights default to equal and are normalised to mean 1."""
    raw = dict(weights) if weights is not None else dict.fromkeys(heads, 1.0)
    return TrainPlan(
        strategy="weighted",
        epsilon=epsilon,
        learning_rates={"*": learning_rate},
        loss_weights=normalise_weights(raw),
    )


def separate_plan(learning_rates: Mapping[str, float], *, epsilon: float) -> TrainPlan:
    """A ``separate`` plan: one Adam per head with its own learning rate."""
    return TrainPlan(
        strategy="separate",
        epsilon=epsilon,
        learning_rates=dict(learning_rates),
        loss_weights=dict.fromkeys(learning_rates, 1.0),
    )


def baseline_plan(heads: Sequence[str], baseline: BaselineConfig) -> TrainPlan:
    """The baseline: weighted strategy, equal weights, default learning rate and epsilon."""
    return weighted_plan(heads, learning_rate=baseline.learning_rate, epsilon=baseline.epsilon)

"""Strategies: the hyperparameters each declares, and the training plan it yields.

``weighted``: one Adam on ``Σ_i w_i·L_i``; searches the K-1 ratios of the loss weights to the
first head's (log-uniform; the weights are then normalised to mean 1, since Adam ignores the
overall scale), one learning rate and epsilon.

``separate``: one Adam per head, each minimising its own ``L_i`` over the trunk and its head,
all applied every step; searches per-head learning rates and epsilon. It does not search loss
weights: with a per-head Adam a weight only acts like rescaling epsilon.

``uncertainty`` and ``geometric`` set the weights themselves (learned log-variances; the
geometric mean of the head losses): they search one learning rate and epsilon.

When a study allows several, ``strategy`` is itself a searched choice and each strategy's
hyperparameters live in a Keras Tuner conditional scope, so they exist only in its own trials.
Nothing here imports TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mtltune.study import BaselineConfig, SearchConfig

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
        strategy: ``weighted`` or ``separate``.
        epsilon: Adam's epsilon, for every optimizer.
        learning_rates: One rate keyed ``"*"`` (weighted) or one per head (separate).
        loss_weights: Normalised (mean 1) loss weight per head; all 1 for ``separate``.
    """

    strategy: str
    epsilon: float
    learning_rates: dict[str, float]
    loss_weights: dict[str, float] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary, for the report."""
        out: dict[str, Any] = {"strategy": self.strategy, "epsilon": self.epsilon}
        if self.strategy == "separate":
            out["learning_rates"] = dict(self.learning_rates)
        else:
            out["learning_rate"] = self.learning_rates["*"]
        if self.strategy == "weighted":
            out["loss_weights"] = dict(self.loss_weights)
        return out


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


def single_optimizer_plan(strategy: str, *, learning_rate: float, epsilon: float) -> TrainPlan:
    """An ``uncertainty`` or ``geometric`` plan: one Adam; the strategy sets the weights."""
    return TrainPlan(strategy=strategy, epsilon=epsilon, learning_rates={"*": learning_rate})


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


def _declare_weights(hp: Any, heads: Sequence[str], search: SearchConfig) -> dict[str, float]:
    """The raw loss weights: only their K-1 ratios matter (they are normalised to mean 1).

    The first head is the reference (raw weight fixed at 1); every other head's raw weight,
    its ratio to the reference, is searched log-uniformly over ``[min/max, max/min]``: the
    ratios that independent weights in ``[min, max]`` could take.
    """
    lw = search.loss_weight
    low, high = lw.min / lw.max, lw.max / lw.min
    weights = {heads[0]: hp.Fixed(loss_weight_name(heads[0]), 1.0)}
    for head in heads[1:]:
        weights[head] = hp.Float(loss_weight_name(head), low, high, sampling="log")
    return weights


def declare(hp: Any, heads: Sequence[str], search: SearchConfig) -> TrainPlan:
    """Declare the search space on a Keras Tuner ``HyperParameters`` and read this trial's plan.

    Every strategy's hyperparameters are declared (so the oracle knows the whole space) under a
    conditional scope on ``strategy``; only the active ones have values in a trial.

    Args:
        hp: A ``keras_tuner.HyperParameters``.
        heads: Head names.
        search: Ranges and allowed strategies.

    Returns:
        The training plan of the current trial.
    """
    strategies = list(search.strategies)
    if len(strategies) > 1:
        strategy = hp.Choice(STRATEGY, strategies)
    else:
        strategy = hp.Fixed(STRATEGY, strategies[0])
    eps = search.epsilon
    epsilon = hp.Float(EPSILON, eps.min, eps.max, sampling="log")
    lr = search.learning_rate
    weights: dict[str, float] = {}
    rates: dict[str, float] = {}
    rate = lr.min
    one_rate = [s for s in strategies if s != "separate"]
    if one_rate:
        # One learning rate for every single-optimizer strategy.
        with hp.conditional_scope(STRATEGY, one_rate):
            rate = hp.Float(LEARNING_RATE, lr.min, lr.max, sampling="log")
    if "weighted" in strategies:
        with hp.conditional_scope(STRATEGY, ["weighted"]):
            weights = _declare_weights(hp, heads, search)
    if "separate" in strategies:
        with hp.conditional_scope(STRATEGY, ["separate"]):
            for head in heads:
                rates[head] = hp.Float(
                    head_learning_rate_name(head), lr.min, lr.max, sampling="log"
                )
    if strategy == "weighted":
        return weighted_plan(heads, learning_rate=rate, epsilon=epsilon, weights=weights)
    if strategy == "separate":
        return separate_plan(rates, epsilon=epsilon)
    return single_optimizer_plan(strategy, learning_rate=rate, epsilon=epsilon)

"""The strategies' registry and the search space: from a study's search to a trial's plan.

Each strategy is one ``Strategy`` object in ``STRATEGIES`` (the built-ins of
``mtltune.model.strategy``, the methods of ``mtltune.model.methods``): it declares its
hyperparameters, reads its plan from a trial's values, groups the variables for its optimizers
and computes its total loss. Adding a strategy is one new class and one registry line here (and
its name in ``study.catalog``).

When a study allows several, ``strategy`` is itself a searched choice and each strategy's
hyperparameters live in a Keras Tuner conditional scope, so they exist only in its own trials.

Declaring and reading are apart: ``declare_space(hp, heads, search)`` writes the search space
on a Keras Tuner ``HyperParameters``; ``read_plan(values, heads, search)`` is a pure function
from a trial's hyperparameter values (a plain dict) to its ``TrainPlan``. ``TrainPlan`` and the
plans by hand (``weighted_plan``, ...) live in ``mtltune.model.plan`` and are importable from
here too, their public path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mtltune.model.methods import FAMO, DynamicWeightAverage, GradNorm, PCGrad
from mtltune.model.plan import (
    EPSILON,
    LEARNING_RATE,
    STRATEGY,
    TrainPlan,
    baseline_plan,
    head_learning_rate_name,
    loss_weight_name,
    normalise_weights,
    separate_plan,
    weighted_plan,
)
from mtltune.model.strategy import Geometric, Separate, Strategy, Uncertainty, Weighted
from mtltune.study import SearchConfig

__all__ = [
    "EPSILON",
    "LEARNING_RATE",
    "STRATEGIES",
    "STRATEGY",
    "Strategy",
    "TrainPlan",
    "baseline_plan",
    "declare",
    "declare_space",
    "head_learning_rate_name",
    "loss_weight_name",
    "normalise_weights",
    "read_plan",
    "separate_plan",
    "single_optimizer_plan",
    "strategy_of",
    "weighted_plan",
]

# The registry, in declaration order (the order hyperparameters are declared in a trial).
STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Weighted(),
        Separate(),
        Uncertainty(),
        Geometric(),
        DynamicWeightAverage(),
        GradNorm(),
        PCGrad(),
        FAMO(),
    )
}


def strategy_of(plan: TrainPlan) -> Strategy:
    """The strategy object of a plan.

    Raises:
        ValueError: If the plan names no registered strategy.
    """
    try:
        return STRATEGIES[plan.strategy]
    except KeyError:
        raise ValueError(
            f"unknown strategy {plan.strategy!r}; expected one of {', '.join(STRATEGIES)}"
        ) from None


def _within(value: float, bounds: Any) -> float:
    """``value`` clipped to a range's ``min`` and ``max``."""
    return float(min(max(value, bounds.min), bounds.max))


def declare_space(hp: Any, heads: Sequence[str], search: SearchConfig) -> None:
    """Declare the search space on a Keras Tuner ``HyperParameters``.

    Every allowed strategy's hyperparameters are declared (so the oracle knows the whole space)
    under a conditional scope on ``strategy``; only the active ones have values in a trial.
    ``read_plan`` reads a trial's plan from the values.

    Args:
        hp: A ``keras_tuner.HyperParameters``.
        heads: Head names.
        search: Ranges and allowed strategies.
    """
    strategies = list(search.strategies)
    if len(strategies) > 1:
        hp.Choice(STRATEGY, strategies)
    else:
        hp.Fixed(STRATEGY, strategies[0])
    # The defaults are the baseline's (clipped to the ranges): the equal-weights informed trial
    # of a TPEOracle given no start values takes them (mtltune.tuning.oracle).
    base = search.baseline
    eps = search.epsilon
    hp.Float(EPSILON, eps.min, eps.max, sampling="log", default=_within(base.epsilon, eps))
    lr = search.learning_rate
    one_rate = [s for s in strategies if STRATEGIES[s].shared_learning_rate]
    if one_rate:
        # One learning rate for every single-optimizer strategy.
        with hp.conditional_scope(STRATEGY, one_rate):
            hp.Float(
                LEARNING_RATE,
                lr.min,
                lr.max,
                sampling="log",
                default=_within(base.learning_rate, lr),
            )
    for name, each in STRATEGIES.items():
        if name in strategies:
            with hp.conditional_scope(STRATEGY, [name]):
                each.declare(hp, heads, search)


def read_plan(values: Mapping[str, Any], heads: Sequence[str], search: SearchConfig) -> TrainPlan:
    """The training plan of a trial, from its hyperparameter values (a pure function).

    Args:
        values: The trial's values as ``declare_space`` names them (``hp.values``, a record's).
        heads: Head names.
        search: The search the values come from (its strategies and ranges).

    Raises:
        KeyError: If a value the trial's strategy needs is missing.
        ValueError: If the values name no allowed strategy.
    """
    strategies = list(search.strategies)
    strategy = str(values.get(STRATEGY, strategies[0]))
    if strategy not in strategies:
        raise ValueError(f"strategy {strategy!r} is not searched; expected one of {strategies}")
    chosen = STRATEGIES[strategy]
    # A strategy without the shared rate ignores it (its own rates are among ``values``).
    rate = values[LEARNING_RATE] if chosen.shared_learning_rate else search.learning_rate.min
    return chosen.plan(heads, values, learning_rate=rate, epsilon=values[EPSILON])


def declare(hp: Any, heads: Sequence[str], search: SearchConfig) -> TrainPlan:
    """``declare_space`` on ``hp``, then ``read_plan`` of its values: a user's own ``build``."""
    declare_space(hp, heads, search)
    return read_plan(hp.values, heads, search)


def single_optimizer_plan(
    strategy: str,
    *,
    learning_rate: float,
    epsilon: float,
    settings: Mapping[str, float] | None = None,
) -> TrainPlan:
    """A one-Adam plan whose strategy sets the weights; ``settings`` missing take defaults."""
    if strategy not in STRATEGIES:
        return TrainPlan(strategy, epsilon, {"*": learning_rate}, settings={})
    chosen = STRATEGIES[strategy]
    return chosen.single_plan(learning_rate=learning_rate, epsilon=epsilon, settings=settings)

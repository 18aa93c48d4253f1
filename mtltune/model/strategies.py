"""Strategies: the hyperparameters each declares, and the training plan it yields.

``weighted``: one Adam on ``Σ_i w_i·L_i``; searches the K-1 ratios of the loss weights to the
first head's (log-uniform; the weights are then normalised to mean 1, since Adam ignores the
overall scale), one learning rate and epsilon.

``separate``: one Adam per head, each minimising its own ``L_i`` over the trunk and its head,
all applied every step; searches per-head learning rates and epsilon. It does not search loss
weights: with a per-head Adam a weight only acts like rescaling epsilon.

``uncertainty`` and ``geometric`` set the weights themselves (learned log-variances; the
geometric mean of the head losses): they search one learning rate and epsilon.

``dwa``, ``gradnorm``, ``pcgrad`` and ``famo`` (``mtltune.model.methods``): the multi-task
optimisation methods; one learning rate, epsilon and their own hyperparameters (``settings``).

When a study allows several, ``strategy`` is itself a searched choice and each strategy's
hyperparameters live in a Keras Tuner conditional scope, so they exist only in its own trials.

Each strategy is one ``Strategy`` object in ``STRATEGIES``: it declares its hyperparameters,
reads its plan from a trial's values, groups the variables for its optimizers and computes its
total loss. Adding a strategy is one new class and one registry line (and its name in
``study.catalog``). Nothing here imports TensorFlow: the loss is written against the tensor
operations the model passes in (``ops``: the ``tensorflow`` module).

Declaring and reading are apart: ``declare_space(hp, heads, search)`` writes the search space
on a Keras Tuner ``HyperParameters``; ``read_plan(values, heads, search)`` is a pure function
from a trial's hyperparameter values (a plain dict) to its ``TrainPlan``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mtltune.model.hooks import StepHooks
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
        """JSON-ready summary, for the report."""
        return strategy_of(self).describe(self)


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


def single_optimizer_plan(
    strategy: str,
    *,
    learning_rate: float,
    epsilon: float,
    settings: Mapping[str, float] | None = None,
) -> TrainPlan:
    """A one-Adam plan whose strategy sets the weights; ``settings`` missing take defaults."""
    own = {**STRATEGIES[strategy].defaults, **(settings or {})} if strategy in STRATEGIES else {}
    own = {k: float(v) for k, v in own.items()}
    return TrainPlan(strategy, epsilon, {"*": learning_rate}, settings=own)


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


class Strategy(StepHooks):
    """One strategy: its hyperparameters, its plan, its optimizers and its total loss.

    Subclasses set ``name`` and override what differs; the defaults describe a strategy with
    one Adam on all trainable variables at the shared ``learning_rate`` hyperparameter; the
    hooks of ``mtltune.model.hooks`` add a strategy's own step, state and per-epoch update.

    Attributes:
        name: The strategy's name in studies, plans and reports.
        shared_learning_rate: Whether its trials use the one ``learning_rate`` hyperparameter.
        learns_log_variances: Whether the model holds a learned log-variance per head.
        own_head_losses: Whether each optimizer minimises its own head's loss (one optimizer per
            group from ``groups``), rather than one optimizer minimising ``total``.
    """

    name: ClassVar[str]
    shared_learning_rate: ClassVar[bool] = True
    learns_log_variances: ClassVar[bool] = False
    own_head_losses: ClassVar[bool] = False

    def declare(self, hp: Any, heads: Sequence[str], search: SearchConfig) -> None:
        """Declare this strategy's own hyperparameters (inside its conditional scope)."""

    def plan(
        self,
        heads: Sequence[str],
        values: Mapping[str, Any],
        *,
        learning_rate: float,
        epsilon: float,
    ) -> TrainPlan:
        """The plan of a trial of this strategy, read from its hyperparameter values.

        Args:
            heads: Head names.
            values: The trial's hyperparameter values (names as ``declare`` declares them); the
                strategy's own settings are those named in ``defaults``.
            learning_rate: The shared ``learning_rate`` (unused without ``shared_learning_rate``).
            epsilon: Adam's epsilon.
        """
        settings = {k: float(values[k]) for k in self.defaults if k in values}
        return single_optimizer_plan(
            self.name, learning_rate=learning_rate, epsilon=epsilon, settings=settings
        )

    def describe(self, plan: TrainPlan) -> dict[str, Any]:
        """JSON-ready summary of ``plan``, for the report (with its settings, if any)."""
        described: dict[str, Any] = {
            "strategy": plan.strategy,
            "epsilon": plan.epsilon,
            "learning_rate": plan.learning_rates["*"],
        }
        if plan.settings:
            described["settings"] = dict(plan.settings)
        return described

    def learning_rates(self, plan: TrainPlan, heads: Sequence[str]) -> list[float]:
        """One learning rate per optimizer, in the order of ``groups`` (task weights' last)."""
        rates = [float(plan.learning_rates["*"])]
        if self.task_weights_init is not None:
            rates.append(self.weight_rate(plan))
        return rates

    def groups(
        self, variables: list[Any], heads: Sequence[str], reach: Callable[[], dict[str, set[int]]]
    ) -> list[list[Any]]:
        """The variables each optimizer updates.

        Args:
            variables: The model's trainable variables.
            heads: Head names, in the model's order.
            reach: Returns the ids of the variables each head's output depends on (computed
                only when called: it runs the model once).
        """
        return [variables]

    def total(
        self, ops: Any, stacked: Any, weights: Any, log_scale: Any, log_variances: Any
    ) -> Any:
        """What the strategy's single optimizer minimises (the weighted sum by default).

        Args:
            ops: The tensor operations (the ``tensorflow`` module).
            stacked: The head losses, stacked in head order.
            weights: The plan's loss weights, in head order.
            log_scale: Per head, whether its loss is already a log-likelihood.
            log_variances: The learned log-variances (``None`` unless ``learns_log_variances``).
        """
        return ops.reduce_sum(weights * stacked)


class Weighted(Strategy):
    """One Adam on ``Σ_i w_i·L_i``, searching the per-head loss weights."""

    name = "weighted"

    def declare(self, hp: Any, heads: Sequence[str], search: SearchConfig) -> None:
        """The raw loss weights: only their K-1 ratios matter (they are normalised to mean 1).

        The first head is the reference (raw weight fixed at 1); every other head's raw weight,
        its ratio to the reference, is searched log-uniformly over ``[min/max, max/min]``: the
        ratios that independent weights in ``[min, max]`` could take.
        """
        lw = search.loss_weight
        low, high = lw.min / lw.max, lw.max / lw.min
        hp.Fixed(loss_weight_name(heads[0]), 1.0)
        for head in heads[1:]:
            hp.Float(loss_weight_name(head), low, high, sampling="log")

    def plan(
        self,
        heads: Sequence[str],
        values: Mapping[str, Any],
        *,
        learning_rate: float,
        epsilon: float,
    ) -> TrainPlan:
        """A weighted plan with the trial's weights normalised to mean 1."""
        weights = {heads[0]: 1.0} | {h: values[loss_weight_name(h)] for h in heads[1:]}
        return weighted_plan(heads, learning_rate=learning_rate, epsilon=epsilon, weights=weights)

    def describe(self, plan: TrainPlan) -> dict[str, Any]:
        """The summary with the normalised loss weights."""
        return {**super().describe(plan), "loss_weights": dict(plan.loss_weights)}


class Separate(Strategy):
    """One Adam per head on the variables its output depends on, each on its own loss."""

    name = "separate"
    shared_learning_rate = False
    own_head_losses = True

    def declare(self, hp: Any, heads: Sequence[str], search: SearchConfig) -> None:
        """Declare one log-uniform learning rate per head."""
        lr = search.learning_rate
        for head in heads:
            hp.Float(head_learning_rate_name(head), lr.min, lr.max, sampling="log")

    def plan(
        self,
        heads: Sequence[str],
        values: Mapping[str, Any],
        *,
        learning_rate: float,
        epsilon: float,
    ) -> TrainPlan:
        """A separate plan with the trial's per-head learning rates."""
        rates = {h: values[head_learning_rate_name(h)] for h in heads}
        return separate_plan(rates, epsilon=epsilon)

    def describe(self, plan: TrainPlan) -> dict[str, Any]:
        """The summary with one learning rate per head."""
        return {
            "strategy": plan.strategy,
            "epsilon": plan.epsilon,
            "learning_rates": dict(plan.learning_rates),
        }

    def learning_rates(self, plan: TrainPlan, heads: Sequence[str]) -> list[float]:
        """One rate per head, in head order."""
        return [float(plan.learning_rates[h]) for h in heads]

    def groups(
        self, variables: list[Any], heads: Sequence[str], reach: Callable[[], dict[str, set[int]]]
    ) -> list[list[Any]]:
        """Per head, the trainable variables its output depends on."""
        reached = reach()
        return [[v for v in variables if id(v) in reached[h]] for h in heads]


class Uncertainty(Strategy):
    """One Adam on ``Σ_i exp(-s_i)·L_i + s_i`` with a learned log-variance ``s_i`` per head."""

    name = "uncertainty"
    learns_log_variances = True

    def total(
        self, ops: Any, stacked: Any, weights: Any, log_scale: Any, log_variances: Any
    ) -> Any:
        """Kendall et al.'s sum; a log-likelihood head keeps ``s_i = 0`` (weight 1)."""
        s = ops.where(log_scale, ops.zeros_like(log_variances), log_variances)
        return ops.reduce_sum(ops.exp(-s) * stacked + s)


class Geometric(Strategy):
    """One Adam on the geometric mean of the head losses."""

    name = "geometric"

    def total(
        self, ops: Any, stacked: Any, weights: Any, log_scale: Any, log_variances: Any
    ) -> Any:
        """``exp(mean_i log L_i)``; a log-likelihood head enters with ``L_i`` itself."""
        logs = ops.where(log_scale, stacked, ops.math.log(ops.maximum(stacked, 1e-12)))
        return ops.exp(ops.reduce_mean(logs))


# The registry, in declaration order (the order hyperparameters are declared in a trial).
STRATEGIES: dict[str, Strategy] = {
    s.name: s for s in (Weighted(), Separate(), Uncertainty(), Geometric())
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


import mtltune.model.methods  # noqa: E402, F401  (appends dwa, gradnorm, pcgrad, famo)

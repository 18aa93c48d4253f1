"""The ``Strategy`` base class and the four built-in strategies.

``weighted``: one Adam on ``Σ_i w_i·L_i``; searches the K-1 ratios of the loss weights to the
first head's (log-uniform; the weights are then normalised to mean 1, since Adam ignores the
overall scale), one learning rate and epsilon.

``separate``: one Adam per head, each minimising its own ``L_i`` over the trunk and its head,
all applied every step; searches per-head learning rates and epsilon. It does not search loss
weights: with a per-head Adam a weight only acts like rescaling epsilon.

``uncertainty`` and ``geometric`` set the weights themselves (learned log-variances; the
geometric mean of the head losses): they search one learning rate and epsilon.

The multi-task optimisation methods (``dwa``, ``gradnorm``, ``pcgrad``, ``famo``) are in
``mtltune.model.methods``; the registry of all of them and the search space in
``mtltune.model.strategies``. Nothing here imports TensorFlow: the loss is written against the
tensor operations the model passes in (``ops``: the ``tensorflow`` module).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from mtltune.model.hooks import StepHooks
from mtltune.model.plan import (
    TrainPlan,
    head_learning_rate_name,
    loss_weight_name,
    separate_plan,
    weighted_plan,
)
from mtltune.study import SearchConfig


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
        settings = {k: values[k] for k in self.defaults if k in values}
        return self.single_plan(learning_rate=learning_rate, epsilon=epsilon, settings=settings)

    def single_plan(
        self, *, learning_rate: float, epsilon: float, settings: Mapping[str, Any] | None = None
    ) -> TrainPlan:
        """A one-Adam plan of this strategy; settings missing from ``settings`` take defaults."""
        own = {k: float(v) for k, v in {**self.defaults, **(settings or {})}.items()}
        return TrainPlan(self.name, epsilon, {"*": learning_rate}, settings=own)

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

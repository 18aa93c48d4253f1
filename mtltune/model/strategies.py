"""Strategies: the hyperparameters each declares, and the training plan it yields.

``weighted``: one Adam on ``Σ_i w_i·L_i``; searches the K-1 ratios of the loss weights to the
first head's (log-uniform; the weights are then normalised to mean 1, since Adam ignores the
overall scale), one learning rate and epsilon.

``separate``: one Adam per head, each minimising its own ``L_i`` over the trunk and its head,
all applied every step; searches per-head learning rates and epsilon. It does not search loss
weights: with a per-head Adam a weight only acts like rescaling epsilon.

``uncertainty`` and ``geometric`` set the weights themselves (learned log-variances; the
geometric mean of the head losses): they search one learning rate and epsilon.

``dwa``, ``gradnorm``, ``pcgrad`` and ``famo`` are the multi-task optimisation methods of the
literature (Dynamic Weight Average, GradNorm, PCGrad, FAMO; each class names its paper). Each
searches the one learning rate and epsilon plus its own hyperparameters (``dwa_temperature``;
``gradnorm_alpha`` and ``gradnorm_weight_rate``; ``famo_weight_rate`` and ``famo_decay``),
kept in the plan's ``settings``. Their arithmetic is written here against ``ops``, in functions
the tests check against hand-made gradients and losses; the model runs it in its train step
(``Strategy.step``) with a ``StepContext``.

When a study allows several, ``strategy`` is itself a searched choice and each strategy's
hyperparameters live in a Keras Tuner conditional scope, so they exist only in its own trials.

Each strategy is one ``Strategy`` object in ``STRATEGIES``: it declares its hyperparameters,
builds its plan, groups the variables for its optimizers and computes its total loss. Adding a
strategy is one new class and one registry line (and its name in ``study.catalog``). Nothing here
imports TensorFlow: the loss is written against the tensor operations the model passes in
(``ops``: the ``tensorflow`` module).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

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
        strategy: A name in ``STRATEGIES``: ``weighted``, ``separate``, ``uncertainty``,
            ``geometric``, ``dwa``, ``gradnorm``, ``pcgrad`` or ``famo``.
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
    """A plan with one Adam whose strategy sets the weights (``uncertainty``, ``dwa``, ...).

    Args:
        strategy: The strategy's name.
        learning_rate: The network's learning rate.
        epsilon: Adam's epsilon.
        settings: The strategy's own hyperparameters; missing ones take its defaults.
    """
    own = {**STRATEGIES[strategy].defaults, **(settings or {})} if strategy in STRATEGIES else {}
    return TrainPlan(
        strategy=strategy,
        epsilon=epsilon,
        learning_rates={"*": learning_rate},
        settings={k: float(v) for k, v in own.items()},
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


class Strategy:
    """One strategy: its hyperparameters, its plan, its optimizers and its total loss.

    Subclasses set ``name`` and override what differs; the defaults describe a strategy with
    one Adam on all trainable variables at the shared ``learning_rate`` hyperparameter.

    Attributes:
        name: The strategy's name in studies, plans and reports.
        shared_learning_rate: Whether its trials use the one ``learning_rate`` hyperparameter.
        learns_log_variances: Whether the model holds a learned log-variance per head.
        own_head_losses: Whether each optimizer minimises its own head's loss (one optimizer per
            group from ``groups``), rather than one optimizer minimising ``total``.
        task_weights_init: If not ``None``, the model holds a trainable vector of one value per
            head starting there (``gradnorm``'s weights, ``famo``'s logits), updated by an
            optimizer of its own (the last of ``learning_rates``) inside ``step``.
        per_epoch: Whether the model calls ``end_epoch`` after each training epoch (``dwa``).
        own_step: Whether the model's train step is ``step`` (else one Adam on ``total``).
        per_head_gradients: Whether ``step`` takes per-head gradients (a persistent tape).
        defaults: The strategy's own hyperparameters' defaults (``TrainPlan.settings``).
    """

    name: ClassVar[str]
    shared_learning_rate: ClassVar[bool] = True
    learns_log_variances: ClassVar[bool] = False
    own_head_losses: ClassVar[bool] = False
    task_weights_init: ClassVar[float | None] = None
    per_epoch: ClassVar[bool] = False
    own_step: ClassVar[bool] = False
    per_head_gradients: ClassVar[bool] = False
    defaults: ClassVar[dict[str, float]] = {}

    def declare(self, hp: Any, heads: Sequence[str], search: SearchConfig) -> dict[str, float]:
        """Declare this strategy's own hyperparameters (inside its conditional scope).

        Returns:
            Their values in the current trial, keyed by head.
        """
        return {}

    def plan(
        self,
        heads: Sequence[str],
        values: Mapping[str, float],
        *,
        learning_rate: float,
        epsilon: float,
    ) -> TrainPlan:
        """The plan of a trial, from the values ``declare`` returned (its ``settings``)."""
        return single_optimizer_plan(
            self.name, learning_rate=learning_rate, epsilon=epsilon, settings=values
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
        """One learning rate per optimizer, in the order of ``groups``.

        A strategy with ``task_weights_init`` adds its weights' rate last (``weight_rate``).
        """
        rates = [float(plan.learning_rates["*"])]
        if self.task_weights_init is not None:
            rates.append(self.weight_rate(plan))
        return rates

    def weight_rate(self, plan: TrainPlan) -> float:
        """The learning rate of the optimizer of the task weights (``task_weights_init``)."""
        raise NotImplementedError(f"{self.name} has no task weights")

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

    def step(self, context: StepContext) -> Any:
        """One training step (``own_step``): compute and apply the gradients.

        Returns:
            The value logged as the step's ``loss`` (finite unless training diverged).
        """
        raise NotImplementedError(f"{self.name} trains by one Adam on its total")

    def end_epoch(self, ops: Any, state: Mapping[str, Any], weights: Any, log_scale: Any) -> None:
        """After each training epoch (``per_epoch``): update the state and the loss weights.

        Args:
            ops: The tensor operations.
            state: The model's ``strategy_state`` variables (``state_shapes``).
            weights: The variable of the loss weights ``total`` reads.
            log_scale: Per head, whether its loss is already a log-likelihood.
        """

    def state_shapes(self, heads: int) -> dict[str, tuple[int, ...]]:
        """The shapes of the state variables the model keeps for this strategy (zeros first).

        The model adds one scalar ``setting:<name>`` per ``defaults`` entry, holding the plan's
        value (variables, so a recycled model takes a new plan's without tracing again).
        """
        return {}

    def add_batch(self, ops: Any, state: Mapping[str, Any], losses: Any, rows: Any) -> None:
        """After each training batch (``per_epoch``): accumulate what ``end_epoch`` needs."""

    def shown_weights(self, ops: Any, task_weights: Any, loss_weights: Any) -> Any:
        """The weights logged as ``learned_weight_<head>`` each epoch (``None``: none).

        Args:
            ops: The tensor operations.
            task_weights: The model's task weights (``task_weights_init``), or ``None``.
            loss_weights: The loss weights ``total`` reads.
        """
        return None


@dataclass
class StepContext:
    """What a strategy's own training step (``Strategy.step``) works with; the model builds it.

    Attributes:
        ops: The tensor operations (the ``tensorflow`` module).
        tape: The gradient tape that recorded the forward pass (persistent when the strategy
            takes ``per_head_gradients``).
        losses: The head losses, stacked in head order.
        head_losses: The same, one scalar each, as the tape recorded them (differentiate these:
            an index into ``losses`` taken after the tape stopped has no gradient).
        total: The strategy's ``total`` plus the regularisation, recorded by the tape.
        regularisation: The model's regularisation losses, summed (a scalar).
        log_scale: Per head, whether its loss is already a log-likelihood.
        network: The network's trainable variables (the first optimizer's).
        shared: The variables every head's output depends on (the trunk), in model order.
        optimizers: The model's optimizers: the network's first, the task weights' last.
        task_weights: The strategy's trainable vector (``task_weights_init``), or ``None``.
        state: The strategy's state variables (``state_shapes``), by name.
        per_head_gradients: ``(tape, losses, variables) -> [[gradient per variable] per head]``
            (``None`` where a head's loss does not reach a variable).
        losses_after: Recomputes the stacked head losses of the same batch (after an update).
        step: The network optimizer's step count before this step (an integer tensor).
    """

    ops: Any
    tape: Any
    losses: Any
    head_losses: list[Any]
    total: Any
    regularisation: Any
    log_scale: Any
    network: list[Any]
    shared: list[Any]
    optimizers: list[Any]
    task_weights: Any
    state: Mapping[str, Any]
    per_head_gradients: Callable[[Any, Sequence[Any], Sequence[Any]], list[list[Any]]]
    losses_after: Callable[[], Any]
    step: Any


class Weighted(Strategy):
    """One Adam on ``Σ_i w_i·L_i``, searching the per-head loss weights."""

    name = "weighted"

    def declare(self, hp: Any, heads: Sequence[str], search: SearchConfig) -> dict[str, float]:
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

    def plan(
        self,
        heads: Sequence[str],
        values: Mapping[str, float],
        *,
        learning_rate: float,
        epsilon: float,
    ) -> TrainPlan:
        """A weighted plan with the trial's weights normalised to mean 1."""
        return weighted_plan(heads, learning_rate=learning_rate, epsilon=epsilon, weights=values)

    def describe(self, plan: TrainPlan) -> dict[str, Any]:
        """The summary with the normalised loss weights."""
        return {**super().describe(plan), "loss_weights": dict(plan.loss_weights)}


class Separate(Strategy):
    """One Adam per head on the variables its output depends on, each on its own loss."""

    name = "separate"
    shared_learning_rate = False
    own_head_losses = True

    def declare(self, hp: Any, heads: Sequence[str], search: SearchConfig) -> dict[str, float]:
        """Declare one log-uniform learning rate per head."""
        rates: dict[str, float] = {}
        lr = search.learning_rate
        for head in heads:
            rates[head] = hp.Float(head_learning_rate_name(head), lr.min, lr.max, sampling="log")
        return rates

    def plan(
        self,
        heads: Sequence[str],
        values: Mapping[str, float],
        *,
        learning_rate: float,
        epsilon: float,
    ) -> TrainPlan:
        """A separate plan with the trial's per-head learning rates."""
        return separate_plan(values, epsilon=epsilon)

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


# -- the multi-task optimisation methods --------------------------------------------------------

DWA_TEMPERATURE = "dwa_temperature"
GRADNORM_ALPHA = "gradnorm_alpha"
GRADNORM_WEIGHT_RATE = "gradnorm_weight_rate"
FAMO_WEIGHT_RATE = "famo_weight_rate"
FAMO_DECAY = "famo_decay"

#: Floor of a loss inside a logarithm or a ratio (FAMO's and LibMTL's ``1e-8``).
LOSS_FLOOR = 1e-8
#: Smallest GradNorm weight before renormalisation (the paper leaves weights positive).
GRADNORM_FLOOR = 1e-3


def loss_levels(ops: Any, losses: Any, log_scale: Any) -> Any:
    """Positive per-head loss levels for ratios: ``L_i``, or ``exp(L_i)`` for a log-likelihood.

    Ratios of negative log-likelihoods mean nothing; ``exp(L)`` is the likelihood's scale (the
    objective's ``exp(L)`` too).
    """
    return ops.where(log_scale, ops.exp(losses), ops.maximum(losses, LOSS_FLOOR))


def log_losses(ops: Any, losses: Any, log_scale: Any) -> Any:
    """``log L_i`` (floored), or ``L_i`` itself for a log-likelihood head (FAMO's ``log ℓ``)."""
    return ops.where(log_scale, losses, ops.math.log(ops.maximum(losses, LOSS_FLOOR)))


def dwa_weights(ops: Any, previous: Any, epochs: Any, temperature: Any) -> Any:
    """DWA's weights for the next epoch (Liu, Johns & Davison 2019, eq. 5).

    ``w_k = K·exp(r_k/T) / Σ_j exp(r_j/T)`` with ``r_k = L_k(t-1)/L_k(t-2)``; 1 while fewer than
    two epochs have ended (the paper's ``w_k(1) = w_k(2) = 1``).

    Args:
        ops: The tensor operations.
        previous: Shape ``(2, K)``: the last epoch's mean losses, then the one before's.
        epochs: How many epochs have ended (a float scalar).
        temperature: ``T``.
    """
    ratios = previous[0] / ops.maximum(previous[1], LOSS_FLOOR)
    k = ops.cast(ops.shape(ratios)[0], ratios.dtype)
    weights = k * ops.nn.softmax(ratios / temperature)
    return ops.where(epochs >= 2.0, weights, ops.ones_like(weights))


def gradnorm_weight_gradient(
    ops: Any, weights: Any, norms: Any, ratios: Any, alpha: Any
) -> tuple[Any, Any]:
    """GradNorm's gradient of ``L_grad`` with respect to the weights (Chen et al. 2018, eq. 2).

    ``G_i = w_i·‖∇_W L_i‖``, ``r_i = L̃_i / mean(L̃)`` with ``L̃_i = L_i(t)/L_i(0)``, and
    ``L_grad = Σ_i |G_i − mean(G)·r_i^α|`` with the target held constant, as the paper does:
    ``∂L_grad/∂w_i = sign(G_i − target_i)·‖∇_W L_i‖``.

    Args:
        ops: The tensor operations.
        weights: ``w``, shape ``(K,)``.
        norms: ``‖∇_W L_i‖`` at the last shared layer ``W`` (unweighted), shape ``(K,)``.
        ratios: ``L̃_i = L_i(t)/L_i(0)``, shape ``(K,)``.
        alpha: ``α``, the strength of the pull towards equal training rates.

    Returns:
        The gradient, and ``L_grad`` itself.
    """
    g = weights * norms
    relative = ratios / ops.reduce_mean(ratios)
    target = ops.stop_gradient(ops.reduce_mean(g) * relative**alpha)
    gap = g - target
    return ops.sign(gap) * norms, ops.reduce_sum(ops.abs(gap))


def renormalise(ops: Any, weights: Any) -> Any:
    """Positive weights rescaled to sum ``K`` (GradNorm's step after each update)."""
    positive = ops.maximum(weights, GRADNORM_FLOOR)
    k = ops.cast(ops.shape(positive)[0], positive.dtype)
    return k * positive / ops.reduce_sum(positive)


def pcgrad(ops: Any, grads: Any, seed: Any) -> Any:
    """PCGrad's combined gradient (Yu et al. 2020, Algorithm 1).

    Each head's gradient ``g_i`` is projected, in a random order of the other heads ``j``, off
    the plane normal to ``g_j`` wherever they conflict (``g_i·g_j < 0``):
    ``g_i ← g_i − (g_i·g_j)/‖g_j‖²·g_j`` (against the original ``g_j``); the results are summed.

    Args:
        ops: The tensor operations.
        grads: The per-head gradients, flattened: shape ``(K, P)`` (``K`` known when traced).
        seed: Two integers seeding this step's orders (stateless: the same seed, the same order).

    Returns:
        The combined gradient, shape ``(P,)``.
    """
    k = int(grads.shape[0])
    squared = ops.reduce_sum(grads * grads, axis=1)
    combined = []
    for i in range(k):
        keys = ops.random.stateless_uniform([k], seed=seed + ops.constant([0, i], seed.dtype))
        order = ops.argsort(keys)
        g = grads[i]
        for position in range(k):
            j = order[position]
            other = ops.gather(grads, j)
            dot = ops.reduce_sum(g * other)
            conflict = ops.logical_and(dot < 0.0, ops.not_equal(j, i))
            scale = ops.where(conflict, dot / ops.maximum(ops.gather(squared, j), 1e-20), 0.0)
            g = g - scale * other
        combined.append(g)
    return ops.add_n(combined)


def famo_objective(ops: Any, logits: Any, logs: Any) -> Any:
    """What FAMO's network step minimises (Liu et al. 2023, Algorithm 1).

    ``Σ_i c·z_i·log ℓ_i`` with ``z = softmax(ξ)`` and ``c = (Σ_i z_i/ℓ_i)⁻¹`` held constant: its
    gradient is FAMO's update direction ``d = Σ_i c·z_i/ℓ_i·∇ℓ_i``.

    Args:
        ops: The tensor operations.
        logits: ``ξ``, shape ``(K,)``.
        logs: ``log ℓ_i`` (``log_losses``), shape ``(K,)``.
    """
    z = ops.stop_gradient(ops.nn.softmax(logits))
    c = ops.stop_gradient(1.0 / ops.reduce_sum(z * ops.exp(-logs)))
    return c * ops.reduce_sum(z * logs)


def famo_logit_gradient(ops: Any, logits: Any, before: Any, after: Any, decay: Any) -> Any:
    """FAMO's gradient for the logits ``ξ`` (Liu et al. 2023, Algorithm 1).

    ``δ_i = log ℓ_i(θ_t) − log ℓ_i(θ_{t+1})`` (the same batch, before and after the step) and
    the gradient is ``J_softmax(ξ)ᵀ δ + γ ξ = z ⊙ (δ − zᵀδ) + γ ξ``. Descending it raises the
    weight of the heads whose log loss fell least.

    Args:
        ops: The tensor operations.
        logits: ``ξ``, shape ``(K,)``.
        before: ``log ℓ`` before the network's step.
        after: ``log ℓ`` after it, on the same batch.
        decay: ``γ``.
    """
    z = ops.nn.softmax(logits)
    delta = ops.stop_gradient(before - after)
    return z * (delta - ops.reduce_sum(z * delta)) + decay * logits


class DynamicWeightAverage(Strategy):
    """DWA (Liu, Johns & Davison 2019, "End-to-End Multi-Task Learning with Attention", CVPR).

    One Adam on ``Σ_k w_k·L_k`` whose weights change once per epoch: ``w_k = K·softmax(r/T)_k``
    with ``r_k`` the ratio of head ``k``'s mean training loss over the last two epochs, so a
    head whose loss falls slowly gets more weight; weights 1 for the first two epochs.
    Searches the temperature ``T`` (``search.methods.dwa_temperature``, log-uniform, by default
    in ``[0.5, 20]``; the paper's ``T = 2`` is the default value), the learning rate and epsilon.
    """

    name = "dwa"
    per_epoch = True
    defaults: ClassVar[dict[str, float]] = {DWA_TEMPERATURE: 2.0}

    def declare(self, hp: Any, heads: Sequence[str], search: SearchConfig) -> dict[str, float]:
        """Declare the temperature ``T`` (``search.methods.dwa_temperature``)."""
        return _declare_own(hp, search, self.defaults)

    def state_shapes(self, heads: int) -> dict[str, tuple[int, ...]]:
        """The epoch's loss sums and rows, the last two epochs' mean losses, epochs ended."""
        return {"sums": (heads,), "rows": (), "previous": (2, heads), "epochs": ()}

    def add_batch(self, ops: Any, state: Mapping[str, Any], losses: Any, rows: Any) -> None:
        """Add a training batch's head losses to the epoch's sums."""
        state["sums"].assign_add(ops.cast(losses, state["sums"].dtype) * rows)
        state["rows"].assign_add(rows)

    def end_epoch(self, ops: Any, state: Mapping[str, Any], weights: Any, log_scale: Any) -> None:
        """Roll the loss history by the epoch's mean losses and set the next epoch's weights."""
        rows = state["rows"].read_value()
        ended = rows > 0.0
        mean = loss_levels(ops, state["sums"].read_value() / ops.maximum(rows, 1.0), log_scale)
        previous = state["previous"].read_value()
        previous = ops.where(ended, ops.stack([mean, previous[0]]), previous)
        epochs = state["epochs"].read_value() + ops.cast(ended, "float32")
        state["previous"].assign(previous)
        state["epochs"].assign(epochs)
        state["sums"].assign(ops.zeros_like(state["sums"]))
        state["rows"].assign(0.0)
        weights.assign(dwa_weights(ops, previous, epochs, state["setting:" + DWA_TEMPERATURE]))

    def shown_weights(self, ops: Any, task_weights: Any, loss_weights: Any) -> Any:
        """The weights of the epoch."""
        return ops.identity(loss_weights)


class GradNorm(Strategy):
    """GradNorm (Chen, Badrinarayanan, Lee & Rabinovich 2018, ICML).

    One Adam on ``Σ_i w_i·L_i`` for the network; the weights ``w`` (starting at 1) are trained
    by an Adam of their own on ``L_grad = Σ_i |G_i − mean(G)·r_i^α|``, where ``G_i`` is the norm
    of the gradient of ``w_i·L_i`` at the last shared layer's kernel and ``r_i`` the head's
    relative inverse training rate ``(L_i(t)/L_i(0))/mean``; after each step the weights are
    renormalised to sum ``K``. Searches ``α`` (log-uniform, by default in ``[0.05, 3]``; the
    paper uses 0.12 to 1.5, LibMTL defaults to 1.5, the default value here), the weights'
    learning rate (log-uniform in ``[1e-3, 1e-1]``, default 0.01; the paper trains them with
    the network's optimizer), the learning rate and epsilon. ``L_i(0)``: the first step's
    batch loss.
    """

    name = "gradnorm"
    task_weights_init = 1.0
    own_step = True
    per_head_gradients = True
    defaults: ClassVar[dict[str, float]] = {GRADNORM_ALPHA: 1.5, GRADNORM_WEIGHT_RATE: 0.01}

    def declare(self, hp: Any, heads: Sequence[str], search: SearchConfig) -> dict[str, float]:
        """Declare ``α`` and the weights' learning rate (``search.methods``)."""
        return _declare_own(hp, search, self.defaults)

    def weight_rate(self, plan: TrainPlan) -> float:
        """The weights' learning rate."""
        return float(plan.settings[GRADNORM_WEIGHT_RATE])

    def state_shapes(self, heads: int) -> dict[str, tuple[int, ...]]:
        """The initial loss levels ``L_i(0)``."""
        return {"initial": (heads,)}

    def step(self, context: StepContext) -> Any:
        """Network step on ``Σ w_i L_i``, weight step on ``L_grad``, then renormalisation."""
        ops, losses, state = context.ops, context.losses, context.state
        weights = context.task_weights
        levels = loss_levels(ops, losses, context.log_scale)
        initial = ops.where(ops.equal(context.step, 0), levels, state["initial"].read_value())
        state["initial"].assign(initial)
        layer = last_shared_kernel(context.shared)
        per_head = context.per_head_gradients(context.tape, context.head_losses, [layer])
        norms = ops.stack(
            [ops.norm(g[0]) if g[0] is not None else ops.constant(0.0) for g in per_head]
        )
        total = context.total  # Σ w_i L_i (+ regularisation)
        grads = context.tape.gradient(total, context.network)
        weight_grad, _ = gradnorm_weight_gradient(
            ops, weights.value, norms, levels / initial, state["setting:" + GRADNORM_ALPHA]
        )
        context.optimizers[0].apply(grads, context.network)
        context.optimizers[-1].apply([weight_grad], [weights])
        weights.assign(renormalise(ops, weights.value))
        return total

    def shown_weights(self, ops: Any, task_weights: Any, loss_weights: Any) -> Any:
        """The learned weights (summing to ``K``)."""
        return ops.identity(task_weights)


class PCGrad(Strategy):
    """PCGrad, gradient surgery (Yu, Kumar, Gupta, Levine, Hausman & Finn 2020, NeurIPS).

    The trunk's per-head gradients are each projected off the others they conflict with
    (negative inner product), in a random order per head and step, and summed; the heads' own
    layers take their loss's gradient. One Adam applies the result. No weights; searches the
    learning rate and epsilon (the paper has no hyperparameter of its own).
    """

    name = "pcgrad"
    own_step = True
    per_head_gradients = True

    def step(self, context: StepContext) -> Any:
        """Project the trunk's per-head gradients, add the heads' own, apply one Adam."""
        ops = context.ops
        shared = context.shared
        ids = {id(v) for v in shared}
        rest = [v for v in context.network if id(v) not in ids]
        per_head = context.per_head_gradients(context.tape, context.head_losses, shared)
        flat = ops.stack(
            [
                ops.concat(
                    [
                        ops.reshape(g if g is not None else ops.zeros_like(v), [-1])
                        for g, v in zip(grads, shared, strict=True)
                    ],
                    0,
                )
                for grads in per_head
            ]
        )
        seed = ops.stack([ops.cast(context.step, "int64"), ops.constant(0, "int64")])
        combined = pcgrad(ops, flat, seed)
        sizes = [int(math.prod(v.shape)) for v in shared]
        shared_grads = [
            ops.reshape(piece, v.shape)
            for piece, v in zip(ops.split(combined, sizes), shared, strict=True)
        ]
        regularised = context.tape.gradient(context.regularisation, shared)
        shared_grads = [
            g if r is None else g + r for g, r in zip(shared_grads, regularised, strict=True)
        ]
        total = context.total  # Σ L_i (+ regularisation): pcgrad's loss weights are all 1
        rest_grads = context.tape.gradient(total, rest) if rest else []
        context.optimizers[0].apply([*shared_grads, *rest_grads], [*shared, *rest])
        return total


class FAMO(Strategy):
    """FAMO, fast adaptive multitask optimisation (Liu, Liu, Stone & Liu 2023, NeurIPS).

    O(1) per step: one backward pass of ``c·Σ_i z_i·log ℓ_i`` with ``z = softmax(ξ)``; then
    the logits ``ξ`` (starting at 0) take a step of their own Adam on ``z ⊙ (δ − zᵀδ) + γξ``,
    ``δ`` the fall of each head's log loss on the same batch over the network's step (one extra
    forward pass), as in the paper's Algorithm 1 and the authors' code (which applies it with
    Adam, weight decay ``γ``). Searches the logits' step size ``β`` (log-uniform in
    ``[1e-3, 1e-1]``; paper default 0.025), the decay ``γ`` (log-uniform in ``[1e-4, 1e-1]``;
    paper default 1e-3), the learning rate and epsilon. Logged weights: ``K·z``.
    """

    name = "famo"
    task_weights_init = 0.0
    own_step = True
    defaults: ClassVar[dict[str, float]] = {FAMO_WEIGHT_RATE: 0.025, FAMO_DECAY: 1e-3}

    def declare(self, hp: Any, heads: Sequence[str], search: SearchConfig) -> dict[str, float]:
        """Declare the logits' step size and decay (``search.methods``)."""
        return _declare_own(hp, search, self.defaults)

    def weight_rate(self, plan: TrainPlan) -> float:
        """The logits' step size ``β``."""
        return float(plan.settings[FAMO_WEIGHT_RATE])

    def total(
        self, ops: Any, stacked: Any, weights: Any, log_scale: Any, log_variances: Any
    ) -> Any:
        """``c·Σ_i z_i·log ℓ_i`` (``weights``: the logits ``ξ``)."""
        return famo_objective(ops, weights, log_losses(ops, stacked, log_scale))

    def step(self, context: StepContext) -> Any:
        """Network step on FAMO's objective, then the logits' step from the losses' fall."""
        ops = context.ops
        logits = context.task_weights
        before = log_losses(ops, context.losses, context.log_scale)
        total = context.total  # famo_objective (+ regularisation), from ``total``
        context.optimizers[0].apply(context.tape.gradient(total, context.network), context.network)
        after = log_losses(ops, context.losses_after(), context.log_scale)
        gradient = famo_logit_gradient(
            ops, logits.value, before, after, context.state["setting:" + FAMO_DECAY]
        )
        context.optimizers[-1].apply([gradient], [logits])
        return total

    def shown_weights(self, ops: Any, task_weights: Any, loss_weights: Any) -> Any:
        """``K·softmax(ξ)``: the weights on the log losses, mean 1."""
        k = ops.cast(ops.shape(task_weights)[0], "float32")
        return k * ops.nn.softmax(task_weights)


def _declare_own(hp: Any, search: SearchConfig, defaults: Mapping[str, float]) -> dict[str, float]:
    """Declare a method's own hyperparameters, log-uniform over ``search.methods``' ranges.

    Each defaults to the paper's value (``defaults``), clipped to its range.
    """
    values = {}
    for name, default in defaults.items():
        bounds = getattr(search.methods, name)
        values[name] = hp.Float(
            name, bounds.min, bounds.max, sampling="log", default=_within(default, bounds)
        )
    return values


def last_shared_kernel(shared: Sequence[Any]) -> Any:
    """The last shared variable of rank 2 or more (the last shared layer's kernel), or the last.

    Raises:
        ValueError: If no variable is shared by every head.
    """
    if not shared:
        raise ValueError("gradnorm needs layers shared by every head (a trunk)")
    kernels = [v for v in shared if len(v.shape) >= 2]
    return (kernels or list(shared))[-1]


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
    # The defaults are the baseline's (clipped to the ranges): the equal-weights informed trial
    # of a TPEOracle given no start values takes them (mtltune.tuning.oracle).
    base = search.baseline
    eps = search.epsilon
    epsilon = hp.Float(
        EPSILON, eps.min, eps.max, sampling="log", default=_within(base.epsilon, eps)
    )
    lr = search.learning_rate
    rate = lr.min
    one_rate = [s for s in strategies if STRATEGIES[s].shared_learning_rate]
    if one_rate:
        # One learning rate for every single-optimizer strategy.
        with hp.conditional_scope(STRATEGY, one_rate):
            rate = hp.Float(
                LEARNING_RATE,
                lr.min,
                lr.max,
                sampling="log",
                default=_within(base.learning_rate, lr),
            )
    values: dict[str, dict[str, float]] = {}
    for name, each in STRATEGIES.items():
        if name in strategies:
            with hp.conditional_scope(STRATEGY, [name]):
                values[name] = each.declare(hp, heads, search)
    return STRATEGIES[strategy].plan(heads, values[strategy], learning_rate=rate, epsilon=epsilon)

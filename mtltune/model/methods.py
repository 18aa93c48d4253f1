"""DWA, GradNorm, PCGrad and FAMO: the multi-task optimisation methods as strategies.

Each is one ``Strategy`` (``mtltune.model.strategies``) that declares its own hyperparameters in
its conditional scope (ranges in ``search.methods``, defaults the papers'), keeps them in the
plan's ``settings``, and trains by its own step (``Strategy.step``, given a ``StepContext``) or
per-epoch update, using the arithmetic of ``mtltune.model.balancing``. Importing this module
appends them to ``STRATEGIES`` (``mtltune.model.strategies`` does, at its end). Nothing here
imports TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from mtltune.model.balancing import (
    dwa_weights,
    famo_logit_gradient,
    famo_objective,
    gradnorm_weight_gradient,
    last_shared_kernel,
    log_losses,
    loss_levels,
    pcgrad,
    renormalise,
)
from mtltune.model.hooks import StepContext
from mtltune.model.plan import TrainPlan
from mtltune.model.strategy import Strategy
from mtltune.study import SearchConfig

DWA_TEMPERATURE = "dwa_temperature"
GRADNORM_ALPHA = "gradnorm_alpha"
GRADNORM_WEIGHT_RATE = "gradnorm_weight_rate"
FAMO_WEIGHT_RATE = "famo_weight_rate"
FAMO_DECAY = "famo_decay"


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

    def declare(self, hp: Any, heads: Sequence[str], search: SearchConfig) -> None:
        """Declare the temperature ``T`` (``search.methods.dwa_temperature``)."""
        _declare_own(hp, search, self.defaults)

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

    def declare(self, hp: Any, heads: Sequence[str], search: SearchConfig) -> None:
        """Declare ``α`` and the weights' learning rate (``search.methods``)."""
        _declare_own(hp, search, self.defaults)

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
        (batched,) = context.per_head_gradients(context.tape, losses, [layer])  # [K, *shape]
        norms = ops.norm(ops.reshape(batched, [ops.shape(batched)[0], -1]), axis=1)
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
        batched = context.per_head_gradients(context.tape, context.losses, shared)
        heads = int(context.losses.shape[0])
        flat = ops.concat([ops.reshape(g, [heads, -1]) for g in batched], 1)  # [K, P]
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

    def declare(self, hp: Any, heads: Sequence[str], search: SearchConfig) -> None:
        """Declare the logits' step size and decay (``search.methods``)."""
        _declare_own(hp, search, self.defaults)

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


def _within(value: float, bounds: Any) -> float:
    """``value`` clipped to a range's ``min`` and ``max``."""
    return float(min(max(value, bounds.min), bounds.max))

"""What a strategy may do beyond one Adam on its total: the hooks of ``Strategy``.

``mtltune.model.strategy.Strategy`` inherits them; their defaults do nothing, so a strategy
that trains by one Adam on ``total`` needs none. ``dwa``, ``gradnorm``, ``pcgrad`` and ``famo``
(``mtltune.model.methods``) use them: their own state and settings (variables the model keeps),
a trainable vector of task weights with an Adam of its own, their own train step (given a
``StepContext``), an update after each epoch, and the weights to log. Nothing here imports
TensorFlow: the model passes the tensor operations in (``ops``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from mtltune.model.plan import TrainPlan


class StepHooks:
    """The hooks, with defaults that do nothing.

    Attributes:
        task_weights_init: If not ``None``, the model holds a trainable vector of one value per
            head starting there (``gradnorm``'s weights, ``famo``'s logits), updated by an
            optimizer of its own (the last of ``learning_rates``) inside ``step``.
        per_epoch: Whether the model calls ``add_batch`` after each training batch and
            ``end_epoch`` after each training epoch (``dwa``).
        own_step: Whether the model's train step is ``step`` (else one Adam on ``total``).
        per_head_gradients: Whether ``step`` takes per-head gradients (a persistent tape).
        defaults: The strategy's own hyperparameters' defaults (``TrainPlan.settings``).
    """

    name: ClassVar[str]
    task_weights_init: ClassVar[float | None] = None
    per_epoch: ClassVar[bool] = False
    own_step: ClassVar[bool] = False
    per_head_gradients: ClassVar[bool] = False
    defaults: ClassVar[dict[str, float]] = {}

    def weight_rate(self, plan: TrainPlan) -> float:
        """The learning rate of the optimizer of the task weights (``task_weights_init``)."""
        raise NotImplementedError(f"{self.name} has no task weights")

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
        losses: The head losses, stacked in head order (shape ``[K]``), as the tape recorded
            them.
        total: The strategy's ``total`` plus the regularisation, recorded by the tape.
        regularisation: The model's regularisation losses, summed (a scalar).
        log_scale: Per head, whether its loss is already a log-likelihood.
        network: The network's trainable variables (the first optimizer's).
        shared: The variables every head's output depends on (the trunk), in model order.
        optimizers: The model's optimizers: the network's first, the task weights' last.
        task_weights: The strategy's trainable vector (``task_weights_init``), or ``None``.
        state: The strategy's state variables (``state_shapes``), by name.
        per_head_gradients: ``(tape, losses, variables) -> [gradients per variable]``, each
            ``[K, *variable.shape]``, row ``k`` the gradient of ``losses[k]`` (zeros where a
            head's loss does not reach the variable): ``mtltune.model.gradients``.
        losses_after: Recomputes the stacked head losses of the same batch (after an update).
        step: The network optimizer's step count before this step (an integer tensor).
    """

    ops: Any
    tape: Any
    losses: Any
    total: Any
    regularisation: Any
    log_scale: Any
    network: list[Any]
    shared: list[Any]
    optimizers: list[Any]
    task_weights: Any
    state: Mapping[str, Any]
    per_head_gradients: Callable[[Any, Any, Sequence[Any]], list[Any]]
    losses_after: Callable[[], Any]
    step: Any

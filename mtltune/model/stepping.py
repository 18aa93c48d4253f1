"""What ``MultiTaskModel`` keeps and builds for a strategy's hooks (``mtltune.model.hooks``).

A strategy with ``task_weights_init`` gets a trainable vector of task weights (a model weight,
so its own Adam can update it; the exported network does not hold it); every strategy gets its
state variables and one scalar variable per setting (``setting:<name>``), plain TensorFlow
variables as the loss weights are, so a recycled model takes a new plan's without tracing its
steps again; and a strategy with its own step gets a ``StepContext`` each step.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from mtltune.model.gradients import per_head_gradients
from mtltune.model.hooks import StepContext
from mtltune.model.plan import TrainPlan

#: The model these helpers serve: a ``mtltune.model.multitask.MultiTaskModel``, typed as its
#: Keras base so that this module, which multitask.py imports, does not import it back.
MultiTaskModel = keras.Model

#: Prefix of a setting's variable in ``strategy_state``.
SETTING = "setting:"


def strategy_variables(
    model: MultiTaskModel, plan: TrainPlan
) -> tuple[keras.Variable | None, dict[str, tf.Variable]]:
    """Create the model's task weights (or ``None``) and its strategy's state, set for ``plan``."""
    strategy, k = model.strategy, len(model.head_names)
    weights = None
    if strategy.task_weights_init is not None:
        weights = model.add_weight(
            shape=(k,),
            initializer=keras.initializers.Constant(strategy.task_weights_init),
            name="task_weights",
        )
    shapes = strategy.state_shapes(k)
    shapes.update({SETTING + name: () for name in strategy.defaults})
    state = {
        name: tf.Variable(tf.zeros(shape), trainable=False, name=name.replace(":", "_"))
        for name, shape in shapes.items()
    }
    _assign(state, weights, strategy.task_weights_init, plan)
    return weights, state


def reset(model: MultiTaskModel, plan: TrainPlan) -> None:
    """Zero the strategy's state; its settings and task weights take ``plan``'s start."""
    _assign(model.strategy_state, model.task_weights, model.strategy.task_weights_init, plan)


def _assign(
    state: dict[str, tf.Variable], weights: Any, start: float | None, plan: TrainPlan
) -> None:
    for name, variable in state.items():
        if name.startswith(SETTING):
            variable.assign(float(plan.settings[name.removeprefix(SETTING)]))
        else:
            variable.assign(tf.zeros_like(variable))
    if weights is not None:
        weights.assign(tf.fill(weights.shape, float(start or 0.0)))


def context(
    model: MultiTaskModel,
    tape: tf.GradientTape,
    losses: tf.Tensor,
    total: tf.Tensor,
    regularisation: tf.Tensor,
    batch: tuple[Any, Any],
) -> StepContext:
    """What a strategy's own step works with (see ``StepContext``), for one batch."""
    x, y = batch
    return StepContext(
        ops=tf,
        tape=tape,
        losses=losses,
        total=total,
        regularisation=regularisation,
        log_scale=model._log_scale,
        network=model._variable_groups[0],
        shared=model._shared,
        optimizers=model.head_optimizers,
        task_weights=model.task_weights,
        state=model.strategy_state,
        per_head_gradients=per_head_gradients,
        losses_after=lambda: model.forward(x, y, training=True)[0],
        step=model.head_optimizers[0].iterations,
    )

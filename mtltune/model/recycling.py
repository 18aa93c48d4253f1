"""Recycling a trained ``MultiTaskModel`` for a new plan, its traced steps kept.

A search trains many models of one architecture; tracing a model's steps costs more than a
short trial. ``recycle`` turns a used model into a freshly built one for another plan of the
same strategy: the network's initial weights from a newly built network, zeroed optimizer
moments and step counts, the plan's learning rates, epsilon, loss weights and the strategy's
state (``mtltune.tuning.reuse`` decides when).
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from mtltune.model import stepping
from mtltune.model.plan import TrainPlan


def recycle(model: Any, net: keras.Model, plan: TrainPlan) -> None:
    """Make ``model`` (a ``MultiTaskModel``) a freshly built model for ``plan``.

    Every variable of the wrapped network takes its value in ``net`` (a freshly built network
    of the same architecture: its initial weights), the optimizers' moments and step counts are
    zeroed, and the plan's learning rates, epsilon and loss weights are set. The optimizers
    stay built on the same variables, as a fresh compile would build them.

    Raises:
        ValueError: If the strategy or the network's variables differ.
    """
    if plan.strategy != model.plan.strategy:
        raise ValueError(
            f"a {model.plan.strategy!r} model cannot be recycled for a {plan.strategy!r} plan"
        )
    mine, fresh = model.net.variables, net.variables
    if [tuple(v.shape) for v in mine] != [tuple(v.shape) for v in fresh]:
        raise ValueError("the new network's variables differ from the recycled model's")
    for target, source in zip(mine, fresh, strict=True):
        target.assign(source.value)
    rates = model.strategy.learning_rates(plan, model.head_names)
    for opt, rate in zip(model.head_optimizers, rates, strict=True):
        for variable in opt.variables:
            if variable is opt.iterations:
                variable.assign(0)
            elif variable is not opt.learning_rate:
                variable.assign(tf.zeros_like(variable))
        opt.learning_rate = rate
    model.set_plan_values(plan)
    if model.log_variances is not None:
        model.log_variances.assign(tf.zeros_like(model.log_variances))
    stepping.reset(model, plan)
    model.plan = plan
    model.stop_training = False

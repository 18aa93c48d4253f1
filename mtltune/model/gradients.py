"""Per-head gradients: each head's loss differentiated on its own, in few backward passes.

Strategies that give each head its own update of the shared trunk (``separate``: one Adam per
head; gradient surgery such as PCGrad, GradNorm's per-head gradient norms) need ``∂L_k/∂θ``
for every head ``k`` and every shared variable ``θ``, not only ``∂(Σ_k w_k·L_k)/∂θ``. One
``tape.gradient`` per scalar head loss needs K losses, K graphs of head outputs and losses;
here the K gradients come from the one stacked loss vector, either as K backward passes over
its unit cotangents (the default: the fastest measured on a CPU) or as one backward pass
vectorised over them (``vectorized=True``: TensorFlow's ``pfor``, ``GradientTape.jacobian``).
The variables each head reaches alone (its own layers) need no per-head pass at all: one
backward pass of the summed losses gives every head its own (``summed_gradients``). The
arithmetic of the shared variables' gradients grows with K whatever the method (every head's
gradient of every trunk weight is a full matrix product).

The interface every multi-task strategy builds on (``mtltune.model.multitask.MultiTaskModel``):

* the **stacked loss vector** ``losses`` (shape ``[K]``, head order, what
  ``MultiTaskModel.train_batch`` returns), computed under a ``tf.GradientTape``;
* ``per_head_gradients(tape, losses, shared)``: for each variable ``θ`` in ``shared``, one
  tensor ``[K, *θ.shape]`` whose row ``k`` is ``∂losses[k]/∂θ`` (zeros where head ``k`` does not
  reach ``θ``);
* ``summed_gradients(tape, losses, own)``: for variables each reached by one head only (a head's
  own layers), ``∂(Σ_k losses[k])/∂θ`` *is* that head's gradient: one ordinary backward pass
  for all the heads' own variables;
* ``split_by_reach(groups)``: which variables of the per-head groups are shared (reached by two
  heads or more) and which are one head's own.

Example (one Adam per head, as ``separate`` trains)::

    with tf.GradientTape(persistent=True) as tape:
        outputs = model(x, training=True)
        losses = tf.stack([loss_k(y[k], outputs[k]) for k in heads])  # [K]
    shared, own = split_by_reach(groups)             # groups[k]: head k's variables
    batched = per_head_gradients(tape, losses, shared)  # [K, ...] per shared variable
    singles = summed_gradients(tape, losses, own)       # head k's own gradients
    for k, (optimizer, group) in enumerate(zip(optimizers, groups)):
        grads = gradients_of_head(k, group, shared, batched, own, singles)
        optimizer.apply(grads, group)

The tape must be ``persistent=True`` (the functions take several passes over it). Call them
inside a ``tf.function``: the passes are built once, at trace time.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf


def per_head_gradients(
    tape: tf.GradientTape, losses: tf.Tensor, variables: Sequence[Any], *, vectorized: bool = False
) -> list[tf.Tensor]:
    """Every head's gradient of every variable, batched: ``[K, *variable.shape]`` each.

    Args:
        tape: The persistent tape that recorded ``losses``.
        losses: The stacked per-head losses, shape ``[K]`` (K known when traced).
        variables: Variables (Keras or TensorFlow) the heads share.
        vectorized: ``False`` (default): K backward passes of the stacked vector, one per unit
            cotangent, in one graph; ``True``: one backward pass vectorised over the K
            cotangents (``GradientTape.jacobian`` with ``pfor``). Both give the same gradients;
            on a 2-core CPU (a 3 × Dense(128) trunk, batch 64) the vectorised pass took
            1.06-1.44 × the K passes' time at 5 heads and 1.11-1.25 × at 20 over four runs
            (``python benchmarks/run.py --parts heads --heads-parts variants``): its batched
            matrix products cost more than the K plain ones they replace.

    Returns:
        One tensor per variable, row ``k`` the gradient of ``losses[k]``; zeros where the loss
        does not depend on the variable.
    """
    if not variables:
        return []
    sources = [_tf_variable(v) for v in variables]
    zero = tf.UnconnectedGradients.ZERO
    if vectorized:
        return tape.jacobian(
            losses, sources, unconnected_gradients=zero, experimental_use_pfor=True
        )
    heads = int(losses.shape[0])
    rows = [
        tape.gradient(
            losses,
            sources,
            output_gradients=tf.one_hot(k, heads, dtype=losses.dtype),
            unconnected_gradients=zero,
        )
        for k in range(heads)
    ]
    return [tf.stack([row[i] for row in rows]) for i in range(len(sources))]


def summed_gradients(
    tape: tf.GradientTape, losses: tf.Tensor, variables: Sequence[Any], extra: Any = 0.0
) -> list[tf.Tensor | None]:
    """The gradient of ``Σ_k losses[k] + extra``: each head's own where one head reaches a variable.

    Args:
        tape: The tape that recorded ``losses``.
        losses: The stacked per-head losses, shape ``[K]``.
        variables: Variables each reached by one head only.
        extra: A term every head's loss shares (a regularisation loss, recorded by ``tape``),
            added once.

    Returns:
        One gradient per variable (``None`` where nothing reaches it).
    """
    if not variables:
        return []
    # Cotangents of ones: the sum's gradient without an op the tape may not have recorded.
    targets, cotangents = [losses], [tf.ones_like(losses)]
    if isinstance(extra, tf.Tensor):
        targets.append(extra)
        cotangents.append(tf.ones_like(extra))
    return tape.gradient(targets, [_tf_variable(v) for v in variables], output_gradients=cotangents)


def split_by_reach(groups: Sequence[Sequence[Any]]) -> tuple[list[Any], list[Any]]:
    """The variables of per-head groups split into shared (≥ 2 heads) and own (1 head).

    Args:
        groups: Per head, the variables its loss depends on.

    Returns:
        ``(shared, own)``, each in first-seen order.
    """
    count: dict[int, int] = {}
    first: dict[int, Any] = {}
    for group in groups:
        for variable in group:
            count[id(variable)] = count.get(id(variable), 0) + 1
            first.setdefault(id(variable), variable)
    shared = [v for i, v in first.items() if count[i] > 1]
    own = [v for i, v in first.items() if count[i] == 1]
    return shared, own


def gradients_of_head(
    head: int,
    group: Sequence[Any],
    shared: Sequence[Any],
    batched: Sequence[tf.Tensor],
    own: Sequence[Any],
    singles: Sequence[tf.Tensor | None],
) -> list[tf.Tensor | None]:
    """Head ``head``'s gradients of the variables in ``group``, in ``group``'s order.

    Args:
        head: The head's index in the stacked losses.
        group: The head's variables.
        shared: The shared variables, as ``split_by_reach`` returned them.
        batched: ``per_head_gradients`` of ``shared``.
        own: The heads' own variables.
        singles: ``summed_gradients`` of ``own``.
    """
    rows = {id(v): g[head] for v, g in zip(shared, batched, strict=True)}
    rows.update({id(v): g for v, g in zip(own, singles, strict=True)})
    return [rows[id(v)] for v in group]


def _tf_variable(variable: Any) -> Any:
    """The TensorFlow variable behind a Keras variable (what a tape watches)."""
    return getattr(variable, "value", variable)


def variables_reached(model: Any) -> dict[str, set[int]]:
    """Ids of the trainable variables each head's output depends on.

    Found once per model from which gradients are structurally connected (``None`` or not) in
    one eager pass on a two-row batch of zeros.
    """
    dummy = tf.nest.map_structure(
        lambda t: tf.zeros([2, *[d or 1 for d in t.shape[1:]]], dtype=t.dtype),
        model.net.inputs if len(model.net.inputs) != 1 else model.net.inputs[0],
    )
    variables = list(model.trainable_variables)
    reach = {}
    with tf.GradientTape(persistent=True) as tape:
        outputs = model(dummy, training=False)
        sums = {
            h: tf.add_n(
                [tf.reduce_sum(tf.cast(outputs[k], "float32")) for k in (h, *model._uses[h])]
            )
            for h in model.head_names
        }
    for head, total in sums.items():
        grads = tape.gradient(total, variables)
        reach[head] = {id(v) for v, g in zip(variables, grads, strict=True) if g is not None}
    del tape
    return reach

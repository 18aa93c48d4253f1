"""The network a study describes: a shared Dense trunk and one head per task."""

from __future__ import annotations

from collections.abc import Mapping

import keras

from mtltune.model.fused import (
    ColumnInitializer,
    FusedHeads,
    HeadColumn,
    column_initializer,
    fused_groups,
)
from mtltune.model.heads import OUTPUT_ACTIVATIONS, output_layer
from mtltune.study import HeadConfig, ModelConfig


def build_network(
    model: ModelConfig,
    heads: Mapping[str, HeadConfig],
    input_dim: int,
    output_units: Mapping[str, int],
    *,
    name: str = "network",
    fuse: bool = True,
) -> keras.Model:
    """A functional model whose outputs are a dict keyed by head name.

    Heads of one kind and built-in loss with one output unit and no layers of their own share
    one output matmul (``mtltune.model.fused``): a ``FusedHeads`` layer and a ``HeadColumn``
    per head, named after it. Their initial weights are those of per-head ``Dense(1)`` layers.

    Args:
        model: Trunk sizes, activation and dropout.
        heads: Head configurations (optional hidden layers of each head, and the extra outputs
            their losses read, ``uses``).
        input_dim: Number of encoded input features.
        output_units: Width of each head's output layer.
        name: Model name.
        fuse: Whether like heads share one output matmul (``False``: a ``Dense`` per head).

    Returns:
        An uncompiled Keras model.
    """
    inputs = keras.Input(shape=(input_dim,), name="inputs")
    hidden = inputs
    for i, units in enumerate(model.units):
        hidden = keras.layers.Dense(units, activation=model.activation, name=f"trunk_{i}")(hidden)
        if model.dropout > 0:
            hidden = keras.layers.Dropout(model.dropout, name=f"trunk_dropout_{i}")(hidden)
    groups = fused_groups(heads, output_units) if fuse else []
    group_of = {h: i for i, names in enumerate(groups) for h in names}
    columns: dict[str, keras.initializers.Initializer] = {}
    outputs = {}
    for head_name, head in heads.items():
        if head_name in group_of:
            # Made where the head's own Dense(1) would be: the same random draws, in order.
            columns[head_name] = column_initializer()
            outputs[head_name] = None  # filled below, keeping the heads' order
            continue
        branch = hidden
        for j, units in enumerate(head.hidden):
            branch = keras.layers.Dense(
                units, activation=model.activation, name=f"{head_name}_hidden_{j}"
            )(branch)
        outputs[head_name] = output_layer(head_name, head, output_units[head_name])(branch)
        for extra in head.uses or []:
            # An output the head's loss reads (a predicted log-variance, say): same width, linear.
            outputs[extra] = keras.layers.Dense(output_units[head_name], name=extra)(branch)
    for i, names in enumerate(groups):
        head = heads[names[0]]
        block = FusedHeads(
            names,
            head.kind,
            str(head.loss),
            activation=OUTPUT_ACTIVATIONS[head.kind],
            kernel_initializer=ColumnInitializer([columns[h] for h in names]),
            name=f"fused_heads_{i}",
        )(hidden)
        for index, head_name in enumerate(names):
            outputs[head_name] = HeadColumn(index, name=head_name)(block)
    return keras.Model(inputs, outputs, name=name)

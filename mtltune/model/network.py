"""The network a study describes: a shared Dense trunk and one head per task."""

from __future__ import annotations

from collections.abc import Mapping

import keras

from mtltune.model.heads import output_layer
from mtltune.study import HeadConfig, ModelConfig


def build_network(
    model: ModelConfig,
    heads: Mapping[str, HeadConfig],
    input_dim: int,
    output_units: Mapping[str, int],
    *,
    name: str = "network",
) -> keras.Model:
    """A functional model whose outputs are a dict keyed by head name.

    Args:
        model: Trunk sizes, activation and dropout.
        heads: Head configurations (optional hidden layers of each head, and the extra outputs
            their losses read, ``uses``).
        input_dim: Number of encoded input features.
        output_units: Width of each head's output layer.
        name: Model name.

    Returns:
        An uncompiled Keras model.
    """
    inputs = keras.Input(shape=(input_dim,), name="inputs")
    hidden = inputs
    for i, units in enumerate(model.units):
        hidden = keras.layers.Dense(units, activation=model.activation, name=f"trunk_{i}")(hidden)
        if model.dropout > 0:
            hidden = keras.layers.Dropout(model.dropout, name=f"trunk_dropout_{i}")(hidden)
    outputs = {}
    for head_name, head in heads.items():
        branch = hidden
        for j, units in enumerate(head.hidden):
            branch = keras.layers.Dense(
                units, activation=model.activation, name=f"{head_name}_hidden_{j}"
            )(branch)
        outputs[head_name] = output_layer(head_name, head, output_units[head_name])(branch)
        for extra in head.uses or []:
            # An output the head's loss reads (a predicted log-variance, say): same width, linear.
            outputs[extra] = keras.layers.Dense(output_units[head_name], name=extra)(branch)
    return keras.Model(inputs, outputs, name=name)

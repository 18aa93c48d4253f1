"""Heads computed together: one output matmul and one vectorised loss for like heads.

A study's heads of the same kind and built-in loss, with one output unit each, no hidden layers
of their own and no auxiliary outputs, all read the trunk's last layer through a ``Dense(1)``.
``build_network`` gives each such group of two or more heads one ``FusedHeads`` layer (a
``Dense(K)``: one matmul, one kernel ``[H, K]``, one bias ``[K]``), followed by one
``HeadColumn`` per head, named after it, that takes the head's column: the network still has one
named output per head. Its initial weights are those the K ``Dense(1)`` layers would have had
(each column drawn with the seed its own layer would have drawn, in the same order), so a
fused network trains as the per-head one does, up to the order of floating-point sums.

``MultiTaskModel`` trains through the fused block (``training_view``): the group's targets are
stacked once per ``fit`` into one ``[rows, K]`` matrix (``pack_targets``) and the group's K
losses come out of one vectorised loss (``vector_loss``) as a ``[K]`` vector, each the batch mean
of its own column, as each head's loss would be. The per-head columns are computed only where
they are read: the evaluation's metrics and the exported model.

``unfused_network`` rebuilds the per-head network with the trained weights (each head its own
``Dense(1)``, named after it): the model ``best_model.keras`` holds is the plain Keras model it
always was, loadable without mtltune.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
from keras import ops

from mtltune.study import HeadConfig
from mtltune.study.catalog import is_custom_loss

#: Heads of these kinds with these built-in losses can share one output matmul.
FUSABLE = {
    "regression": ("mse", "mae", "huber"),
    "binary": ("binary_crossentropy",),
}


def fusion_key(head: HeadConfig, units: int) -> tuple[str, str] | None:
    """``(kind, loss)`` of a head that can be computed with others like it, else ``None``."""
    loss = str(head.loss)
    if units != 1 or head.hidden or head.uses or is_custom_loss(loss):
        return None
    return (head.kind, loss) if loss in FUSABLE.get(head.kind, ()) else None


def fused_groups(
    heads: Mapping[str, HeadConfig], output_units: Mapping[str, int]
) -> list[list[str]]:
    """Groups of two or more heads (in head order) that share an output matmul."""
    groups: dict[tuple[str, str], list[str]] = {}
    for name, head in heads.items():
        key = fusion_key(head, output_units[name])
        if key is not None:
            groups.setdefault(key, []).append(name)
    return [names for names in groups.values() if len(names) > 1]


@keras.saving.register_keras_serializable(package="mtltune")
class ColumnInitializer(keras.initializers.Initializer):
    """A ``[H, K]`` kernel whose column ``k`` is drawn by ``columns[k]`` for shape ``[H, 1]``.

    Args:
        columns: One initializer per column (Keras objects or their serialised configs).
    """

    def __init__(self, columns: Sequence[Any]) -> None:
        self.columns = [keras.initializers.get(c) for c in columns]

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> Any:
        """The kernel: each column's initial values, side by side."""
        rows = shape[0]
        return ops.concatenate([c(shape=(rows, 1), dtype=dtype) for c in self.columns], axis=1)

    def get_config(self) -> dict[str, Any]:
        """The columns' initializers, serialised."""
        return {"columns": [keras.initializers.serialize(c) for c in self.columns]}


@keras.saving.register_keras_serializable(package="mtltune")
class FusedHeads(keras.layers.Dense):
    """``Dense(K)``: the K heads of one group as one matmul (outputs ``[rows, K]``).

    Args:
        heads: The heads' names, one per output column.
        kind: The heads' kind (``regression``, ``binary``).
        loss: Their built-in loss.
        **kwargs: ``Dense`` arguments (``units`` is the number of heads).
    """

    def __init__(self, heads: Sequence[str], kind: str, loss: str, **kwargs: Any) -> None:
        kwargs.setdefault("units", len(heads))
        super().__init__(**kwargs)
        self.heads = list(heads)
        self.kind = kind
        self.loss = loss

    def get_config(self) -> dict[str, Any]:
        """``Dense``'s config with the heads, kind and loss."""
        return {**super().get_config(), "heads": self.heads, "kind": self.kind, "loss": self.loss}


@keras.saving.register_keras_serializable(package="mtltune")
class HeadColumn(keras.layers.Layer):
    """Column ``index`` of a ``FusedHeads`` block as a ``[rows, 1]`` output (named after its head).

    Args:
        index: The head's column.
        **kwargs: ``Layer`` arguments (``name``: the head).
    """

    def __init__(self, index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index = int(index)

    def call(self, block: Any) -> Any:
        """The column, kept two-dimensional."""
        return block[:, self.index : self.index + 1]

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple[int | None, int]:
        """``[rows, 1]``."""
        return (input_shape[0], 1)

    def get_config(self) -> dict[str, Any]:
        """The column index."""
        return {**super().get_config(), "index": self.index}


def column_initializer() -> keras.initializers.Initializer:
    """The initializer a head's own ``Dense(1)`` kernel would get, drawn where it would be.

    Keras draws an unseeded initializer's seed from Python's ``random`` when the initializer is
    made (``Dense.__init__``): making it at the point of the network's construction where the
    head's own layer would be made keeps every draw, the head's and all later ones, the same.
    """
    return keras.initializers.get("glorot_uniform")


def vector_loss(loss: str) -> Callable[[Any, Any], Any]:
    """``loss(targets, predictions) -> [K]``: the batch mean of each column's loss.

    Args:
        loss: A name in ``FUSABLE``.
    """

    def elementwise(y: Any, p: Any) -> Any:
        if loss == "mse":
            return ops.square(p - y)
        if loss == "mae":
            return ops.abs(p - y)
        if loss == "huber":  # Keras' Huber, delta 1
            error = ops.abs(p - y)
            return ops.where(error <= 1.0, 0.5 * ops.square(error), error - 0.5)
        eps = keras.config.epsilon()  # binary_crossentropy, as mtltune.model.heads computes it
        p = ops.clip(p, eps, 1.0 - eps)
        return -(y * ops.log(p) + (1.0 - y) * ops.log(1.0 - p))

    def vector(targets: Any, predictions: Any) -> Any:
        targets = ops.cast(targets, predictions.dtype)
        return ops.mean(elementwise(targets, predictions), axis=0)

    return vector


def stack_targets(y: Mapping[str, Any], heads: Sequence[str]) -> Any:
    """The heads' targets as one ``[rows, K]`` float32 matrix, in ``heads``' order."""
    return ops.concatenate([ops.reshape(ops.cast(y[h], "float32"), (-1, 1)) for h in heads], axis=1)


def unfused_network(net: keras.Model) -> keras.Model:
    """The same network with each fused head its own ``Dense(1)``, named after it.

    Every other layer is the trained network's own (shared, not copied); each head's kernel and
    bias are its columns of the fused layer's. A network without ``FusedHeads`` is returned as
    it is.

    Args:
        net: A functional network built by ``build_network``.
    """
    fused = [layer for layer in net.layers if isinstance(layer, FusedHeads)]
    if not fused:
        return net
    columns = {}
    for layer in fused:
        kernel, bias = (ops.convert_to_numpy(w) for w in layer.get_weights())
        for index, head in enumerate(layer.heads):
            dense = keras.layers.Dense(1, activation=layer.activation, name=head)
            columns[head] = (layer, dense, kernel[:, index : index + 1], bias[index : index + 1])
    inputs = keras.Input(shape=tuple(net.inputs[0].shape[1:]), name="inputs")
    named = dict(zip(net.output_names, net.outputs, strict=True))
    # One sub-model computes the trunk once: the fused layers' input and every other output.
    view = keras.Model(
        net.inputs,
        {
            **{layer.name: layer.input for layer in fused},
            **{k: t for k, t in named.items() if k not in columns},
        },
        name=f"{net.name}_shared",
    )
    values = view(inputs)
    outputs = {}
    for key in named:
        if key in columns:
            layer, dense, kernel, bias = columns[key]
            outputs[key] = dense(values[layer.name])
            dense.set_weights([kernel, bias])
        else:
            outputs[key] = keras.layers.Identity(name=key)(values[key])
    return keras.Model(inputs, outputs, name=net.name)


class FusedForward:
    """A model's forward pass and stacked head losses through its fused heads.

    Made by ``MultiTaskModel`` when its network has ``FusedHeads`` layers whose heads are its
    own and read no auxiliary outputs. ``view`` is a functional model on the network's layers
    whose outputs are each group's ``[rows, K]`` block (keyed ``packed_key(i)``) and every other
    output: the per-head columns are not computed.

    Args:
        net: The functional network.
        head_names: The model's heads, in order.
        loss_fns: Each head's loss (for the heads outside the groups).
        uses: Each head's auxiliary outputs.
    """

    def __init__(
        self,
        net: keras.Model,
        head_names: Sequence[str],
        loss_fns: Mapping[str, Callable[..., Any]],
        uses: Mapping[str, Sequence[str]],
    ) -> None:
        self.layers = [layer for layer in net.layers if isinstance(layer, FusedHeads)]
        self.groups = [list(layer.heads) for layer in self.layers]
        fused = [h for names in self.groups for h in names]
        self.singles = [h for h in head_names if h not in fused]
        named = dict(zip(net.output_names, net.outputs, strict=True))
        others = [k for k in named if k not in fused]
        self.view = keras.Model(
            net.inputs,
            {
                **{packed_key(i): layer.output for i, layer in enumerate(self.layers)},
                **{k: named[k] for k in others},
            },
            name=f"{net.name}_fused_view",
        )
        self._vector = [vector_loss(layer.loss) for layer in self.layers]
        self._loss_fns = loss_fns
        self._uses = uses
        position = {h: i for i, h in enumerate([*fused, *self.singles])}
        self.order = [position[h] for h in head_names]
        self._column = {
            h: (i, j) for i, names in enumerate(self.groups) for j, h in enumerate(names)
        }

    @staticmethod
    def applies(net: keras.Model, head_names: Sequence[str], uses: Mapping[str, Any]) -> bool:
        """Whether ``net`` has fused heads this model can train through (all its own, plain)."""
        layers = [layer for layer in getattr(net, "layers", []) if isinstance(layer, FusedHeads)]
        heads = [h for layer in layers for h in layer.heads]
        return bool(layers) and all(h in head_names and not uses.get(h) for h in heads)

    def pack_targets(self, y: Mapping[str, Any]) -> dict[str, Any]:
        """The targets with each group's stacked into one ``[rows, K]`` matrix (once per fit)."""
        packed = {packed_key(i): stack_targets(y, names) for i, names in enumerate(self.groups)}
        fused = {h for names in self.groups for h in names}
        return {**packed, **{k: v for k, v in y.items() if k not in fused}}

    def losses(self, values: Mapping[str, Any], y: Mapping[str, Any]) -> Any:
        """The stacked per-head losses ``[K]`` (head order) from ``view``'s outputs."""
        pieces = []
        for i, (names, vector) in enumerate(zip(self.groups, self._vector, strict=True)):
            key = packed_key(i)
            targets = y[key] if key in y else stack_targets(y, names)
            pieces.append(vector(targets, values[key]))
        for h in self.singles:
            loss = self._loss_fns[h](y[h], values[h], *(values[a] for a in self._uses[h]))
            pieces.append(ops.reshape(ops.cast(loss, "float32"), (1,)))
        stacked = ops.concatenate(pieces, axis=0)
        if self.order != list(range(len(self.order))):
            stacked = ops.take(stacked, self.order, axis=0)
        return stacked

    def output(self, values: Mapping[str, Any], head: str) -> Any:
        """A head's ``[rows, units]`` output from ``view``'s outputs."""
        if head not in self._column:
            return values[head]
        i, j = self._column[head]
        return values[packed_key(i)][:, j : j + 1]


def packed_key(group: int) -> str:
    """The key of a fused group's block and stacked targets."""
    return f"__fused_heads_{group}"

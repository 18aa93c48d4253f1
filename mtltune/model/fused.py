"""Heads computed together: one output matmul and one vectorised loss for like heads.

A study's heads of the same kind and built-in loss, with one output unit each, no hidden layers
of their own and no auxiliary outputs, all read the trunk's last layer through a ``Dense(1)``.
``build_network`` gives each such group of two or more heads one ``FusedHeads`` layer (a
``Dense(K)``: one matmul, one kernel ``[H, K]``, one bias ``[K]``), followed by one
``HeadColumn`` per head, named after it, that takes the head's column: the network still has one
named output per head. Its initial weights are those the K ``Dense(1)`` layers would have had
(each column drawn with the seed its own layer would have drawn, in the same order), so a
fused network trains as the per-head one does, up to the order of floating-point sums.

``MultiTaskModel`` trains and scores through the fused block (``FusedForward.view``): the
group's targets, training's and scoring's, are stacked once per ``fit`` into one ``[rows, K]``
matrix (``pack_targets``), and the group's K losses come out of one vectorised loss
(``vector_loss``) as a ``[K]`` vector, each the batch mean of its own column, as each head's
loss would be. A head's own column is taken only where it is read: a metric the group does not
compute as a ``ColumnMetric``, and the exported model.

``unfused_network`` rebuilds the per-head network with the trained weights (each head its own
``Dense(1)``, named after it): the model ``best_model.keras`` holds is the plain Keras model it
always was, loadable without mtltune.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
from keras import ops

from mtltune.model.heads import binary_crossentropy_values
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

    Each column's values are those of the head's own loss: Keras' ``mean_squared_error``,
    ``mean_absolute_error`` and ``huber`` (``keras.losses.Huber``'s delta of 1), and
    ``mtltune.model.heads.binary_crossentropy_values``, applied to every element at once.

    Args:
        loss: A name in ``FUSABLE``.
    """
    elementwise = _ELEMENTWISE[loss]

    def vector(targets: Any, predictions: Any) -> Any:
        targets = ops.cast(targets, predictions.dtype)
        return ops.mean(elementwise(targets, predictions), axis=0)

    return vector


def _per_element(function: Callable[..., Any]) -> Callable[[Any, Any], Any]:
    """A Keras loss that averages over the last axis, applied to every element of a block."""
    return lambda y, p: function(ops.expand_dims(y, -1), ops.expand_dims(p, -1))


#: Per-element values of each fusable loss, for ``[rows, K]`` targets and predictions.
_ELEMENTWISE: dict[str, Callable[[Any, Any], Any]] = {
    "mse": _per_element(keras.losses.mean_squared_error),
    "mae": _per_element(keras.losses.mean_absolute_error),
    "huber": _per_element(keras.losses.huber),
    "binary_crossentropy": binary_crossentropy_values,
}


def stack_targets(y: Mapping[str, Any], heads: Sequence[str]) -> Any:
    """The heads' targets as one ``[rows, K]`` float32 matrix, in ``heads``' order."""
    return ops.concatenate([ops.reshape(ops.cast(y[h], "float32"), (-1, 1)) for h in heads], axis=1)


def fused_layers(net: Any) -> list[FusedHeads]:
    """The ``FusedHeads`` layers of a network, in layer order (none for a subclassed model)."""
    return [layer for layer in getattr(net, "layers", []) if isinstance(layer, FusedHeads)]


def unfused_network(net: keras.Model) -> keras.Model:
    """The same network with each fused head its own ``Dense(1)``, named after it.

    Every other layer is the trained network's own (shared, not copied); each head's kernel and
    bias are its columns of the fused layer's. A network without ``FusedHeads`` is returned as
    it is.

    Args:
        net: A functional network built by ``build_network``.
    """
    fused = fused_layers(net)
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
        self.layers = fused_layers(net)
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
        layers = fused_layers(net)
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
        for i, vector in enumerate(self._vector):
            pieces.append(vector(self.group_targets(y, i), values[packed_key(i)]))
        for h in self.singles:
            loss = self._loss_fns[h](y[h], values[h], *(values[a] for a in self._uses[h]))
            pieces.append(ops.reshape(ops.cast(loss, "float32"), (1,)))
        stacked = ops.concatenate(pieces, axis=0)
        if self.order != list(range(len(self.order))):
            stacked = ops.take(stacked, self.order, axis=0)
        return stacked

    def group_targets(self, y: Mapping[str, Any], group: int) -> Any:
        """A group's ``[rows, K]`` targets: packed once per fit (``pack_targets``), or stacked."""
        key = packed_key(group)
        return y[key] if key in y else stack_targets(y, self.groups[group])

    def target(self, y: Mapping[str, Any], head: str) -> Any:
        """A head's targets, its column of the packed group's where they were packed."""
        if head in y or head not in self._column:
            return y[head]
        i, j = self._column[head]
        return y[packed_key(i)][:, j : j + 1]

    def output(self, values: Mapping[str, Any], head: str) -> Any:
        """A head's ``[rows, units]`` output from ``view``'s outputs."""
        if head not in self._column:
            return values[head]
        i, j = self._column[head]
        return values[packed_key(i)][:, j : j + 1]


def packed_key(group: int) -> str:
    """The key of a fused group's block and stacked targets."""
    return f"__fused_heads_{group}"

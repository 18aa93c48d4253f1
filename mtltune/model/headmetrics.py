"""The head metrics of a ``MultiTaskModel``: made once, updated on the stop split, read per head.

A fused group's ``mse``, ``mae``, ``rmse`` (and a binary group's ``accuracy``) are one
``ColumnMetric`` per metric (``mtltune.model.fused``); every other head metric is one Keras
metric of its own. Both are updated in the targets' units and read as ``<head>_<metric>``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf
from keras import ops

from mtltune.data.scaling import undo_columns
from mtltune.model.fused import FusedForward, packed_key
from mtltune.model.heads import make_metrics
from mtltune.study import HeadConfig
from mtltune.study.names import head_metric_key


@dataclass
class HeadMetrics:
    """The metrics of every head, fused where a group allows.

    Attributes:
        keys: ``(head, metric)`` pairs in the study's order; each is logged ``<head>_<metric>``.
        singles: ``(head, metric object)`` of the metrics computed per head.
        columns: ``(group, units, ColumnMetric)`` of the fused groups' metrics.
        fusion: The model's fused view (where a batch's targets of fused heads are).
    """

    keys: list[tuple[str, str]]
    singles: list[tuple[str, keras.metrics.Metric]]
    columns: list[tuple[int, Callable[[Any], Any], ColumnMetric]]
    fusion: FusedForward | None = None

    @classmethod
    def build(
        cls,
        heads: Mapping[str, HeadConfig],
        fusion: FusedForward | None,
        target_scales: Mapping[str, Any],
    ) -> HeadMetrics:
        """The metrics the heads' configurations name (``metrics``)."""
        keys = [(h, m) for h, cfg in heads.items() for m in cfg.metrics or []]
        columns = column_metrics(fusion, heads, target_scales) if fusion is not None else []
        covered = {n for *_, metric in columns for n in metric.names}
        singles = [(h, m) for h, cfg in heads.items() for m in make_metrics(h, cfg, skip=covered)]
        return cls(keys, singles, columns, fusion)

    @property
    def objects(self) -> list[keras.metrics.Metric]:
        """Every metric object (what the model resets each epoch)."""
        return [m for _, m in self.singles] + [m for *_, m in self.columns]

    def update(
        self,
        y: Any,
        output: Callable[[str], Any],
        in_units: Callable[[str, Any], Any],
    ) -> None:
        """Update every metric with one batch's targets and outputs, in the targets' units.

        Args:
            y: The batch's targets, by head, or packed per fused group (``pack_targets``).
            output: A head's (or a packed group's) output by name (``MultiTaskModel.forward``).
            in_units: A head's values on the network's axis, in the target's units.
        """
        fusion = self.fusion
        for head, metric in self.singles:
            target = y[head] if fusion is None else fusion.target(y, head)
            metric.update_state(in_units(head, target), in_units(head, output(head)))
        if fusion is None:  # no fused group, no column metric
            return
        for group, units, metric in self.columns:
            targets = fusion.group_targets(y, group)
            metric.update_state(units(targets), units(output(packed_key(group))))

    def results(self) -> dict[str, tf.Tensor]:
        """Each metric's result, keyed ``<head>_<metric>``, in the study's order."""
        results: dict[str, tf.Tensor] = {}
        for metric in self.objects:
            named = metric.named_results() if isinstance(metric, ColumnMetric) else None
            results.update(named or {metric.name: metric.result()})
        return {head_metric_key(h, m): results[head_metric_key(h, m)] for h, m in self.keys}


def column_metrics(
    fusion: FusedForward, heads: Mapping[str, HeadConfig], scales: Mapping[str, Any]
) -> list[tuple[int, Callable[[Any], Any], ColumnMetric]]:
    """One ``ColumnMetric`` per group and metric every head of the group has.

    Args:
        fusion: The model's fused view (its groups and their layers).
        heads: The heads' configurations (their ``metrics``).
        scales: The fitted ``TargetScale`` of each scaled head.

    Returns:
        ``(group, units, metric)``: ``units`` maps the group's ``[rows, K]`` targets or
        outputs to the targets' units (float64), as ``MultiTaskModel.in_units`` does per head.
    """
    out = []
    for i, (names, layer) in enumerate(zip(fusion.groups, fusion.layers, strict=True)):
        units = _block_units([scales.get(h) for h in names])
        shared = set.intersection(*(set(heads[h].metrics or []) for h in names))
        for metric in [m for m in heads[names[0]].metrics or [] if m in shared]:
            if (layer.kind, metric) in COLUMN_METRICS:
                keys = [head_metric_key(h, metric) for h in names]
                name = head_metric_key(layer.name, metric)
                out.append((i, units, ColumnMetric(metric, keys, name=name)))
    return out


def _block_units(scales: Sequence[Any]) -> Callable[[Any], Any]:
    """``[rows, K]`` values on the network's axis to the targets' units (float64)."""

    def units(values: Any) -> Any:
        return undo_columns(scales, ops.cast(values, "float64"), ops.exp, ops.where)

    return units


#: Metrics of fused heads computed for the whole group at once: ``(kind, metric)``.
COLUMN_METRICS = {
    ("regression", "mse"),
    ("regression", "mae"),
    ("regression", "rmse"),
    ("binary", "accuracy"),
}


@keras.saving.register_keras_serializable(package="mtltune")
class ColumnMetric(keras.metrics.Metric):
    """One metric of every head of a fused group: running means of a ``[K]`` vector.

    The same value as each head's own Keras metric (``MeanSquaredError``, ``MeanAbsoluteError``,
    ``RootMeanSquaredError``, ``BinaryAccuracy``), in float64, for K heads in a few ops.

    Args:
        metric: ``mse``, ``mae``, ``rmse`` or ``accuracy``.
        names: Each head's log name (``<head>_<metric>``), in column order.
        **kwargs: ``Metric`` arguments.
    """

    def __init__(self, metric: str, names: Sequence[str], **kwargs: Any) -> None:
        kwargs.setdefault("dtype", "float64")
        super().__init__(**kwargs)
        self.metric = metric
        self.names = list(names)
        self.total = self.add_variable(
            shape=(len(self.names),), initializer="zeros", dtype="float64", name="total"
        )
        self.count = self.add_variable(shape=(), initializer="zeros", dtype="float64", name="count")

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add a batch: ``[rows, K]`` targets and predictions (in the targets' units)."""
        y_true, y_pred = ops.cast(y_true, "float64"), ops.cast(y_pred, "float64")
        if self.metric == "accuracy":
            values = ops.cast(ops.equal(y_true, ops.cast(y_pred > 0.5, "float64")), "float64")
        elif self.metric == "mae":
            values = ops.abs(y_pred - y_true)
        else:
            values = ops.square(y_pred - y_true)
        self.total.assign_add(ops.sum(values, axis=0))
        self.count.assign_add(ops.cast(ops.shape(values)[0], "float64"))

    def result(self) -> Any:
        """The ``[K]`` vector of results."""
        mean = ops.divide_no_nan(self.total, self.count)
        return ops.sqrt(mean) if self.metric == "rmse" else mean

    def named_results(self) -> dict[str, Any]:
        """Each head's result under its log name."""
        values = self.result()
        return {name: values[i] for i, name in enumerate(self.names)}

    def get_config(self) -> dict[str, Any]:
        """The metric and the heads' log names."""
        return {**super().get_config(), "metric": self.metric, "names": self.names}

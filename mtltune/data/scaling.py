"""Scaling of regression targets: fitted on train, undone for every reported number.

A regression head's network output lives on a scaled axis (``heads.<h>.scale``):

* ``standard``: ``z = (y - center) / spread`` with the train mean and standard deviation;
* ``log``: ``z = (log y - center) / spread`` with the mean and standard deviation of ``log y``
  on train (positive, skewed targets such as prices);
* ``none``: ``z = y``.

The head's loss is computed on ``z``. Every reported loss is converted back to the target's
units by ``loss_units``: with ``z = (u - c) / s``, an MSE or a Huber loss is multiplied by
``s²`` (a Huber loss with ``delta = 1`` on ``z`` is a Huber loss with ``delta = s`` on ``u``),
an MAE or an RMSE by ``s``, and a Gaussian negative log-likelihood gains ``2·log s`` (its
predicted log-variance shifts by the same amount). Under ``standard`` ``u`` is the target, so
losses are in the target's units; under ``log`` ``u`` is ``log y``, so the loss is the loss of
``log y`` (a different loss from the one on ``y``). Metrics are computed on predictions mapped
back by ``inverse``, so they are in the target's units under every scale.

This module is the one home of the conversion between the network's axis and the targets'
units: the model's metrics (on tensors, ``TargetScale.undo``; ``undo_columns`` for a fused
group's block), evaluation and predictions (``head_units``, ``in_units``), the exported model's
layers (``OutputUnits``), the losses of replicates and references (``loss_in_units``). Nothing
here imports TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from mtltune.study import HeadConfig

ScaleKind = Literal["standard", "log", "none"]

#: Losses measured in squared target units, and in target units.
_SQUARED = frozenset({"mse", "huber"})
_LINEAR = frozenset({"mae", "rmse"})
#: Losses that are a negative log-likelihood of a density on the target.
_LOG_DENSITY = frozenset({"gaussian_nll"})


@dataclass(frozen=True)
class TargetScale:
    """The fitted scale of one regression target.

    Attributes:
        kind: ``standard``, ``log`` or ``none``.
        center: Train mean of ``y`` (``standard``) or of ``log y`` (``log``).
        spread: Train standard deviation of the same (1 when it is 0).
    """

    kind: ScaleKind = "none"
    center: float = 0.0
    spread: float = 1.0

    @classmethod
    def fit(cls, kind: ScaleKind, values: np.ndarray) -> TargetScale:
        """Fit a scale on train values (``log`` needs every value > 0; checked by the caller)."""
        if kind == "none":
            return cls()
        array = np.asarray(values, dtype=np.float64)
        if kind == "log":
            array = np.log(array)
        spread = float(array.std())
        return cls(kind, float(array.mean()), spread if spread > 0 else 1.0)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TargetScale:
        """The scale written by ``to_dict``."""
        return cls(data["kind"], float(data["center"]), float(data["spread"]))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able fields."""
        return asdict(self)

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Target values to the network's axis (float32)."""
        array = np.asarray(values, dtype=np.float64)
        if self.kind == "log":
            array = np.log(array)
        if self.kind != "none":
            array = (array - self.center) / self.spread
        return array.astype(np.float32)

    def inverse(self, values: np.ndarray) -> np.ndarray:
        """Network outputs back to the target's units (float32)."""
        array = np.asarray(values, dtype=np.float64)
        if self.kind == "none":
            return array.astype(np.float32)
        with np.errstate(over="ignore"):
            return self.undo(array, np.exp).astype(np.float32)

    def undo(self, values: Any, exp: Callable[[Any], Any]) -> Any:
        """``values`` on the network's axis in the target's units, by any array library.

        Args:
            values: Float64 values (a NumPy array, or a TensorFlow tensor for the model's
                metrics).
            exp: That library's ``exp``.
        """
        if self.kind == "none":
            return values
        values = values * self.spread + self.center
        return exp(values) if self.kind == "log" else values

    def loss_units(self, loss: str) -> tuple[float, float]:
        """``(factor, offset)``: a loss on the network's axis times factor plus offset.

        The result is the loss in the target's units (``standard``) or in ``log y``'s units
        (``log``). Classification losses and unscaled targets give ``(1, 0)``.

        Raises:
            ValueError: For a loss whose conversion is unknown (a user's function) on a
                scaled target.
        """
        if self.kind == "none":
            return 1.0, 0.0
        if loss in _SQUARED:
            return self.spread**2, 0.0
        if loss in _LINEAR:
            return self.spread, 0.0
        if loss in _LOG_DENSITY:
            return 1.0, 2.0 * math.log(self.spread)
        raise ValueError(f"loss {loss!r} cannot be converted to the target's units")

    def to_units(self, loss: str, value: float) -> float:
        """A loss value on the network's axis, in the units ``loss_units`` describes."""
        factor, offset = self.loss_units(loss)
        return float(value) * factor + offset


def undo_columns(
    scales: Sequence[TargetScale | None],
    values: Any,
    exp: Callable[[Any], Any],
    where: Callable[[Any, Any, Any], Any],
) -> Any:
    """``TargetScale.undo`` of every column of a ``[rows, K]`` block at once (a fused group's).

    Args:
        scales: Column ``k``'s scale (``None``: unscaled).
        values: Float64 values, column ``k`` on ``scales[k]``'s network axis.
        exp: The array library's ``exp``.
        where: Its ``where(condition, x, y)``.
    """
    scaled = [s if s is not None and s.kind != "none" else TargetScale() for s in scales]
    if all(s.kind == "none" for s in scaled):
        return values
    values = values * np.array([s.spread for s in scaled]) + np.array([s.center for s in scaled])
    logs = np.array([s.kind == "log" for s in scaled])
    return where(logs, exp(values), values) if logs.any() else values


@dataclass(frozen=True)
class OutputUnits:
    """How one model output maps to the target's units: ``y = f(output · factor + offset)``.

    ``f`` is ``exp`` when ``exponential`` (``scale: log``), else the identity. A head's output
    takes its scale; the predicted log-variance of a ``gaussian_nll`` head is shifted by
    ``2·log spread`` (a log-variance of the target, or of ``log y`` under ``scale: log``).
    """

    factor: float = 1.0
    offset: float = 0.0
    exponential: bool = False

    def apply(self, values: np.ndarray) -> np.ndarray:
        """Model outputs in the target's units (float32)."""
        array = np.asarray(values, dtype=np.float64) * self.factor + self.offset
        if self.exponential:
            with np.errstate(over="ignore"):
                array = np.exp(array)
        return array.astype(np.float32)

    def invert(self, values: np.ndarray) -> np.ndarray:
        """Values in the target's units back on the model output's axis (float32)."""
        array = np.asarray(values, dtype=np.float64)
        if self.exponential:
            with np.errstate(divide="ignore", invalid="ignore"):
                array = np.log(array)
        return ((array - self.offset) / self.factor).astype(np.float32)


def head_units(
    heads: Mapping[str, HeadConfig], scales: Mapping[str, TargetScale]
) -> dict[str, OutputUnits]:
    """``output_units`` of a study's heads (a head, a ``gaussian_nll`` log-variance)."""
    return output_units(
        {h: cfg.uses for h, cfg in heads.items()},
        {h: str(cfg.loss) for h, cfg in heads.items()},
        scales,
    )


def in_units(units: Mapping[str, OutputUnits], values: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Targets or outputs keyed by output name, in the targets' units."""
    return {k: units[k].apply(v) if k in units else np.asarray(v) for k, v in values.items()}


def loss_in_units(scales: Mapping[str, TargetScale], head: str, loss: str, value: float) -> float:
    """A head's loss on the network's axis in its target's units (as the logs give it)."""
    scale = scales.get(head)
    return scale.to_units(loss, value) if scale is not None else value


def loss_units(scales: Mapping[str, TargetScale], head: str, loss: str) -> tuple[float, float]:
    """``TargetScale.loss_units`` of a head; ``(1, 0)`` for a head without a scale."""
    scale = scales.get(head)
    return scale.loss_units(loss) if scale is not None else (1.0, 0.0)


def output_units(
    uses: Mapping[str, list[str] | tuple[str, ...] | None],
    losses: Mapping[str, str],
    scales: Mapping[str, TargetScale],
) -> dict[str, OutputUnits]:
    """The ``OutputUnits`` of every output that needs converting (scaled heads only).

    Args:
        uses: Auxiliary outputs each head's loss reads (``HeadConfig.uses``).
        losses: Each head's loss name.
        scales: The fitted scales of the regression heads.
    """
    out = {}
    for head, scale in scales.items():
        if scale.kind == "none":
            continue
        out[head] = OutputUnits(scale.spread, scale.center, scale.kind == "log")
        if losses[head] in _LOG_DENSITY:
            for aux in uses.get(head) or ():
                out[aux] = OutputUnits(1.0, 2.0 * math.log(scale.spread))
    return out

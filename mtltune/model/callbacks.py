"""The Keras callbacks mtltune trains with, in one place (as Keras keeps its own).

* ``ObjectiveLogger`` writes the weight-free score into each epoch's logs;
* ``DivergenceGuard`` stops a trial whose losses stop being finite, and says where;
* ``BestEpochStopping`` is Keras' ``EarlyStopping(restore_best_weights=True)`` with the best
  weights kept inside TensorFlow (a ``WeightSnapshot``): Keras' version copies every weight to
  NumPy at each improving epoch, one eager read per variable, 8 ms per copy on the hetero-sine
  model, 0.4 s of a 5 s trial (benchmarks/RESULTS.md). The shadow variables and the two
  compiled copies are made once per model, so a model recycled across trials reuses them.

A stop request is the run's ``mtltune.run.stop.StopToken``, which the search's tuner checks
after every batch (``mtltune.tuning.tuner.MultiTaskTuner``); nothing here is process-wide.

``mtltune.model.loop`` runs the same callbacks as Keras' ``fit`` (its own ``_Recorder`` stands in
for Keras' ``History``).
"""

from __future__ import annotations

import math
import weakref
from typing import Any

import keras
import tensorflow as tf

from mtltune.model.objectives import Objective
from mtltune.study.names import OBJECTIVE, STOP_PREFIX


class ObjectiveLogger(keras.callbacks.Callback):
    """Writes the weight-free score into each epoch's logs as ``objective``/``val_objective``.

    Put it first in the callback list: ``EarlyStopping`` and Keras Tuner's checkpointing read
    the same logs dict after it.
    """

    def __init__(self, objective: Objective) -> None:
        super().__init__()
        self.objective = objective

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        """Add the train and stop scores to ``logs`` in place."""
        if logs is None:
            return
        for prefix in ("", STOP_PREFIX):
            value = self.objective.from_logs(logs, prefix)
            if value is not None:
                logs[prefix + OBJECTIVE] = value


class DivergenceGuard(keras.callbacks.Callback):
    """Stops training as soon as a loss is NaN or infinite and records why.

    Checks the running training loss after every batch (Keras' ``fit``) or once per epoch
    (``mtltune.model.loop``, whose compiled epoch itself stops at the first non-finite batch and
    reports that batch), and every head's train and stop loss after every epoch.
    """

    def __init__(self, keys: list[str]) -> None:
        super().__init__()
        self.keys = keys
        self.reason: str | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        """Remember the epoch, for the message."""
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        """Stop within the epoch when the training loss stops being finite."""
        value = (logs or {}).get("loss")
        if value is not None and not math.isfinite(value := float(value)):
            self.reason = f"diverged at epoch {self._epoch + 1}, batch {batch + 1}: loss={value}"
            self.model.stop_training = True

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        """Check the epoch's train and stop losses."""
        logs = logs or {}
        if self.reason is not None:
            return
        bad = {k: logs[k] for k in self.keys if k in logs and not math.isfinite(float(logs[k]))}
        if bad:
            self.reason = f"diverged at epoch {epoch + 1}: " + ", ".join(
                f"{k}={v}" for k, v in bad.items()
            )
            self.model.stop_training = True


class WeightSnapshot:
    """Shadow copies of a model's weights, saved and restored with one compiled call each.

    The copy is one ``tf.function`` shared by every model, taking the variables as arguments: a
    trace serves every model with the same weight shapes, so the fresh models of a search (one
    per trial unless recycled, the baseline, the replicates) are not each traced again.

    Args:
        model: A built Keras model; its ``weights`` (what ``get_weights`` returns) are copied.
    """

    def __init__(self, model: keras.Model) -> None:
        # Keras' TensorFlow variables hold a ``tf.Variable`` as their value.
        self.weights = [w.value for w in model.weights]
        self.shadows = [
            tf.Variable(tf.zeros(w.shape, dtype=w.dtype), trainable=False) for w in self.weights
        ]

    def save(self) -> None:
        """Copy the model's weights into the shadows."""
        _copy(self.shadows, self.weights)

    def restore(self) -> None:
        """Copy the shadows back into the model's weights."""
        _copy(self.weights, self.shadows)

    @staticmethod
    def traces() -> int:
        """How many times the copy shared by every model has been traced in this process."""
        return _copy.experimental_get_tracing_count()


def _assign_all(targets: list[tf.Variable], sources: list[tf.Variable]) -> None:
    for target, source in zip(targets, sources, strict=True):
        target.assign(source)


#: Traced once per list of variable shapes and dtypes, whichever model's variables they are.
_copy = tf.function(_assign_all, autograph=False)


#: Each model's snapshot, as long as the model lives (any Keras model may early-stop here; the
#: snapshot holds the model's variables, not the model, so the entry goes with the model).
_SNAPSHOTS: weakref.WeakKeyDictionary[keras.Model, WeightSnapshot] = weakref.WeakKeyDictionary()


def snapshot_of(model: keras.Model) -> WeightSnapshot:
    """The model's ``WeightSnapshot``, created (and traced) once per model."""
    snapshot = _SNAPSHOTS.get(model)
    if snapshot is None:
        snapshot = _SNAPSHOTS[model] = WeightSnapshot(model)
    return snapshot


#: Beyond this magnitude a monitored value is rescaled before Keras compares it in float32.
LARGE = 1e30


class BestEpochStopping(keras.callbacks.EarlyStopping):
    """``keras.callbacks.EarlyStopping(restore_best_weights=True)``, copying inside TensorFlow.

    The stopping rule is Keras' own; only where the best weights are kept differs: in a
    ``WeightSnapshot`` (shadow variables) instead of NumPy arrays. As in Keras, the weights of
    the first monitored epoch are kept, replaced at every improvement, and restored when
    training ends.

    Args:
        monitor: The log to watch.
        mode: ``"min"`` or ``"max"``.
        patience: Epochs without improvement before training stops.
        **kwargs: Other ``EarlyStopping`` arguments (not ``restore_best_weights``).
    """

    def __init__(self, monitor: str, mode: str, patience: int, **kwargs: Any) -> None:
        super().__init__(
            monitor=monitor, mode=mode, patience=patience, restore_best_weights=False, **kwargs
        )
        self._saved = False
        self._divisor: float | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Reset the rule; nothing is kept yet."""
        super().on_train_begin(logs)
        self._saved = False
        self._divisor = None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Apply Keras' rule; keep the weights of the first monitored and each improving epoch."""
        best = self.best
        if logs and logs.get(self.monitor) is not None:
            logs = {**logs, self.monitor: self._comparable(float(logs[self.monitor]))}
        super().on_epoch_end(epoch, logs)
        if (logs or {}).get(self.monitor) is None or epoch < self.start_from_epoch:
            return
        # Keras replaces ``best`` by the epoch's value exactly when the epoch improves (an
        # identity test: a NaN best is never equal to itself).
        improved = self.best is not best
        if improved or not self._saved:
            snapshot_of(self.model).save()
            self._saved = True

    def _comparable(self, value: float) -> float:
        """The value as Keras compares it (in float32), order unchanged.

        Divided by the first value beyond ``LARGE`` (a loss in the units of a target near
        float32's range, which float32 cannot hold); values within it pass unchanged.
        """
        if self._divisor is None and math.isfinite(value) and abs(value) > LARGE:
            self._divisor = abs(value)
        return value / self._divisor if self._divisor is not None else value

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Restore the kept weights (Keras restores them whether or not training stopped)."""
        super().on_train_end(logs)
        if self._saved:
            snapshot_of(self.model).restore()

"""Early stopping that keeps the best epoch's weights inside TensorFlow.

Keras' ``EarlyStopping(restore_best_weights=True)`` copies every weight to NumPy
(``model.get_weights()``) at each improving epoch: one eager read per variable, 8 ms per copy
on the hetero-sine model, 0.4 s of a 5 s trial (benchmarks/RESULTS.md). ``BestEpochStopping``
stops by the same rule (it *is* Keras' callback, with the copy replaced) and copies the weights
into shadow variables with one compiled call, restoring them the same way at the end of
training. The shadow variables are made once per model, so a model recycled across trials
reuses them; the compiled copy is shared by every model whose weights have the same shapes.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from mtltune.model.loop import per_model


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


def snapshot_of(model: keras.Model) -> WeightSnapshot:
    """The model's ``WeightSnapshot``, created (and traced) once per model."""
    return per_model(model, "_mtltune_snapshot", WeightSnapshot)


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

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Reset the rule; nothing is kept yet."""
        super().on_train_begin(logs)
        self._saved = False

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Apply Keras' rule; keep the weights of the first monitored and each improving epoch."""
        best = self.best
        super().on_epoch_end(epoch, logs)
        if (logs or {}).get(self.monitor) is None or epoch < self.start_from_epoch:
            return
        # Keras replaces ``best`` by the epoch's value exactly when the epoch improves (an
        # identity test: a NaN best is never equal to itself).
        improved = self.best is not best
        if improved or not self._saved:
            snapshot_of(self.model).save()
            self._saved = True

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Restore the kept weights (Keras restores them whether or not training stopped)."""
        super().on_train_end(logs)
        if self._saved:
            snapshot_of(self.model).restore()

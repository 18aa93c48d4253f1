"""The training loop for in-memory data: one compiled call per epoch, no ``tf.data``.

Keras' ``fit`` builds a ``tf.data`` pipeline and an iterator for every epoch and calls the
compiled step once per batch (or per ``steps_per_execution`` batches). On the small models of a
search that overhead is most of an epoch. Here the training and stop arrays are placed in
memory as tensors once per ``fit``; one ``tf.function`` runs a whole epoch (every batch of a
fresh shuffle, each through the model's ``train_batch``, as Keras' ``fit`` does) and another
scores a split in large chunks through ``test_batch``. Both are traced once per model, for any
number of rows (the first trace leaves the row count open, so the stop and test splits, whose
sizes differ, share one graph): a model the hypermodel recycles across trials (see
``MultiTaskHyperModel.recycling``) is never traced again.

The loop drives ordinary Keras callbacks (``EarlyStopping``, Keras Tuner's, TensorBoard):
``on_train_batch_end`` is called once per epoch, with the index of the last batch run. An epoch
stops at the first batch whose running loss is NaN or infinite.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import tensorflow as tf

from mtltune.compat.keras_private import save_best_epoch_class, save_best_epoch_now
from mtltune.study.names import STOP_PREFIX

if TYPE_CHECKING:
    from mtltune.model.multitask import MultiTaskModel


#: Rows per chunk when scoring a split (the result does not depend on it).
EVAL_BATCH_SIZE = 4096

#: The Keras Tuner callback that checkpoints a trial's best epoch (saved once, after training).
_SaveBestEpoch = save_best_epoch_class()


def in_memory(*values: Any) -> bool:
    """Whether every value is an array, or a dict/list/tuple of arrays, all with rows."""

    def ok(value: Any) -> bool:
        if isinstance(value, Mapping):
            return bool(value) and all(ok(v) for v in value.values())
        if isinstance(value, (list, tuple)):
            return bool(value) and all(ok(v) for v in value)
        return isinstance(value, (np.ndarray, tf.Tensor)) and len(value.shape) >= 1

    return all(ok(v) for v in values)


def as_tensors(value: Any) -> Any:
    """The same structure with every array as a tensor (floats as float32)."""

    def convert(array: Any) -> tf.Tensor:
        array = np.asarray(array)
        if array.dtype.kind == "f":
            array = array.astype("float32", copy=False)
        return tf.convert_to_tensor(array)

    return tf.nest.map_structure(convert, value)


def rows(value: Any) -> int:
    """Number of rows of an array structure (every leaf must agree)."""
    counts = {int(leaf.shape[0]) for leaf in tf.nest.flatten(value)}
    if len(counts) != 1:
        raise ValueError(f"the arrays have different numbers of rows: {sorted(counts)}")
    return counts.pop()


class EpochLoop:
    """The compiled epoch and evaluation functions of one model (traced on first use).

    Args:
        model: A compiled ``MultiTaskModel``: ``train_batch``/``test_batch`` take ``(x, y)``
            batches and return per-head and total losses; ``epoch_logs`` turns their means
            into logs.
    """

    def __init__(self, model: keras.Model) -> None:
        self.model = model
        # Without autograph, as Keras' ``fit`` traces its step (``do_not_convert``): the loops
        # are written as ``tf.while_loop``, and converting this module and the model's steps
        # cost about a second of every process's first trace.
        self._train = tf.function(self._train_epoch, reduce_retracing=True, autograph=False)
        self._evaluate = tf.function(self._evaluate_chunks, reduce_retracing=True, autograph=False)

    @property
    def traces(self) -> dict[str, int]:
        """How many times the epoch (``train``) and evaluation (``evaluate``) were traced."""
        return {
            "train": self._train.experimental_get_tracing_count(),
            "evaluate": self._evaluate.experimental_get_tracing_count(),
        }

    def _train_epoch(
        self, x: Any, y: Any, order: tf.Tensor, batch_size: tf.Tensor
    ) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """Every batch of ``order``; returns the batches run (fewer if diverged) and the logs."""
        n = tf.shape(order)[0]
        batches = (n + batch_size - 1) // batch_size

        def running(i: tf.Tensor, finite: tf.Tensor, *_: tf.Tensor) -> tf.Tensor:
            return tf.logical_and(i < batches, finite)

        def step(
            i: tf.Tensor, finite: tf.Tensor, sums: tf.Tensor, total: tf.Tensor, seen: tf.Tensor
        ) -> tuple[tf.Tensor, ...]:
            index = order[i * batch_size : (i + 1) * batch_size]
            batch = tf.nest.map_structure(lambda t: tf.gather(t, index), (x, y))
            losses, loss = self.model.train_batch(batch)
            rows = tf.cast(tf.shape(index)[0], "float32")
            return (
                i + 1,
                tf.math.is_finite(loss),  # the batch that diverged is the epoch's last
                sums + tf.cast(losses, "float32") * rows,
                total + tf.cast(loss, "float32") * rows,
                seen + rows,
            )

        start = (
            tf.constant(0),
            tf.constant(True),
            tf.zeros([len(self.model.head_names)]),
            tf.constant(0.0),
            tf.constant(0.0),
        )
        done, _, sums, total, seen = tf.while_loop(running, step, start)
        logs = self.model.epoch_logs(total / seen, sums / seen, training=True)
        # After the logs, which show the weights the epoch trained with (dwa's update).
        end_epoch = getattr(self.model, "end_epoch", None)
        if end_epoch is not None:
            end_epoch()
        return done, logs

    def _evaluate_chunks(self, x: Any, y: Any, chunk: tf.Tensor) -> dict[str, tf.Tensor]:
        """Score consecutive chunks with ``test_batch``; returns the evaluation logs."""
        for metric in self.model.head_metrics:
            metric.reset_state()
        n = tf.shape(tf.nest.flatten(x)[0])[0]

        def step(
            start: tf.Tensor, sums: tf.Tensor, total: tf.Tensor
        ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
            batch = tf.nest.map_structure(lambda t: t[start : start + chunk], (x, y))
            losses, loss = self.model.test_batch(batch)
            rows = tf.cast(tf.shape(tf.nest.flatten(batch[0])[0])[0], "float32")
            return (
                start + chunk,
                sums + tf.cast(losses, "float32") * rows,
                total + tf.cast(loss, "float32") * rows,
            )

        start = (tf.constant(0), tf.zeros([len(self.model.head_names)]), tf.constant(0.0))
        _, sums, total = tf.while_loop(lambda i, *_: i < n, step, start)
        seen = tf.cast(n, "float32")
        return self.model.epoch_logs(total / seen, sums / seen, training=False)

    def train_epoch(
        self, x: Any, y: Any, order: np.ndarray, batch_size: int
    ) -> tuple[int, dict[str, float]]:
        """Train one epoch over the rows in ``order``.

        Returns:
            The number of batches run and the epoch's training logs.
        """
        args = (x, y, tf.constant(order, dtype="int32"), tf.constant(batch_size))
        done, logs = _call_any_rows(self._train, args)
        return int(done), _floats(logs)

    def evaluate(self, x: Any, y: Any) -> dict[str, float]:
        """The trackers' results over every row of ``(x, y)``."""
        return _floats(_call_any_rows(self._evaluate, (x, y, tf.constant(EVAL_BATCH_SIZE))))


def _call_any_rows(function: Any, args: tuple[Any, ...]) -> Any:
    """Call a ``tf.function`` whose first trace leaves every tensor's row count open.

    A trace for the shapes of the first call would be retraced for the next split size (the
    test split after the stop split); traced for ``[None, ...]`` it serves every size.
    """
    if function.experimental_get_tracing_count() == 0:

        def any_rows(t: tf.Tensor) -> tf.TensorSpec:
            return tf.TensorSpec([None, *t.shape[1:]] if t.shape.rank else [], t.dtype)

        function.get_concrete_function(*tf.nest.map_structure(any_rows, args))
    return function(*args)


def _floats(logs: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in logs.items()}


def loop_of(model: MultiTaskModel) -> EpochLoop:
    """The model's epoch loop, created (and later traced) once per model.

    Kept as the model's declared ``epoch_loop`` (not a weight, never saved), so a model
    recycled across trials keeps its traced epoch.
    """
    if model.epoch_loop is None:
        model.epoch_loop = EpochLoop(model)
    return model.epoch_loop


def predict(model: keras.Model, x: Any) -> dict[str, np.ndarray]:
    """A model's outputs for in-memory rows, run eagerly in chunks: nothing to trace.

    Keras' ``predict`` traces a function per model; a model used for one prediction (a
    replicate's, whose new data draw needs a model of its own) would be traced for one call,
    which is slower than running the forward pass eagerly and makes TensorFlow warn about
    retracing once it happens a few times in a row.
    """
    x = np.asarray(x, dtype="float32")
    chunks = [
        model(tf.convert_to_tensor(x[start : start + EVAL_BATCH_SIZE]), training=False)
        for start in range(0, max(len(x), 1), EVAL_BATCH_SIZE)
    ]
    return {key: np.concatenate([np.asarray(c[key]) for c in chunks]) for key in chunks[0]}


def evaluate(model: keras.Model, x: Any, y: Any) -> dict[str, float]:
    """Score in-memory arrays with the model's ``test_batch`` (losses and metrics by name)."""
    y = as_tensors(y)
    pack = getattr(model, "pack_targets", None)
    return loop_of(model).evaluate(as_tensors(x), pack(y) if pack is not None else y)


def fit(
    model: keras.Model,
    x: Any,
    y: Any,
    validation_data: tuple[Any, Any],
    *,
    epochs: int,
    batch_size: int,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    seed: int = 0,
    shuffle: bool | str = True,
    initial_epoch: int = 0,
) -> dict[str, list[float]]:
    """Train on in-memory arrays, scoring ``validation_data`` after every epoch.

    Args:
        model: A compiled model (``MultiTaskModel``).
        x: Training inputs (array, or a structure of arrays).
        y: Training targets.
        validation_data: ``(x_stop, y_stop)``, scored after every epoch (logged as ``val_*``).
        epochs: At most this many epochs (callbacks may stop earlier).
        batch_size: Rows per training step.
        callbacks: Keras callbacks (Keras Tuner's best-epoch checkpoint is saved once, at the
            end, from the weights the model holds then).
        seed: Seeds the shuffle of every epoch.
        shuffle: ``True``: one seeded permutation of the rows, used by every epoch, which is
            what Keras' ``fit`` does under ``keras.utils.set_random_seed`` (its ``tf.data``
            shuffle replays the same permutation each epoch); ``"epoch"``: a new permutation
            every epoch; ``False``: the rows in order. On hetero_sine, reshuffling every epoch
            ended trials earlier and worse under early stopping (benchmarks/RESULTS.md).
        initial_epoch: Index of the first epoch (Hyperband resumes a trial's training).

    Returns:
        The logs of every epoch, as Keras' ``History.history``.
    """
    x, y = as_tensors(x), as_tensors(y)
    x_val, y_val = as_tensors(validation_data[0]), as_tensors(validation_data[1])
    n = rows((x, y))
    pack = getattr(model, "pack_targets", None)
    if pack is not None:  # fused heads' targets as one matrix: one gather or slice per batch
        y, y_val = pack(y), pack(y_val)
    if n == 0:
        raise ValueError("no training rows")
    rng = np.random.default_rng(seed)
    loop = loop_of(model)
    deferred = [c for c in callbacks if _SaveBestEpoch and isinstance(c, _SaveBestEpoch)]
    recorder = _Recorder()
    per_epoch = [c for c in callbacks if not any(c is d for d in deferred)]
    hooks = keras.callbacks.CallbackList(
        [*per_epoch, recorder],
        add_history=False,
        add_progbar=False,
        model=model,
        epochs=epochs,
        verbose=0,
    )
    model.stop_training = False
    hooks.on_train_begin()
    for epoch in range(initial_epoch, epochs):
        hooks.on_epoch_begin(epoch)
        if epoch == initial_epoch or shuffle == "epoch":
            order = rng.permutation(n) if shuffle else np.arange(n)
        done, logs = loop.train_epoch(x, y, order, batch_size)
        hooks.on_train_batch_end(done - 1, {"loss": logs["loss"]})
        if not math.isfinite(logs["loss"]):
            break  # The epoch stopped at the diverging batch; callbacks were told.
        logs.update({STOP_PREFIX + k: v for k, v in loop.evaluate(x_val, y_val).items()})
        hooks.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    hooks.on_train_end()
    for callback in deferred:
        save_best_epoch_now(callback, model)
    return recorder.history


class _Recorder(keras.callbacks.Callback):
    """Records each epoch's logs as the last callback sees them (after ``ObjectiveLogger``)."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Append every value of the epoch's logs."""
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))

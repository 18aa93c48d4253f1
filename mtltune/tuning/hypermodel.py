"""``MultiTaskHyperModel``: the thin Keras Tuner adapter.

``build(hp)`` declares the strategy's hyperparameters, builds the network (from a study, or from
the user's ``build_fn(hp)``) and wraps it in a compiled ``MultiTaskModel`` with fresh optimizers.
``fit(hp, model, ...)`` trains on the training data, early-stops on the stop split by the
weight-free objective (restoring the best epoch) and returns the objective and the per-head stop
losses of the best epoch. A trial whose losses become NaN or infinite raises Keras Tuner's
``FailedTrialError``: the search records it as failed and goes on.

In-memory arrays train through ``mtltune.model.loop`` (one compiled call per epoch); other inputs
(a ``tf.data.Dataset``, say) through Keras' ``fit``. Inside ``with hypermodel.recycling():``
a model whose training ended is recycled by the next ``build`` of the same strategy and
architecture: fresh initial weights and optimizer state, but no new tracing and no new graphs,
which is where Keras and TensorFlow spend time and leak memory with every new model.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import keras
import keras_tuner as kt

from mtltune.model import loop
from mtltune.model.earlystop import BestEpochStopping
from mtltune.model.heads import reference_losses
from mtltune.model.multitask import MultiTaskModel
from mtltune.model.network import build_network
from mtltune.model.objectives import MONITOR, OBJECTIVE, Objective, ObjectiveLogger, head_loss_key
from mtltune.model.strategies import TrainPlan, declare
from mtltune.study import (
    HeadConfig,
    ObjectiveConfig,
    SearchConfig,
    Study,
    TrainingConfig,
    named_head,
)
from mtltune.study.catalog import is_custom_loss

#: Batch size of the stop-split evaluation each epoch (the result does not depend on it).
EVAL_BATCH_SIZE = loop.EVAL_BATCH_SIZE

#: At most this many idle models are kept for recycling (one per strategy and architecture).
POOL_SIZE = 8

BuildFn = Callable[[kt.HyperParameters], keras.Model]


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


class MultiTaskHyperModel(kt.HyperModel):
    """Searches how the heads of a multi-task Keras model share the training signal.

    Args:
        build_fn: ``build(hp) -> keras.Model`` returning an uncompiled model whose outputs are
            named after the heads (a dict output, or output layers named like the heads).
        heads: Head configurations keyed by output name (``HeadConfig`` or plain dicts).
        search: Allowed strategies and ranges (default: both strategies, default ranges).
        training: Epoch budget, batch size and early-stopping patience.
        objective: The weight-free score (default: geometric mean of per-head stop losses).
        seed: Seeds the initialisation of every trial's model (same seed, same start).
        steps_per_execution: Training steps per call of Keras' compiled step function, for
            inputs that go through Keras' ``fit`` (in-memory arrays run a whole epoch per call).
        class_weights: Per-class weights (code order) of heads with a class-weighted loss.
        name: The hypermodel's name.
        stateless_build: ``build_fn`` and the heads' losses draw random numbers only through
            Keras' stateless generators (Keras' own initializers and dropout), never through
            TensorFlow's stateful random ops: inside ``recycling()`` TensorFlow's caches are
            then kept across trials, which saves the first epoch's re-instantiation (see
            ``recycling``). Leave it off if unsure: with stateful random ops and kept caches,
            a trial's randomness would depend on the trials before it.

    Example:
        ```python
        hypermodel = MultiTaskHyperModel(build, heads={"a": {}, "b": {"kind": "binary"}})
        tuner = kt.RandomSearch(hypermodel, objective=hypermodel.tuner_objective, max_trials=5)
        tuner.search(x, {"a": ya, "b": yb}, validation_data=(x_stop, y_stop))
        ```
    """

    def __init__(
        self,
        build_fn: BuildFn,
        heads: Mapping[str, HeadConfig | Mapping[str, Any]],
        *,
        search: SearchConfig | Mapping[str, Any] | None = None,
        training: TrainingConfig | Mapping[str, Any] | None = None,
        objective: ObjectiveConfig | Mapping[str, Any] | None = None,
        seed: int = 0,
        steps_per_execution: int = 1,
        class_weights: Mapping[str, Sequence[float]] | None = None,
        name: str | None = None,
        stateless_build: bool = False,
    ) -> None:
        super().__init__(name=name, tunable=True)
        self.build_fn = build_fn
        self.heads = {
            h: named_head(h, c if isinstance(c, HeadConfig) else HeadConfig.model_validate(dict(c)))
            for h, c in heads.items()
        }
        self.class_weights = {h: list(w) for h, w in (class_weights or {}).items()}
        unresolved = [
            h for h, c in self.heads.items() if c.class_weights and h not in self.class_weights
        ]
        if unresolved:
            raise ValueError(
                f"heads {unresolved} use a class-weighted loss: pass class_weights={{head: "
                "[weight per class code]} (mtltune.model.heads.balanced_class_weights(y_train) "
                "computes the 'balanced' ones)"
            )
        self.search = _coerce(SearchConfig, search)
        self.training = _coerce(TrainingConfig, training)
        self.objective = Objective(
            _coerce(ObjectiveConfig, objective),
            tuple(self.heads),
            log_heads=frozenset(h for h, c in self.heads.items() if c.loss_scale == "log"),
        )
        self.seed = seed
        #: The hyperparameters of the latest ``build`` and how often in a row they were built.
        self._last_hp: kt.HyperParameters | None = None
        self._execution = 0
        self.steps_per_execution = steps_per_execution
        #: Per-epoch logs of the latest ``fit`` (for the run's training-curve plots).
        self.last_history: dict[str, list[float]] | None = None
        self._reference_data: tuple[Any, Any] = (None, None)
        self._reference: Objective = self.objective
        self._recycling = False
        #: Idle models by (strategy, network signature); a model is idle once ``fit`` ended.
        self._pool: dict[tuple[Any, ...], MultiTaskModel] = {}
        self._frozen = False
        #: Whether TensorFlow's caches may outlive a trial inside ``recycling`` (see Args).
        self.stateless_build = stateless_build

    @classmethod
    def from_study(
        cls,
        study: Study,
        input_dim: int,
        output_units: Mapping[str, int],
        class_weights: Mapping[str, Sequence[float]] | None = None,
    ) -> MultiTaskHyperModel:
        """A hypermodel that builds the study's trunk and heads.

        Args:
            study: The validated study.
            input_dim: Number of encoded input features.
            output_units: Output width of each head (1, or the number of classes).
            class_weights: Per-class weights (code order) of class-weighted heads, computed
                from the train split (``Dataset.class_weights``).
        """

        def build_fn(hp: kt.HyperParameters) -> keras.Model:
            return build_network(study.model, study.heads, input_dim, output_units, name=study.name)

        return cls(
            build_fn,
            study.heads,
            search=study.search,
            training=study.training,
            objective=study.search.objective,
            seed=study.seed,
            class_weights=class_weights,
            name=study.name,
            # mtltune's networks are Keras layers only (Dense, Dropout with SeedGenerator); a
            # user's loss function might draw from TensorFlow's stateful random ops.
            stateless_build=not any(is_custom_loss(str(h.loss)) for h in study.heads.values()),
        )

    @property
    def tuner_objective(self) -> kt.Objective:
        """The Keras Tuner objective to pass to a tuner using this hypermodel."""
        return kt.Objective(MONITOR, direction=self.objective.direction)

    # -- Keras Tuner interface ------------------------------------------------------------------

    def build(self, hp: kt.HyperParameters) -> MultiTaskModel:
        """Declare the search space, build the network and compile it by the trial's plan.

        Keras Tuner's ``executions_per_trial`` builds a trial once per execution with the same
        ``hp``: execution ``k`` gets the seed ``seed + k`` (the first one the hypermodel's), so
        the executions differ in their initialisation and are averaged.
        """
        plan = declare(hp, tuple(self.heads), self.search)
        execution = self._execution + 1 if hp is self._last_hp else 0
        self._last_hp, self._execution = hp, execution
        return self.build_plan(plan, hp, seed=self.seed + execution)

    def build_plan(
        self, plan: TrainPlan, hp: kt.HyperParameters | None = None, *, seed: int | None = None
    ) -> MultiTaskModel:
        """Build and compile a model for a given plan (the baseline, a replicate, a test).

        Args:
            plan: Strategy and optimizer settings.
            hp: Hyperparameters for the user's ``build_fn`` (default: empty).
            seed: Initialisation seed (default: the hypermodel's; replicates pass others).
        """
        seed = self.seed if seed is None else seed
        keras.utils.set_random_seed(seed)
        net = self.build_fn(hp if hp is not None else kt.HyperParameters())
        # The signature (a config walk) is only needed where models can be recycled.
        key = (plan.strategy, _signature(net)) if self._recycling else None
        model = self._pool.pop(key, None) if key is not None else None
        if model is not None:
            model.recycle(net, plan)
        else:
            model = MultiTaskModel(net, self.heads, plan, self.class_weights)
            model.compile(steps_per_execution=self.steps_per_execution)
        # Not tracked attributes: where the model may go back to, and its shuffle seed.
        object.__setattr__(model, "_mtltune_pool_key", key)
        object.__setattr__(model, "_mtltune_seed", seed)
        return model

    @contextlib.contextmanager
    def recycling(self) -> Iterator[None]:
        """Within this block, models whose ``fit`` ended are recycled by later builds.

        For loops that build, train and drop one model at a time (a Keras Tuner search, say):
        a model stays valid until the next ``build``/``build_plan`` of the same strategy and
        architecture after its ``fit``. Models built outside the block are never recycled, so
        ``tuner.get_best_models`` and ``tuner.load_model`` there return independent models.

        For a hypermodel made with ``stateless_build`` (``from_study`` sets it unless a head has
        a custom loss), TensorFlow's kernel and function caches are also kept within the block.
        ``keras.utils.set_random_seed`` (each build) and Keras' ``clear_session`` (Keras Tuner,
        before each build) would clear them, and a recycled model would then re-instantiate its
        compiled epoch at its first call: 0.2 s (``weighted``) to 0.5 s (``separate``) per trial
        on the bundled study (``python benchmarks/run.py --parts recycle``). The clearing exists
        to restart stateful random kernels, which a user's code may use; so it is kept for it.
        """
        previous = self._recycling
        self._recycling = True
        keep = not previous and self.stateless_build
        try:
            with _tf_caches_kept() if keep else contextlib.nullcontext():
                yield
        finally:
            self._recycling = previous
            if not previous:
                self._pool.clear()
                if self._frozen:
                    gc.unfreeze()
                    self._frozen = False

    def _release(self, model: MultiTaskModel) -> None:
        """Offer a model whose training ended for recycling (inside ``recycling`` only)."""
        key = getattr(model, "_mtltune_pool_key", None)
        if not self._recycling or key is None:
            return
        self._pool.pop(key, None)
        self._pool[key] = model
        while len(self._pool) > POOL_SIZE:
            self._pool.pop(next(iter(self._pool)))
        if not getattr(model, "_mtltune_released", False):
            object.__setattr__(model, "_mtltune_released", True)
            # A new model's traced graphs live as long as the block: move them, and everything
            # else alive now (TensorFlow's and Keras' modules), out of the garbage collector's
            # sight. Keras Tuner and Keras' clear_session collect twice per trial, and each
            # full collection walked this heap: 0.3 s, 0.6 s of a 5 s trial.
            gc.collect()
            gc.freeze()
            self._frozen = True

    def fit(
        self,
        hp: kt.HyperParameters,
        model: MultiTaskModel,
        x: Any,
        y: Any = None,
        *,
        validation_data: tuple[Any, Any] | None = None,
        callbacks: list[keras.callbacks.Callback] | None = None,
        epochs: int | None = None,
        **kwargs: Any,
    ) -> dict[str, float]:
        """Train on ``(x, y)``, early-stop on ``validation_data`` (the stop split).

        Returns:
            ``val_objective`` and every stop log (``val_loss_<head>``, metrics) of the best
            epoch, plus ``epochs`` trained, ``best_epoch`` and ``seconds``.

        Raises:
            keras_tuner.errors.FailedTrialError: If a loss became NaN or infinite.
            ValueError: If ``validation_data`` is missing.
        """
        if validation_data is None:
            raise ValueError(
                "MultiTaskHyperModel.fit needs validation_data=(x_stop, y_stop): trials are "
                "ranked and early-stopped on that split, never on the training data"
            )
        objective = self.objective_for(y, validation_data[1])
        keys = [p + head_loss_key(h) for h in self.heads for p in ("", "val_")]
        guard = DivergenceGuard(keys)
        early = BestEpochStopping(
            monitor=MONITOR, mode=self.objective.direction, patience=self.training.patience
        )
        self.last_history = None
        callbacks = [ObjectiveLogger(objective), guard, early, *(callbacks or [])]
        epochs = epochs or self.training.max_epochs
        batch_size = kwargs.pop("batch_size", self.training.batch_size)
        start = time.perf_counter()
        try:
            if _fast_path(x, y, validation_data, kwargs):
                history = loop.fit(
                    model,
                    x,
                    y,
                    validation_data,
                    epochs=epochs,
                    batch_size=batch_size,
                    callbacks=callbacks,
                    seed=getattr(model, "_mtltune_seed", self.seed),
                    shuffle=kwargs.get("shuffle", True),
                    initial_epoch=kwargs.get("initial_epoch", 0),
                )
            else:
                kwargs.setdefault("validation_batch_size", EVAL_BATCH_SIZE)
                kwargs.setdefault("verbose", 0)
                history = model.fit(
                    x,
                    y,
                    validation_data=validation_data,
                    epochs=epochs,
                    batch_size=batch_size,
                    callbacks=callbacks,
                    **kwargs,
                ).history
        finally:
            self._release(model)
        seconds = time.perf_counter() - start
        self.last_history = {k: [float(v) for v in vs] for k, vs in history.items()}
        if guard.reason is not None:
            raise kt.errors.FailedTrialError(guard.reason)
        return best_epoch_results(history, objective, seconds)

    def objective_for(self, y_train: Any, y_stop: Any) -> Objective:
        """The objective with its per-head floor set from the data (see ``ObjectiveConfig``).

        The floor needs the targets as arrays keyed by head; with other inputs (a
        ``tf.data.Dataset``, say) the objective has no floor.
        """
        if not (isinstance(y_train, Mapping) and isinstance(y_stop, Mapping)):
            return self.objective
        if not all(h in y_train and h in y_stop for h in self.heads):
            return self.objective
        # Same arrays every trial of a search: compute the constant-predictor losses once.
        # Held (not just their ids) so a freed dict's id cannot be reused by new data.
        cached_train, cached_stop = self._reference_data
        if cached_train is not y_train or cached_stop is not y_stop:
            reference = reference_losses(self.heads, y_train, y_stop, self.class_weights)
            self._reference = self.objective.with_reference(reference)
            self._reference_data = (y_train, y_stop)
        return self._reference


def best_epoch_results(
    history: Mapping[str, list[float]], objective: Objective, seconds: float
) -> dict[str, float]:
    """The stop logs of the best epoch of a training history, plus timing."""
    scores = list(history.get(MONITOR, []))
    if not scores:
        raise kt.errors.FailedTrialError("no epoch produced a stop-split objective")
    best = 0
    for i, value in enumerate(scores):
        if objective.better(value, scores[best]):
            best = i
    if not math.isfinite(scores[best]):
        raise kt.errors.FailedTrialError(f"the objective is {scores[best]} at every epoch")
    results = {
        k: float(v[best]) for k, v in history.items() if k.startswith(("val_", "learned_weight_"))
    }
    results[MONITOR] = float(scores[best])
    if OBJECTIVE in history:
        results[OBJECTIVE] = float(history[OBJECTIVE][best])
    results.update(epochs=float(len(scores)), best_epoch=float(best + 1), seconds=seconds)
    return results


def _fast_path(x: Any, y: Any, validation_data: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bool:
    """Whether ``fit`` can use the in-memory loop: arrays only, no Keras-only options."""
    extra = set(kwargs) - {"shuffle", "verbose", "initial_epoch"}
    return not extra and len(validation_data) == 2 and loop.in_memory(x, y, *validation_data)


def _signature(net: keras.Model) -> tuple[Any, ...]:
    """What a recycled model must share with a new network: architecture, variables, outputs.

    The architecture is the network's config with every layer name replaced by the layer's
    position (names do not change what a network computes, and without Keras'
    ``clear_session`` every build numbers them anew), so an activation or a dropout rate that
    differs keeps two networks apart even when their variables have the same shapes. A network
    without a config (a subclassed model) is never recycled.
    """
    variables = tuple((tuple(v.shape), str(v.dtype)) for v in net.variables)
    outputs = tuple(getattr(net, "output_names", None) or ())
    try:
        config = net.get_config()
    except NotImplementedError:
        return (id(net),)
    layers = config.get("layers") if isinstance(config, dict) else None
    if not isinstance(layers, list):
        return (id(net),)
    names = {str(layer.get("name")): f"#{i}" for i, layer in enumerate(layers)}
    names[str(config.get("name"))] = "#net"

    def normalise(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: normalise(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [normalise(v) for v in value]
        if isinstance(value, str):
            return names.get(value, value)
        return value

    architecture = json.dumps(normalise(config), sort_keys=True, default=repr)
    return (type(net).__name__, outputs, variables, architecture)


def _coerce(cls: Any, value: Any) -> Any:
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    return cls.model_validate(dict(value))


@contextlib.contextmanager
def _tf_caches_kept() -> Iterator[None]:
    """Within the block, TensorFlow's eager context does not clear its kernel caches.

    ``tf.random.set_seed`` and ``clear_kernel_cache`` (called by Keras' ``clear_session``) both
    go through ``TFE_ContextClearCaches``; the seed itself is still set.
    """
    from tensorflow.python.eager import context

    module = context.pywrap_tfe
    clear = getattr(module, "TFE_ContextClearCaches", None)
    if clear is None:  # another TensorFlow layout: leave its caches alone
        yield
        return
    module.TFE_ContextClearCaches = _caches_kept
    try:
        yield
    finally:
        module.TFE_ContextClearCaches = clear


def _caches_kept(handle: Any) -> None:
    """Stands in for ``TFE_ContextClearCaches`` inside ``_tf_caches_kept``."""

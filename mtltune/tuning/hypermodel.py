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
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import keras
import keras_tuner as kt

from mtltune.compat.tf_private import tf_caches_kept
from mtltune.data.scaling import TargetScale, loss_in_units
from mtltune.model import loop
from mtltune.model.callbacks import BestEpochStopping, DivergenceGuard, ObjectiveLogger
from mtltune.model.heads import reference_losses
from mtltune.model.multitask import MultiTaskModel
from mtltune.model.network import build_network
from mtltune.model.objectives import Objective
from mtltune.model.strategies import TrainPlan, declare_space, read_plan
from mtltune.run.heap import frozen_heap
from mtltune.study import (
    HeadConfig,
    ObjectiveConfig,
    SearchConfig,
    Study,
    TrainingConfig,
    named_head,
)
from mtltune.study.heads import log_likelihood_heads
from mtltune.study.names import MONITOR, STOP_PREFIX, head_loss_key
from mtltune.tuning.epochs import best_epoch_results
from mtltune.tuning.reuse import ModelPool

#: Batch size of the stop-split evaluation each epoch (the result does not depend on it).
EVAL_BATCH_SIZE = loop.EVAL_BATCH_SIZE

BuildFn = Callable[[kt.HyperParameters], keras.Model]


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
        target_scales: The fitted scale of each scaled regression target: the arrays passed to
            ``fit`` hold scaled targets, and logged losses and metrics are converted back to
            the target's units (``Dataset.target_scales``; default: targets as given).
        name: The hypermodel's name.
        stateless_build: Opt in to keeping TensorFlow's caches inside ``recycling()`` (off by
            default). Say so only if ``build_fn`` and the heads' losses draw random numbers
            only through Keras' stateless generators (Keras' own initializers and dropout),
            never through TensorFlow's stateful random ops: it saves the first epoch's
            re-instantiation in each recycled trial (see ``recycling``), by patching a private
            TensorFlow function process-wide while the block runs
            (``mtltune.compat.tf_private``). Leave it off if unsure: with stateful random ops
            and kept caches, a trial's randomness would depend on the trials before it.

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
        target_scales: Mapping[str, TargetScale] | None = None,
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
        self.target_scales = dict(target_scales or {})
        self.search = _coerce(SearchConfig, search)
        self.training = _coerce(TrainingConfig, training)
        self.objective = Objective(
            _coerce(ObjectiveConfig, objective),
            tuple(self.heads),
            log_heads=frozenset(log_likelihood_heads(self.heads)),
        )
        self.seed = seed
        self.steps_per_execution = steps_per_execution
        self._reference_data: tuple[Any, Any] = (None, None)
        self._reference: Objective = self.objective
        #: Idle models by (strategy, network signature); a model is idle once ``fit`` ended.
        self._pool = ModelPool()
        #: Whether TensorFlow's caches may outlive a trial inside ``recycling`` (see Args).
        self.stateless_build = stateless_build

    @classmethod
    def from_study(
        cls,
        study: Study,
        input_dim: int,
        output_units: Mapping[str, int],
        class_weights: Mapping[str, Sequence[float]] | None = None,
        target_scales: Mapping[str, TargetScale] | None = None,
        *,
        stateless_build: bool = False,
    ) -> MultiTaskHyperModel:
        """A hypermodel that builds the study's trunk and heads.

        Args:
            study: The validated study.
            input_dim: Number of encoded input features.
            output_units: Output width of each head (1, or the number of classes).
            class_weights: Per-class weights (code order) of class-weighted heads, computed
                from the train split (``Dataset.class_weights``).
            target_scales: The targets' scales fitted on train (``Dataset.target_scales``).
            stateless_build: Keep TensorFlow's caches inside ``recycling()`` (see the class;
                ``stateless_study(study)`` says whether the study allows it). mtltune's own
                searches pass ``stateless_study(study)``.
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
            target_scales=target_scales,
            name=study.name,
            stateless_build=stateless_build,
        )

    @property
    def tuner_objective(self) -> kt.Objective:
        """The Keras Tuner objective to pass to a tuner using this hypermodel."""
        return kt.Objective(MONITOR, direction=self.objective.direction)

    # -- Keras Tuner interface ------------------------------------------------------------------

    def build(self, hp: kt.HyperParameters, *, execution: int = 0) -> MultiTaskModel:
        """Declare the search space, build the network and compile it by the trial's plan.

        Args:
            hp: The trial's hyperparameters.
            execution: Which of the trial's executions this is (Keras Tuner's
                ``executions_per_trial``): execution ``k`` gets the seed ``seed + k``, so the
                executions differ in their initialisation and are averaged.
                ``mtltune.tuning.tuner.MultiTaskTuner`` passes it; a plain Keras Tuner tuner
                builds every execution as the first (the hypermodel keeps no state between
                calls).
        """
        declare_space(hp, tuple(self.heads), self.search)
        plan = read_plan(hp.values, tuple(self.heads), self.search)
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
        key = self._pool.key(plan, net, self._scales_key())
        model = self._pool.take(key)
        if model is not None:
            model.recycle(net, plan)
        else:
            model = MultiTaskModel(net, self.heads, plan, self.class_weights, self.target_scales)
            model.compile(steps_per_execution=self.steps_per_execution)
        model.pool_key, model.init_seed = key, seed
        return model

    @contextlib.contextmanager
    def recycling(self) -> Iterator[None]:
        """Within this block, models whose ``fit`` ended are recycled by later builds.

        For loops that build, train and drop one model at a time (a Keras Tuner search, say):
        a model stays valid until the next ``build``/``build_plan`` of the same strategy and
        architecture after its ``fit``. Models built outside the block are never recycled, so
        ``tuner.get_best_models`` and ``tuner.load_model`` there return independent models.

        For a hypermodel made with ``stateless_build`` (mtltune's searches set it unless a head
        has a custom loss), TensorFlow's kernel and function caches are also kept within the block.
        ``keras.utils.set_random_seed`` (each build) and Keras' ``clear_session`` (Keras Tuner,
        before each build) would clear them, and a recycled model would then re-instantiate its
        compiled epoch at its first call: 0.2 s (``weighted``) to 0.5 s (``separate``) per trial
        on the bundled study (``python benchmarks/run.py --parts recycle``). The clearing exists
        to restart stateful random kernels, which a user's code may use; so it is kept for it.

        The garbage collector does not walk what was alive at the block's start, nor each new
        model's traced graphs, until the block ends (``mtltune.run.heap.frozen_heap``).
        """
        previous = self._pool.active
        self._pool.active = True
        keep = not previous and self.stateless_build
        try:
            with frozen_heap(), tf_caches_kept() if keep else contextlib.nullcontext():
                yield
        finally:
            self._pool.active = previous
            if not previous:
                self._pool.clear()

    def _release(self, model: MultiTaskModel) -> None:
        """Offer a model whose training ended for recycling (inside ``recycling`` only)."""
        self._pool.release(model)

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
        keys = [p + head_loss_key(h) for h in self.heads for p in ("", STOP_PREFIX)]
        guard = DivergenceGuard(keys)
        early = BestEpochStopping(
            monitor=MONITOR, mode=self.objective.direction, patience=self.training.patience
        )
        callbacks = [ObjectiveLogger(objective), guard, early, *(callbacks or [])]
        epochs = epochs or self.training.max_epochs
        batch_size = kwargs.pop("batch_size", self.training.batch_size)
        start = time.perf_counter()
        try:
            history = self._train(
                model, x, y, validation_data, callbacks, epochs, batch_size, kwargs
            )
        finally:
            self._release(model)
        seconds = time.perf_counter() - start
        if guard.reason is not None:
            raise kt.errors.FailedTrialError(guard.reason)
        return best_epoch_results(history, objective, seconds)

    def _train(
        self,
        model: MultiTaskModel,
        x: Any,
        y: Any,
        validation_data: tuple[Any, Any],
        callbacks: list[keras.callbacks.Callback],
        epochs: int,
        batch_size: int,
        kwargs: dict[str, Any],
    ) -> dict[str, list[float]]:
        """Train by the in-memory loop where it applies, else by Keras' ``fit``: the history."""
        if _fast_path(x, y, validation_data, kwargs):
            return loop.fit(
                model,
                x,
                y,
                validation_data,
                epochs=epochs,
                batch_size=batch_size,
                callbacks=callbacks,
                seed=_seed_of(model, self.seed),
                shuffle=kwargs.get("shuffle", True),
                initial_epoch=kwargs.get("initial_epoch", 0),
            )
        kwargs.setdefault("validation_batch_size", EVAL_BATCH_SIZE)
        kwargs.setdefault("verbose", 0)
        return model.fit(
            x,
            y,
            validation_data=validation_data,
            epochs=epochs,
            batch_size=batch_size,
            callbacks=callbacks,
            **kwargs,
        ).history

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
            reference = {h: self._in_units(h, v) for h, v in reference.items()}
            self._reference = self.objective.with_reference(reference)
            self._reference_data = (y_train, y_stop)
        return self._reference

    def _scales_key(self) -> tuple[Any, ...]:
        """The target scales a model's steps are traced with (part of its recycling key)."""
        return tuple(sorted((h, s.kind, s.center, s.spread) for h, s in self.target_scales.items()))

    def _in_units(self, head: str, loss: float) -> float:
        """A loss on the network's axis in the target's units (as the logs give it)."""
        return loss_in_units(self.target_scales, head, str(self.heads[head].loss), loss)


def _fast_path(x: Any, y: Any, validation_data: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bool:
    """Whether ``fit`` can use the in-memory loop: arrays only, no Keras-only options."""
    extra = set(kwargs) - {"shuffle", "verbose", "initial_epoch"}
    return not extra and len(validation_data) == 2 and loop.in_memory(x, y, *validation_data)


def _seed_of(model: keras.Model, default: int) -> int:
    """The seed a model was built with (``default`` for a model not built by ``build_plan``)."""
    seed = model.init_seed if isinstance(model, MultiTaskModel) else None
    return default if seed is None else seed


def _coerce(cls: Any, value: Any) -> Any:
    if value is None:
        return cls()
    if isinstance(value, cls):
        return value
    return cls.model_validate(dict(value))

"""The Keras model whose train and test steps implement the strategies.

``MultiTaskModel`` wraps any Keras model whose outputs are named after the heads. It computes
each head's unweighted loss itself, logs it as ``loss_<head>`` (not Keras' ``<head>_loss``, which
its compiled-loss tracker owns), and trains by the plan's strategy, an object of
``mtltune.model.strategies`` that groups the variables for its optimizers and computes the total:

* ``weighted``: one Adam on ``Σ_i w_i·L_i`` (weights normalised to mean 1);
* ``separate``: one Adam per head, built only on the variables that head's output depends on
  (the shared trunk and its own head), each applying the gradient of its own loss every step,
  so each keeps its own moments for the trunk;
* ``uncertainty`` (Kendall, Gal & Cipolla, 2018): one Adam on ``Σ_i exp(-s_i)·L_i + s_i`` with
  a learned log-variance ``s_i`` per head. The same form serves regression and classification
  heads (Kendall et al. halve both terms for regression heads; under Adam that only rescales
  regression against classification heads). At the optimum ``exp(-s_i) = 1/L_i``: for a
  Gaussian head the maximum-likelihood weight ``1/σ_i²``. Heads whose loss is already a
  log-likelihood (``loss_scale: log``) keep weight 1;
* ``geometric``: one Adam on the geometric mean ``exp(mean_i log L_i)`` (a log-likelihood head
  enters with ``log exp(L_i) = L_i``); its gradient weights head ``i`` by ``1/L_i``;
* ``dwa``, ``gradnorm``, ``pcgrad``, ``famo``: their state, task weights and own steps are
  set up by ``mtltune.model.stepping``; ``dwa`` updates its weights after each epoch.

The TensorFlow backend is required (``tf.GradientTape``).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mtltune.data.scaling import TargetScale, loss_units
from mtltune.model import recycling, stepping
from mtltune.model.adam import FlatAdam
from mtltune.model.fused import FusedForward
from mtltune.model.gradients import (
    gradients_of_head,
    per_head_gradients,
    split_by_reach,
    summed_gradients,
    variables_reached,
)
from mtltune.model.headmetrics import HeadMetrics
from mtltune.model.heads import make_loss
from mtltune.model.strategies import TrainPlan, strategy_of
from mtltune.study import HeadConfig
from mtltune.study.heads import is_log_likelihood
from mtltune.study.names import head_loss_key, learned_weight_key


class MultiTaskModel(keras.Model):
    """A multi-output model trained by a strategy; call it to get a dict of head outputs.

    Args:
        net: A built Keras model whose outputs are named after the heads (a dict output, or
            outputs whose layer names are the head names).
        heads: Head configurations keyed by output name.
        plan: Strategy, learning rates, loss weights and epsilon.
        class_weights: Per-class weights (code order) of heads with a class-weighted loss.
        target_scales: The fitted scale of each scaled regression target (``mtltune.data.
            scaling``): the targets passed to ``fit`` are scaled, the logged head losses and
            metrics are in the target's units.
    """

    def __init__(
        self,
        net: keras.Model,
        heads: Mapping[str, HeadConfig],
        plan: TrainPlan,
        class_weights: Mapping[str, Sequence[float]] | None = None,
        target_scales: Mapping[str, TargetScale] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=kwargs.pop("name", "multitask"), **kwargs)
        self.net = net
        self.head_names = tuple(heads)
        self.plan = plan
        self.strategy = strategy_of(plan)
        self._uses = {h: tuple(cfg.uses or ()) for h, cfg in heads.items()}
        self.output_keys = self.head_names + tuple(a for h in heads for a in self._uses[h])
        missing = sorted(set(self.output_keys) - set(_output_names(net)))
        if missing:
            raise ValueError(
                f"the model has no outputs named {missing}; its outputs are "
                f"{_output_names(net)}. Name each output layer after its head, or return a dict "
                "keyed by head name from the functional model"
            )
        class_weights = class_weights or {}
        self._loss_fns = {h: make_loss(cfg, class_weights.get(h)) for h, cfg in heads.items()}
        # Like heads computed together (mtltune.model.fused): a plain object, which Keras does
        # not track (the view's layers are the network's own).
        fuse = FusedForward.applies(net, self.head_names, self._uses)
        fusion = FusedForward(net, self.head_names, self._loss_fns, self._uses) if fuse else None
        self._fusion = fusion
        self._log_scale = tf.constant([is_log_likelihood(cfg) for cfg in heads.values()])
        # The model's own tracker of the strategy's total (as Keras' guide to custom train steps
        # does), not Keras' private compiled-loss tracker.
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.target_scales = {h: s for h, s in (target_scales or {}).items() if s.kind != "none"}
        self._loss_factor, self._loss_offset = self._loss_units(heads)
        self.head_loss_trackers = [keras.metrics.Mean(name=head_loss_key(h)) for h in heads]
        self._metric_set = HeadMetrics.build(heads, fusion, self.target_scales)
        self.head_metrics = self._metric_set.objects
        # Plain TensorFlow variables (not model weights): a recycled model takes a new plan's
        # loss weights and epsilon without tracing its steps again.
        self._weights = tf.Variable(self._weight_vector(plan), trainable=False, name="weights")
        self._epsilon = tf.Variable(float(plan.epsilon), trainable=False, name="epsilon")
        self.head_optimizers: list[keras.optimizers.Optimizer] = []
        self._variable_groups: list[list[keras.Variable]] = []
        self.log_variances: keras.Variable | None = None
        if self.strategy.learns_log_variances:
            self.log_variances = self.add_weight(
                shape=(len(self.head_names),), initializer="zeros", name="log_variances"
            )
        self.task_weights, self.strategy_state = stepping.strategy_variables(self, plan)
        self._shared: list[keras.Variable] = []
        # Neither weights nor saved: the pool it goes back to after training and whether it was
        # offered once (tuning.reuse), its initial weights' and shuffles' seed, its epoch loop.
        self.pool_key: tuple[Any, ...] | None = None
        self.released = False
        self.init_seed: int | None = None
        self.epoch_loop: Any = None  # made by mtltune.model.loop.loop_of at first use
        self.built = True

    def learned_weights(self) -> dict[str, float] | None:
        """The weights the strategy set, per head (``uncertainty``: ``exp(-s_i)``), or ``None``."""
        shown = self.strategy.shown_weights(tf, self.task_weights, self._weights)
        if shown is not None:
            return {h: float(w) for h, w in zip(self.head_names, shown.numpy(), strict=True)}
        if self.log_variances is None:
            return None
        weights = np.exp(-np.asarray(self.log_variances.numpy(), dtype=float))
        return {
            h: float(w) if not log else 1.0
            for h, w, log in zip(self.head_names, weights, self._log_scale.numpy(), strict=True)
        }

    def _loss_units(self, heads: Mapping[str, HeadConfig]) -> tuple[tf.Tensor, tf.Tensor]:
        """Per head, the factor and offset that take its loss to the target's units."""
        units = [loss_units(self.target_scales, h, str(cfg.loss)) for h, cfg in heads.items()]
        # float64: a spread of 5e26 (float32 holds it) squared overflows float32, not float64.
        factor = tf.constant([u[0] for u in units], dtype="float64")
        return factor, tf.constant([u[1] for u in units], dtype="float64")

    def in_units(self, head: str, values: tf.Tensor) -> tf.Tensor:
        """A head's targets or predictions on the network's axis, in the target's units."""
        scale = self.target_scales.get(head)
        if scale is None:
            return values
        # float64, as the regression metrics: a target near float32's range squares beyond it.
        return scale.undo(tf.cast(values, "float64"), tf.exp)

    # -- forward ------------------------------------------------------------------------------

    def call(self, inputs: Any, training: bool = False) -> dict[str, Any]:
        """Run the wrapped network and return its outputs keyed by head name."""
        outputs = self.net(inputs, training=training)
        if isinstance(outputs, Mapping):
            return {k: outputs[k] for k in self.output_keys}
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        by_name = dict(zip(_output_names(self.net), outputs, strict=True))
        return {k: by_name[k] for k in self.output_keys}

    # -- compile --------------------------------------------------------------------------------

    def compile(self, *, steps_per_execution: int = 1, jit_compile: bool = False) -> None:  # type: ignore[override]
        """Create this model's fresh optimizers and compile (no Keras loss: steps compute it).

        Args:
            steps_per_execution: Training steps run per call of the compiled function.
            jit_compile: Whether to XLA-compile the steps.
        """
        variables = [v for v in self.trainable_variables if v is not self.task_weights]
        reach = functools.cache(lambda: variables_reached(self))  # one eager pass at most
        groups = self.strategy.groups(variables, self.head_names, reach)
        if self.strategy.own_step:
            # The trunk: what every head reaches, a fused group's output layer aside (its heads
            # reach it each through its own column only).
            reached = reach()
            fused = self._fusion.layers if self._fusion is not None else []
            heads_own = {id(v) for layer in fused for v in layer.variables}
            self._shared = [
                v
                for v in variables
                if all(id(v) in reached[h] for h in reached) and id(v) not in heads_own
            ]
        if self.task_weights is not None:
            groups = [*groups, [self.task_weights]]
        rates = self.strategy.learning_rates(self.plan, self.head_names)
        optimizers = []
        for i, (group, rate) in enumerate(zip(groups, rates, strict=True)):
            # Adam reads epsilon in its update step: a variable keeps it tunable. FlatAdam:
            # one fused kernel per optimizer and step (separate: five, not one per variable).
            # The task weights' Adam keeps PyTorch's epsilon, as the methods' authors' code.
            own = self.task_weights is not None and i == len(groups) - 1
            epsilon = 1e-8 if own else self._epsilon
            opt = FlatAdam(learning_rate=rate, epsilon=epsilon, name=f"adam_{i}")
            opt.build(group)
            optimizers.append(opt)
        self.head_optimizers = optimizers
        self._variable_groups = groups
        # Variables two heads or more update (their per-head gradients come batched) and each
        # head's own (one summed backward pass gives them all).
        self._reach_split = split_by_reach(groups) if self.strategy.own_head_losses else None
        super().compile(
            optimizer=optimizers[0],
            steps_per_execution=steps_per_execution,
            jit_compile=jit_compile,
        )

    # -- recycling ------------------------------------------------------------------------------

    def _weight_vector(self, plan: TrainPlan) -> list[float]:
        return [float(plan.loss_weights.get(h, 1.0)) for h in self.head_names]

    def recycle(self, net: keras.Model, plan: TrainPlan) -> None:
        """Become a freshly built model for ``plan``, keeping the traced steps.

        See ``mtltune.model.recycling.recycle``.
        """
        recycling.recycle(self, net, plan)

    def set_plan_values(self, plan: TrainPlan) -> None:
        """Set ``plan``'s loss weights and epsilon (variables the traced steps read)."""
        self._weights.assign(self._weight_vector(plan))
        self._epsilon.assign(float(plan.epsilon))

    # -- steps ----------------------------------------------------------------------------------

    def pack_targets(self, y: Any) -> Any:
        """Targets as the steps read them fastest (training's and scoring's, once per ``fit``).

        Fused heads' targets become one ``[rows, K]`` matrix per group (``mtltune.model.fused``);
        ``train_batch`` and ``test_batch`` take the targets packed or not.
        """
        if self._fusion is None or not isinstance(y, Mapping):
            return y
        return self._fusion.pack_targets(y)

    def forward(self, x: Any, y: Any, *, training: bool) -> tuple[tf.Tensor, Any]:
        """The stacked per-head losses ``[K]`` (head order) of one batch, and its outputs.

        Returns:
            The losses, and a function giving a head's (or auxiliary) output by name: fused
            heads' columns are taken only when asked for.
        """
        if self._fusion is None:
            outputs = self(x, training=training)
            losses = [
                self._loss_fns[h](y[h], outputs[h], *(outputs[a] for a in self._uses[h]))
                for h in self.head_names
            ]
            return tf.stack(losses), outputs.__getitem__
        values = self._fusion.view(x, training=training)
        fusion = self._fusion
        return fusion.losses(values, y), lambda head: fusion.output(values, head)

    def _total(self, stacked: tf.Tensor) -> tf.Tensor:
        """What the strategy's single optimizer minimises (``separate``: the weighted sum).

        A strategy with task weights (``gradnorm``, ``famo``) gets them as its ``weights``.
        """
        weights = self._weights if self.task_weights is None else self.task_weights
        return self.strategy.total(tf, stacked, weights, self._log_scale, self.log_variances)

    def _track(self, losses: tf.Tensor, total: tf.Tensor, batch: tf.Tensor) -> None:
        for i, tracker in enumerate(self.head_loss_trackers):
            tracker.update_state(losses[i], sample_weight=batch)
        self.loss_tracker.update_state(total, sample_weight=batch)

    def train_batch(self, data: Any) -> tuple[tf.Tensor, tf.Tensor]:
        """One optimisation step by the plan's strategy.

        ``separate`` (``own_head_losses``): each head's Adam applies the gradient of its own
        loss (plus regularisation); the heads' gradients of the variables they share come from
        one batched backward pass (``mtltune.model.gradients``), of their own variables from one
        summed pass.

        Returns:
            The per-head losses (stacked, in head order) and the strategy's total, both of the
            batch before the update.
        """
        x, y = data[0], data[1]
        separate = self.strategy.own_head_losses
        persistent = separate or self.strategy.per_head_gradients
        with tf.GradientTape(persistent=persistent) as tape:
            stacked, _ = self.forward(x, y, training=True)
            regularisation = tf.add_n(self.losses) if self.losses else tf.constant(0.0)
            total = self._total(stacked) + regularisation
            if separate:
                # Inside the tape: each Adam minimises its own head loss (+ regularisation).
                own = stacked + regularisation
        if self.strategy.per_epoch:
            self.strategy.add_batch(tf, self.strategy_state, stacked, _batch_size(x))
        if self.strategy.own_step:
            context = stepping.context(self, tape, stacked, total, regularisation, (x, y))
            total = self.strategy.step(context)
            del tape
        elif separate:
            shared, single = self._reach_split
            batched = per_head_gradients(tape, own, shared)
            singles = summed_gradients(tape, stacked, single, regularisation)
            for k, (opt, group) in enumerate(
                zip(self.head_optimizers, self._variable_groups, strict=True)
            ):
                opt.apply(gradients_of_head(k, group, shared, batched, single, singles), group)
            del tape
        else:
            group = self._variable_groups[0]
            self.head_optimizers[0].apply(tape.gradient(total, group), group)
        return stacked, total

    def end_epoch(self) -> None:
        """After a training epoch: the strategy's per-epoch update (``dwa``'s weights).

        The loop calls it in its compiled epoch; under Keras' ``fit``, ``reset_metrics`` does.
        """
        if self.strategy.per_epoch:
            self.strategy.end_epoch(tf, self.strategy_state, self._weights, self._log_scale)

    def reset_metrics(self) -> None:  # noqa: D102 (Keras' reset, after ``end_epoch``)
        self.end_epoch()
        super().reset_metrics()

    def test_batch(self, data: Any) -> tuple[tf.Tensor, tf.Tensor]:
        """Per-head losses (stacked) and total of one batch; updates the head metrics."""
        x, y = data[0], data[1]
        stacked, output = self.forward(x, y, training=False)
        self._metric_set.update(y, output, self.in_units)
        return stacked, self._total(stacked)

    def train_step(self, data: Any) -> dict[str, tf.Tensor]:
        """One optimisation step (Keras ``fit``): running means of the epoch so far."""
        losses, total = self.train_batch(data)
        self._track(losses, total, _batch_size(data[0]))
        return self._tracked_logs(training=True)

    def test_step(self, data: Any) -> dict[str, tf.Tensor]:
        """Per-head losses and metrics of one batch (Keras ``evaluate``), as running means."""
        losses, total = self.test_batch(data)
        self._track(losses, total, _batch_size(data[0]))
        return self._tracked_logs(training=False)

    def _tracked_logs(self, *, training: bool) -> dict[str, tf.Tensor]:
        losses = tf.stack([t.result() for t in self.head_loss_trackers])
        return self.epoch_logs(self.loss_tracker.result(), losses, training=training)

    def epoch_logs(
        self, total: tf.Tensor, losses: tf.Tensor, *, training: bool
    ) -> dict[str, tf.Tensor]:
        """The logs of an epoch (``training``) or an evaluation, from its mean losses.

        Args:
            total: Mean of the strategy's total (``loss``).
            losses: Mean loss of each head, stacked in head order (``loss_<head>``), on the
                network's axis: logged in the target's units (``target_scales``).
            training: Training logs add the learned weights (``uncertainty``); evaluation
                logs add every head metric's result (``<head>_<metric>``).
        """
        logs = {"loss": total}
        # In the targets' units, computed in float64 (σ² of a large target overflows float32).
        losses = tf.cast(losses, "float64") * self._loss_factor + self._loss_offset
        logs.update({head_loss_key(h): losses[i] for i, h in enumerate(self.head_names)})
        if not training:
            logs.update(self._metric_set.results())
        else:
            weights = self.strategy.shown_weights(tf, self.task_weights, self._weights)
            if weights is None and self.log_variances is not None:
                weights = tf.exp(-self.log_variances)
            if weights is not None:
                for i, head in enumerate(self.head_names):
                    logs[learned_weight_key(head)] = weights[i]
        return logs

    def metric_keys(self) -> list[tuple[str, str]]:
        """``(head, metric)`` pairs; each is logged as ``<head>_<metric>``."""
        return list(self._metric_set.keys)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        """The trackers reset at each epoch: total, per-head losses, per-head metrics."""
        return [self.loss_tracker, *self.head_loss_trackers, *self.head_metrics]


def _batch_size(x: Any) -> tf.Tensor:
    return tf.cast(tf.shape(tf.nest.flatten(x)[0])[0], "float32")


def _output_names(net: keras.Model) -> list[str]:
    names = getattr(net, "output_names", None)
    if names:
        return list(names)
    outputs = getattr(net, "outputs", None) or []
    return [str(getattr(o, "name", "")).split("/")[0] for o in outputs]

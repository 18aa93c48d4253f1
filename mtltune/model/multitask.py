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

from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mtltune.data.scaling import TargetScale, loss_units
from mtltune.model import stepping
from mtltune.model.adam import FlatAdam
from mtltune.model.heads import make_loss, make_metrics
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
        self._log_scale = tf.constant([is_log_likelihood(cfg) for cfg in heads.values()])
        # The model's own tracker of the strategy's total (as Keras' guide to custom train steps
        # does), not Keras' private compiled-loss tracker.
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.target_scales = {h: s for h, s in (target_scales or {}).items() if s.kind != "none"}
        units = [self._loss_units(h, cfg) for h, cfg in heads.items()]
        # float64: a spread of 5e26 (float32 holds it) squared overflows float32, not float64.
        self._loss_factor = tf.constant([u[0] for u in units], dtype="float64")
        self._loss_offset = tf.constant([u[1] for u in units], dtype="float64")
        self.head_loss_trackers = [
            keras.metrics.Mean(name=head_loss_key(h)) for h in self.head_names
        ]
        self.head_metrics = [m for h, cfg in heads.items() for m in make_metrics(h, cfg)]
        self._metric_heads = [h for h, cfg in heads.items() for _ in cfg.metrics or []]
        self._metric_names = [m for cfg in heads.values() for m in cfg.metrics or []]
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

    def _loss_units(self, head: str, cfg: HeadConfig) -> tuple[float, float]:
        return loss_units(self.target_scales, head, str(cfg.loss))

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
        groups = self.strategy.groups(variables, self.head_names, lambda: _variables_reached(self))
        if self.strategy.own_step:
            reached = _variables_reached(self)
            self._shared = [v for v in variables if all(id(v) in reached[h] for h in reached)]
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

        Every variable of the wrapped network takes its value in ``net`` (a freshly built
        network of the same architecture: its initial weights), the optimizers' moments and
        step counts are zeroed, and the plan's learning rates, epsilon and loss weights are set.
        The optimizers stay built on the same variables, as a fresh compile would build them.

        Args:
            net: A newly built network with the same variables (names, shapes) as ``self.net``.
            plan: The new plan; its strategy must be this model's.

        Raises:
            ValueError: If the strategy or the network's variables differ.
        """
        if plan.strategy != self.plan.strategy:
            raise ValueError(
                f"a {self.plan.strategy!r} model cannot be recycled for a {plan.strategy!r} plan"
            )
        mine, fresh = self.net.variables, net.variables
        if [tuple(v.shape) for v in mine] != [tuple(v.shape) for v in fresh]:
            raise ValueError("the new network's variables differ from the recycled model's")
        for target, source in zip(mine, fresh, strict=True):
            target.assign(source.value)
        for opt, rate in zip(
            self.head_optimizers, self.strategy.learning_rates(plan, self.head_names), strict=True
        ):
            for variable in opt.variables:
                if variable is opt.iterations:
                    variable.assign(0)
                elif variable is not opt.learning_rate:
                    variable.assign(tf.zeros_like(variable))
            opt.learning_rate = rate
        self._weights.assign(self._weight_vector(plan))
        self._epsilon.assign(float(plan.epsilon))
        if self.log_variances is not None:
            self.log_variances.assign(tf.zeros_like(self.log_variances))
        stepping.reset(self, plan)
        self.plan = plan
        self.stop_training = False

    # -- steps ----------------------------------------------------------------------------------

    def _head_losses(self, y: Mapping[str, Any], outputs: Mapping[str, Any]) -> list[tf.Tensor]:
        return [
            self._loss_fns[h](y[h], outputs[h], *(outputs[a] for a in self._uses[h]))
            for h in self.head_names
        ]

    def _total(self, losses: list[tf.Tensor]) -> tf.Tensor:
        """What the strategy's single optimizer minimises (``separate``: the weighted sum).

        A strategy with task weights (``gradnorm``, ``famo``) gets them as its ``weights``.
        """
        stacked = tf.stack(losses)
        weights = self._weights if self.task_weights is None else self.task_weights
        return self.strategy.total(tf, stacked, weights, self._log_scale, self.log_variances)

    def _track(self, losses: tf.Tensor, total: tf.Tensor, batch: tf.Tensor) -> None:
        for i, tracker in enumerate(self.head_loss_trackers):
            tracker.update_state(losses[i], sample_weight=batch)
        self.loss_tracker.update_state(total, sample_weight=batch)

    def train_batch(self, data: Any) -> tuple[tf.Tensor, tf.Tensor]:
        """One optimisation step by the plan's strategy.

        Returns:
            The per-head losses (stacked, in head order) and the strategy's total, both of the
            batch before the update.
        """
        x, y = data[0], data[1]
        separate = self.strategy.own_head_losses
        persistent = separate or self.strategy.per_head_gradients
        with tf.GradientTape(persistent=persistent) as tape:
            outputs = self(x, training=True)
            losses = self._head_losses(y, outputs)
            regularisation = tf.add_n(self.losses) if self.losses else tf.constant(0.0)
            total = self._total(losses) + regularisation
            if separate:
                # Inside the tape: each Adam minimises its own head loss (+ regularisation).
                own = [loss + regularisation for loss in losses]
            stacked = tf.stack(losses)
        if self.strategy.per_epoch:
            self.strategy.add_batch(tf, self.strategy_state, stacked, _batch_size(x))
        if self.strategy.own_step:
            context = stepping.context(self, tape, losses, total, regularisation, (x, y))
            total = self.strategy.step(context)
            del tape
        elif separate:
            for loss, opt, group in zip(
                own, self.head_optimizers, self._variable_groups, strict=True
            ):
                opt.apply(tape.gradient(loss, group), group)
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
        outputs = self(x, training=False)
        losses = self._head_losses(y, outputs)
        for head, metric in zip(self._metric_heads, self.head_metrics, strict=True):
            metric.update_state(self.in_units(head, y[head]), self.in_units(head, outputs[head]))
        return tf.stack(losses), self._total(losses)

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
            logs.update({m.name: m.result() for m in self.head_metrics})
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
        return list(zip(self._metric_heads, self._metric_names, strict=True))

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


def _variables_reached(model: MultiTaskModel) -> dict[str, set[int]]:
    """Ids of the trainable variables each head's output depends on.

    Found once per model from which gradients are structurally connected (``None`` or not) in
    one eager pass on a two-row batch of zeros.
    """
    dummy = tf.nest.map_structure(
        lambda t: tf.zeros([2, *[d or 1 for d in t.shape[1:]]], dtype=t.dtype),
        model.net.inputs if len(model.net.inputs) != 1 else model.net.inputs[0],
    )
    variables = list(model.trainable_variables)
    reach = {}
    with tf.GradientTape(persistent=True) as tape:
        outputs = model(dummy, training=False)
        sums = {
            h: tf.add_n(
                [tf.reduce_sum(tf.cast(outputs[k], "float32")) for k in (h, *model._uses[h])]
            )
            for h in model.head_names
        }
    for head, total in sums.items():
        grads = tape.gradient(total, variables)
        reach[head] = {id(v) for v, g in zip(variables, grads, strict=True) if g is not None}
    del tape
    return reach

"""Keras' Adam with TensorFlow's fused update kernel: one op per variable instead of ~30.

Keras 3's ``Adam.update_step`` builds its update from generic ops, per variable: it recomputes
the step's bias-correction scalars (learning rate, step count, ``β₁ᵗ``, ``β₂ᵗ``) for every
variable, and goes through the distribution strategy's ``update`` and an AutoGraph wrapper per
variable. With five per-head optimizers over a ten-layer trunk (``separate``) that is 110
variable updates and over 3,000 graph ops per step: slow to trace and instantiate (with this
class the first ``separate`` trial of a search takes about half the time:
``python benchmarks/run.py --parts adam``), and, on one intra-op thread, slow to run (the
scalar ops execute at every step).

``FusedAdam`` is the same optimizer (same hyperparameters, moments, config and saved variables)
whose update runs ``ResourceApplyAdam``, the kernel ``tf.keras`` 2's Adam used: the scalars
once per step, then one fused op per variable. The formula is Keras'::

    alpha = lr · sqrt(1 − β₂ᵗ) / (1 − β₁ᵗ)
    m += (g − m) · (1 − β₁);  v += (g² − v) · (1 − β₂);  θ −= alpha · m / (sqrt(v) + ε)

evaluated in one pass (with its own rounding, so weights differ from Keras' ``Adam`` in the
last bits, and training runs diverge slowly from there; the kernel is deterministic and does not
depend on the number of threads). Anything the kernel does not cover falls back to Keras' own
update: AMSGrad, a distribution strategy, variables of different dtypes or not backed by
TensorFlow resource variables. Clipping, weight decay, gradient accumulation, EMA and the step
counter stay Keras' (they live outside the per-variable update this class replaces).

``FlatAdam`` (what ``MultiTaskModel`` builds) runs the same kernel once per step for all its
variables, over moments kept in one flat buffer: per-variable kernels are each too small to pay
for their dispatch (``separate``'s five optimizers made 110 of them per step). On the bundled
study its ``separate`` epochs take 0.61 of ``FusedAdam``'s time and 0.65 of Keras' ``Adam``'s
(``python benchmarks/run.py --parts adam``), with ``FusedAdam``'s results bit for bit.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mtltune.compat.keras_private import AdamUpdateHook

#: Variable dtypes the fused kernel is used for.
FUSED_DTYPES = (tf.float32, tf.float64)


@keras.saving.register_keras_serializable(package="mtltune")
class FusedAdam(AdamUpdateHook):
    """``keras.optimizers.Adam`` whose per-variable update is TensorFlow's fused Adam kernel.

    Takes exactly Keras' ``Adam`` arguments; ``epsilon`` may be a variable (read at every step),
    which keeps it tunable on a recycled model.
    """

    def update_all(
        self, grads: list[Any], trainable_variables: list[Any], learning_rate: Any
    ) -> None:
        """Update every variable with one ``ResourceApplyAdam`` (or Keras' path; see module)."""
        dtype = self._kernel_dtype(trainable_variables)
        if dtype is None:
            super().update_all(grads, trainable_variables, learning_rate)
            return
        scalars = self._kernel_scalars(dtype, learning_rate)
        for grad, variable in zip(grads, trainable_variables, strict=True):
            momentum, velocity = self.keras_moments(self.variable_index(variable))
            tf.raw_ops.ResourceApplyAdam(
                var=_resource(variable).handle,
                m=_resource(momentum).handle,
                v=_resource(velocity).handle,
                grad=tf.cast(grad, dtype),
                use_locking=False,
                use_nesterov=False,
                **scalars,
            )

    def _kernel_dtype(self, variables: list[Any]) -> tf.DType | None:
        """The variables' one dtype if the fused kernel can update them all, else ``None``."""
        handles = [_resource(v) for v in variables]
        dtypes = {h.dtype.base_dtype for h in handles if h is not None}
        if (
            self.amsgrad
            or tf.distribute.has_strategy()
            or any(h is None for h in handles)
            or len(dtypes) != 1
            or next(iter(dtypes)) not in FUSED_DTYPES
        ):
            return None
        return dtypes.pop()

    def _kernel_scalars(self, dtype: tf.DType, learning_rate: Any) -> dict[str, tf.Tensor]:
        """The step's scalar arguments of ``ResourceApplyAdam``, computed once per step."""
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        return {
            "beta1_power": tf.pow(beta_1, step),
            "beta2_power": tf.pow(beta_2, step),
            "lr": tf.cast(learning_rate, dtype),
            "beta1": beta_1,
            "beta2": beta_2,
            "epsilon": tf.cast(self.epsilon, dtype),
        }


@keras.saving.register_keras_serializable(package="mtltune")
class FlatAdam(FusedAdam):
    """``FusedAdam`` whose moments are one flat buffer: one kernel per step, not per variable.

    The update is ``FusedAdam``'s, bit for bit; only its layout differs. At ``build`` the moments
    of all the variables become one flat ``momentum`` and one flat ``velocity`` (in variable
    order), and a flat ``delta`` buffer starts at zero. A step concatenates the gradients, runs
    one ``ResourceApplyAdam`` with ``delta`` as its variable (so ``delta`` becomes
    ``−alpha · m / (sqrt(v) + ε)``), adds each variable's slice of ``delta`` to it and zeroes
    ``delta`` again. Per step that is a handful of ops instead of one kernel call per variable:
    ``separate``'s five optimizers over a ten-layer trunk made 110 kernel calls, each too small
    to pay for its dispatch and its split across intra-op threads.

    Variables a step gives no gradient (Keras drops them from the update) keep their moments
    and values, as with Keras' ``Adam``. Where ``FusedAdam`` would take Keras' path (AMSGrad, a
    distribution strategy, mixed dtypes, ...) this class builds Keras' per-variable moments
    and behaves as ``FusedAdam``. Its saved variables are the flat buffers, so a checkpoint of
    Keras' ``Adam`` does not load into it (nor the reverse).
    """

    def build(self, var_list: list[Any]) -> None:
        """Create the flat moments (or Keras' per-variable ones where the kernel cannot run)."""
        if self.built:
            return
        dtype = self._kernel_dtype(var_list)
        if dtype is None or any(self.overwritten_by_gradient(v) for v in var_list):
            self._flat_sizes: list[int] | None = None
            super().build(var_list)
            return
        keras.optimizers.Optimizer.build(self, var_list)  # indices, EMA, accumulators
        self._flat_sizes = [int(np.prod(v.shape)) for v in var_list]
        self._flat_shapes = [tuple(v.shape) for v in var_list]
        size = sum(self._flat_sizes)
        self._flat_momentum = self.add_variable((size,), dtype=dtype.name, name="flat_momentum")
        self._flat_velocity = self.add_variable((size,), dtype=dtype.name, name="flat_velocity")
        self._flat_delta = self.add_variable((size,), dtype=dtype.name, name="flat_delta")

    @property
    def flat(self) -> bool:
        """Whether the moments are the flat buffers (else Keras' per-variable ones)."""
        return self.built and getattr(self, "_flat_sizes", None) is not None

    def moments(self, variable: Any) -> tuple[tf.Tensor, tf.Tensor]:
        """The first and second moment of ``variable``, in its shape (flat or not).

        Raises:
            KeyError: If the optimizer was not built on ``variable``.
        """
        index = self.variable_index(variable)
        if not self.flat:
            momentum, velocity = self.keras_moments(index)
            return momentum.value, velocity.value
        start = sum(self._flat_sizes[:index])
        end = start + self._flat_sizes[index]
        shape = self._flat_shapes[index]
        return (
            tf.reshape(self._flat_momentum.value[start:end], shape),
            tf.reshape(self._flat_velocity.value[start:end], shape),
        )

    def update_all(
        self, grads: list[Any], trainable_variables: list[Any], learning_rate: Any
    ) -> None:
        """One ``ResourceApplyAdam`` over the flat buffers, then one add per variable."""
        if not self.flat:
            super().update_all(grads, trainable_variables, learning_rate)
            return
        if tf.distribute.has_strategy():
            raise RuntimeError(
                f"optimizer {self.name!r} was built outside a distribution strategy and applied "
                "inside one; build it inside the strategy's scope"
            )
        momentum, velocity = _resource(self._flat_momentum), _resource(self._flat_velocity)
        delta = _resource(self._flat_delta)
        dtype = momentum.dtype.base_dtype
        indices = [self.variable_index(v) for v in trainable_variables]
        given = dict(zip(indices, grads, strict=True))
        pieces = [
            tf.reshape(tf.cast(given[i], dtype), [-1]) if i in given else tf.zeros([size], dtype)
            for i, size in enumerate(self._flat_sizes)
        ]
        partial = len(given) < len(self._flat_sizes)
        if partial:  # variables without a gradient keep their moments, as in Keras
            kept = tf.concat(
                [tf.fill([size], i in given) for i, size in enumerate(self._flat_sizes)], 0
            )
            old_momentum, old_velocity = momentum.read_value(), velocity.read_value()
        tf.raw_ops.ResourceApplyAdam(
            var=delta.handle,
            m=momentum.handle,
            v=velocity.handle,
            grad=tf.concat(pieces, 0),
            use_locking=False,
            use_nesterov=False,
            **self._kernel_scalars(dtype, learning_rate),
        )
        update = delta.read_value()
        for i, piece in enumerate(tf.split(update, self._flat_sizes)):
            if i in given:
                _resource(self.built_variable(i)).assign_add(
                    tf.reshape(piece, self._flat_shapes[i])
                )
        delta.assign(tf.zeros_like(update))
        if partial:
            momentum.assign(tf.where(kept, momentum.read_value(), old_momentum))
            velocity.assign(tf.where(kept, velocity.read_value(), old_velocity))


def _resource(variable: Any) -> tf.Variable | None:
    """The TensorFlow resource variable behind a Keras variable, or ``None``."""
    if isinstance(variable, keras.Variable):
        variable = variable.value
    return variable if isinstance(variable, tf.Variable) and hasattr(variable, "handle") else None

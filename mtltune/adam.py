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
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

#: Variable dtypes the fused kernel is used for.
FUSED_DTYPES = (tf.float32, tf.float64)


@keras.saving.register_keras_serializable(package="mtltune")
class FusedAdam(keras.optimizers.Adam):
    """``keras.optimizers.Adam`` whose per-variable update is TensorFlow's fused Adam kernel.

    Takes exactly Keras' ``Adam`` arguments; ``epsilon`` may be a variable (read at every step),
    which keeps it tunable on a recycled model.
    """

    def _backend_update_step(
        self, grads: list[Any], trainable_variables: list[Any], learning_rate: Any
    ) -> None:
        """Update every variable with one ``ResourceApplyAdam`` (or Keras' path; see module)."""
        handles = [_resource(v) for v in trainable_variables]
        dtypes = {h.dtype for h in handles if h is not None}
        if (
            self.amsgrad
            or tf.distribute.has_strategy()
            or any(h is None for h in handles)
            or len(dtypes) != 1
            or next(iter(dtypes)) not in FUSED_DTYPES
        ):
            super()._backend_update_step(grads, trainable_variables, learning_rate)
            return
        dtype = dtypes.pop()
        step = tf.cast(self.iterations + 1, dtype)
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        scalars = {
            "beta1_power": tf.pow(beta_1, step),
            "beta2_power": tf.pow(beta_2, step),
            "lr": tf.cast(learning_rate, dtype),
            "beta1": beta_1,
            "beta2": beta_2,
            "epsilon": tf.cast(self.epsilon, dtype),
        }
        for grad, variable, handle in zip(grads, trainable_variables, handles, strict=True):
            index = self._get_variable_index(variable)
            tf.raw_ops.ResourceApplyAdam(
                var=handle.handle,
                m=_resource(self._momentums[index]).handle,
                v=_resource(self._velocities[index]).handle,
                grad=tf.cast(grad, dtype),
                use_locking=False,
                use_nesterov=False,
                **scalars,
            )


def _resource(variable: Any) -> tf.Variable | None:
    """The TensorFlow resource variable behind a Keras variable, or ``None``."""
    if isinstance(variable, keras.Variable):
        variable = variable.value
    return variable if isinstance(variable, tf.Variable) and hasattr(variable, "handle") else None

"""Private Keras and Keras Tuner names the model layer relies on.

Each is checked against keras 3.15.1 and keras-tuner 1.4.8; the test named with it fails if a
new version renames or changes it.
"""

from __future__ import annotations

from typing import Any

import keras


class AdamUpdateHook(keras.optimizers.Adam):
    """Keras' ``Adam`` with its private whole-step update hook and slots behind public names.

    Checked against keras 3.15.1: ``BaseOptimizer.apply`` calls
    ``self._backend_update_step(grads, trainable_variables, learning_rate)`` once per step (the
    TensorFlow backend's version loops over ``update_step`` per variable); the moments are
    ``self._momentums[i]`` / ``self._velocities[i]`` for the variable of index
    ``self._get_variable_index(v)`` in ``self._trainable_variables``; a variable whose value
    the gradient overwrites is ``self._overwrite_variable_with_gradient(v)``. Caught by
    ``tests/model/test_adam.py`` (``test_one_fused_kernel_per_variable_and_fewer_ops_than_keras``,
    ``test_flat_adam_moments_are_fused_adams_per_variable``, ``..._is_keras_adam``).
    """

    def _backend_update_step(
        self, grads: list[Any], trainable_variables: list[Any], learning_rate: Any
    ) -> None:
        self.update_all(grads, trainable_variables, learning_rate)

    def update_all(self, grads: list[Any], variables: list[Any], learning_rate: Any) -> None:
        """Apply one step's gradients to all the variables (default: Keras' own update)."""
        super()._backend_update_step(grads, variables, learning_rate)

    def variable_index(self, variable: Any) -> int:
        """The index of a variable the optimizer was built on."""
        return int(self._get_variable_index(variable))

    def built_variable(self, index: int) -> Any:
        """The variable of an index (the optimizer's build order)."""
        return self._trainable_variables[index]

    def keras_moments(self, index: int) -> tuple[Any, Any]:
        """Keras' first and second moment variables of the variable of an index."""
        return self._momentums[index], self._velocities[index]

    def overwritten_by_gradient(self, variable: Any) -> bool:
        """Whether Keras overwrites this variable with its gradient (no Adam update)."""
        return bool(self._overwrite_variable_with_gradient(variable))


def save_best_epoch_class() -> type | None:
    """Keras Tuner's callback that checkpoints a trial's best epoch, or ``None``.

    Checked against keras-tuner 1.4.8: ``keras_tuner.src.engine.tuner_utils.SaveBestEpoch``,
    which ``Tuner.run_trial`` adds to the callbacks; it saves the model at every improvement.
    Caught by
    ``tests/model/test_loop.py::test_keras_tuner_checkpoint_is_written_once_with_the_best_epoch``.
    """
    try:
        from keras_tuner.src.engine.tuner_utils import SaveBestEpoch
    except ImportError:  # pragma: no cover - another Keras Tuner layout: save every improvement
        return None
    return SaveBestEpoch


def save_best_epoch_now(callback: Any, model: Any) -> None:
    """Make a ``SaveBestEpoch`` callback save ``model`` now (its private ``_save_model``).

    Checked against keras-tuner 1.4.8 (``SaveBestEpoch._save_model`` writes
    ``self.model.save_weights(self.filepath)``). Caught by the test named in
    ``save_best_epoch_class``.
    """
    callback.set_model(model)
    callback._save_model()

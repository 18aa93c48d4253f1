"""The one door to private Keras, Keras Tuner and TensorFlow internals.

mtltune uses a few names that these libraries do not document. Every such use lives here, one
function or class each, with a comment naming the version it was checked against (keras 3.15.1,
keras-tuner 1.4.8, tensorflow 2.21.0; ``pyproject.toml`` pins Keras and Keras Tuner to these
minors) and the test that fails if the next version changes it. The rest of the package imports
only public names (``tests/test_architecture.py`` checks that no other module imports
``keras.src``, ``keras_tuner.src`` or ``tensorflow.python``).

* ``mtltune.compat.layout``: Keras Tuner's project-folder layout (no import: TensorFlow-free).
* ``mtltune.compat.keras_private``: Adam's per-step update hook and its moments, the Keras
  Tuner callback that saves a trial's best epoch.
* ``mtltune.compat.tuner_private``: the distributed oracle's gRPC server, its lock and trials,
  the worker's oracle client.
* ``mtltune.compat.tf_private``: keeping TensorFlow's eager caches (an opt-in speed-up).
* ``mtltune.compat.optuna_deprecated``: Optuna's TPE sampler with a chosen γ (an argument
  deprecated in Optuna 4.9, to be removed in 6.0; ``optuna<6`` is pinned).

This package imports none of its modules: importing one costs only what it needs.
"""

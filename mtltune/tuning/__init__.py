"""Tuning: the Keras Tuner side, the ``MultiTaskHyperModel``, the tuner and its oracles.

``hypermodel`` adapts the model layer to Keras Tuner, ``reuse`` keeps finished models for the
next trials (the pool, ``gc.freeze``, architecture signatures), ``tuner`` builds a study's tuner
and turns its trials into records, ``oracle`` is the TPE oracle (``tpespace`` its encoding of a
Keras Tuner space for Optuna, ``untried`` its fallback to untried points), ``evaluation`` and
``replicates`` train and score fixed plans on test. May import ``mtltune.model``,
``mtltune.data``, ``mtltune.study``, ``mtltune.run``, ``mtltune.report`` and
``mtltune.compat``; never ``mtltune.search``, ``mtltune.distributed`` or ``mtltune.cli``.
"""

"""Keras Tuner's distributed mode: the chief's side, the worker's side, the monitor, heartbeats.

``chief`` serves the oracle and waits for the trials, ``monitor`` watches the local worker
processes and the heartbeats, ``worker`` is one ``mtltune worker`` process, ``heartbeat`` the
file a worker rewrites while it lives. The chief and monitor import no TensorFlow (local workers
start before the chief imports it). May import ``mtltune.tuning`` (workers only), ``mtltune.run``,
``mtltune.study`` and ``mtltune.errors``; never ``mtltune.search`` or ``mtltune.cli``.
"""

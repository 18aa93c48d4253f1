"""The run folder: every file name mtltune writes (``files``), atomic writes, the lock, checks.

Plain files and ``flock``; no TensorFlow. Usable from any layer above it; imports only
``mtltune.study``, ``mtltune.errors`` and Keras Tuner's file layout (``mtltune.compat.layout``,
plain names).
"""

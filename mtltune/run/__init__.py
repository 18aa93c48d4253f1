"""The run folder: every file name mtltune writes (``files``), atomic writes, the lock, checks.

Plain files and ``flock``; no TensorFlow. Usable from any layer above it; imports only
``mtltune.study`` and ``mtltune.errors``.
"""

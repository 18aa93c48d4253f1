"""Keeping TensorFlow's eager kernel and function caches across seeding (private API).

Checked against tensorflow 2.21.0: ``tf.random.set_seed`` and ``clear_kernel_cache`` (which
Keras' ``clear_session`` calls) both go through
``tensorflow.python.eager.context.pywrap_tfe.TFE_ContextClearCaches``. Caught by
``tests/tuning/test_hypermodel.py::test_a_study_hypermodel_keeps_tensorflow_caches_only_inside_the_block``
(it counts the calls that reach the real function).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def tf_caches_kept() -> Iterator[None]:
    """Within the block, TensorFlow's eager context does not clear its kernel caches.

    Process-wide while the block runs (every thread's seeding and ``clear_session``): for code
    that draws random numbers only through Keras' stateless generators, since a stateful random
    kernel would otherwise keep its state across a reseeding. The seed itself is still set.
    Checked against tensorflow 2.21.0. Caught by the test named in the module's docstring.
    """
    from tensorflow.python.eager import context

    module = context.pywrap_tfe
    clear = getattr(module, "TFE_ContextClearCaches", None)
    if clear is None:  # another TensorFlow layout: leave its caches alone
        yield
        return
    module.TFE_ContextClearCaches = _caches_kept
    try:
        yield
    finally:
        module.TFE_ContextClearCaches = clear


def _caches_kept(handle: Any) -> None:
    """Stands in for ``TFE_ContextClearCaches`` inside ``tf_caches_kept``."""

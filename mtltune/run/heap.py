"""Python's garbage collector during a run: the long-lived heap out of its sight.

A full collection walks every object Python tracks. Once TensorFlow, Keras and Keras Tuner are
imported that is millions of objects, and each walk took about 0.3 s in the test suite's
processes on the CI machine (``benchmarks/gc_census.py``), while Keras' ``clear_session``,
Keras Tuner's model builds and TensorFlow's own allocation counts start one or more per
trial. ``frozen_heap`` moves what is alive when a run starts (the imported modules, the
prepared data) into the collector's permanent generation for the run (``gc.freeze``) and
gives it back at the end (``gc.unfreeze``): the collector then walks only what the run itself
created. ``gc_paused`` keeps the collector off while a fresh process imports TensorFlow.
Measured by ``benchmarks/heap_bench.py``. No TensorFlow here.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator
from typing import Any

_lock = threading.RLock()  # a finalizer run by a collection may enter a block too
_depth = 0
_inherited = False


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Within the block, what was alive at its start is not walked by the garbage collector.

    Nested blocks share the outermost one's freeze. Garbage in reference cycles among the
    frozen objects waits for the block's end to be collected (objects whose reference count
    falls to zero are freed at once, as always). A process that had
    frozen its heap itself (``gc.get_freeze_count() > 0``) keeps it frozen after the block: its
    ``gc.unfreeze`` is its own to call.
    """
    global _depth, _inherited
    with _lock:
        if _depth == 0:
            _inherited = gc.get_freeze_count() > 0
            gc.freeze()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and not _inherited:
                gc.unfreeze()


def freeze_survivors() -> None:
    """Inside ``frozen_heap``: collect, then freeze what survived (a new model's traced graphs).

    Outside the block it does nothing.
    """
    with _lock:
        if _depth:
            gc.collect()
            gc.freeze()


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The garbage collector off within the block (for imports: they create no garbage cycles).

    Importing TensorFlow and Keras with it on starts a few dozen collections that walk the
    growing heap: the import takes 0.90× the CPU with it paused
    (``benchmarks/heap_bench.py --parts imports``).
    The collector's previous state is restored after the block.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class FrozenHeapSearch:
    """Mixin for a Keras Tuner tuner: its ``search`` runs inside ``frozen_heap``.

    Keras Tuner and Keras' ``clear_session`` start two full garbage collections per trial;
    inside the block they walk only what the search made. Put it before ``kt.Tuner`` (or the
    tuner class) among the bases.
    """

    def search(self, *fit_args: Any, **fit_kwargs: Any) -> Any:
        """Keras Tuner's search, inside ``frozen_heap``."""
        with frozen_heap():
            return super().search(*fit_args, **fit_kwargs)  # type: ignore[misc]

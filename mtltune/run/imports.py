"""How a command's fresh process imports TensorFlow, Keras and Keras Tuner, a second faster.

Keras imports a few packages at its own import when they are installed, for what no mtltune
command uses: its image-gallery plots (``matplotlib.pyplot``), its notebook file editor
(``IPython``) and its scikit-learn wrappers (``sklearn``, which Keras Tuner's Bayesian oracle
needs too). ``lean_imports`` hides them while TensorFlow is imported (they import normally
afterwards) and pauses the garbage collector meanwhile (``mtltune.run.heap.gc_paused``): the
import takes 0.81× the CPU, 4.9 s against 6.1 s (``benchmarks/heap_bench.py --parts
imports``). No TensorFlow here.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence

from mtltune.run.heap import gc_paused


def unused_packages(oracle: str | None = None) -> tuple[str, ...]:
    """What Keras imports that a command's process never uses (see the module).

    Args:
        oracle: The tuner whose oracle runs in this process, if any: scikit-learn is kept for
            ``bayesian`` (Keras Tuner's Gaussian process).
    """
    unused = ("matplotlib.pyplot", "IPython")
    return unused if oracle == "bayesian" else (*unused, "sklearn")


@contextlib.contextmanager
def imports_hidden(names: Sequence[str]) -> Iterator[None]:
    """Inside the block, importing one of these modules (not yet imported) raises ImportError.

    A package that imports them optionally (``try: import ... except ImportError``) goes on
    without them; after the block they import normally.
    """
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # what ``import`` reads as absent
    try:
        yield
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


@contextlib.contextmanager
def lean_imports(hidden: Sequence[str]) -> Iterator[None]:
    """Import TensorFlow inside the block: ``hidden`` absent, the garbage collector paused."""
    with imports_hidden(hidden), gc_paused():
        yield

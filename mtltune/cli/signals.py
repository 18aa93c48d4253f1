"""SIGTERM handled like Ctrl-C: the commands that run long stop cleanly on either.

``kill PID`` (a job scheduler's stop, ``timeout``, a container's shutdown) sends SIGTERM. Left
to Python's default it ends the process at once (exit 143): no message, and a lock file left
behind. Inside ``interruptible`` both SIGINT and SIGTERM raise ``KeyboardInterrupt`` in the
main thread, so ``search`` and ``worker`` unwind as for Ctrl-C: finished trials kept, local
workers stopped, the run folder's lock released, a one-line message and exit code 130.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from typing import Any

#: The signals that interrupt a long command.
INTERRUPTS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def interruptible(before: Callable[[], None] | None = None) -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise ``KeyboardInterrupt`` (after ``before()``).

    Args:
        before: Called first on each signal (the search requests its run's stop token,
            ``mtltune.run.stop.StopToken.request``, honoured at the next batch even if the
            interrupt is swallowed).
    """

    def interrupt(signum: int, frame: Any) -> None:
        if before is not None:
            before()
        raise KeyboardInterrupt

    previous = {number: signal.signal(number, interrupt) for number in INTERRUPTS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)

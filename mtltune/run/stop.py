"""The stop token: a run's request to stop, set by a signal handler, honoured by training.

A search owns one ``StopToken`` (``mtltune.launch.OpenRun.stop``) and passes it down: the tuner
checks it after every batch and around every trial (``mtltune.tuning.tuner.MultiTaskTuner``),
the race before every run (``mtltune.tuning.confirm``). The CLI's SIGINT/SIGTERM handler
requests the stop (``mtltune.cli.signals.interruptible(token.request)``): a
``KeyboardInterrupt`` raised by the signal itself can land in a garbage-collection callback,
where Python ignores it; the token's request is honoured at the next safe point by raising
``KeyboardInterrupt`` there. Finished trials are kept and an interrupted one runs again when
the search is resumed. No TensorFlow; no process-wide state: two runs in one process have two
tokens.
"""

from __future__ import annotations

import threading
from typing import Any


class StopToken:
    """A request to stop, shared by everything one run starts.

    Safe to request from a signal handler or another thread. Copies (Keras Tuner deep-copies a
    search's callbacks for every execution) are the token itself, so a request reaches them.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def request(self) -> None:
        """Ask the run to stop at its next batch, trial or race-run boundary."""
        self._event.set()

    @property
    def requested(self) -> bool:
        """Whether a stop was requested."""
        return self._event.is_set()

    def check(self) -> None:
        """Raise ``KeyboardInterrupt`` if a stop was requested.

        Raises:
            KeyboardInterrupt: If ``request`` was called.
        """
        if self._event.is_set():
            raise KeyboardInterrupt("search interrupted")

    def __copy__(self) -> StopToken:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> StopToken:
        return self

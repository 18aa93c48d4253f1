"""TensorFlow's C++ log lines kept off the terminal of ``mtltune search`` and ``worker``.

TensorFlow's C++ code logs to file descriptor 2 (through absl), not through Python: on a
machine without a GPU it prints ``failed call to cuInit``, ``Could not find cuda drivers``,
oneDNN and CPU-feature notes, ``NodeDef mentions attribute ...``, each looking like a failure.
Two measures remove them, both before TensorFlow is imported:

* ``TF_CPP_MIN_LOG_LEVEL=3`` (unless the user set it) silences what goes through TensorFlow's
  own log level, in this process and in the workers it starts (they inherit the environment);
* lines written before absl's logging is initialised ignore that level (the oneDNN and CUDA
  driver notes, and absl's ``All log messages before absl::InitializeLog()``), so file
  descriptor 2 is passed through a filter that drops absl-formatted ``I``/``W``/``E`` lines
  and those notes. Everything else (Python's warnings and tracebacks, fatal ``F`` lines) passes
  unchanged, in order.

``--verbose`` (or ``MTLTUNE_VERBOSE=1`` in the environment, which local workers inherit) leaves
both off. This module imports neither TensorFlow nor anything of mtltune.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import sys
import threading
from collections.abc import MutableMapping

#: ``1`` in the environment: TensorFlow's log lines are shown (set by ``--verbose``).
VERBOSE_ENV = "MTLTUNE_VERBOSE"

#: An absl/TensorFlow C++ log line of level info, warning or error (``E0000 00:00:... f.cc:52]``).
_CPP_LOG_LINE = re.compile(rb"^[IWE]\d{4} +[\d:.]+ +\d+ [\w.\-/]+:\d+\] ")
#: Other lines TensorFlow's C++ code prints on every start.
_CPP_NOTES = (
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"To enable the following instructions:",
)

_active: _StderrFilter | None = None


def is_tensorflow_noise(line: bytes) -> bool:
    """Whether a line of file descriptor 2 is one of TensorFlow's C++ log lines."""
    return bool(_CPP_LOG_LINE.match(line)) or line.startswith(_CPP_NOTES)


def verbose_requested() -> bool:
    """Whether the environment asks for TensorFlow's log lines (``MTLTUNE_VERBOSE=1``)."""
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def quiet_environment(env: MutableMapping[str, str]) -> None:
    """Set TensorFlow's C++ log level in ``env`` (unless set, or verbose is requested there)."""
    if env.get(VERBOSE_ENV, "") in ("", "0"):
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def quiet_tensorflow(verbose: bool) -> None:
    """Keep TensorFlow's C++ lines off this process's stderr (call before importing TensorFlow).

    With ``verbose`` (or ``MTLTUNE_VERBOSE=1``) nothing is filtered and ``MTLTUNE_VERBOSE=1``
    is exported, so that workers started by this process show their lines too. The filter
    lasts until the process exits (or ``stop_filter``); installing it twice is harmless.
    """
    global _active
    if verbose or verbose_requested():
        os.environ[VERBOSE_ENV] = "1"
        return
    quiet_environment(os.environ)
    if _active is None:
        _active = _StderrFilter()
        atexit.register(stop_filter)


def stop_filter() -> None:
    """Restore file descriptor 2 and write out every line the filter holds (before ``os._exit``)."""
    global _active
    if _active is not None:
        _active.stop()
        _active = None


class _StderrFilter:
    """File descriptor 2 redirected to a pipe; a thread copies the wanted lines to the original."""

    def __init__(self) -> None:
        sys.stderr.flush()
        self._original = os.dup(2)
        read, write = os.pipe()
        self._pipe = os.fstat(write)
        os.dup2(write, 2)
        os.close(write)
        self._thread = threading.Thread(target=self._pump, args=(read,), daemon=True)
        self._thread.start()

    def _pump(self, read: int) -> None:
        with os.fdopen(read, "rb") as pipe:
            for line in pipe:  # read to the end, even if the original has gone
                if not is_tensorflow_noise(line):
                    with contextlib.suppress(OSError):
                        _write_all(self._original, line)

    def stop(self) -> None:
        """Put the original stderr back; wait (briefly) for the lines still in the pipe."""
        sys.stderr.flush()
        if _still_ours(self._pipe):  # else someone else redirected it since
            os.dup2(self._original, 2)  # closes the pipe's last writer: the thread reads to the end
        self._thread.join(timeout=2.0)
        if not self._thread.is_alive():  # a child still holding the pipe keeps using it
            os.close(self._original)


def _still_ours(pipe: os.stat_result) -> bool:
    """Whether file descriptor 2 is still the filter's pipe."""
    try:
        now = os.fstat(2)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (pipe.st_dev, pipe.st_ino)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data) :]

"""Failed trials: one readable reason each, and the full traceback kept in the run folder.

A trial that raises is a failed trial, not a crashed search. Its reason (``trials.csv``, the
terminal's one line per trial, the summary) is the exception's own message; the traceback goes
to ``tuner/trial_<id>/traceback.txt``, not to the terminal.
"""

from __future__ import annotations

import re
import traceback
from pathlib import Path

from mtltune.errors import plain_text
from mtltune.run.folder import RunFolder

#: Longest failure reason, in characters.
MAX_REASON = 300
#: Where Keras appends the arguments of a layer call to an error message.
_KERAS_ARGUMENTS = re.compile(r"\n\s*Arguments received by .*", re.DOTALL)


def failure_reason(exc: BaseException) -> str:
    """The exception's message on one line, plain text, without Keras' list of call arguments."""
    text = _KERAS_ARGUMENTS.sub("", plain_text(str(exc)))
    text = re.sub(r"^Exception encountered when calling [^\n]*\n", "", text.strip())
    text = " ".join(text.split()) or type(exc).__name__
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def keep_traceback(trial_dir: str | Path, exc: BaseException, root: str | Path) -> None:
    """Write the exception's full traceback into the trial's folder, inside the run folder."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    RunFolder(Path(root)).write_traceback(trial_dir, text)

"""User code a study names explicitly: custom losses ``package.module:function``.

This is the only way a study runs user code. The module the study names (its top-level package)
is looked up in the study's folder first, so a ``my_losses.py`` beside the study is found; the
folder is never put on ``sys.path``, so no other file there (a ``pandas.py``, ``sklearn.py``)
can shadow an installed package or run.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from mtltune.errors import plain_text

#: Longest text of a user's exception quoted in a message.
_QUOTE = 300


class _StudyFolderFinder(importlib.abc.MetaPathFinder):
    """Finds exactly one top-level module (a custom loss's) in one study folder."""

    def __init__(self, name: str, folder: str) -> None:
        self.name = name
        self.folder = folder

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """The spec of the named module in the study's folder; ``None`` for any other name."""
        if fullname != self.name:
            return None
        return importlib.machinery.PathFinder.find_spec(fullname, [self.folder])


def _register(module_name: str, base_dir: Path | None) -> None:
    """Let the top-level package of ``module_name`` be found in ``base_dir`` (only that one)."""
    if base_dir is None:
        return
    top = module_name.partition(".")[0]
    folder = str(base_dir)
    for finder in sys.meta_path:
        if isinstance(finder, _StudyFolderFinder) and (finder.name, finder.folder) == (top, folder):
            return
    sys.meta_path.insert(0, _StudyFolderFinder(top, folder))


def import_loss(path: str, base_dir: Path | None = None) -> Any:
    """Import a custom loss ``package.module:function``.

    The named module's top-level package is searched in the study's folder first (then on
    ``sys.path``); no other import changes.
    """
    module_name, _, attribute = path.partition(":")
    _register(module_name, base_dir)
    module = importlib.import_module(module_name)
    return getattr(module, attribute)


def import_problem(path: str, base_dir: Path) -> str | None:
    """Why a custom loss cannot be imported, or ``None`` if it can."""
    try:
        function = import_loss(path, base_dir)
    except ModuleNotFoundError as exc:
        return (
            f"cannot import module {exc.name!r} of custom loss {path!r}; put it beside the "
            "study or on PYTHONPATH"
        )
    except AttributeError:
        module = path.partition(":")[0]
        return f"module {module!r} has no attribute {path.partition(':')[2]!r}"
    except (Exception, SystemExit) as exc:  # the user's module failed (or exited) on import
        return f"importing custom loss {path!r} failed: {_describe(exc)}"
    if not callable(function):
        return f"{path!r} is not a function (loss(y_true, y_pred) -> tensor)"
    return None


def _describe(exc: BaseException) -> str:
    """``Type: message`` of the user's exception, cut to a readable length."""
    text = plain_text("".join(traceback.format_exception_only(type(exc), exc)).strip())
    if isinstance(exc, SystemExit):
        text = f"SystemExit({exc.code!r}): a loss module must not exit at import"
    return text if len(text) <= _QUOTE else text[: _QUOTE - 1] + "…"

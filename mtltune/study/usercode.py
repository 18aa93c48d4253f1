"""User code a study names explicitly: custom losses ``package.module:function``.

This is the only way a study runs user code. The study's folder is searched first, so a
``my_losses.py`` beside the study is found.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any


def import_loss(path: str, base_dir: Path | None = None) -> Any:
    """Import a custom loss ``package.module:function``.

    The study's folder is searched first, so a ``my_losses.py`` beside the study is found. This
    is the only way a study runs user code: through an import path it names explicitly.
    """
    module_name, _, attribute = path.partition(":")
    folder = str(base_dir) if base_dir is not None else None
    if folder is not None and folder not in sys.path:
        sys.path.insert(0, folder)
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
    except Exception as exc:  # the user's module failed while importing
        return f"importing custom loss {path!r} failed: {type(exc).__name__}: {exc}"
    if not callable(function):
        return f"{path!r} is not a function (loss(y_true, y_pred) -> tensor)"
    return None

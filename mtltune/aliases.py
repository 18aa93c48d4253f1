"""Old module paths and names, kept working until ``REMOVED_IN`` with a ``DeprecationWarning``.

``import mtltune.adam`` or ``from mtltune.heads import balanced_class_weights`` still work: each
old path is the same module object as its new home (``mtltune.model.adam``, ...), loaded only
when first imported, so ``import mtltune`` stays TensorFlow-free. The first import of an old
path warns, naming the new path and the version that removes the old one. ``mtltune/__init__``
installs the finder; a module that renamed a public name keeps the old one with
``deprecated_names`` (a module ``__getattr__`` that warns). mtltune's own code uses only the
new paths and names (``tests/test_architecture.py`` checks the paths).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

#: The release that removes the old module paths and names listed here.
REMOVED_IN = "mtltune 0.4"

#: Old module path -> its home since the package was grouped into layers.
OLD_PATHS: dict[str, str] = {
    "mtltune.adam": "mtltune.model.adam",
    "mtltune.catalog": "mtltune.study.catalog",
    "mtltune.datacheck": "mtltune.data.checks",
    "mtltune.earlystop": "mtltune.model.callbacks",
    "mtltune.evaluation": "mtltune.tuning.evaluation",
    "mtltune.generators": "mtltune.data.generators",
    "mtltune.heads": "mtltune.model.heads",
    "mtltune.heartbeat": "mtltune.distributed.heartbeat",
    "mtltune.hypermodel": "mtltune.tuning.hypermodel",
    "mtltune.loop": "mtltune.model.loop",
    "mtltune.messages": "mtltune.study.messages",
    "mtltune.model.earlystop": "mtltune.model.callbacks",
    "mtltune.network": "mtltune.model.network",
    "mtltune.objectives": "mtltune.model.objectives",
    "mtltune.pareto": "mtltune.report.pareto",
    "mtltune.plots": "mtltune.report.plots",
    "mtltune.replicates": "mtltune.tuning.replicates",
    "mtltune.results": "mtltune.report.results",
    "mtltune.runfolder": "mtltune.run.folder",
    "mtltune.runlock": "mtltune.run.lock",
    "mtltune.runopen": "mtltune.launch",
    "mtltune.strategies": "mtltune.model.strategies",
    "mtltune.training": "mtltune.model.multitask",
    "mtltune.usercode": "mtltune.study.usercode",
    "mtltune.worker": "mtltune.distributed.worker",
    "mtltune.workers": "mtltune.distributed.chief",
    "mtltune.workerwatch": "mtltune.distributed.monitor",
    "mtltune.yamlio": "mtltune.study.yamlio",
}


def warn_renamed(old: str, new: str, *, stacklevel: int = 1) -> None:
    """Warn that ``old`` (a module path or a name) is now ``new`` and goes in ``REMOVED_IN``.

    Args:
        old: What the caller used, as it reads in the message (``module mtltune.adam``).
        new: What to use instead.
        stacklevel: Frames above the caller of this function to blame (1: that caller's
            caller). The import system's own frames are skipped by ``warnings``.
    """
    warnings.warn(
        f"{old} is deprecated and will be removed in {REMOVED_IN}: use {new}",
        DeprecationWarning,
        stacklevel=stacklevel + 2,
    )


def deprecated_names(
    module: str, namespace: Mapping[str, Any], renamed: Mapping[str, str]
) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving old names, each with a ``DeprecationWarning``.

    Args:
        module: The module's name (``__name__``), for the messages.
        namespace: The module's globals, where the new names live.
        renamed: Old name -> new name.

    Returns:
        The ``__getattr__`` to assign in the module.
    """

    def __getattr__(name: str) -> Any:  # noqa: N807 - the module hook's required name
        new = renamed.get(name)
        if new is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warn_renamed(f"{module}.{name}", f"{module}.{new}")
        return namespace[new]

    return __getattr__


class _AliasLoader(importlib.abc.Loader):
    """Loads an old path as the module at its new home (the same object)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._spec: Any = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        """The module at the new path, imported (warning that the old path goes away)."""
        warn_renamed(f"module {spec.name}", self.target)
        module = importlib.import_module(self.target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the module was imported at its new path."""
        # The import system set the alias's spec on the shared module: give it back its own.
        module.__spec__ = self._spec


class AliasFinder(importlib.abc.MetaPathFinder):
    """Finds the old module paths of ``OLD_PATHS``."""

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        """A spec for an old path, else ``None``."""
        new = OLD_PATHS.get(fullname)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(fullname, _AliasLoader(new))


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, AliasFinder) for f in sys.meta_path):
        sys.meta_path.append(AliasFinder())

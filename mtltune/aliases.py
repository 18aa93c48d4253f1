"""The module paths of mtltune 0.1 (a flat package), kept working as aliases.

``import mtltune.adam`` or ``from mtltune.heads import balanced_class_weights`` still work: each
old path is the same module object as its new home (``mtltune.model.adam``, ...), loaded only
when first imported, so ``import mtltune`` stays TensorFlow-free. ``mtltune/__init__`` installs
the finder; new code imports the new paths.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Any

#: Old module path -> its home since the package was grouped into layers.
OLD_PATHS: dict[str, str] = {
    "mtltune.adam": "mtltune.model.adam",
    "mtltune.catalog": "mtltune.study.catalog",
    "mtltune.datacheck": "mtltune.data.checks",
    "mtltune.earlystop": "mtltune.model.earlystop",
    "mtltune.evaluation": "mtltune.tuning.evaluation",
    "mtltune.generators": "mtltune.data.generators",
    "mtltune.heads": "mtltune.model.heads",
    "mtltune.heartbeat": "mtltune.distributed.heartbeat",
    "mtltune.hypermodel": "mtltune.tuning.hypermodel",
    "mtltune.loop": "mtltune.model.loop",
    "mtltune.messages": "mtltune.study.messages",
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


class _AliasLoader(importlib.abc.Loader):
    """Loads an old path as the module at its new home (the same object)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._spec: Any = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        """The module at the new path, imported."""
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

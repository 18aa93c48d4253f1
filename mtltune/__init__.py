"""mtltune: search how the heads of a multi-task Keras model share the training signal.

The public API is importable from here. Names that need TensorFlow are loaded on first use, so
``import mtltune`` (and ``mtltune validate``) stays fast and TensorFlow-free.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mtltune import aliases

__version__ = "0.2.0"

aliases.install()

_LAZY = {
    "DamagedRunError": "mtltune.errors",
    "DataError": "mtltune.errors",
    "Dataset": "mtltune.data",
    "FusedAdam": "mtltune.model.adam",
    "HeadConfig": "mtltune.study",
    "InputError": "mtltune.errors",
    "MtlTuneError": "mtltune.errors",
    "MultiTaskHyperModel": "mtltune.tuning.hypermodel",
    "MultiTaskModel": "mtltune.model.multitask",
    "MultiTaskTuner": "mtltune.tuning.tuner",
    "Objective": "mtltune.model.objectives",
    "ObjectiveLogger": "mtltune.model.callbacks",
    "RunFolderError": "mtltune.errors",
    "SearchConfig": "mtltune.study",
    "SearchError": "mtltune.errors",
    "SearchOutcome": "mtltune.tuning.outcome",
    "StopToken": "mtltune.run.stop",
    "Study": "mtltune.study",
    "StudyError": "mtltune.errors",
    "StudyResult": "mtltune.report.results",
    "TPEOracle": "mtltune.tuning.oracle",
    "TPETuner": "mtltune.tuning.oracle",
    "TrainPlan": "mtltune.model.strategies",
    "TrainingConfig": "mtltune.study",
    "load_run": "mtltune.predict",
    "load_study": "mtltune.study",
    "prepare_dataset": "mtltune.data",
    "run_study": "mtltune.search",
    "separate_plan": "mtltune.model.strategies",
    "weighted_plan": "mtltune.model.strategies",
    "write_report": "mtltune.report",
}

__all__ = [
    "DamagedRunError",
    "DataError",
    "Dataset",
    "FusedAdam",
    "HeadConfig",
    "InputError",
    "MtlTuneError",
    "MultiTaskHyperModel",
    "MultiTaskModel",
    "MultiTaskTuner",
    "Objective",
    "ObjectiveLogger",
    "RunFolderError",
    "SearchConfig",
    "SearchError",
    "SearchOutcome",
    "StopToken",
    "Study",
    "StudyError",
    "StudyResult",
    "TPEOracle",
    "TPETuner",
    "TrainPlan",
    "TrainingConfig",
    "load_run",
    "load_study",
    "prepare_dataset",
    "run_study",
    "separate_plan",
    "weighted_plan",
    "write_report",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mtltune' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from mtltune.data import Dataset, prepare_dataset
    from mtltune.errors import DataError, InputError, MtlTuneError, SearchError, StudyError
    from mtltune.model.adam import FusedAdam
    from mtltune.model.callbacks import ObjectiveLogger
    from mtltune.model.multitask import MultiTaskModel
    from mtltune.model.objectives import Objective
    from mtltune.model.strategies import TrainPlan, separate_plan, weighted_plan
    from mtltune.predict import load_run
    from mtltune.report import write_report
    from mtltune.report.results import StudyResult
    from mtltune.run.stop import StopToken
    from mtltune.search import run_study
    from mtltune.study import HeadConfig, SearchConfig, Study, TrainingConfig, load_study
    from mtltune.tuning.hypermodel import MultiTaskHyperModel
    from mtltune.tuning.oracle import TPEOracle, TPETuner
    from mtltune.tuning.outcome import SearchOutcome
    from mtltune.tuning.tuner import MultiTaskTuner

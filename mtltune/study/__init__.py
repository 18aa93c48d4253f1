"""The study: its schema, YAML loading with ``--set`` overrides, messages, names, user code.

A study is one YAML file turned into a typed, frozen ``Study``. This layer is the bottom of the
package: it imports nothing of mtltune but ``mtltune.errors``, and never TensorFlow, so
``mtltune validate`` and ``mtltune show`` stay fast. ``mtltune.study.catalog`` holds the names a
study may use (head kinds, losses, metrics, strategies, tuners) as plain tables.
"""

from mtltune.study.base import LogRange
from mtltune.study.heads import RESERVED_HEAD_NAMES, HeadConfig, named_head
from mtltune.study.names import NAME_PATTERN
from mtltune.study.schema import (
    BUILTIN_PREFIX,
    BUILTINS,
    BuiltinParams,
    DataConfig,
    ModelConfig,
    ReportConfig,
    SplitConfig,
    Study,
    TrainingConfig,
    load_study,
)
from mtltune.study.searching import BaselineConfig, ConfirmConfig, ObjectiveConfig, SearchConfig
from mtltune.study.yamlio import yaml_boolean_hint

__all__ = [
    "BUILTINS",
    "BUILTIN_PREFIX",
    "NAME_PATTERN",
    "RESERVED_HEAD_NAMES",
    "BaselineConfig",
    "BuiltinParams",
    "ConfirmConfig",
    "DataConfig",
    "HeadConfig",
    "LogRange",
    "ModelConfig",
    "ObjectiveConfig",
    "ReportConfig",
    "SearchConfig",
    "SplitConfig",
    "Study",
    "TrainingConfig",
    "load_study",
    "named_head",
    "yaml_boolean_hint",
]

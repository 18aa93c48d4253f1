"""The study file: a pydantic schema, the YAML loader and ``--set`` overrides.

A study is the single source of truth of a search: data, split, heads, shared trunk, training
budget and search space. ``load_study`` reads it with a safe YAML loader, applies command-line
overrides, fills defaults and validates it; every problem is reported with its dotted key path.
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from mtltune.errors import Problem, StudyError
from mtltune.study.base import LayerWidth, _Strict
from mtltune.study.catalog import (
    AUXILIARY_OUTPUTS,
    is_custom_loss,
)
from mtltune.study.heads import (
    RESERVED_HEAD_NAMES,
    HeadConfig,
    _output_layers,
    named_head,
)
from mtltune.study.limits import size_problem
from mtltune.study.messages import problems_from, section_default
from mtltune.study.names import log_key_problems, name_problems
from mtltune.study.searching import (
    SearchConfig,
)
from mtltune.study.usercode import import_problem
from mtltune.study.yamlio import apply_overrides, parse_yaml

BUILTIN_PREFIX = "builtin:"
BUILTINS = ("hetero_sine", "phase_sine", "same_sine")
STUDY_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class BuiltinParams(_Strict):
    """Parameters of the built-in generators (``hetero_sine``, ``phase_sine``, ``same_sine``)."""

    n: int = Field(10_000, ge=20, le=10_000_000, description="number of rows")
    tasks: int = Field(5, ge=1, le=100, description="number of target columns y0..y{tasks-1}")
    spread: float | None = Field(
        None,
        gt=1.0,
        le=1e6,
        description="hetero_sine: the ratio of the largest noise σ to the smallest, spread "
        "geometrically over the tasks (default: σ_i = 0.1·2^i)",
    )


class DataConfig(_Strict):
    """Where the rows come from and which columns feed the model."""

    source: str = Field(description="CSV or Parquet path relative to the study, or builtin:NAME")
    params: BuiltinParams | None = None
    inputs: list[str] | None = Field(None, min_length=1)
    categorical: list[str] = Field(default_factory=list)
    missing: Literal["error", "drop"] = Field(
        "error", description="rows with missing or infinite values: an error, or dropped"
    )
    sample: int | None = Field(
        None,
        ge=1,
        le=1_000_000_000,
        description=(
            "use a seeded random sample of this many rows (drawn before the split); "
            "default: every row"
        ),
    )

    @model_validator(mode="after")
    def _source_and_inputs(self) -> DataConfig:
        if self.is_builtin:
            name = self.builtin_name
            if name not in BUILTINS:
                raise ValueError(
                    f"unknown built-in generator {name!r}; expected one of "
                    f"{', '.join(BUILTIN_PREFIX + b for b in BUILTINS)}"
                )
            if self.params is None:
                object.__setattr__(self, "params", BuiltinParams())
            if name != "hetero_sine" and self.params.spread is not None:
                raise ValueError(
                    f"params.spread is {self.params.spread:g}, but only builtin:hetero_sine "
                    f"spreads its heads' noise; builtin:{name} does not read it: remove "
                    "params.spread, or use source: builtin:hetero_sine"
                )
            if self.inputs is None:
                object.__setattr__(self, "inputs", ["x"])
        else:
            if self.params is not None:
                raise ValueError("params is only allowed with a builtin: source")
            if self.inputs is None:
                raise ValueError("inputs is required for a file source: list the input columns")
            suffix = Path(self.source).suffix.lower()
            if suffix not in (".csv", ".parquet", ".pq"):
                raise ValueError(
                    f"source must end in .csv, .parquet or .pq, or be builtin:NAME, "
                    f"got {self.source!r}"
                )
        unknown = sorted(set(self.categorical) - set(self.inputs or []))
        if unknown:
            raise ValueError(f"categorical names columns that are not inputs: {unknown}")
        if len(set(self.inputs or [])) != len(self.inputs or []):
            raise ValueError(f"inputs lists a column twice: {self.inputs}")
        return self

    @property
    def is_builtin(self) -> bool:
        """Whether the rows come from a built-in generator."""
        return self.source.startswith(BUILTIN_PREFIX)

    @property
    def builtin_name(self) -> str:
        """Name of the built-in generator (only meaningful when ``is_builtin``)."""
        return self.source[len(BUILTIN_PREFIX) :]


class SplitConfig(_Strict):
    """Fractions of rows for train, stop (early stopping and trial ranking) and test."""

    train: float = Field(0.6, gt=0, lt=1)
    stop: float = Field(0.2, gt=0, lt=1)
    test: float = Field(0.2, gt=0, lt=1)
    shuffle: bool = True

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitConfig:
        total = self.train + self.stop + self.test
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(
                f"train + stop + test must be 1, got {self.train} + {self.stop} + {self.test} "
                f"= {total:g}"
            )
        return self


class ModelConfig(_Strict):
    """The shared trunk: a stack of Dense layers."""

    units: list[LayerWidth] = Field(default_factory=lambda: [64, 64])
    activation: Literal["relu", "tanh", "gelu", "elu", "selu", "swish", "sigmoid", "linear"] = (
        "relu"
    )
    dropout: float = Field(0.0, ge=0.0, lt=1.0)


class TrainingConfig(_Strict):
    """The training budget of every trial (and of the baseline)."""

    max_epochs: int = Field(100, ge=1, le=100_000)
    batch_size: int = Field(32, ge=1, le=1_048_576)
    patience: int = Field(5, ge=0, description="epochs without improvement before stopping")


class ReportConfig(_Strict):
    """What the report holds beyond the best trial and the baseline."""

    replicates: int = Field(
        0,
        ge=0,
        le=100,
        description=(
            "retrain the best configuration and the baseline this many times with other seeds "
            "(and other data draws where the data are generated or the split shuffled)"
        ),
    )
    plots: bool = Field(True, description="write PNG plots under plots/ and embed them")
    tensorboard: bool = Field(
        False,
        description="log every trial for TensorBoard under tensorboard/ (with Keras Tuner's "
        "HParams view)",
    )


class Study(_Strict):
    """A validated, immutable study. Build one with ``load_study`` or ``Study.from_dict``."""

    name: str = Field(pattern=STUDY_NAME_PATTERN, max_length=100)
    seed: int = Field(0, ge=0, le=2**32 - 1, description="0 to 2**32 - 1 (NumPy's range)")
    data: DataConfig
    split: SplitConfig = SplitConfig()
    heads: dict[str, HeadConfig] = Field(min_length=1)
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    search: SearchConfig = SearchConfig()
    report: ReportConfig = ReportConfig()

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @field_validator("heads")
    @classmethod
    def _head_names(cls, heads: dict[str, HeadConfig]) -> dict[str, HeadConfig]:
        reserved = sorted(n for n in heads if n.lower() in RESERVED_HEAD_NAMES)
        if reserved:
            raise ValueError(
                f"head names {reserved} are reserved (they would clash with log keys); "
                f"avoid {', '.join(sorted(RESERVED_HEAD_NAMES))}"
            )
        lowered: dict[str, str] = {}
        for name in heads:
            if name.lower() in lowered:
                raise ValueError(
                    f"head names {lowered[name.lower()]!r} and {name!r} differ only in case; "
                    "rename one"
                )
            lowered[name.lower()] = name
        named = {name: named_head(name, head) for name, head in heads.items()}
        bad = name_problems(_output_layers(named))
        bad += log_key_problems({name: head.metrics or [] for name, head in named.items()})
        if bad:
            raise ValueError("head names (and the outputs they use): " + "; ".join(bad))
        outputs = set(named)
        for name, head in named.items():
            if head.loss in AUXILIARY_OUTPUTS and not head.uses:
                raise ValueError(f"heads.{name}: loss {head.loss} needs an output in uses")
            for other in head.uses or []:
                if other in outputs:
                    raise ValueError(
                        f"heads.{name}.uses names {other!r}, which is already an output; each "
                        "output feeds one loss"
                    )
                outputs.add(other)
        return named

    @model_validator(mode="after")
    def _cross_checks(self) -> Study:
        objective = self.search.objective
        if objective.head is not None:
            if objective.head not in self.heads:
                raise ValueError(
                    f"search.objective.head {objective.head!r} is not a head; expected one of "
                    f"{', '.join(self.heads)}"
                )
            head = self.heads[objective.head]
            if objective.metric != "loss" and objective.metric not in (head.metrics or []):
                raise ValueError(
                    f"search.objective.metric {objective.metric!r} is not a metric of head "
                    f"{objective.head!r}; add it to heads.{objective.head}.metrics or use one "
                    f"of loss, {', '.join(head.metrics or [])}"
                )
        if objective.priorities is not None:
            unknown = sorted(set(objective.priorities) - set(self.heads))
            if unknown:
                raise ValueError(
                    f"search.objective.priorities names unknown heads {unknown}; expected some of "
                    f"{', '.join(self.heads)}"
                )
        inputs = set(self.data.inputs or [])
        for name, head in self.heads.items():
            for column in (head.target, head.clean_target):
                if column is not None and column in inputs:
                    raise ValueError(
                        f"heads.{name} uses column {column!r} which is also an input; a target "
                        "must not be fed to the model"
                    )
        return self

    @property
    def base_dir(self) -> Path:
        """Folder that relative data paths are resolved against (the study file's folder)."""
        return self._base_dir

    def data_path(self) -> Path | None:
        """Absolute path of the data file, or ``None`` for a built-in generator."""
        if self.data.is_builtin:
            return None
        path = Path(self.data.source)
        return path if path.is_absolute() else self._base_dir / path

    @classmethod
    def from_dict(
        cls,
        raw: Mapping[str, Any],
        *,
        base_dir: Path | None = None,
        source: str | None = None,
    ) -> Study:
        """Validate a study given as a mapping.

        Args:
            raw: The study, as parsed from YAML.
            base_dir: Folder for relative data paths (default: the working directory).
            source: Where the mapping came from, for error messages.

        Returns:
            The validated study with defaults filled in.

        Raises:
            StudyError: With one problem per invalid key.
        """
        try:
            study = cls.model_validate(raw)
        except ValidationError as exc:
            raise StudyError(problems_from(exc, cls), source=source) from None
        study._base_dir = (base_dir or Path.cwd()).resolve()
        problems = [
            Problem(f"heads.{name}.loss", message)
            for name, head in study.heads.items()
            if is_custom_loss(str(head.loss))
            and (message := import_problem(str(head.loss), study._base_dir))
        ]
        if problems:
            raise StudyError(problems, source=source)
        return study

    def resolved(self) -> dict[str, Any]:
        """The study with every default filled in, as plain JSON-compatible data."""
        return self.model_dump(mode="json")


def load_study(path: str | Path, overrides: Sequence[str] = ()) -> Study:
    """Read, override and validate a study file.

    Args:
        path: The study YAML file.
        overrides: ``KEY=VALUE`` strings applied before validation (``--set``).

    Returns:
        The validated study; relative data paths resolve against the file's folder.

    Raises:
        StudyError: If the file is missing, malformed or invalid.
    """
    path = Path(path)
    try:
        too_large = size_problem(path.stat().st_size)
        if too_large:
            raise StudyError([Problem("", too_large)], source=str(path))
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StudyError(
            [Problem("", f"study file {str(path)!r} does not exist")], source=str(path)
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StudyError(
            [Problem("", f"cannot read the study file: {exc}")], source=str(path)
        ) from None
    raw = parse_yaml(text, source=str(path))
    if not isinstance(raw, dict):
        raise StudyError(
            [Problem("", f"a study must be a YAML mapping, got {type(raw).__name__}")],
            source=str(path),
        )
    raw = apply_overrides(raw, overrides, lambda keys: section_default(Study, keys))
    return Study.from_dict(raw, base_dir=path.resolve().parent, source=str(path))

"""The study file: a pydantic schema, the YAML loader and ``--set`` overrides.

A study is the single source of truth of a search: data, split, heads, shared trunk, training
budget and search space. ``load_study`` reads it with a safe YAML loader, applies command-line
overrides, fills defaults and validates it; every problem is reported with its dotted key path.
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from mtltune.errors import Problem, StudyError
from mtltune.study.catalog import (
    AUXILIARY_OUTPUTS,
    CLASS_WEIGHTED_LOSSES,
    KINDS,
    LOG_SCALE_LOSSES,
    METRIC_DIRECTIONS,
    HeadKind,
    StrategyName,
    TunerName,
    is_custom_loss,
)
from mtltune.study.limits import size_problem
from mtltune.study.messages import problems_from, section_default
from mtltune.study.names import name_problems
from mtltune.study.usercode import import_problem
from mtltune.study.yamlio import apply_overrides, parse_yaml

BUILTIN_PREFIX = "builtin:"
BUILTINS = ("hetero_sine", "phase_sine")
STUDY_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
CUSTOM_LOSS_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"
#: A positive, finite number (``.inf`` and ``.nan`` are refused).
FinitePositive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
#: Units of one Dense layer (a wider layer would not fit in memory).
LayerWidth = Annotated[int, Field(ge=1, le=65_536)]
#: Head names that would clash with log keys (``loss_<head>``, ``<head>_<metric>``).
RESERVED_HEAD_NAMES = frozenset({"objective", "val", *METRIC_DIRECTIONS})


class _Strict(BaseModel):
    """Base of every section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LogRange(_Strict):
    """A positive range searched on a log scale."""

    min: FinitePositive
    max: FinitePositive

    @model_validator(mode="after")
    def _ordered(self) -> LogRange:
        if self.min > self.max:
            raise ValueError(f"min must be <= max, got min={self.min} and max={self.max}")
        return self


class BuiltinParams(_Strict):
    """Parameters of the built-in generators ``hetero_sine`` and ``phase_sine``."""

    n: int = Field(10_000, ge=20, le=10_000_000, description="number of rows")
    tasks: int = Field(5, ge=1, le=20, description="number of target columns y0..y{tasks-1}")


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


class HeadConfig(_Strict):
    """One output of the model: its target, kind, loss and metrics.

    In the Python API the head name is the model output name and ``target`` may be omitted.
    """

    target: str | None = None
    kind: HeadKind = "regression"
    loss: str | None = None
    metrics: list[str] | None = None
    hidden: list[LayerWidth] = Field(default_factory=list)
    clean_target: str | None = Field(
        None, description="noise-free column, used for evaluation only (regression heads)"
    )
    positive_class: str | int | bool | None = Field(
        None, description="label treated as 1 for a binary head (default: the larger label)"
    )
    class_weights: Literal["balanced"] | dict[str, FinitePositive] | None = Field(
        None,
        description=(
            "weights of the classes in a weighted cross-entropy: {label: weight} (others 1) or "
            "'balanced' (n / (classes · n_class) from the train split)"
        ),
    )
    uses: list[str] | None = Field(
        None,
        description=(
            "other model outputs the loss reads, passed after y_pred: loss(y_true, y_pred, "
            "*uses); a study-built network adds each as an extra output on this head's branch"
        ),
    )
    loss_scale: Literal["linear", "log"] | None = Field(
        None,
        description=(
            "'log' for a negative log-likelihood (it may be negative): the objective and the "
            "geometric strategy use exp(loss); default 'log' for gaussian_nll, else 'linear'"
        ),
    )
    scale: Literal["standard", "log", "none"] | None = Field(
        None,
        description=(
            "how a regression target is scaled for training (fitted on train): 'standard' "
            "(mean 0, std 1), 'log' (standardised log, positive skewed targets) or 'none'; "
            "reported losses and metrics stay in the target's units. Default 'standard', "
            "'none' for classification heads and custom losses"
        ),
    )

    @model_validator(mode="after")
    def _fill_and_check(self) -> HeadConfig:
        spec = KINDS[self.kind]
        if self.loss is None:
            object.__setattr__(self, "loss", spec.default_loss)
        elif is_custom_loss(self.loss):
            if not re.fullmatch(CUSTOM_LOSS_PATTERN, self.loss):
                raise ValueError(
                    f"a custom loss is named package.module:function, got {self.loss!r}"
                )
        elif self.loss not in spec.losses:
            raise ValueError(
                f"loss {self.loss!r} is not available for a {self.kind} head; expected one of "
                f"{', '.join(spec.losses)}, or an import path package.module:function"
            )
        if self.loss in CLASS_WEIGHTED_LOSSES and self.class_weights is None:
            object.__setattr__(self, "class_weights", "balanced")
        if self.class_weights is not None and self.loss not in CLASS_WEIGHTED_LOSSES:
            raise ValueError(
                "class_weights needs a weighted loss: weighted_binary_crossentropy or "
                f"weighted_categorical_crossentropy, got loss {self.loss!r}"
            )
        if self.loss_scale is None:
            scale = "log" if self.loss in LOG_SCALE_LOSSES else "linear"
            object.__setattr__(self, "loss_scale", scale)
        if self.metrics is None:
            object.__setattr__(self, "metrics", list(spec.default_metrics))
        else:
            bad = [m for m in self.metrics if m not in spec.metrics]
            if bad:
                raise ValueError(
                    f"metrics {bad} are not available for a {self.kind} head; expected some of "
                    f"{', '.join(spec.metrics)}"
                )
            if len(set(self.metrics)) != len(self.metrics):
                raise ValueError(f"metrics lists a metric twice: {self.metrics}")
        if self.clean_target is not None and self.kind != "regression":
            raise ValueError("clean_target is only allowed on a regression head")
        if self.positive_class is not None and self.kind != "binary":
            raise ValueError("positive_class is only allowed on a binary head")
        self._fill_scale()
        return self

    def _fill_scale(self) -> None:
        """Default ``scale``; only built-in regression losses convert back to target units."""
        custom = is_custom_loss(str(self.loss))
        if self.scale is None:
            default = "standard" if self.kind == "regression" and not custom else "none"
            object.__setattr__(self, "scale", default)
        elif self.scale != "none" and self.kind != "regression":
            raise ValueError(f"scale: {self.scale} is only allowed on a regression head")
        elif self.scale != "none" and custom:
            raise ValueError(
                f"scale: {self.scale} cannot be used with a custom loss ({self.loss}): its "
                "value could not be reported in the target's units; use scale: none and scale "
                "the target in the loss or the data"
            )


def named_head(name: str, head: HeadConfig) -> HeadConfig:
    """Fill the defaults that depend on the head's name: its target and auxiliary outputs."""
    update: dict[str, Any] = {}
    if head.target is None:
        update["target"] = name
    if head.uses is None:
        aux = AUXILIARY_OUTPUTS.get(str(head.loss))
        update["uses"] = [aux.format(head=name)] if aux else []
    return head.model_copy(update=update) if update else head


def _output_layers(heads: Mapping[str, HeadConfig]) -> dict[str, list[int]]:
    """Every output name of the network (heads, then the outputs they use) with its hidden sizes."""
    outputs: dict[str, list[int]] = {name: list(head.hidden) for name, head in heads.items()}
    for head in heads.values():
        outputs.update({other: [] for other in head.uses or [] if other not in outputs})
    return outputs


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


class ObjectiveConfig(_Strict):
    """The weight-free score trials are ranked on, computed on the stop split.

    ``geometric_mean``: geometric mean over heads of the per-head stop losses (default).
    ``head``: one head's stop loss or metric. ``priorities``: a mean of the per-head stop
    losses with fixed user priorities (geometric by default, so units still cancel).

    A geometric mean can be won by one head alone: a loss near zero (an over-confident
    classifier on a small stop split) sends its logarithm to minus infinity. So each head's loss
    is floored at ``floor`` times the loss of a constant predictor (the train mean, or the train
    class frequencies) on the stop split.
    """

    kind: Literal["geometric_mean", "head", "priorities"] = "geometric_mean"
    head: str | None = None
    metric: str = "loss"
    priorities: dict[str, FinitePositive] | None = None
    mean: Literal["geometric", "arithmetic"] = "geometric"
    floor: float = Field(
        1e-3,
        ge=0.0,
        lt=1.0,
        description=(
            "a head's stop loss counts as at least floor × the stop loss of a constant "
            "predictor fitted on train, so no trial wins by driving one head's loss to zero "
            "while the others get worse (0 disables)"
        ),
    )

    @model_validator(mode="after")
    def _consistent(self) -> ObjectiveConfig:
        if self.kind == "head" and self.head is None:
            raise ValueError("kind 'head' needs head: the name of the head to rank trials on")
        if self.kind != "head" and (self.head is not None or self.metric != "loss"):
            raise ValueError("head and metric are only used with kind 'head'")
        if self.kind == "priorities" and not self.priorities:
            raise ValueError("kind 'priorities' needs priorities: {head: positive number}")
        if self.kind != "priorities" and self.priorities is not None:
            raise ValueError("priorities is only used with kind 'priorities'")
        if self.metric not in METRIC_DIRECTIONS:
            raise ValueError(
                f"unknown metric {self.metric!r}; expected one of {', '.join(METRIC_DIRECTIONS)}"
            )
        return self

    @property
    def direction(self) -> Literal["min", "max"]:
        """Whether a lower or a higher score is better."""
        return METRIC_DIRECTIONS[self.metric] if self.kind == "head" else "min"


class BaselineConfig(_Strict):
    """Hyperparameters of the baseline: weighted strategy with equal weights."""

    learning_rate: float = Field(1e-3, gt=0, le=1.0, allow_inf_nan=False)
    epsilon: float = Field(1e-7, gt=0, le=1.0, allow_inf_nan=False)


class ConfirmConfig(_Strict):
    """Confirmation runs: retrain the best configurations with other seeds before choosing."""

    top: int = Field(
        3,
        ge=0,
        le=20,
        description="retrain this many distinct best configurations (0: off, the search's "
        "single best trial wins)",
    )
    seeds: int = Field(
        2, ge=1, le=20, description="further initialisation seeds per configuration (same splits)"
    )


class SearchConfig(_Strict):
    """The search space, the tuner and the objective."""

    strategies: list[StrategyName] = Field(
        default_factory=lambda: ["weighted", "separate"], min_length=1
    )
    tuner: TunerName = "tpe"
    max_trials: int = Field(20, ge=1, le=100_000)
    informed: bool = Field(
        True,
        description="first run the informed weighted trials: equal weights, then weights "
        "∝ 1/(stop loss) of that trial, and each uncertainty trial's learned weights "
        "(tuner tpe)",
    )
    loss_weight: LogRange = LogRange(min=0.05, max=20.0)
    learning_rate: LogRange = LogRange(min=1e-4, max=1e-2)
    epsilon: LogRange = LogRange(min=1e-8, max=1e-2)
    objective: ObjectiveConfig = ObjectiveConfig()
    baseline: BaselineConfig = BaselineConfig()
    confirm: ConfirmConfig = ConfirmConfig()
    executions_per_trial: int = Field(
        1,
        ge=1,
        le=20,
        description="Keras Tuner's executions per trial: train every trial this many times "
        "(other initialisation seeds) and rank it by the mean",
    )

    @field_validator("strategies")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"strategies lists a strategy twice: {value}")
        return value


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

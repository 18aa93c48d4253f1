"""A study's ``search``: strategies, tuner, budget, ranges, objective, baseline, confirmation."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from mtltune.study.base import FinitePositive, LogRange, _Strict
from mtltune.study.catalog import (
    METRIC_DIRECTIONS,
    StrategyName,
    TunerName,
)
from mtltune.study.direction import Direction


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
    def direction(self) -> Direction:
        """Whether a lower or a higher score is better."""
        return METRIC_DIRECTIONS[self.metric] if self.kind == "head" else Direction.MIN


class BaselineConfig(_Strict):
    """Hyperparameters of the baseline: weighted strategy with equal weights."""

    learning_rate: float = Field(1e-3, gt=0, le=1.0, allow_inf_nan=False)
    epsilon: float = Field(1e-7, gt=0, le=1.0, allow_inf_nan=False)


class ConfirmConfig(_Strict):
    """The race against equal weights: the search's best configurations on further seeds.

    Equal weights (``search.baseline``) are the incumbent. The ``top`` best distinct
    configurations of the search race it seed by seed on the stop objective; one replaces it
    only if a one-sided paired test of the per-seed gains is significant at ``level`` (divided
    by the number of challengers raced), after at least ``seeds`` further seeds, up to
    ``max_seeds`` while the decision is open (docs/confirmation.md).
    """

    top: int = Field(
        3,
        ge=0,
        le=20,
        description="race this many distinct best configurations against equal weights (0: no "
        "race, the search's single best trial is judged against equal weights at the study "
        "seed alone)",
    )
    seeds: int = Field(
        3,
        ge=1,
        le=20,
        description="further initialisation seeds (same splits) every raced challenger and "
        "equal weights get before a challenger can win",
    )
    max_seeds: int = Field(
        8,
        ge=1,
        le=50,
        description="further seeds at most, added one at a time while a challenger is better "
        "on average but not yet significantly",
    )
    level: float = Field(
        0.05,
        gt=0.0,
        lt=0.5,
        description="level of the one-sided paired t-test a challenger must pass (Bonferroni "
        "over the challengers raced); below 3 seeds a challenger must win every seed",
    )

    @model_validator(mode="after")
    def _cap(self) -> ConfirmConfig:
        if self.max_seeds < self.seeds:
            raise ValueError(f"max_seeds ({self.max_seeds}) must be at least seeds ({self.seeds})")
        return self


class MethodRanges(_Strict):
    """Ranges of the multi-task methods' own hyperparameters, each searched on a log scale.

    Used only by trials of the strategy they belong to (``dwa``, ``gradnorm``, ``famo``; each in
    its conditional scope). Their defaults hold each paper's value (docs/studies.md).
    """

    dwa_temperature: LogRange = Field(
        LogRange(min=0.5, max=20.0),
        description="dwa: the softmax temperature T (Liu et al. 2019 use 2)",
    )
    gradnorm_alpha: LogRange = Field(
        LogRange(min=0.05, max=3.0),
        description="gradnorm: the asymmetry alpha (Chen et al. 2018 use 0.12 to 1.5)",
    )
    gradnorm_weight_rate: LogRange = Field(
        LogRange(min=1e-3, max=0.1),
        description="gradnorm: the learning rate of the weights' own Adam",
    )
    famo_weight_rate: LogRange = Field(
        LogRange(min=1e-3, max=0.1),
        description="famo: the step size of the logits' own Adam (Liu et al. 2023 use 0.025)",
    )
    famo_decay: LogRange = Field(
        LogRange(min=1e-4, max=0.1),
        description="famo: the decay gamma of the logits (Liu et al. 2023 use 0.001)",
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
    methods: MethodRanges = MethodRanges()
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

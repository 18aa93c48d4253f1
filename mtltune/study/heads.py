"""A study's ``heads``: one output of the model each, its kind, loss, metrics and scale."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import (
    Field,
    model_validator,
)

from mtltune.study.base import FinitePositive, LayerWidth, _Strict
from mtltune.study.catalog import (
    AUXILIARY_OUTPUTS,
    CLASS_WEIGHTED_LOSSES,
    KINDS,
    LOG_SCALE_LOSSES,
    METRIC_DIRECTIONS,
    HeadKind,
    is_custom_loss,
)

CUSTOM_LOSS_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"
#: Head names that would clash with log keys (``loss_<head>``, ``<head>_<metric>``).
RESERVED_HEAD_NAMES = frozenset({"objective", "val", *METRIC_DIRECTIONS})


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


def is_log_likelihood(head: HeadConfig | Mapping[str, Any] | None) -> bool:
    """Whether a head's loss is a negative log-likelihood (``loss_scale: log``).

    The one test of it: ``head`` is a ``HeadConfig`` or its resolved mapping (as
    ``report.json`` keeps it).
    """
    if isinstance(head, HeadConfig):
        return head.loss_scale == "log"
    return (head or {}).get("loss_scale") == "log"


def log_likelihood_heads(heads: Mapping[str, HeadConfig | Mapping[str, Any] | None]) -> set[str]:
    """The heads whose loss is a negative log-likelihood (``is_log_likelihood``)."""
    return {name for name, head in heads.items() if is_log_likelihood(head)}


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

"""What every section of a study shares: strict models, log-uniform ranges, bounded numbers."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

#: A positive, finite number (``.inf`` and ``.nan`` are refused).
FinitePositive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
#: Units of one Dense layer (a wider layer would not fit in memory).
LayerWidth = Annotated[int, Field(ge=1, le=65_536)]


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

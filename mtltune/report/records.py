"""A trial's record and per-head scores: the plain data every report module shares."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

#: Per-head scores: {head: {"loss": ..., "<metric>": ..., "loss_clean": ...}}.
HeadScores = dict[str, dict[str, float]]


@dataclass(frozen=True)
class TrialRecord:
    """One Keras Tuner trial, as mtltune reports it.

    Attributes:
        trial_id: Keras Tuner's trial id.
        status: ``COMPLETED``, ``FAILED``, ``INVALID``, ``RUNNING`` ...
        strategy: The trial's strategy.
        hyperparameters: The active hyperparameters (raw values, as searched).
        plan: The training plan (normalised loss weights, learning rates, epsilon).
        objective: The weight-free stop score of the best epoch (``None`` if failed).
        stop: Per-head stop losses and metrics of the best epoch.
        epochs: Epochs trained.
        best_epoch: Epoch (1-based) whose weights were kept.
        seconds: Wall time of the training.
        message: Why the trial failed, if it did.
        origin: Where its hyperparameters came from: ``informed`` (an informed trial of the
            TPE oracle) or ``sampler``.
        oracle_seconds: Seconds the oracle took to propose it (``None`` if not timed).
    """

    trial_id: str
    status: str
    strategy: str
    hyperparameters: dict[str, Any]
    plan: dict[str, Any]
    objective: float | None
    stop: HeadScores = field(default_factory=dict)
    epochs: int | None = None
    best_epoch: int | None = None
    seconds: float | None = None
    message: str | None = None
    origin: str = "sampler"
    oracle_seconds: float | None = None

    @property
    def ok(self) -> bool:
        """Whether the trial completed with a finite objective."""
        return (
            self.status == "COMPLETED"
            and self.objective is not None
            and math.isfinite(self.objective)
        )


def loss_ratio(
    baseline: HeadScores, best: HeadScores, key: str, log_heads: set[str]
) -> dict[str, float]:
    """Per head: baseline ``key`` / best ``key`` (``exp`` of the difference for log heads)."""
    out = {}
    for head, scores in best.items():
        if key in scores and key in baseline.get(head, {}):
            denominator, numerator = scores[key], baseline[head][key]
            if head in log_heads:
                out[head] = math.exp(numerator - denominator)
                continue
            if denominator > 0:
                out[head] = numerator / denominator
            else:  # a zero loss beats any positive one; a NaN loss says nothing
                out[head] = math.inf if denominator == 0 and numerator > 0 else math.nan
    return out


#: The phases after the trials, in the order a search runs them (``PhaseFailure.phase``).
PHASES = ("confirmation", "evaluation", "baseline", "export", "replicates", "plots")


@dataclass(frozen=True)
class PhaseFailure:
    """Something after the trials that failed: the report is written without it.

    Attributes:
        phase: One of ``PHASES``.
        run: Which run of the phase (``replicate 5``, ``trial 03``), or ``""`` for all of it.
        reason: The exception's type and message, one line of plain text.
        missing: What the report lacks because of it.
    """

    phase: str
    run: str
    reason: str
    missing: str = ""

    def describe(self) -> str:
        """``replicates (replicate 5): ValueError: ...; missing: ...`` on one line."""
        where = f"{self.phase} ({self.run})" if self.run else self.phase
        text = f"{where}: {self.reason}"
        return f"{text}; missing: {self.missing}" if self.missing else text

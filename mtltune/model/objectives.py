"""Weight-free trial scores (the callback that writes them into the logs: ``model.callbacks``).

Trials are never ranked on Keras' ``val_loss``: when loss weights are searched it is the
*weighted* sum, which rewards small weights. The default score is the geometric mean over heads
of the per-head stop losses: it ignores the loss weights and each head's units, so an MSE in
dollars² and a cross-entropy in nats can share one score.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mtltune.study import ObjectiveConfig
from mtltune.study.names import MONITOR, OBJECTIVE, STOP_PREFIX, head_loss_key, head_metric_key

__all__ = ["MONITOR", "OBJECTIVE", "Objective", "geometric_mean_objective"]

_TINY = 1e-12


@dataclass(frozen=True)
class Objective:
    """A weight-free score over the per-head losses or metrics of one split.

    Attributes:
        config: Which score (geometric mean, one head, fixed priorities).
        heads: The head names.
        reference: Each head's stop loss under a constant predictor; with ``config.floor`` it
            sets the smallest loss a head is credited with. ``None``: no floor.
        log_heads: Heads whose loss is a negative log-likelihood (may be negative): they enter
            the score as ``exp(loss)``.
    """

    config: ObjectiveConfig
    heads: tuple[str, ...]
    reference: Mapping[str, float] | None = None
    log_heads: frozenset[str] = frozenset()

    def with_reference(self, reference: Mapping[str, float] | None) -> Objective:
        """The same objective with per-head reference losses for the floor."""
        return dataclasses.replace(self, reference=dict(reference) if reference else None)

    def floored(self, losses: Mapping[str, float]) -> dict[str, float]:
        """Per-head losses raised to their floor (unchanged without a reference)."""
        floor = self.config.floor
        if not self.reference or floor <= 0:
            return {h: float(losses[h]) for h in self.heads}
        return {h: max(float(losses[h]), floor * self.reference.get(h, 0.0)) for h in self.heads}

    @property
    def direction(self) -> str:
        """``"min"`` or ``"max"``."""
        return self.config.direction

    @property
    def name(self) -> str:
        """Readable name, for reports."""
        cfg = self.config
        if cfg.kind == "head":
            return f"stop {cfg.metric} of head {cfg.head}"
        if cfg.kind == "priorities":
            name = f"{cfg.mean} mean of stop losses with priorities {dict(cfg.priorities or {})}"
        else:
            name = "geometric mean of per-head stop losses"
        if cfg.floor > 0:
            name += f" (each floored at {cfg.floor:g} × a constant predictor's)"
        return name

    def keys(self, prefix: str = STOP_PREFIX) -> list[str]:
        """Log keys the score reads, for the given split prefix."""
        if self.config.kind == "head":
            return [prefix + head_metric_key(str(self.config.head), self.config.metric)]
        return [prefix + head_loss_key(h) for h in self.heads]

    def score(self, values: Mapping[str, float]) -> float:
        """The score of per-head values keyed by head name (losses, or the one metric).

        Non-finite inputs give ``nan``; a zero loss is clipped to 1e-12 before the logarithm.
        """
        cfg = self.config
        if cfg.kind == "head":
            return float(values[str(cfg.head)])
        if not all(math.isfinite(float(values[h])) for h in self.heads):
            return math.nan
        losses = self.floored(
            {
                h: math.exp(float(values[h])) if h in self.log_heads else values[h]
                for h in self.heads
            }
        )
        if cfg.kind == "priorities":
            priorities = dict(cfg.priorities or {})
            weights = {h: priorities.get(h, 0.0) for h in self.heads}
        else:
            weights = dict.fromkeys(self.heads, 1.0)
        total = sum(weights.values())
        if cfg.kind == "priorities" and cfg.mean == "arithmetic":
            return sum(weights[h] * losses[h] for h in self.heads) / total
        logs = sum(weights[h] * math.log(max(losses[h], _TINY)) for h in self.heads)
        return math.exp(logs / total)

    def from_logs(self, logs: Mapping[str, float], prefix: str = STOP_PREFIX) -> float | None:
        """The score of one epoch's logs, or ``None`` if the logs lack a needed key."""
        if self.config.kind == "head":
            key = self.keys(prefix)[0]
            return float(logs[key]) if key in logs else None
        keys = {h: prefix + head_loss_key(h) for h in self.heads}
        if not all(k in logs for k in keys.values()):
            return None
        return self.score({h: float(logs[k]) for h, k in keys.items()})

    def better(self, a: float, b: float) -> bool:
        """Whether score ``a`` beats ``b`` (``nan`` never does)."""
        if math.isnan(a):
            return False
        if math.isnan(b):
            return True
        return self.direction.better(a, b)


def geometric_mean_objective(heads: Sequence[str]) -> Objective:
    """The default objective over the given heads."""
    return Objective(ObjectiveConfig(), tuple(heads))

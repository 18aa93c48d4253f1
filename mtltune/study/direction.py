"""Which way an objective is better: the one place a direction is tested (no TensorFlow).

A ``Direction`` is a ``str`` (``Direction.MIN == "min"``), so it is written to ``report.json``
and handed to Keras Tuner (``kt.Objective``) and Keras (``EarlyStopping(mode=...)``) as the
text they expect; everything that ranks, compares or labels by direction asks it instead of
testing ``== "max"`` or a sign.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from enum import StrEnum


class Direction(StrEnum):
    """Whether a lower (``min``) or a higher (``max``) score is better."""

    MIN = "min"
    MAX = "max"

    @classmethod
    def of(cls, value: str) -> Direction:
        """The direction named ``value`` (``min``, ``max``, or a ``Direction``).

        Raises:
            ValueError: If ``value`` names no direction.
        """
        return cls(value)

    @property
    def sign(self) -> float:
        """``1`` to minimise, ``-1`` to maximise: ``sign * score`` is lower when better."""
        return 1.0 if self is Direction.MIN else -1.0

    @property
    def worst(self) -> float:
        """A score every other beats (``inf`` to minimise, ``-inf`` to maximise)."""
        return self.sign * math.inf

    def key(self, score: float) -> float:
        """A sort key putting the best score first (``sorted(..., key=direction.key)``)."""
        return self.sign * score

    def better(self, a: float, b: float) -> bool:
        """Whether score ``a`` strictly beats ``b``."""
        return self.key(a) < self.key(b)

    def running_best(self, scores: Iterable[float]) -> list[float]:
        """The best score so far after each of ``scores``."""
        return list(
            itertools.accumulate(scores, lambda best, s: s if self.better(s, best) else best)
        )

    def _better_of(self, best: float, score: float) -> float:
        return score if self.better(score, best) else best

    @property
    def optuna(self) -> str:
        """Optuna's name of it (``minimize``, ``maximize``)."""
        return "minimize" if self is Direction.MIN else "maximize"

    @property
    def verb(self) -> str:
        """``minimise`` or ``maximise``, as the report says it."""
        return "minimise" if self is Direction.MIN else "maximise"

    @property
    def better_word(self) -> str:
        """``lower`` or ``higher``: which scores are better."""
        return "lower" if self is Direction.MIN else "higher"

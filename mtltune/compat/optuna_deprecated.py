"""Optuna's ``TPESampler`` with a chosen γ (its ``gamma`` argument, deprecated since 4.9).

Optuna 4.9 deprecated ``TPESampler(gamma=...)`` (optuna/optuna#6635: "only a small subset of
[the arguments] is widely used") and schedules its removal for 6.0. mtltune's TPE oracle needs
it: Optuna's default γ, a tenth of the completed trials, models the good region on one or two
trials of a 20-trial search; a quarter found better configurations on the two bundled studies
the search benchmark measured it on (``benchmarks/RESULTS.md``, issue 14). Checked against
optuna 5.0.0; ``pyproject.toml`` pins ``optuna<6``. Guarded by
``tests/tuning/test_oracle.py::test_the_good_fraction_is_tpe_gamma``, which fails if the argument
stops changing the split.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import Any

import optuna


def good_count(fraction: float, completed: int) -> int:
    """How many of ``completed`` trials form TPE's good group (at most 25, as Optuna's)."""
    return min(math.ceil(fraction * completed), 25)


def tpe_sampler(good_fraction: float, **kwargs: Any) -> optuna.samplers.TPESampler:
    """A ``TPESampler(**kwargs)`` whose good group is ``good_fraction`` of the completed trials."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*`gamma`.*", category=FutureWarning)
        return optuna.samplers.TPESampler(
            gamma=functools.partial(good_count, good_fraction), **kwargs
        )

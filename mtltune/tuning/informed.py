"""Informed trials: ``weighted`` plans that follow from what is known before any search.

Three proposals, each an ordinary trial of the oracle (``mtltune.tuning.oracle``):

- ``equal``: the first ``weighted`` trial uses equal loss weights (at the given start values of
  the other hyperparameters, e.g. the study's baseline learning rate and epsilon);
- ``inverse_loss:<id>``: once that trial has completed, ``w_i ∝ 1/L_i`` from its per-head stop
  losses ``L_i`` (the maximum-likelihood weight of a Gaussian head), same learning rate and
  epsilon;
- ``learned:<id>``: once an ``uncertainty`` trial has completed with a better score than every
  earlier one, its learned weights ``exp(-s_i)`` as a ``weighted`` plan, same learning rate
  and epsilon.

A proposal fixes only the strategy, the loss weights and (where it has them) the learning rate
and epsilon; the oracle's sampler fills any other hyperparameter. Weights are clipped to the
declared ranges. The heads and names are read from the search space: every hyperparameter named
``loss_weight_<head>`` (``mtltune.model.strategies.loss_weight_name``), so a library user's
``MultiTaskHyperModel`` gets informed trials without telling the oracle anything.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import keras_tuner as kt

from mtltune.model.objectives import head_loss_key, learned_weight_key
from mtltune.model.strategies import STRATEGY, loss_weight_name

#: Where a trial's hyperparameters came from (the ``origin`` column of ``trials.csv``).
INFORMED = "informed"
SAMPLER = "sampler"

_PREFIX = loss_weight_name("")
_COMPLETED = kt.engine.trial.TrialStatus.COMPLETED
_Fixed = kt.engine.hyperparameters.Fixed


@dataclass(frozen=True)
class Proposal:
    """An informed trial to run.

    Attributes:
        key: What it is (``equal``, ``inverse_loss:<trial id>``, ``learned:<trial id>``);
            each key is proposed once.
        values: The hyperparameter values it fixes.
    """

    key: str
    values: dict[str, Any]


def weight_hyperparameters(space: kt.HyperParameters) -> dict[str, Any]:
    """The loss-weight hyperparameters of a search space, keyed by head."""
    return {hp.name[len(_PREFIX) :]: hp for hp in space.space if hp.name.startswith(_PREFIX)}


def _clip(hp: Any, value: float) -> float:
    low, high = getattr(hp, "min_value", value), getattr(hp, "max_value", value)
    return float(min(max(value, low), high))


def raw_weights(space: kt.HyperParameters, weights: Mapping[str, float]) -> dict[str, float]:
    """Raw ``loss_weight_<head>`` values giving these weights' ratios, clipped to the ranges.

    A fixed (reference) head keeps its value and the others are scaled to it; without one,
    the weights are scaled to the geometric middle of the ranges.
    """
    hps = weight_hyperparameters(space)
    fixed = {
        h: hp.value for h, hp in hps.items() if isinstance(hp, kt.engine.hyperparameters.Fixed)
    }
    if fixed:
        head, value = next(iter(fixed.items()))
        scale = float(value) / weights[head]
    else:
        middle = [math.log(hp.min_value * hp.max_value) / 2 for hp in hps.values()]
        geometric = sum(math.log(weights[h]) for h in hps) / len(hps)
        scale = math.exp(sum(middle) / len(middle) - geometric)
    return {
        loss_weight_name(h): float(hp.value) if h in fixed else _clip(hp, scale * weights[h])
        for h, hp in hps.items()
    }


def _metric(trial: Any, name: str) -> float | None:
    if not trial.metrics.exists(name):
        return None
    value = trial.metrics.get_last_value(name)
    return None if value is None or not math.isfinite(float(value)) else float(value)


def _carried(space: kt.HyperParameters, values: Mapping[str, Any]) -> dict[str, Any]:
    """The values of ``values`` that a weighted trial also has (learning rate, epsilon ...)."""
    skip = {STRATEGY} | {hp.name for hp in weight_hyperparameters(space).values()}
    out = {}
    for hp in space.space:
        if hp.name in values and hp.name not in skip:
            value = values[hp.name]
            out[hp.name] = _clip(hp, value) if hasattr(hp, "min_value") else value
    return out


def _weighted(
    space: kt.HyperParameters, weights: Mapping[str, float], others: Mapping[str, Any]
) -> dict[str, Any]:
    """A weighted trial's fixed values: the strategy, the raw weights and ``others``."""
    values = dict(others)
    if any(hp.name == STRATEGY for hp in space.space):
        values[STRATEGY] = "weighted"
    values.update(raw_weights(space, weights))
    return values


def _can_weight(space: kt.HyperParameters) -> bool:
    """Whether the space has loss weights and allows the ``weighted`` strategy."""
    if not weight_hyperparameters(space):
        return False
    strategy = next((hp for hp in space.space if hp.name == STRATEGY), None)
    if strategy is None:
        return True
    allowed = getattr(strategy, "values", None) or [getattr(strategy, "value", None)]
    return "weighted" in allowed


def inverse_loss_weights(trial: Any, heads: Iterable[str]) -> dict[str, float] | None:
    """``w_i ∝ 1/L_i`` from a finished trial's per-head stop losses (None if not all > 0)."""
    losses = {h: _metric(trial, "val_" + head_loss_key(h)) for h in heads}
    if any(v is None or v <= 0 for v in losses.values()):
        return None
    return {h: 1.0 / v for h, v in losses.items()}  # type: ignore[operator]


def learned_weights(trial: Any, heads: Iterable[str]) -> dict[str, float] | None:
    """An ``uncertainty`` trial's learned weights ``exp(-s_i)`` (None if it has none)."""
    weights = {h: _metric(trial, learned_weight_key(h)) for h in heads}
    if any(v is None or v <= 0 for v in weights.values()):
        return None
    return weights  # type: ignore[return-value]


def next_proposal(
    space: kt.HyperParameters,
    trials: Iterable[Any],
    done: Mapping[str, str],
    start: Mapping[str, Any],
    *,
    maximize: bool = False,
) -> Proposal | None:
    """The next informed trial to run, if one is due.

    Learned weights are proposed from an ``uncertainty`` trial that scored better than every
    earlier completed ``uncertainty`` trial (so they do not take over the budget).

    Args:
        space: The oracle's search space.
        trials: The oracle's trials (any status), in creation order.
        done: Keys already proposed, keyed by the trial id that ran them.
        start: Values of the other hyperparameters for the equal-weights trial.
        maximize: The objective improves upwards.
    """
    if not _can_weight(space):
        return None
    heads = list(weight_hyperparameters(space))
    proposed = set(done.values())
    if "equal" not in proposed:
        return Proposal(
            "equal", _weighted(space, dict.fromkeys(heads, 1.0), _carried(space, start))
        )
    sign = -1.0 if maximize else 1.0
    best_uncertainty = math.inf
    for trial in trials:
        if trial.status != _COMPLETED:
            continue
        values = trial.hyperparameters.values
        if done.get(trial.trial_id) == "equal":
            key, weights = f"inverse_loss:{trial.trial_id}", inverse_loss_weights(trial, heads)
        elif values.get(STRATEGY) == "uncertainty" and trial.score is not None:
            if sign * trial.score >= best_uncertainty:
                continue
            best_uncertainty = sign * trial.score
            key, weights = f"learned:{trial.trial_id}", learned_weights(trial, heads)
        else:
            continue
        if weights is not None and key not in proposed:
            return Proposal(key, _weighted(space, weights, _carried(space, values)))
    return None

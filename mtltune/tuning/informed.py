"""Informed trials: ``weighted`` plans that follow from what is known before any search.

Three kinds of proposal, each an ordinary trial of the oracle (``mtltune.tuning.oracle``):

- ``equal``: the first ``weighted`` trial uses equal loss weights (at the given start values of
  the other hyperparameters, e.g. the study's baseline learning rate and epsilon);
- ``inverse_loss:<id>``: whenever a ``weighted`` trial completes with a better score than every
  earlier ``weighted`` trial (the equal-weights trial first), ``w_i ∝ 1/L_i`` from its per-head
  stop losses ``L_i``, at its learning rate, with Adam's epsilon lowered so that no head's
  effective epsilon grows (``scaled_epsilon``). For Gaussian heads this is the
  maximum-likelihood weight; for the geometric-mean objective it is the weighting whose
  gradient is the objective's own (``∇ Σ log L_i = Σ ∇L_i / L_i``), so the proposals iterate
  towards its fixed point while they improve. An inverse-loss trial whose own stop losses give
  its weights again (every ratio within 20 %) has converged and is not re-weighted;
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

from mtltune.model.strategies import EPSILON, STRATEGY, loss_weight_name, normalise_weights
from mtltune.study.names import head_loss_key, learned_weight_key, stop_key

#: Where a trial's hyperparameters came from (the ``origin`` column of ``trials.csv``).
INFORMED = "informed"
SAMPLER = "sampler"

_PREFIX = loss_weight_name("")
_COMPLETED = kt.engine.trial.TrialStatus.COMPLETED
_Fixed = kt.engine.hyperparameters.Fixed
#: Weights within this log-ratio of a trial's own are the same proposal (20 %).
_SAME_RATIO = math.log(1.2)


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
    losses = {h: _metric(trial, stop_key(head_loss_key(h))) for h in heads}
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

    Inverse-loss and learned weights are proposed only from a trial that scored better than
    every earlier completed trial of its strategy (so they do not take over the budget).

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
    best = {"weighted": math.inf, "uncertainty": math.inf}
    for trial in trials:
        values = trial.hyperparameters.values
        strategy = values.get(STRATEGY, "weighted")
        if trial.status != _COMPLETED or trial.score is None or strategy not in best:
            continue
        if sign * trial.score >= best[strategy]:
            continue
        best[strategy] = sign * trial.score
        if strategy == "weighted":
            key, weights = f"inverse_loss:{trial.trial_id}", inverse_loss_weights(trial, heads)
            iterated = done.get(trial.trial_id, "").startswith("inverse_loss")
            if iterated and weights is not None and _same_ratios(space, values, weights):
                continue  # the iteration w <- 1/L(w) has converged
        else:
            key, weights = f"learned:{trial.trial_id}", learned_weights(trial, heads)
        if weights is not None and key not in proposed:
            carried = _carried(space, values)
            if strategy == "weighted" and EPSILON in carried:
                carried[EPSILON] = scaled_epsilon(space, values, weights, carried[EPSILON])
            return Proposal(key, _weighted(space, weights, carried))
    return None


def scaled_epsilon(
    space: kt.HyperParameters,
    values: Mapping[str, Any],
    weights: Mapping[str, float],
    epsilon: float,
) -> float:
    """Adam's epsilon for new weights, so that no head's effective epsilon grows.

    Adam divides each step by ``sqrt(v) + eps``. Scaling head ``i``'s loss by ``w_i`` scales
    its gradients by ``w_i``, so its own parameters see an effective ``eps / w_i``: a head whose
    weight falls a hundredfold would learn as if epsilon rose a hundredfold. The proposal keeps
    every head's effective epsilon at most what it was in the source trial (``values``):
    ``eps · min_i(w'_i / w_i)`` with both weightings normalised to mean 1, never raised, and
    clipped to the declared epsilon range.
    """
    hps = weight_hyperparameters(space)
    proposed = raw_weights(space, weights)
    old = normalise_weights({h: float(values.get(hp.name, 1.0)) for h, hp in hps.items()})
    new = normalise_weights({h: proposed[hp.name] for h, hp in hps.items()})
    factor = min(1.0, *(new[h] / old[h] for h in hps))
    epsilon_hp = next(hp for hp in space.space if hp.name == EPSILON)
    return _clip(epsilon_hp, epsilon * factor)


def _same_ratios(
    space: kt.HyperParameters, values: Mapping[str, Any], weights: Mapping[str, float]
) -> bool:
    """Whether a trial's raw weights already have ``weights``' ratios (each within 20 %)."""
    proposed = raw_weights(space, weights)
    return all(
        name in values and abs(math.log(value / float(values[name]))) < _SAME_RATIO
        for name, value in proposed.items()
    )

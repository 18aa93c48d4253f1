"""How a Keras Tuner search space reaches Optuna, value for value (``TPEOracle``'s encoding).

Each searched hyperparameter becomes one Optuna parameter whose values map onto the values
Keras Tuner itself samples for it:

- ``Boolean`` and ``Choice``: a categorical over the values;
- ``Int`` and ``Float`` with a step: an integer index into Keras Tuner's grid of values
  (linear: ``min + i·step``; ``log``: ``min·stepⁱ``, the step a multiplier; ``reverse_log``:
  ``max + min − min·stepⁱ``). A proposal is always on the grid; a range that is not a multiple
  of its step is Keras Tuner's grid (Optuna would warn and move the upper bound on every
  proposal); a value off the grid (a default discovered during a trial, a run resumed with a
  changed step) is read as its nearest grid point;
- ``log`` without a step: Optuna's log-uniform distribution; ``reverse_log`` without a step: a
  log-uniform distribution of ``max + min − value``, dense near the maximum as Keras Tuner
  samples it; linear ``Float`` without a step: Optuna's uniform distribution;
- ``Fixed``: not searched (its value is set as it is).

A parameter is named after its hyperparameter, unless the space declares that name more than
once (under different conditions, e.g. ``act`` under ``model=v1`` and under ``model=v2``): then
each declaration is its own parameter, named with its conditions, so a value space that depends
on a condition never reaches Optuna as one distribution. Imports Keras Tuner and Optuna only.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import keras_tuner as kt
import optuna

_hps = kt.engine.hyperparameters
_dists = optuna.distributions


def grid_size(hp: Any) -> int:
    """How many values Keras Tuner's grid of a stepped ``Int``/``Float`` holds."""
    if hp.sampling == "linear":
        return int((hp.max_value - hp.min_value) // hp.step + 1)
    return int(math.log(hp.max_value / hp.min_value, hp.step) + 1e-8) + 1


def grid_value(hp: Any, index: int) -> Any:
    """The ``index``-th value of a stepped hyperparameter's grid, as Keras Tuner computes it."""
    if hp.sampling == "linear":
        value = hp.min_value + index * hp.step
    elif hp.sampling == "log":
        value = hp.min_value * math.pow(hp.step, index)
    else:
        value = hp.max_value + hp.min_value - hp.min_value * math.pow(hp.step, index)
    return int(value) if isinstance(hp, _hps.Int) else value


def grid_index(hp: Any, value: float) -> int:
    """The index of the grid value nearest ``value`` (a value within the range)."""
    if hp.sampling == "linear":
        position = (value - hp.min_value) / hp.step
    elif hp.sampling == "log":
        position = math.log(value / hp.min_value, hp.step)
    else:
        position = math.log(max(hp.max_value + hp.min_value - value, hp.min_value), hp.step)
        position -= math.log(hp.min_value, hp.step)
    return min(max(round(position), 0), grid_size(hp) - 1)


@dataclass(frozen=True)
class Param:
    """One searched hyperparameter as an Optuna parameter.

    Attributes:
        key: The Optuna parameter's name.
        hp: The Keras Tuner hyperparameter.
        dist: Its Optuna distribution (over the encoded values).
    """

    key: str
    hp: Any
    dist: _dists.BaseDistribution

    @property
    def grid(self) -> bool:
        """Whether the parameter is an index into a stepped hyperparameter's grid."""
        return _stepped(self.hp)

    @property
    def mirrored(self) -> bool:
        """Whether the parameter is ``max + min − value`` (``reverse_log`` without a step)."""
        return getattr(self.hp, "sampling", None) == "reverse_log" and not self.grid

    def encode(self, value: Any) -> Any | None:
        """The Optuna value of a hyperparameter value (None if the range cannot hold it)."""
        hp = self.hp
        if isinstance(self.dist, _dists.CategoricalDistribution):
            return value if value in self.dist.choices else None
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if not math.isfinite(value) or not hp.min_value <= value <= hp.max_value:
            return None
        if self.grid:
            return grid_index(hp, value)
        if self.mirrored:
            value = hp.max_value + hp.min_value - value
        if isinstance(hp, _hps.Int):
            return min(max(round(value), hp.min_value), hp.max_value)
        return float(min(max(value, self.dist.low), self.dist.high))  # type: ignore[attr-defined]

    def decode(self, encoded: Any) -> Any:
        """The hyperparameter value of an Optuna value."""
        if self.grid:
            return grid_value(self.hp, int(encoded))
        if self.mirrored:
            value = self.hp.max_value + self.hp.min_value - encoded
            return int(value) if isinstance(self.hp, _hps.Int) else float(value)
        return encoded

    def suggest(self, trial: optuna.Trial) -> Any:
        """Ask an Optuna trial for this parameter's hyperparameter value."""
        dist = self.dist
        if isinstance(dist, _dists.CategoricalDistribution):
            return trial.suggest_categorical(self.key, dist.choices)
        if isinstance(dist, _dists.IntDistribution):
            return self.decode(trial.suggest_int(self.key, dist.low, dist.high, log=dist.log))
        assert isinstance(dist, _dists.FloatDistribution)
        return self.decode(trial.suggest_float(self.key, dist.low, dist.high, log=dist.log))


def _stepped(hp: Any) -> bool:
    return isinstance(hp, _hps.Int | _hps.Float) and hp.step is not None


def distribution(hp: Any) -> _dists.BaseDistribution | None:
    """The Optuna distribution of a Keras Tuner hyperparameter's encoding (None: ``Fixed``)."""
    if isinstance(hp, _hps.Fixed):
        return None
    if isinstance(hp, _hps.Boolean):
        return _dists.CategoricalDistribution([False, True])
    if isinstance(hp, _hps.Choice):
        return _dists.CategoricalDistribution(list(hp.values))
    if not isinstance(hp, _hps.Int | _hps.Float):
        raise ValueError(f"the TPE oracle cannot search hyperparameter {hp.name!r} ({type(hp)})")
    if _stepped(hp):
        return _dists.IntDistribution(0, grid_size(hp) - 1)
    log = hp.sampling in ("log", "reverse_log")
    if isinstance(hp, _hps.Int):
        return _dists.IntDistribution(hp.min_value, hp.max_value, log=log)
    return _dists.FloatDistribution(hp.min_value, hp.max_value, log=log)


def _conditions(hp: Any) -> str:
    return json.dumps([c.get_config() for c in hp.conditions], sort_keys=True, default=str)


def params(space: kt.HyperParameters) -> list[Param | None]:
    """The Optuna parameter of each hyperparameter of the space, in order (None: ``Fixed``)."""
    counts = Counter(hp.name for hp in space.space)
    out: list[Param | None] = []
    for hp in space.space:
        dist = distribution(hp)
        key = hp.name if counts[hp.name] == 1 else f"{hp.name} if {_conditions(hp)}"
        out.append(None if dist is None else Param(key, hp, dist))
    return out


def _active(hp: Any, values: Mapping[str, Any]) -> bool:
    return all(condition.is_active(values) for condition in hp.conditions)


def suggest(trial: optuna.Trial, space: kt.HyperParameters) -> dict[str, Any]:
    """Values for the active hyperparameters of the space, suggested by an Optuna trial."""
    values: dict[str, Any] = {}
    for hp, param in zip(space.space, params(space), strict=True):
        if _active(hp, values):
            values[hp.name] = hp.value if param is None else param.suggest(trial)
    return values


def encoded(space: kt.HyperParameters, hps: kt.HyperParameters) -> dict[str, tuple[Param, Any]]:
    """A trial's active searched values as Optuna parameters: ``{key: (param, encoded)}``.

    Values the space's ranges cannot hold (a range narrowed since) are left out.
    """
    out = {}
    for hp, param in zip(space.space, params(space), strict=True):
        value = hps.values.get(hp.name)
        if param is None or value is None or not hps.is_active(hp):
            continue
        code = param.encode(value)
        if code is not None:
            out[param.key] = (param, code)
    return out


def fixed_params(space: kt.HyperParameters, values: Mapping[str, Any]) -> dict[str, Any]:
    """Given hyperparameter values as Optuna parameters (to enqueue), snapped to the grids."""
    out: dict[str, Any] = {}
    for hp, param in zip(space.space, params(space), strict=True):
        if param is not None and hp.name in values and _active(hp, values):
            code = param.encode(values[hp.name])
            if code is not None:
                out[param.key] = code
    return out


def finite_values(hp: Any, limit: int) -> Sequence[Any] | None:
    """Every value a hyperparameter can take, if they are at most ``limit`` (else None)."""
    if isinstance(hp, _hps.Fixed):
        return [hp.value]
    if isinstance(hp, _hps.Boolean):
        return [False, True]
    if isinstance(hp, _hps.Choice):
        return list(hp.values)
    if _stepped(hp):
        size = grid_size(hp)
        return [grid_value(hp, i) for i in range(size)] if size <= limit else None
    if isinstance(hp, _hps.Int) and hp.max_value - hp.min_value < limit:
        return list(range(hp.min_value, hp.max_value + 1))
    return None

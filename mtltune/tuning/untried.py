"""A random draw over the values a search has not tried yet (``TPEOracle``'s fallback).

Once TPE leaves its random start-up, its pick in a discrete space is nearly deterministic: asked
again it proposes the same tried point. The oracle then draws uniformly among the untried
points instead, and stops only when there is none left:

- a space whose every hyperparameter has at most ``ENUMERATION_LIMIT`` values (choices,
  Booleans, stepped grids, narrow ``Int`` ranges), conditional scopes included, is enumerated
  whole when it holds at most ``ENUMERATION_LIMIT`` points: the draw is uniform over its
  untried points, and none left means the space is exhausted;
- any other space is sampled as Keras Tuner samples it (``HyperParameter.random_sample``),
  up to ``RANDOM_DRAWS`` times, until a draw is untried (Keras Tuner's own oracles give up
  after 20 collisions).

Imports Keras Tuner (through ``mtltune.tuning.tpespace``) only.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import keras_tuner as kt

from mtltune.tuning.tpespace import finite_values

#: Spaces of at most this many points are enumerated whole.
ENUMERATION_LIMIT = 20_000
#: Random draws tried over a space too large to enumerate.
RANDOM_DRAWS = 1_000


def _active(hp: Any, values: dict[str, Any]) -> bool:
    return all(condition.is_active(values) for condition in hp.conditions)


def _points(
    space: Sequence[Any], choices: Sequence[Sequence[Any]], values: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """Every assignment of the active hyperparameters (define-by-run, in declaration order)."""
    if not space:
        yield dict(values)
        return
    hp, rest, options = space[0], space[1:], choices[0]
    if not _active(hp, values):
        yield from _points(rest, choices[1:], values)
        return
    for option in options:
        values[hp.name] = option
        yield from _points(rest, choices[1:], values)
        del values[hp.name]


def enumerate_space(space: kt.HyperParameters) -> list[dict[str, Any]] | None:
    """Every point of a finite space, or None if it is infinite or larger than the limit."""
    choices = [finite_values(hp, ENUMERATION_LIMIT) for hp in space.space]
    if any(c is None for c in choices):
        return None
    points = []
    for point in _points(list(space.space), choices, {}):  # type: ignore[arg-type]
        points.append(point)
        if len(points) > ENUMERATION_LIMIT:
            return None
    return points


def random_point(space: kt.HyperParameters, rng: random.Random) -> dict[str, Any]:
    """A point drawn as Keras Tuner draws it (its own sampling of each active value)."""
    values: dict[str, Any] = {}
    for hp in space.space:
        if _active(hp, values):
            values[hp.name] = hp.random_sample(rng.randrange(2**31))
    return values


def untried_point(
    space: kt.HyperParameters, tried: Callable[[dict[str, Any]], bool], seed: int
) -> dict[str, Any] | None:
    """A point of the space no trial has tried (uniform if enumerable), None if none is left.

    Args:
        space: The search space.
        tried: Whether a point has been tried already.
        seed: Seeds the draw.
    """
    rng = random.Random(seed)
    points = enumerate_space(space)
    if points is not None:
        untried = [p for p in points if not tried(p)]
        return rng.choice(untried) if untried else None
    for _ in range(RANDOM_DRAWS):
        point = random_point(space, rng)
        if not tried(point):
            return point
    return None

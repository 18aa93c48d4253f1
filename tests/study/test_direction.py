"""``Direction``: the one place an objective's direction is tested (TensorFlow-free)."""

from __future__ import annotations

import json
import math

import pytest

from mtltune.study import ObjectiveConfig
from mtltune.study.catalog import METRIC_DIRECTIONS
from mtltune.study.direction import Direction


def test_a_direction_is_the_text_keras_tuner_and_report_json_use() -> None:
    assert Direction.MIN == "min" and Direction.MAX == "max"
    assert Direction("max") is Direction.MAX and Direction(Direction.MIN) is Direction.MIN
    assert json.dumps({"direction": Direction.MAX}) == '{"direction": "max"}'
    with pytest.raises(ValueError):
        Direction("maximise")


@pytest.mark.parametrize(
    ("direction", "better", "worse", "worst", "optuna", "verb", "word"),
    [
        (Direction.MIN, 0.1, 0.2, math.inf, "minimize", "minimise", "lower"),
        (Direction.MAX, 0.9, 0.8, -math.inf, "maximize", "maximise", "higher"),
    ],
)
def test_better_worst_key_and_names(direction, better, worse, worst, optuna, verb, word) -> None:
    assert direction.better(better, worse) and not direction.better(worse, better)
    assert not direction.better(better, better)  # strictly
    assert direction.better(better, direction.worst) and direction.worst == worst
    assert sorted([worse, better], key=direction.key) == [better, worse]
    assert direction.sign * better < direction.sign * worse
    assert (direction.optuna, direction.verb, direction.better_word) == (optuna, verb, word)


def test_running_best_keeps_the_best_so_far() -> None:
    scores = [3.0, 1.0, 2.0, 0.5, 4.0]
    assert Direction.MIN.running_best(scores) == [3.0, 1.0, 1.0, 0.5, 0.5]
    assert Direction.MAX.running_best(scores) == [3.0, 3.0, 3.0, 3.0, 4.0]
    assert Direction.MIN.running_best([]) == []


def test_a_study_objective_has_its_metric_direction() -> None:
    assert ObjectiveConfig().direction is Direction.MIN
    head = ObjectiveConfig(kind="head", head="a", metric="accuracy")
    assert head.direction is Direction.MAX
    assert set(METRIC_DIRECTIONS.values()) == set(Direction)

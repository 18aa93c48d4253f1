"""Weight-free scores: geometric mean, unit invariance, floor, head and priority objectives."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtltune import Objective, ObjectiveLogger
from mtltune.study import ObjectiveConfig

HEADS = ("a", "b", "c")


def geo(**config) -> Objective:
    return Objective(ObjectiveConfig(**config), HEADS)


def test_geometric_mean_of_head_losses() -> None:
    losses = {"a": 0.5, "b": 2.0, "c": 8.0}
    assert geo().score(losses) == pytest.approx(math.exp(np.mean(np.log([0.5, 2.0, 8.0]))))


def test_ranking_is_blind_to_a_heads_units() -> None:
    one = {"a": 0.5, "b": 2.0, "c": 8.0}
    two = {"a": 0.4, "b": 2.6, "c": 7.0}
    objective = geo()
    before = objective.score(one) < objective.score(two)
    scaled = [{**t, "b": 1000.0 * t["b"]} for t in (one, two)]
    assert (objective.score(scaled[0]) < objective.score(scaled[1])) == before


def test_non_finite_losses_give_nan() -> None:
    assert math.isnan(geo().score({"a": 1.0, "b": math.nan, "c": 1.0}))
    assert math.isnan(geo().score({"a": 1.0, "b": math.inf, "c": 1.0}))


def test_floor_stops_one_head_from_winning_alone() -> None:
    reference = {"a": 1.0, "b": 1.0, "c": 1.0}
    objective = geo(floor=1e-3).with_reference(reference)
    balanced = {"a": 0.01, "b": 0.01, "c": 0.01}
    one_head_zero = {"a": 1e-9, "b": 0.2, "c": 0.2}  # two heads 20 times worse
    assert geo().score(one_head_zero) < geo().score(balanced)  # the trap, without a floor
    assert objective.score(one_head_zero) > objective.score(balanced)
    assert objective.floored(one_head_zero)["a"] == pytest.approx(1e-3)
    assert geo(floor=0.0).with_reference(reference).score(one_head_zero) == pytest.approx(
        geo().score(one_head_zero)
    )


def test_head_objective_and_direction() -> None:
    objective = Objective(ObjectiveConfig(kind="head", head="b", metric="accuracy"), HEADS)
    assert objective.direction == "max"
    assert objective.score({"a": 0.1, "b": 0.9, "c": 0.3}) == 0.9
    assert objective.keys() == ["val_b_accuracy"]
    assert objective.better(0.9, 0.8) and not objective.better(0.7, 0.8)
    assert Objective(ObjectiveConfig(kind="head", head="a"), HEADS).direction == "min"


def test_priorities() -> None:
    losses = {"a": 1.0, "b": 4.0, "c": 100.0}
    config = {"kind": "priorities", "priorities": {"a": 3.0, "b": 1.0}}
    geometric = Objective(ObjectiveConfig(**config), HEADS).score(losses)
    assert geometric == pytest.approx(math.exp((3 * math.log(1.0) + math.log(4.0)) / 4))
    arithmetic = Objective(ObjectiveConfig(**config, mean="arithmetic"), HEADS).score(losses)
    assert arithmetic == pytest.approx((3 * 1.0 + 4.0) / 4)


def test_logger_writes_train_and_stop_scores_and_ignores_keras_val_loss() -> None:
    logger = ObjectiveLogger(geo())
    logs = {
        "loss": 123.0,
        "val_loss": 999.0,  # Keras' weighted total: must not matter
        **{f"loss_{h}": v for h, v in zip(HEADS, (1.0, 2.0, 4.0), strict=True)},
        **{f"val_loss_{h}": v for h, v in zip(HEADS, (2.0, 2.0, 2.0), strict=True)},
    }
    logger.on_epoch_end(0, logs)
    assert logs["objective"] == pytest.approx(2.0)
    assert logs["val_objective"] == pytest.approx(2.0)
    logs["val_loss"] = 0.001
    logger.on_epoch_end(1, logs)
    assert logs["val_objective"] == pytest.approx(2.0)


def test_logger_skips_incomplete_logs() -> None:
    logs = {"loss_a": 1.0}
    ObjectiveLogger(geo()).on_epoch_end(0, logs)
    assert "objective" not in logs and "val_objective" not in logs

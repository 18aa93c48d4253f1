"""Weight-free scores: geometric mean, unit invariance, floor, head and priority objectives."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtltune import Objective, ObjectiveLogger
from mtltune.model.objectives import geometric_mean_objective
from mtltune.study import ObjectiveConfig
from mtltune.study.names import MONITOR, head_loss_key, head_metric_key

HEADS = ("a", "b", "c")


def geo(**config) -> Objective:
    return Objective(ObjectiveConfig(**config), HEADS)


def epoch_logs(train: tuple[float, ...], stop: tuple[float, ...], **extra) -> dict[str, float]:
    logs = {head_loss_key(h): v for h, v in zip(HEADS, train, strict=True)}
    logs.update({"val_" + head_loss_key(h): v for h, v in zip(HEADS, stop, strict=True)})
    logs.update(extra)
    return logs


# ---------------------------------------------------------------------------------------------
# Geometric mean


def test_geometric_mean_of_head_losses() -> None:
    losses = {"a": 0.5, "b": 2.0, "c": 8.0}
    expected = math.exp(np.mean(np.log([0.5, 2.0, 8.0])))
    assert geo().score(losses) == pytest.approx(expected, rel=1e-12)
    assert geo().score(losses) == pytest.approx(2.0)  # (0.5 * 2 * 8) ** (1 / 3)


@pytest.mark.parametrize("seed", range(5))
def test_geometric_mean_equals_exp_mean_log(seed) -> None:
    rng = np.random.default_rng(seed)
    values = rng.lognormal(mean=0.0, sigma=3.0, size=3)
    losses = dict(zip(HEADS, values.tolist(), strict=True))
    assert geo().score(losses) == pytest.approx(float(np.exp(np.log(values).mean())), rel=1e-10)


def test_equal_losses_score_that_loss() -> None:
    assert geo().score({"a": 0.3, "b": 0.3, "c": 0.3}) == pytest.approx(0.3)


def test_single_head() -> None:
    objective = Objective(ObjectiveConfig(), ("only",))
    assert objective.score({"only": 0.123}) == pytest.approx(0.123)


def test_default_objective_helper() -> None:
    objective = geometric_mean_objective(["a", "b"])
    assert objective.heads == ("a", "b")
    assert objective.config.kind == "geometric_mean"
    assert objective.direction == "min"
    assert objective.score({"a": 1.0, "b": 4.0}) == pytest.approx(2.0)
    assert "geometric mean" in objective.name


def test_ranking_is_blind_to_a_heads_units() -> None:
    one = {"a": 0.5, "b": 2.0, "c": 8.0}
    two = {"a": 0.4, "b": 2.6, "c": 7.0}
    objective = geo()
    before = objective.score(one) < objective.score(two)
    for factor in (1e-3, 7.0, 1000.0):
        scaled = [{**t, "b": factor * t["b"]} for t in (one, two)]
        assert (objective.score(scaled[0]) < objective.score(scaled[1])) == before


def test_scaling_one_head_scales_every_score_alike() -> None:
    rng = np.random.default_rng(0)
    trials = [dict(zip(HEADS, rng.uniform(0.1, 5.0, 3).tolist(), strict=True)) for _ in range(20)]
    objective = geo()
    scores = [objective.score(t) for t in trials]
    scaled = [objective.score({**t, "c": 1e4 * t["c"]}) for t in trials]
    assert np.argsort(scores).tolist() == np.argsort(scaled).tolist()
    for before, after in zip(scores, scaled, strict=True):
        assert after / before == pytest.approx(1e4 ** (1 / 3))


def test_arithmetic_mean_is_not_unit_blind() -> None:
    # The contrast that motivates the geometric mean: an arithmetic mean flips the ranking when
    # one head's losses change units; the geometric mean keeps it.
    config = {"kind": "priorities", "priorities": dict.fromkeys(HEADS, 1.0), "mean": "arithmetic"}
    arithmetic = geo(**config)
    one = {"a": 1.0, "b": 10.0, "c": 1.0}
    two = {"a": 2.0, "b": 4.0, "c": 1.0}
    assert arithmetic.score(two) < arithmetic.score(one)
    assert geo().score(two) < geo().score(one)
    scaled = [{**t, "a": 1000.0 * t["a"]} for t in (one, two)]
    assert arithmetic.score(scaled[1]) > arithmetic.score(scaled[0])  # flipped
    assert geo().score(scaled[1]) < geo().score(scaled[0])  # unchanged


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_losses_give_nan(bad) -> None:
    assert math.isnan(geo().score({"a": 1.0, "b": bad, "c": 1.0}))
    config = {"kind": "priorities", "priorities": {"a": 1.0, "b": 2.0, "c": 1.0}}
    assert math.isnan(geo(**config).score({"a": 1.0, "b": 1.0, "c": bad}))
    assert math.isnan(geo(**config, mean="arithmetic").score({"a": bad, "b": 1.0, "c": 1.0}))


def test_zero_loss_is_clipped_not_an_error() -> None:
    score = geo().score({"a": 0.0, "b": 1.0, "c": 1.0})
    assert math.isfinite(score) and score == pytest.approx(1e-4)  # (1e-12) ** (1/3)


# ---------------------------------------------------------------------------------------------
# Floor


def test_floor_stops_one_head_from_winning_alone() -> None:
    reference = {"a": 1.0, "b": 1.0, "c": 1.0}
    objective = geo(floor=1e-3).with_reference(reference)
    balanced = {"a": 0.01, "b": 0.01, "c": 0.01}
    one_head_zero = {"a": 1e-9, "b": 0.2, "c": 0.2}  # two heads 20 times worse
    assert geo().score(one_head_zero) < geo().score(balanced)  # the trap, without a floor
    assert objective.score(one_head_zero) > objective.score(balanced)
    assert objective.floored(one_head_zero)["a"] == pytest.approx(1e-3)
    assert objective.floored(one_head_zero)["b"] == pytest.approx(0.2)
    assert geo(floor=0.0).with_reference(reference).score(one_head_zero) == pytest.approx(
        geo().score(one_head_zero)
    )


def test_floor_scales_with_each_heads_reference() -> None:
    objective = geo(floor=0.01).with_reference({"a": 100.0, "b": 1.0, "c": 0.5})
    floored = objective.floored({"a": 0.5, "b": 0.5, "c": 0.001})
    assert floored == pytest.approx({"a": 1.0, "b": 0.5, "c": 0.005})


def test_without_reference_there_is_no_floor() -> None:
    objective = geo(floor=0.5)
    assert objective.reference is None
    assert objective.floored({"a": 1e-6, "b": 1.0, "c": 1.0})["a"] == 1e-6
    assert objective.with_reference({"a": 1.0}).with_reference(None).reference is None


def test_with_reference_returns_a_new_objective() -> None:
    base = geo()
    with_ref = base.with_reference({"a": 1.0, "b": 1.0, "c": 1.0})
    assert base.reference is None
    assert with_ref.reference == {"a": 1.0, "b": 1.0, "c": 1.0}
    assert with_ref.config == base.config and with_ref.heads == base.heads


# ---------------------------------------------------------------------------------------------
# One head, priorities


def test_head_objective_and_direction() -> None:
    objective = Objective(ObjectiveConfig(kind="head", head="b", metric="accuracy"), HEADS)
    assert objective.direction == "max"
    assert objective.score({"a": 0.1, "b": 0.9, "c": 0.3}) == 0.9
    assert objective.keys() == ["val_b_accuracy"]
    assert objective.keys("") == ["b_accuracy"]
    assert objective.better(0.9, 0.8) and not objective.better(0.7, 0.8)
    assert objective.name == "stop accuracy of head b"


def test_head_objective_on_a_loss_is_minimised() -> None:
    objective = Objective(ObjectiveConfig(kind="head", head="a"), HEADS)
    assert objective.direction == "min"
    assert objective.keys() == ["val_loss_a"]
    assert objective.score({"a": 0.25, "b": 100.0, "c": 100.0}) == 0.25
    assert objective.better(0.1, 0.2) and not objective.better(0.3, 0.2)


@pytest.mark.parametrize(
    ("metric", "direction"),
    [("auc", "max"), ("precision", "max"), ("recall", "max"), ("mae", "min"), ("rmse", "min")],
)
def test_head_direction_follows_the_metric(metric, direction) -> None:
    objective = Objective(ObjectiveConfig(kind="head", head="a", metric=metric), HEADS)
    assert objective.direction == direction


def test_head_objective_reads_its_metric_from_logs() -> None:
    objective = Objective(ObjectiveConfig(kind="head", head="c", metric="auc"), HEADS)
    logs = {"c_auc": 0.7, "val_c_auc": 0.8, "val_loss": 5.0, "val_loss_c": 0.3}
    assert objective.from_logs(logs) == 0.8
    assert objective.from_logs(logs, prefix="") == 0.7
    assert objective.from_logs({"val_loss": 5.0}) is None


def test_priorities() -> None:
    losses = {"a": 1.0, "b": 4.0, "c": 100.0}
    config = {"kind": "priorities", "priorities": {"a": 3.0, "b": 1.0}}
    geometric = Objective(ObjectiveConfig(**config), HEADS).score(losses)
    assert geometric == pytest.approx(math.exp((3 * math.log(1.0) + math.log(4.0)) / 4))
    arithmetic = Objective(ObjectiveConfig(**config, mean="arithmetic"), HEADS).score(losses)
    assert arithmetic == pytest.approx((3 * 1.0 + 4.0) / 4)


def test_equal_priorities_are_the_plain_geometric_mean() -> None:
    losses = {"a": 0.2, "b": 3.0, "c": 40.0}
    config = {"kind": "priorities", "priorities": dict.fromkeys(HEADS, 5.0)}
    assert geo(**config).score(losses) == pytest.approx(geo().score(losses))


def test_weighted_geometric_mean_formula() -> None:
    weights = {"a": 1.0, "b": 2.0, "c": 0.5}
    losses = {"a": 0.3, "b": 1.7, "c": 12.0}
    expected = math.exp(
        sum(weights[h] * math.log(losses[h]) for h in HEADS) / sum(weights.values())
    )
    assert geo(kind="priorities", priorities=weights).score(losses) == pytest.approx(expected)
    arithmetic = geo(kind="priorities", priorities=weights, mean="arithmetic").score(losses)
    assert arithmetic == pytest.approx(sum(weights[h] * losses[h] for h in HEADS) / 3.5)


def test_priority_objective_name() -> None:
    objective = geo(kind="priorities", priorities={"a": 2.0}, mean="arithmetic")
    assert objective.direction == "min"
    assert "arithmetic mean" in objective.name and "'a': 2.0" in objective.name


# ---------------------------------------------------------------------------------------------
# better(), keys, from_logs


def test_nan_never_wins() -> None:
    objective = geo()
    assert not objective.better(math.nan, 1.0)
    assert objective.better(1.0, math.nan)
    assert not objective.better(math.nan, math.nan)
    assert not objective.better(1.0, 1.0)


def test_log_keys() -> None:
    assert head_loss_key("a") == "loss_a"
    assert head_metric_key("a", "loss") == "loss_a"
    assert head_metric_key("a", "mae") == "a_mae"
    assert MONITOR == "val_objective"
    assert geo().keys() == ["val_loss_a", "val_loss_b", "val_loss_c"]
    assert geo().keys("") == ["loss_a", "loss_b", "loss_c"]


def test_from_logs_reads_per_head_losses() -> None:
    logs = epoch_logs((1.0, 2.0, 4.0), (8.0, 8.0, 8.0))
    assert geo().from_logs(logs) == pytest.approx(8.0)
    assert geo().from_logs(logs, prefix="") == pytest.approx(2.0)
    del logs["val_loss_b"]
    assert geo().from_logs(logs) is None


# ---------------------------------------------------------------------------------------------
# The callback


def test_logger_writes_train_and_stop_scores_and_ignores_keras_val_loss() -> None:
    logger = ObjectiveLogger(geo())
    logs = epoch_logs((1.0, 2.0, 4.0), (2.0, 2.0, 2.0), loss=123.0, val_loss=999.0)
    logger.on_epoch_end(0, logs)
    assert logs["objective"] == pytest.approx(2.0)
    assert logs["val_objective"] == pytest.approx(2.0)
    assert logs["val_loss"] == 999.0 and logs["loss"] == 123.0  # left alone
    logs["val_loss"] = 0.001
    logger.on_epoch_end(1, logs)
    assert logs["val_objective"] == pytest.approx(2.0)


def test_logger_objective_does_not_depend_on_keras_weighted_loss() -> None:
    logger = ObjectiveLogger(geo())
    written = []
    for val_loss in (1e-9, 1.0, 1e9, math.nan):
        logs = epoch_logs((0.5, 2.0, 8.0), (1.0, 3.0, 9.0), loss=val_loss, val_loss=val_loss)
        logger.on_epoch_end(0, logs)
        written.append((logs["objective"], logs["val_objective"]))
    assert written == [written[0]] * 4
    assert written[0][1] == pytest.approx(3.0)  # (1 * 3 * 9) ** (1/3)
    assert written[0][1] == pytest.approx(geo().score({"a": 1.0, "b": 3.0, "c": 9.0}))


def test_logger_with_a_head_metric_objective() -> None:
    logger = ObjectiveLogger(Objective(ObjectiveConfig(kind="head", head="b", metric="mae"), HEADS))
    logs = {"b_mae": 0.4, "val_b_mae": 0.6, "val_loss": 50.0}
    logger.on_epoch_end(0, logs)
    assert logs["objective"] == 0.4 and logs["val_objective"] == 0.6


def test_logger_writes_nan_for_a_diverged_head() -> None:
    logs = epoch_logs((1.0, 1.0, 1.0), (1.0, math.nan, 1.0))
    ObjectiveLogger(geo()).on_epoch_end(0, logs)
    assert logs["objective"] == pytest.approx(1.0)
    assert math.isnan(logs["val_objective"])


def test_logger_skips_incomplete_logs() -> None:
    logs = {"loss_a": 1.0}
    ObjectiveLogger(geo()).on_epoch_end(0, logs)
    assert logs == {"loss_a": 1.0}
    ObjectiveLogger(geo()).on_epoch_end(0, None)  # Keras may pass no logs


def test_logger_writes_only_what_it_can() -> None:
    logs = {"loss_a": 1.0, "loss_b": 1.0, "loss_c": 1.0}  # a train-only epoch, no stop split
    ObjectiveLogger(geo()).on_epoch_end(0, logs)
    assert logs["objective"] == pytest.approx(1.0)
    assert "val_objective" not in logs

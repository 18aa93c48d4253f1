"""Strategies: conditional hyperparameters, weight normalisation, plans."""

from __future__ import annotations

from typing import Any, get_args

import keras_tuner as kt
import numpy as np
import pytest
from twoheads import build as user_build
from twoheads import data as user_data

from mtltune import HeadConfig, MultiTaskModel, SearchConfig
from mtltune.model.strategies import (
    STRATEGIES,
    Strategy,
    TrainPlan,
    baseline_plan,
    declare,
    declare_space,
    head_learning_rate_name,
    loss_weight_name,
    normalise_weights,
    read_plan,
    separate_plan,
    single_optimizer_plan,
    weighted_plan,
)
from mtltune.study import BaselineConfig
from mtltune.study.catalog import StrategyName

HEADS = ("a", "b", "c")


def test_both_strategies_make_strategy_a_choice_with_conditional_knobs() -> None:
    hp = kt.HyperParameters()
    plan = declare(hp, HEADS, SearchConfig(strategies=["weighted", "separate"]))
    names = {p.name for p in hp.space}
    assert {"strategy", "epsilon", "learning_rate"} <= names
    assert {loss_weight_name(h) for h in HEADS} <= names
    assert {head_learning_rate_name(h) for h in HEADS} <= names
    assert plan.strategy == "weighted"  # the Choice's default is its first value
    active = {k for k in hp.values if hp.is_active(k)}
    assert loss_weight_name("a") in active
    assert head_learning_rate_name("a") not in active

    # What the oracle does for a "separate" trial: values for the now-active knobs.
    hp.values["strategy"] = "separate"
    hp.values.update({head_learning_rate_name(h): 2e-3 for h in HEADS})
    plan = declare(hp, HEADS, SearchConfig(strategies=["weighted", "separate"]))
    assert plan.strategy == "separate"
    active = {k for k in hp.values if hp.is_active(k)}
    assert {head_learning_rate_name(h) for h in HEADS} <= active
    assert not any(hp.is_active(loss_weight_name(h)) for h in HEADS)
    assert not hp.is_active("learning_rate")
    assert plan.learning_rates == dict.fromkeys(HEADS, 2e-3)


def test_separate_only_declares_no_loss_weights() -> None:
    hp = kt.HyperParameters()
    plan = declare(hp, HEADS, SearchConfig(strategies=["separate"]))
    names = {p.name for p in hp.space}
    assert not any(name.startswith("loss_weight_") for name in names)
    assert plan.strategy == "separate"
    assert plan.loss_weights == dict.fromkeys(HEADS, 1.0)


def test_weighted_plan_searches_k_minus_1_ratios_and_normalises() -> None:
    search = SearchConfig(strategies=["weighted"], loss_weight={"min": 0.1, "max": 10.0})
    hp = kt.HyperParameters()
    declare(hp, HEADS, search)
    # The first head is the reference (raw weight 1); the others are its ratios, searched
    # over the ratios that independent weights in [0.1, 10] could take.
    assert isinstance(hp._hps[loss_weight_name("a")][0], kt.engine.hyperparameters.Fixed)
    for h in HEADS[1:]:
        spec = hp._hps[loss_weight_name(h)][0]
        assert (spec.min_value, spec.max_value, spec.sampling) == (0.01, 100.0, "log")
    hp.values.update({loss_weight_name("b"): 10.0, loss_weight_name("c"): 4.0})
    plan = declare(hp, HEADS, search)
    assert sum(plan.loss_weights.values()) / len(HEADS) == pytest.approx(1.0)
    assert plan.loss_weights["b"] / plan.loss_weights["a"] == pytest.approx(10.0)
    assert plan.loss_weights["c"] / plan.loss_weights["a"] == pytest.approx(4.0)


def test_normalise_rejects_non_positive_weights() -> None:
    with pytest.raises(ValueError, match="positive"):
        normalise_weights({"a": 0.0, "b": 1.0})


def test_baseline_is_weighted_with_equal_weights() -> None:
    plan = baseline_plan(HEADS, BaselineConfig(learning_rate=0.002, epsilon=1e-3))
    assert plan.strategy == "weighted"
    assert plan.loss_weights == dict.fromkeys(HEADS, 1.0)
    assert plan.describe() == {
        "strategy": "weighted",
        "epsilon": 1e-3,
        "learning_rate": 0.002,
        "loss_weights": dict.fromkeys(HEADS, 1.0),
    }


def test_every_strategy_a_study_may_name_is_one_registered_object() -> None:
    assert list(STRATEGIES) == list(get_args(StrategyName))
    assert all(strategy.name == name for name, strategy in STRATEGIES.items())


class Halved(Strategy):
    """A strategy of the test: one Adam on half the sum of the head losses."""

    name = "halved"

    def total(
        self, ops: Any, stacked: Any, weights: Any, log_scale: Any, log_variances: Any
    ) -> Any:
        return 0.5 * ops.reduce_sum(stacked)


def test_a_new_strategy_is_one_class_and_one_registry_line(monkeypatch) -> None:
    monkeypatch.setitem(STRATEGIES, Halved.name, Halved())
    # (A study would also need the name in study.catalog.StrategyName; a library user need not.)
    search = SearchConfig().model_copy(update={"strategies": ["weighted", "halved"]})
    hp = kt.HyperParameters()
    declare(hp, ("a", "b"), search)
    hp.values["strategy"] = "halved"
    plan = declare(hp, ("a", "b"), search)
    assert plan.strategy == "halved" and hp.is_active("learning_rate")
    assert plan.describe() == {
        "strategy": "halved",
        "epsilon": plan.epsilon,
        "learning_rate": plan.learning_rates["*"],
    }
    heads = {"a": HeadConfig(), "b": HeadConfig(kind="binary")}
    model = MultiTaskModel(user_build(kt.HyperParameters()), heads, plan)
    model.compile()
    x, y = user_data(16, 0)
    losses, total = model.test_batch((x, y))
    assert float(total) == pytest.approx(0.5 * float(np.sum(losses)), rel=1e-6)
    before = [w.copy() for w in model.get_weights()]
    model.train_batch((x, y))
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))


def _values_of(strategy: str, search: SearchConfig, chosen: dict[str, Any]) -> dict[str, Any]:
    """What the oracle hands a trial of ``strategy``: the declared space's active values."""
    hp = kt.HyperParameters()
    declare_space(hp, HEADS, search)
    hp.values["strategy"] = strategy
    hp.values.update(chosen)
    declare_space(hp, HEADS, search)  # as a build does: the now-active knobs get their values
    return {k: v for k, v in hp.values.items() if hp.is_active(k)}


ROUND_TRIPS = {
    "weighted": (
        {"learning_rate": 3e-3, "epsilon": 1e-5, "loss_weight_b": 4.0, "loss_weight_c": 0.5},
        weighted_plan(
            HEADS, learning_rate=3e-3, epsilon=1e-5, weights={"a": 1.0, "b": 4.0, "c": 0.5}
        ),
    ),
    "separate": (
        {
            "epsilon": 1e-4,
            "learning_rate_a": 1e-3,
            "learning_rate_b": 2e-3,
            "learning_rate_c": 5e-3,
        },
        separate_plan({"a": 1e-3, "b": 2e-3, "c": 5e-3}, epsilon=1e-4),
    ),
    "uncertainty": (
        {"learning_rate": 2e-3, "epsilon": 1e-6},
        single_optimizer_plan("uncertainty", learning_rate=2e-3, epsilon=1e-6),
    ),
    "geometric": (
        {"learning_rate": 4e-4, "epsilon": 1e-3},
        single_optimizer_plan("geometric", learning_rate=4e-4, epsilon=1e-3),
    ),
    "dwa": (
        {"learning_rate": 1e-3, "epsilon": 1e-7, "dwa_temperature": 3.0},
        single_optimizer_plan(
            "dwa", learning_rate=1e-3, epsilon=1e-7, settings={"dwa_temperature": 3.0}
        ),
    ),
    "gradnorm": (
        {
            "learning_rate": 2e-3,
            "epsilon": 1e-6,
            "gradnorm_alpha": 1.0,
            "gradnorm_weight_rate": 0.02,
        },
        single_optimizer_plan(
            "gradnorm",
            learning_rate=2e-3,
            epsilon=1e-6,
            settings={"gradnorm_alpha": 1.0, "gradnorm_weight_rate": 0.02},
        ),
    ),
    "pcgrad": (
        {"learning_rate": 5e-4, "epsilon": 1e-5},
        single_optimizer_plan("pcgrad", learning_rate=5e-4, epsilon=1e-5),
    ),
    "famo": (
        {"learning_rate": 1e-3, "epsilon": 1e-8, "famo_weight_rate": 0.05, "famo_decay": 1e-3},
        single_optimizer_plan(
            "famo",
            learning_rate=1e-3,
            epsilon=1e-8,
            settings={"famo_weight_rate": 0.05, "famo_decay": 1e-3},
        ),
    ),
}


@pytest.mark.parametrize("strategy", list(STRATEGIES))
def test_read_plan_reads_back_what_the_declared_space_holds_for_every_strategy(strategy) -> None:
    search = SearchConfig(strategies=list(STRATEGIES))
    chosen, expected = ROUND_TRIPS[strategy]
    values = _values_of(strategy, search, chosen)
    plan = read_plan(values, HEADS, search)
    assert isinstance(plan, TrainPlan)
    assert plan == expected
    # A pure function of the values: a plain dict copy (as a record holds them) gives the same.
    assert read_plan(dict(values), HEADS, search) == plan
    # And it agrees with what a build declares and reads on the same values.
    hp = kt.HyperParameters()
    declare_space(hp, HEADS, search)
    hp.values.update(values)
    assert declare(hp, HEADS, search) == plan


def test_read_plan_writes_nothing_and_refuses_a_strategy_not_searched() -> None:
    search = SearchConfig(strategies=["weighted"])
    values = {"strategy": "weighted", "epsilon": 1e-7, "learning_rate": 1e-3, "loss_weight_b": 2.0}
    values["loss_weight_c"] = 1.0
    before = dict(values)
    plan = read_plan(values, HEADS, search)
    assert values == before
    assert plan.loss_weights["b"] / plan.loss_weights["a"] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="not searched"):
        read_plan({**values, "strategy": "separate"}, HEADS, search)


def test_the_equal_weights_trial_of_the_declared_defaults_is_the_baseline_plan() -> None:
    search = SearchConfig(strategies=["weighted", "separate"])
    hp = kt.HyperParameters()
    declare_space(hp, HEADS, search)
    # The declared defaults (strategy, learning rate, epsilon) with every ratio at 1: the
    # oracle's equal-weights informed trial.
    hp.values.update({loss_weight_name(h): 1.0 for h in HEADS[1:]})
    assert read_plan(hp.values, HEADS, search) == baseline_plan(HEADS, search.baseline)

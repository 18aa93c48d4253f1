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
    baseline_plan,
    declare,
    head_learning_rate_name,
    loss_weight_name,
    normalise_weights,
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

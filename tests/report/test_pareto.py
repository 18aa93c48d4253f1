"""Pareto front: hand-made points, ties, one head, non-finite losses."""

from __future__ import annotations

import math

from mtltune.report.pareto import dominates, pareto_front


def test_hand_made_front() -> None:
    points = {
        "a": {"x": 1.0, "y": 5.0},
        "b": {"x": 2.0, "y": 2.0},
        "c": {"x": 5.0, "y": 1.0},
        "d": {"x": 3.0, "y": 3.0},  # dominated by b
        "e": {"x": 6.0, "y": 6.0},  # dominated by everything
    }
    assert pareto_front(points, ["x", "y"]) == ["a", "b", "c"]


def test_ties_are_all_kept_and_weak_domination_counts() -> None:
    points = {"a": {"x": 1.0, "y": 1.0}, "b": {"x": 1.0, "y": 1.0}, "c": {"x": 1.0, "y": 2.0}}
    assert pareto_front(points, ["x", "y"]) == ["a", "b"]
    assert dominates([1.0, 1.0], [1.0, 2.0])
    assert not dominates([1.0, 1.0], [1.0, 1.0])


def test_one_head_gives_the_minimum() -> None:
    points = {"a": {"x": 3.0}, "b": {"x": 1.0}, "c": {"x": 1.0}, "d": {"x": 2.0}}
    assert pareto_front(points, ["x"]) == ["b", "c"]


def test_non_finite_and_missing_losses_are_left_out() -> None:
    points = {"a": {"x": math.nan, "y": 0.0}, "b": {"x": 1.0}, "c": {"x": 2.0, "y": 2.0}}
    assert pareto_front(points, ["x", "y"]) == ["c"]


def test_three_heads() -> None:
    points = {
        "a": {"x": 1.0, "y": 1.0, "z": 9.0},
        "b": {"x": 9.0, "y": 1.0, "z": 1.0},
        "c": {"x": 2.0, "y": 2.0, "z": 9.0},
    }
    assert pareto_front(points, ["x", "y", "z"]) == ["a", "b"]

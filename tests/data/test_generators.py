"""Built-in generators: columns, noise levels, exact phases, seeding."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from mtltune.data.generators import hetero_sine, phase_sine
from mtltune.study import BuiltinParams


def test_hetero_sine_columns() -> None:
    frame = hetero_sine(BuiltinParams(n=100, tasks=4), seed=0)
    assert list(frame.columns) == ["y0", "y1", "y2", "y3", "x", "y"]
    assert len(frame) == 100
    assert frame["x"].between(0, 1).all()
    np.testing.assert_allclose(frame["y"], np.sin(2 * np.pi * frame["x"]))
    assert list(hetero_sine(BuiltinParams(n=20, tasks=1), 0).columns) == ["y0", "x", "y"]


def test_hetero_sine_noise_grows_like_0_1_times_2_to_the_i() -> None:
    frame = hetero_sine(BuiltinParams(n=4000, tasks=5), seed=0)
    stds = [float((frame[f"y{i}"] - frame["y"]).std()) for i in range(5)]
    for i, std in enumerate(stds):
        assert std == pytest.approx(0.1 * 2**i, rel=0.1)
    for lower, higher in itertools.pairwise(stds):
        assert higher / lower == pytest.approx(2.0, rel=0.15)
    means = [float((frame[f"y{i}"] - frame["y"]).mean()) for i in range(5)]
    assert all(abs(m) < 4 * 0.1 * 2**i / np.sqrt(4000) for i, m in enumerate(means))


@pytest.mark.parametrize("tasks", [1, 3, 5])
def test_phase_sine_is_exact(tasks) -> None:
    frame = phase_sine(BuiltinParams(n=200, tasks=tasks), seed=1)
    assert list(frame.columns) == [*(f"y{i}" for i in range(tasks)), "x"]
    x = frame["x"].to_numpy()
    for i in range(tasks):
        np.testing.assert_array_equal(frame[f"y{i}"], np.sin((2.0 * x + i / tasks) * np.pi))


@pytest.mark.parametrize("generator", [hetero_sine, phase_sine])
def test_generators_are_seeded(generator) -> None:
    params = BuiltinParams(n=50, tasks=2)
    pd.testing.assert_frame_equal(generator(params, 3), generator(params, 3))
    assert not generator(params, 3).equals(generator(params, 4))
    assert not np.array_equal(generator(params, 3)["x"], generator(params, 4)["x"])


def test_hetero_sine_spread_puts_sigma_geometrically_between_0_1_and_0_1_times_spread() -> None:
    frame = hetero_sine(BuiltinParams(n=4000, tasks=20, spread=30.0), seed=0)
    stds = [float((frame[f"y{i}"] - frame["y"]).std()) for i in range(20)]
    expected = 0.1 * 30.0 ** (np.arange(20) / 19)
    np.testing.assert_allclose(stds, expected, rtol=0.1)


@pytest.mark.parametrize("generator", [hetero_sine, phase_sine])
def test_generators_reach_100_tasks(generator) -> None:
    frame = generator(BuiltinParams(n=20, tasks=100, spread=10.0), seed=0)
    assert [c for c in frame.columns if c.startswith("y") and c[1:].isdigit()] == [
        f"y{i}" for i in range(100)
    ]
    assert np.isfinite(frame.to_numpy()).all()

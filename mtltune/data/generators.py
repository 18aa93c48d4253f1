"""Built-in data generators: the reference experiment's sines, and exchangeable copies of one."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from mtltune.study import BuiltinParams


def hetero_sine(params: BuiltinParams, seed: int) -> pd.DataFrame:
    """Heteroscedastic sines: ``y_i = sin(2πx) + N(0, σ_i)``, plus ``x`` and clean ``y``.

    ``σ_i = 0.1·2^i`` by default; with ``spread`` (many heads), ``σ_i = 0.1·spread^(i/(tasks-1))``:
    from 0.1 to ``0.1·spread``, geometrically.

    Args:
        params: ``n`` rows, ``tasks`` noisy targets and the optional ``spread`` of their σ.
        seed: Seed of the generator.

    Returns:
        Columns ``y0..y{tasks-1}``, ``x`` and the noise-free ``y``.
    """
    return _noisy_sines(params, seed, lambda i: hetero_sigma(params, i))


def hetero_sigma(params: BuiltinParams, task: int) -> float:
    """The noise standard deviation σ of ``hetero_sine``'s target ``y{task}``."""
    if params.spread is None:
        return 0.1 * 2.0**task
    return 0.1 * params.spread ** (task / max(params.tasks - 1, 1))


def _noisy_sines(params: BuiltinParams, seed: int, sigma: Callable[[int], float]) -> pd.DataFrame:
    """``y_i = sin(2πx) + N(0, sigma(i))`` for ``tasks`` targets, plus ``x`` and clean ``y``."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, params.n)
    clean = np.sin(2.0 * np.pi * x)
    columns = {f"y{i}": clean + rng.normal(0.0, sigma(i), params.n) for i in range(params.tasks)}
    return pd.DataFrame({**columns, "x": x, "y": clean})


def phase_sine(params: BuiltinParams, seed: int) -> pd.DataFrame:
    """Phase-shifted, noise-free sines: ``y_i = sin((2x + i/tasks)·π)``, plus ``x``.

    Args:
        params: ``n`` rows and ``tasks`` targets.
        seed: Seed of the generator.

    Returns:
        Columns ``y0..y{tasks-1}`` and ``x``.
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, params.n)
    columns = {f"y{i}": np.sin((2.0 * x + i / params.tasks) * np.pi) for i in range(params.tasks)}
    return pd.DataFrame({**columns, "x": x})


def same_sine(params: BuiltinParams, seed: int) -> pd.DataFrame:
    """Exchangeable sines: ``y_i = sin(2πx) + N(0, 0.1)``, independent noise, the same σ.

    Every head is an independent copy of one task with the same noise, so equal loss weights
    are optimal by symmetry: the study on which a search should find nothing better.

    Args:
        params: ``n`` rows and ``tasks`` noisy targets.
        seed: Seed of the generator.

    Returns:
        Columns ``y0..y{tasks-1}``, ``x`` and the noise-free ``y``.
    """
    return _noisy_sines(params, seed, lambda i: 0.1)


GENERATORS = {"hetero_sine": hetero_sine, "phase_sine": phase_sine, "same_sine": same_sine}

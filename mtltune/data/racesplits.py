"""The rows the race against equal weights trains, stops and is judged on.

Each further race seed may deal the train and stop rows anew and halves the stop rows: one half
stops a run early, the other judges it (``mtltune.tuning.confirm``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mtltune.data.dataset import Dataset, SplitArrays


def repartitioned(dataset: Dataset, seed: int) -> Dataset:
    """The same rows of train and stop, dealt anew into splits of the same sizes.

    The race against equal weights trains each configuration on further seeds; when the
    split is shuffled, each seed also deals the train and stop rows anew, so a challenger is
    judged on stop rows that did not choose it (a search picks configurations that suit its
    own stop rows, and a small stop split flatters them). The test split and the encoders
    (fitted on the search's train rows) stay as they are.

    Args:
        dataset: The search's splits.
        seed: The race seed.

    Returns:
        A dataset with new train and stop splits; test and encoders unchanged.
    """
    pool = _joined(dataset.train, dataset.stop)
    order = np.random.default_rng([seed, len(pool)]).permutation(len(pool))
    cut = len(dataset.train)
    return replace(
        dataset,
        train=_taken(pool, np.sort(order[:cut])),
        stop=_taken(pool, np.sort(order[cut:])),
    )


def race_splits(dataset: Dataset, seed: int, *, shuffle: bool) -> tuple[Dataset, SplitArrays]:
    """The rows one race seed trains on, stops on, and is judged on.

    A run's stop objective at its best epoch flatters it: the epoch was chosen because that
    value was low, and more so for a run whose stop curve is jagged (a high learning rate,
    a few dozen stop rows). So a race run stops early on one half of the stop rows and is
    judged on the other half, at the epoch the first half chose. With a shuffled split the
    train and stop rows are also dealt anew for each seed (``repartitioned``); an ordered
    split (a time series) keeps its rows and stops on the earlier half, judged on the later.

    Args:
        dataset: The search's splits.
        seed: The race seed.
        shuffle: Whether the study's split shuffles (``split.shuffle``).

    Returns:
        The dataset to train with (its stop split: the half that stops the run; test and
        encoders unchanged) and the rows that judge the run. Below four stop rows nothing is
        halved: both are the whole stop split.
    """
    dealt = repartitioned(dataset, seed) if shuffle else dataset
    rows = len(dealt.stop)
    if rows < 4:
        return dealt, dealt.stop
    shuffled = np.random.default_rng([seed, rows, 1]).permutation(rows)
    order = shuffled if shuffle else np.arange(rows)
    first, second = np.sort(order[: rows // 2]), np.sort(order[rows // 2 :])
    return replace(dealt, stop=_taken(dealt.stop, first)), _taken(dealt.stop, second)


def _joined(a: SplitArrays, b: SplitArrays) -> SplitArrays:
    """Two splits' rows, one after the other."""
    return SplitArrays(
        x=np.concatenate([a.x, b.x]),
        y={h: np.concatenate([a.y[h], b.y[h]]) for h in a.y},
        clean={h: np.concatenate([a.clean[h], b.clean[h]]) for h in a.clean},
        rows=np.concatenate([a.rows, b.rows]),
    )


def _taken(split: SplitArrays, index: np.ndarray) -> SplitArrays:
    """The rows of a split at the given positions."""
    return SplitArrays(
        x=split.x[index],
        y={h: v[index] for h, v in split.y.items()},
        clean={h: v[index] for h, v in split.clean.items()},
        rows=split.rows[index],
    )

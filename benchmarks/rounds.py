"""Timing traced epoch loops in alternating rounds, each keeping its fastest (a shared machine).

Used by the ``steps`` part of benchmarks/run.py and the strategies' step costs
(benchmarks/strategies_bench.py).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any


def fastest_per_step(
    loops: Mapping[str, Any], x: Any, y: Any, order: Any, batch: int, epochs: int, rounds: int
) -> dict[str, float]:
    """Seconds per training step of each traced ``EpochLoop``: fastest of ``rounds`` rounds.

    Each round runs every loop for ``epochs`` epochs in turn, so the loops share the machine's
    drift; a round's time is divided by its steps (``epochs`` × batches per epoch).
    """
    steps = -(-len(order) // batch) * epochs
    times = dict.fromkeys(loops, float("inf"))
    for _ in range(rounds):
        for name, epoch_loop in loops.items():
            start = time.perf_counter()
            for _ in range(epochs):
                epoch_loop.train_epoch(x, y, order, batch)
            times[name] = min(times[name], (time.perf_counter() - start) / steps)
    return times

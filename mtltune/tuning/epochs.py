"""What a trial reports: the stop logs of its best epoch, from its training history."""

from __future__ import annotations

import math
from collections.abc import Mapping

import keras_tuner as kt

from mtltune.model.objectives import Objective
from mtltune.study.names import LEARNED_WEIGHT_PREFIX, MONITOR, OBJECTIVE, STOP_PREFIX


def best_epoch_results(
    history: Mapping[str, list[float]], objective: Objective, seconds: float
) -> dict[str, float]:
    """The stop logs of the best epoch of a training history, plus timing."""
    scores = list(history.get(MONITOR, []))
    if not scores:
        raise kt.errors.FailedTrialError("no epoch produced a stop-split objective")
    best = 0
    for i, value in enumerate(scores):
        if objective.better(value, scores[best]):
            best = i
    if not math.isfinite(scores[best]):
        raise kt.errors.FailedTrialError(f"the objective is {scores[best]} at every epoch")
    results = {
        k: float(v[best])
        for k, v in history.items()
        if k.startswith((STOP_PREFIX, LEARNED_WEIGHT_PREFIX))
    }
    results[MONITOR] = float(scores[best])
    if OBJECTIVE in history:
        results[OBJECTIVE] = float(history[OBJECTIVE][best])
    results.update(epochs=float(len(scores)), best_epoch=float(best + 1), seconds=seconds)
    return results

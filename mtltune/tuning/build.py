"""How ``make_tuner`` builds a study's tuner: the kinds, their oracles, Keras Tuner's tuner id.

A study's tuner is ``MultiTaskTuner`` (``mtltune.tuning.tuner``) on the oracle of its kind:
TPE and Hyperband combine it with ``TPETuner`` or ``kt.Hyperband`` (which make their own
oracle), random and Bayesian search get a timed Keras Tuner oracle.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator
from typing import Any

import keras_tuner as kt

from mtltune.model.strategies import EPSILON, LEARNING_RATE
from mtltune.run.files import PROJECT
from mtltune.run.folder import RunFolder
from mtltune.study import Study
from mtltune.tuning.hypermodel import MultiTaskHyperModel
from mtltune.tuning.oracle import TPETuner, timed

TUNERS: dict[str, type[kt.Tuner]] = {
    "tpe": TPETuner,
    "random": kt.RandomSearch,
    "bayesian": kt.BayesianOptimization,
    "hyperband": kt.Hyperband,
}

#: The oracles of the tuners built as ``kt.Tuner(oracle=...)``, timed (``oracle_seconds``).
TIMED_ORACLES: dict[str, type[kt.Oracle]] = {
    "random": timed(kt.oracles.RandomSearchOracle),
    "bayesian": timed(kt.oracles.BayesianOptimizationOracle),
}


@contextlib.contextmanager
def tuner_id_set(tuner_id: str | None) -> Iterator[None]:
    """Set ``KERASTUNER_TUNER_ID`` while Keras Tuner reads it (a tuner's constructor)."""
    if tuner_id is None:
        yield
        return
    previous = os.environ.get("KERASTUNER_TUNER_ID")
    os.environ["KERASTUNER_TUNER_ID"] = tuner_id
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("KERASTUNER_TUNER_ID", None)
        else:
            os.environ["KERASTUNER_TUNER_ID"] = previous


@contextlib.contextmanager
def without_reload_line() -> Iterator[None]:
    """Keep Keras Tuner's ``Reloading Tuner from ...`` off stdout (a resumed search says so).

    Keras Tuner prints it from its constructor with ``print``; anything else printed meanwhile
    is passed on.
    """
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured):
            yield
    finally:
        kept = [
            line
            for line in captured.getvalue().splitlines(keepends=True)
            if not line.startswith("Reloading Tuner from ")
        ]
        sys.stdout.write("".join(kept))


def construct(
    tuner_class: type[kt.Tuner],
    kind: str,
    study: Study,
    hypermodel: MultiTaskHyperModel,
    folder: RunFolder,
    own: dict[str, Any],
) -> kt.Tuner:
    """Build a tuner of this kind for the study (``make_tuner``'s construction).

    ``tuner_class`` is ``MultiTaskTuner`` (or it combined with the kind's tuner class);
    ``own`` holds its own arguments (observer, stop token, history folder).
    """
    search = study.search
    oracle: dict[str, Any] = {
        "objective": hypermodel.tuner_objective,
        "seed": study.seed,
        "max_trials": search.max_trials,
        # A diverging trial is a failed trial: never stop early on failures (run_study reports
        # a search whose every trial failed).
        "max_consecutive_failed_trials": search.max_trials + 1,
    }
    project: dict[str, Any] = {
        "directory": str(folder.path),
        "project_name": PROJECT,
        "overwrite": False,
        # Each execution is built with its own seed (MultiTaskTuner counts them).
        "executions_per_trial": search.executions_per_trial,
        **own,
    }
    if kind == "hyperband":
        oracle.pop("max_trials")
        epochs = study.training.max_epochs
        tuner = tuner_class(hypermodel, max_epochs=epochs, factor=3, **oracle, **project)
        tuner.oracle.max_trials = search.max_trials
        return tuner
    if kind == "tpe":
        base = search.baseline
        start = {LEARNING_RATE: base.learning_rate, EPSILON: base.epsilon}
        return tuner_class(
            hypermodel, informed=search.informed, start_values=start, **oracle, **project
        )
    if kind == "bayesian":
        oracle["num_initial_points"] = max(3, search.max_trials // 3)
    return tuner_class(oracle=TIMED_ORACLES[kind](**oracle), hypermodel=hypermodel, **project)

"""The TPE oracle under several tuners at once: informed trials wait, records stay whole."""

from __future__ import annotations

import math
import threading
from typing import Any

import keras_tuner as kt

from mtltune import SearchConfig, TPEOracle
from mtltune.compat.tuner_private import attach_project
from mtltune.model.strategies import declare

HEADS = ("a", "b", "c")
LOSSES = {"a": 0.1, "b": 0.4, "c": 1.6}
SPACE = SearchConfig(strategies=["weighted", "separate"])


def _oracle(folder: Any, trials: int, **kwargs: Any) -> TPEOracle:
    hp = kt.HyperParameters()
    declare(hp, HEADS, SPACE)
    oracle = TPEOracle(
        objective=kt.Objective("score", "min"),
        max_trials=trials,
        seed=4,
        hyperparameters=hp,
        **kwargs,
    )
    oracle.verbose = 0
    attach_project(oracle, str(folder), "p")
    return oracle


def _score(values: dict[str, Any]) -> float:
    """Best at the inverse-loss weights (1/L_i), worse for any other weighting or strategy."""
    if values["strategy"] != "weighted":
        return 10.0
    logs = [math.log(values[f"loss_weight_{h}"] * LOSSES[h]) for h in HEADS]
    mean = sum(logs) / len(logs)
    return sum((v - mean) ** 2 for v in logs)


def _finish(oracle: TPEOracle, trial: Any) -> None:
    metrics = {"score": _score(trial.hyperparameters.values)}
    metrics.update({f"val_loss_{h}": v for h, v in LOSSES.items()})
    oracle.update_trial(trial.trial_id, metrics)
    trial.status = "COMPLETED"
    oracle.end_trial(trial)


def search(folder: Any, workers: int, trials: int) -> tuple[list[dict], int]:
    """Run a search with ``workers`` tuners taking turns; its trials' values and idle answers.

    Each round, every tuner without a trial asks for one; then the oldest running trial
    finishes (so with two tuners a trial always starts while another runs).
    """
    oracle = _oracle(folder, trials, n_startup_trials=trials)
    running: dict[str, Any] = {}
    stopped: set[str] = set()
    idle = 0
    while len(stopped) < workers:
        for tuner_id in (f"tuner{i}" for i in range(workers)):
            if tuner_id in running or tuner_id in stopped:
                continue
            trial = oracle.create_trial(tuner_id)
            if trial.status == "RUNNING":
                running[tuner_id] = trial
            elif trial.status == "IDLE":
                idle += 1
            else:
                stopped.add(tuner_id)
        if running:
            tuner_id = min(running, key=lambda t: running[t].trial_id)
            _finish(oracle, running.pop(tuner_id))
    values = [oracle.trials[k].hyperparameters.values for k in sorted(oracle.trials)]
    assert list(oracle.informed_trials.values())[:2] == ["equal", "inverse_loss:0"]
    return values, idle


def test_one_and_two_workers_give_the_same_trials(tmp_path) -> None:
    alone, idle_alone = search(tmp_path / "one", workers=1, trials=6)
    for workers in (2, 3):
        together, idle = search(tmp_path / f"w{workers}", workers=workers, trials=6)
        assert together == alone
        assert idle > 0  # the other workers waited for the informed trials
    assert idle_alone == 0
    # The inverse-loss trial followed the equal-weights trial it is computed from.
    assert alone[1]["loss_weight_b"] == LOSSES["a"] / LOSSES["b"]


def test_create_trial_records_its_metrics_under_the_oracles_lock(tmp_path) -> None:
    """Keras Tuner's calls from other tuners wait while a new trial's records are written."""
    oracle = _oracle(tmp_path, trials=4, informed=False)
    first = oracle.create_trial("tuner0")
    other: dict[str, bool] = {}

    def update_first() -> None:
        oracle.update_trial(first.trial_id, {"score": 1.0})
        other["done"] = True

    marks = oracle.trial_marks

    def trial_marks(trial_id: str) -> dict[str, float]:
        thread = threading.Thread(target=update_first)
        thread.start()
        thread.join(0.5)
        other["blocked"] = thread.is_alive()  # still waiting for the lock
        other["thread"] = thread
        return marks(trial_id)

    oracle.trial_marks = trial_marks
    second = oracle.create_trial("tuner1")
    other["thread"].join(10)
    assert other == {"blocked": True, "done": True, "thread": other["thread"]}
    assert second.metrics.exists("oracle_seconds")
    saved = kt.engine.trial.Trial.load(
        str(tmp_path / "p" / f"trial_{second.trial_id}" / "trial.json")
    )
    assert saved.metrics.get_last_value("oracle_seconds") is not None


def test_without_start_values_the_equal_weights_trial_runs_at_the_baseline(tmp_path) -> None:
    """A ``MultiTaskHyperModel``'s space declares its baseline; any tuner's oracle reads it."""
    search = SearchConfig(
        strategies=["weighted", "separate"], baseline={"learning_rate": 3e-3, "epsilon": 2e-5}
    )
    hp = kt.HyperParameters()
    declare(hp, HEADS, search)
    for seed in (1, 2):
        oracle = TPEOracle(
            objective=kt.Objective("score", "min"),
            max_trials=3,
            seed=seed,
            hyperparameters=hp.copy(),
        )
        attach_project(oracle, str(tmp_path), f"s{seed}")
        oracle.verbose = 0
        values = oracle.create_trial("tuner0").hyperparameters.values
        assert oracle.informed_trials == {"0": "equal"}
        assert (values["learning_rate"], values["epsilon"]) == (3e-3, 2e-5)


# A real search on two workers (the second waits for the equal-weights trial, as one process
# does, and its inverse-loss trial is computed from the first): the TPE case of
# tests/distributed/test_chief.py::test_tpe_bayesian_and_hyperband_searches_run_on_workers,
# which runs that search.

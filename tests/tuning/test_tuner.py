"""MultiTaskTuner: the one tuner class owns a trial's side effects through Keras Tuner's hooks."""

from __future__ import annotations

import gc
import json
from collections.abc import Callable
from pathlib import Path

import keras_tuner as kt
import numpy as np
import pytest
from twoheads import build as user_build
from twoheads import data as user_data

from mtltune import MultiTaskHyperModel, MultiTaskTuner, SearchOutcome, StopToken
from mtltune.model.strategies import TrainPlan, read_plan
from mtltune.report.records import TrialRecord

HEADS = {"a": {}, "b": {"kind": "binary", "metrics": ["accuracy"]}}


class Heard:
    """A ``TrialObserver`` that keeps what it hears."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[TrialRecord] = []
        self.seen_so_far: list[int] = []
        self.frozen: list[int] = []  # objects out of the garbage collector's sight, per trial

    def trial_started(self, trial_id: str) -> None:
        self.started.append(trial_id)

    def trial_finished(self, record: TrialRecord, records: Callable[[], list[TrialRecord]]) -> None:
        self.finished.append(record)
        self.seen_so_far.append(len(records()))
        self.frozen.append(gc.get_freeze_count())


def _hypermodel(**kwargs) -> MultiTaskHyperModel:
    return MultiTaskHyperModel(
        user_build, HEADS, training={"max_epochs": 3, "patience": 2}, seed=1, **kwargs
    )


def _tuner(tmp_path: Path, hypermodel: MultiTaskHyperModel, **kwargs) -> MultiTaskTuner:
    oracle = kt.oracles.RandomSearchOracle(
        objective=hypermodel.tuner_objective, max_trials=kwargs.pop("max_trials", 2), seed=1
    )
    return MultiTaskTuner(
        hypermodel, oracle=oracle, directory=str(tmp_path), project_name="user", **kwargs
    )


def _search(tuner: MultiTaskTuner) -> None:
    x, y = user_data(64, 0)
    xv, yv = user_data(32, 1)
    tuner.search(x, y, validation_data=(xv, yv), verbose=0)


@pytest.fixture(scope="module")
def users_search(tmp_path_factory) -> tuple[MultiTaskHyperModel, MultiTaskTuner, Heard, Path]:
    """A user's two-trial search with an observer and a history folder (read-only)."""
    folder = tmp_path_factory.mktemp("users_search")
    hypermodel = _hypermodel()
    heard = Heard()
    histories = folder / "histories"
    tuner = _tuner(folder, hypermodel, observer=heard, histories=histories)
    _search(tuner)
    assert gc.get_freeze_count() == 0  # the search gave its frozen heap back
    return hypermodel, tuner, heard, histories


@pytest.fixture(scope="module")
def plain_search(tmp_path_factory) -> tuple[MultiTaskTuner, Path]:
    """A one-trial search of a plain tuner: no observer, no history folder (read-only)."""
    folder = tmp_path_factory.mktemp("plain_search")
    tuner = _tuner(folder / "one", _hypermodel(), max_trials=1)
    _search(tuner)
    return tuner, folder


def test_the_tuner_owns_histories_records_and_news_in_a_users_search(users_search) -> None:
    hypermodel, tuner, heard, histories = users_search
    ids = sorted(tuner.oracle.trials)
    assert heard.started == ids and [r.trial_id for r in heard.finished] == ids
    assert heard.seen_so_far == [1, 2]  # every record so far, on demand
    # Keras Tuner's collections during the search walked only what it made (mtltune.run.heap).
    assert all(count > 0 for count in heard.frozen)
    for record in heard.finished:
        assert record.status == "COMPLETED" and record.objective is not None
        assert record.plan["strategy"] in ("weighted", "separate")
        # The history the hook kept is the trial's epochs, as its fit logged them.
        history = json.loads((histories / f"{record.trial_id}.json").read_text())
        assert len(history["val_objective"]) == record.epochs
        assert min(history["val_objective"]) == pytest.approx(record.objective)
    # The hypermodel holds nothing about the trials.
    assert not any("history" in name or "last" in name for name in vars(hypermodel))


def test_without_a_history_folder_nothing_is_written_and_a_plain_tuner_still_works(
    plain_search,
) -> None:
    tuner, folder = plain_search
    assert not any(p.name == "histories" for p in folder.rglob("*"))
    assert [t.status for t in tuner.oracle.trials.values()] == ["COMPLETED"]


def test_each_execution_gets_its_own_seed_from_the_tuner(plain_search, tmp_path) -> None:
    one, _ = plain_search
    two = _tuner(tmp_path / "two", _hypermodel(), max_trials=1, executions_per_trial=2)
    _search(two)
    first = one.records()[0]
    both = two.records()[0]
    assert first.hyperparameters == both.hyperparameters
    # Had the second execution repeated the first one's seed, the mean would be its value.
    assert both.objective != pytest.approx(first.objective, rel=1e-6)


def test_a_stop_request_ends_the_search_at_the_next_batch(tmp_path) -> None:
    stop = StopToken()

    class StopAfterFirst(Heard):
        def trial_started(self, trial_id: str) -> None:
            super().trial_started(trial_id)
            stop.request()  # a signal arriving while the trial trains

    heard = StopAfterFirst()
    tuner = _tuner(tmp_path, _hypermodel(), observer=heard, stop=stop, max_trials=3)
    with pytest.raises(KeyboardInterrupt):
        _search(tuner)
    assert heard.started == [sorted(tuner.oracle.trials)[0]] and heard.finished == []


def test_a_trial_that_crashes_fails_alone_with_its_reason(tmp_path) -> None:
    def broken(hp: kt.HyperParameters):
        if hp.Int("units", 4, 8, step=4) == 8:
            raise RuntimeError("no eights here")
        return user_build(hp)

    heard = Heard()
    hypermodel = MultiTaskHyperModel(broken, HEADS, training={"max_epochs": 2}, seed=1)
    tuner = _tuner(tmp_path, hypermodel, observer=heard, max_trials=4)
    _search(tuner)
    failed = [r for r in heard.finished if r.status == "FAILED"]
    assert failed and all("no eights here" in (r.message or "") for r in failed)
    assert any(r.ok for r in heard.finished)


def test_the_outcome_holds_typed_plans_and_loads_a_trials_model(users_search) -> None:
    hypermodel, tuner, _, _ = users_search
    outcome = tuner.outcome()
    assert isinstance(outcome, SearchOutcome)
    assert [r.trial_id for r in outcome.records] == sorted(tuner.oracle.trials)
    for record in outcome.records:
        plan = outcome.plan(record.trial_id)
        assert isinstance(plan, TrainPlan)
        assert plan == read_plan(record.hyperparameters, ("a", "b"), hypermodel.search)
        assert plan.describe() == record.plan
    best = outcome.best()
    assert best is not None and best.objective == min(r.objective for r in outcome.finished)
    model = outcome.load_model(best.trial_id)
    xv, _ = user_data(32, 1)
    again = tuner.load_model(tuner.oracle.trials[best.trial_id])
    np.testing.assert_allclose(model(xv)["a"], again(xv)["a"])

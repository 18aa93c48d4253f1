"""``TPEOracle``: a Keras Tuner oracle backed by Optuna's multivariate TPE sampler.

Keras Tuner stays the framework (hypermodel, tuner, run folder, resume, distributed mode); only
the proposal of each trial's values comes from Optuna's ``TPESampler(multivariate=True,
group=True)``, which proposes a trial in milliseconds where Keras Tuner's Bayesian oracle
refits a Gaussian process for seconds. The oracle keeps no Optuna state of its own: before each
proposal it rebuilds an in-memory Optuna study from its Keras Tuner trials (completed with their
score, failed, running), and seeds the sampler from the study seed and the trial's number. A
search resumed after a crash therefore proposes exactly what it would have proposed without the
crash, and a distributed search's chief needs nothing beyond Keras Tuner's own files.

Keras Tuner's conditional scopes map onto Optuna's define-by-run: a hyperparameter is suggested
only when it is active given the values suggested before it; ``mtltune.tuning.tpespace`` maps
each hyperparameter onto an Optuna parameter value for value (grids, ``reverse_log``, one name
under several conditions), and ``mtltune.tuning.untried`` replaces a proposal already tried.
With ``informed`` (default), the oracle first runs the informed ``weighted`` trials of
``mtltune.tuning.informed``; while one runs, other tuners' requests get ``IDLE``, so the next
informed trial follows from it whatever the number of workers.

Every trial records the seconds its proposal took (metric ``oracle_seconds``) and, for
informed trials, the metric ``informed_trial`` (1).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import keras_tuner as kt
import optuna

from mtltune.compat.optuna_deprecated import tpe_sampler
from mtltune.compat.tuner_private import is_duplicate, ongoing_trials, save_trial, set_seed
from mtltune.model.strategies import EPSILON, LEARNING_RATE
from mtltune.run.heap import FrozenHeapSearch
from mtltune.study.direction import Direction
from mtltune.tuning.informed import next_proposal
from mtltune.tuning.tpespace import encoded, fixed_params, suggest
from mtltune.tuning.untried import untried_point

#: Trial metric: seconds the oracle took to propose the trial.
ORACLE_SECONDS = "oracle_seconds"
#: Trial metric: 1 for an informed trial (``mtltune.tuning.informed``).
INFORMED_TRIAL = "informed_trial"

#: TPE's γ: the fraction of the completed trials whose values model the good region.
GOOD_FRACTION = 0.25

_hps = kt.engine.hyperparameters
_Status = kt.engine.trial.TrialStatus
_TrialState = optuna.trial.TrialState


def ordered(trials: dict[str, Any]) -> list[Any]:
    """Keras Tuner's trials in the order of their ids (``00``, ``01``, ..., ``100``)."""
    return [trials[k] for k in sorted(trials, key=lambda k: (len(k), k))]


class ProposalTiming:
    """Oracle mixin: times each ``populate_space`` and records it on the trial.

    The seconds become the trial's ``oracle_seconds`` metric (in its ``trial.json``, so a
    distributed search's chief and a resumed search see them too).
    """

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        """Propose the trial's values (the oracle's own method), timed."""
        started = time.perf_counter()
        try:
            return super().populate_space(trial_id)  # type: ignore[misc]
        finally:
            self._proposal_seconds()[trial_id] = time.perf_counter() - started

    @kt.synchronized
    def create_trial(self, tuner_id: str) -> Any:
        """Create the trial (Keras Tuner's method) and record its proposal's seconds.

        Synchronized as Keras Tuner's own: the metrics and ``trial.json`` are written under the
        oracle's lock, so no other tuner's call sees the trial half recorded.
        """
        trial = super().create_trial(tuner_id)  # type: ignore[misc]
        seconds = self._proposal_seconds().pop(trial.trial_id, None)
        if seconds is not None and trial.status == _Status.RUNNING:
            marks = {ORACLE_SECONDS: seconds, **self.trial_marks(trial.trial_id)}
            for name, value in marks.items():
                if not trial.metrics.exists(name):
                    trial.metrics.register(name, direction="min")
                trial.metrics.update(name, value)
            save_trial(self, trial)
        return trial

    def trial_marks(self, trial_id: str) -> dict[str, float]:
        """Further metrics to record on a new trial (none here)."""
        return {}

    def _proposal_seconds(self) -> dict[str, float]:
        if not hasattr(self, "_seconds_by_trial"):
            self._seconds_by_trial: dict[str, float] = {}
        return self._seconds_by_trial


def timed(oracle_class: type[kt.Oracle]) -> type[kt.Oracle]:
    """A subclass of a Keras Tuner oracle class that records its proposals' seconds."""
    return type(f"Timed{oracle_class.__name__}", (ProposalTiming, oracle_class), {})


@contextlib.contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Silence Optuna's per-study log lines and experimental-feature warnings."""
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(verbosity)


class _TPEProposals(kt.Oracle):
    """``TPEOracle`` without the timing (see there)."""

    def __init__(
        self,
        objective: Any = None,
        max_trials: int | None = None,
        seed: int | None = None,
        *,
        informed: bool = True,
        start_values: Mapping[str, Any] | None = None,
        n_startup_trials: int | None = None,
        good_fraction: float = GOOD_FRACTION,
        **kwargs: Any,
    ) -> None:
        super().__init__(objective=objective, max_trials=max_trials, seed=seed, **kwargs)
        if not 0 < good_fraction < 1:
            raise ValueError(f"good_fraction must lie between 0 and 1, not {good_fraction}")
        if n_startup_trials is not None and n_startup_trials < 0:
            raise ValueError(f"n_startup_trials must be at least 0, not {n_startup_trials}")
        if seed is not None:  # Keras Tuner takes a seed of 0 for "no seed"
            set_seed(self, seed)
        self.informed = informed
        self.start_values = dict(start_values or {})
        budget = max_trials or 40
        if n_startup_trials is None:
            n_startup_trials = min(10, max(3, budget // 4))
        self.n_startup_trials = n_startup_trials
        self.good_fraction = good_fraction
        #: Informed trials: trial id -> proposal key.
        self.informed_trials: dict[str, str] = {}

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        """Propose a trial: the next informed trial if one is due, else the sampler's.

        While an informed trial runs, another worker's request gets ``IDLE`` (Keras Tuner's
        "ask again"): the next informed trial may follow from it, as it does in one process.
        A sampler proposal already tried gives way to a random untried point; ``STOPPED``
        only when the space has no untried point left.
        """
        proposal = None
        if self.informed:
            proposal = next_proposal(
                self.hyperparameters,
                self._in_order(),
                self.informed_trials,
                {**self._space_start_values(), **self.start_values},
                maximize=Direction(self.objective.direction) is Direction.MAX,
            )
            if proposal is None and self._informed_running():
                return {"status": _Status.IDLE, "values": None}
        seed = (int(self.seed) * 1_000_003 + len(self.trials) * 7_919) % 2**32
        values = self._sample(proposal.values if proposal is not None else {}, seed)
        if proposal is None and is_duplicate(self, values):
            values = untried_point(self.hyperparameters, lambda v: is_duplicate(self, v), seed)
            if values is None:
                return {"status": _Status.STOPPED, "values": None}
        if proposal is not None:
            self.informed_trials[trial_id] = proposal.key
        return {"status": _Status.RUNNING, "values": values}

    def _space_start_values(self) -> dict[str, Any]:
        """The declared defaults of the learning rate and epsilon (a hypermodel's baseline)."""
        names = (LEARNING_RATE, EPSILON)
        return {hp.name: hp.default for hp in self.hyperparameters.space if hp.name in names}

    def _informed_running(self) -> bool:
        """Whether a tuner runs an informed trial now (the next may be computed from it)."""
        running = ongoing_trials(self).values()
        return any(trial.trial_id in self.informed_trials for trial in running)

    def _in_order(self) -> list[Any]:
        return ordered(self.trials)

    def _sample(self, fixed: Mapping[str, Any], seed: int) -> dict[str, Any]:
        """Rebuild the Optuna study from the trials and ask it for the next values."""
        direction = Direction(self.objective.direction).optuna
        with _quiet_optuna():
            sampler = tpe_sampler(
                self.good_fraction,
                multivariate=True,
                group=True,
                constant_liar=True,
                n_startup_trials=self.n_startup_trials,
                seed=seed,
            )
            study = optuna.create_study(sampler=sampler, direction=direction)
            study.add_trials([self._frozen(t) for t in self._in_order()])
            if fixed:
                study.enqueue_trial(fixed_params(self.hyperparameters, fixed))
            return suggest(study.ask(), self.hyperparameters)

    def _frozen(self, trial: Any) -> optuna.trial.FrozenTrial:
        """A Keras Tuner trial as an Optuna trial (its active, searched values)."""
        coded = encoded(self.hyperparameters, trial.hyperparameters)
        params = {key: code for key, (_, code) in coded.items()}
        dists = {key: param.dist for key, (param, _) in coded.items()}
        score = trial.score
        if trial.status == _Status.COMPLETED and score is not None and math.isfinite(score):
            state, value = _TrialState.COMPLETE, float(score)
        elif trial.status in (_Status.RUNNING, _Status.IDLE):
            state, value = _TrialState.RUNNING, None
        else:
            state, value = _TrialState.FAIL, None
        return optuna.trial.create_trial(
            params=params, distributions=dists, value=value, state=state
        )

    def get_state(self) -> dict[str, Any]:
        """Keras Tuner's oracle state plus the informed trials."""
        state = super().get_state()
        state["informed_trials"] = dict(self.informed_trials)
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore Keras Tuner's oracle state and the informed trials."""
        super().set_state(state)
        self.informed_trials = dict(state.get("informed_trials", {}))


class TPEOracle(ProposalTiming, _TPEProposals):
    """A Keras Tuner oracle whose proposals come from Optuna's multivariate TPE sampler.

    Any Keras Tuner search space works: every hyperparameter type, sampling (``linear``,
    ``log``, ``reverse_log``) and step (with ``log`` a multiplier, as in Keras Tuner; see
    ``mtltune.tuning.tpespace``), conditional scopes (one name under several conditions
    included) and hyperparameters discovered during the search. A proposal already tried gives
    way to a random untried point; the oracle stops early only when none is left
    (``mtltune.tuning.untried``).

    Args:
        objective: Keras Tuner's objective: a name, a ``kt.Objective``, or a list of them
            (summed, a maximised one subtracted, as Keras Tuner scores a list).
        max_trials: The trial budget.
        seed: Seeds the sampler (with the trial's number: the same seed, the same trials).
        informed: Run the informed ``weighted`` trials first (``mtltune.tuning.informed``);
            they need ``loss_weight_<head>`` hyperparameters and do nothing without them.
        start_values: Values of other hyperparameters for the equal-weights informed trial
            (e.g. ``{"learning_rate": 1e-3, "epsilon": 1e-3}``). Without them the trial takes
            the declared defaults of ``learning_rate`` and ``epsilon`` (a
            ``MultiTaskHyperModel`` declares them at its baseline); others are sampled.
        n_startup_trials: Trials sampled at random before TPE models the history
            (default: a quarter of ``max_trials``, at least 3 and at most 10; the informed
            trials count among them).
        good_fraction: TPE's γ, the fraction of completed trials (at most 25) that model the
            good region. Optuna's default, 0.1, suits budgets of hundreds of trials: with 20
            it models the good region on one or two trials. A quarter exploits the best
            trials of a small budget sooner (``benchmarks/RESULTS.md``).
        **kwargs: Keras Tuner's other ``Oracle`` arguments (``hyperparameters``,
            ``allow_new_entries``, ``tune_new_entries``, ``max_retries_per_trial``,
            ``max_consecutive_failed_trials``).
    """

    def trial_marks(self, trial_id: str) -> dict[str, float]:
        """An informed trial is marked by the metric ``informed_trial``."""
        return {INFORMED_TRIAL: 1.0} if trial_id in self.informed_trials else {}


class TPETuner(FrozenHeapSearch, kt.Tuner):
    """A Keras Tuner tuner with the ``TPEOracle`` (like ``kt.RandomSearch`` with its oracle).

    Args:
        hypermodel: The hypermodel (e.g. ``mtltune.MultiTaskHyperModel``).
        objective: The objective: a name, a ``kt.Objective`` or a list of them (summed, as
            Keras Tuner sums a list; e.g. ``hypermodel.tuner_objective``).
        max_trials: The trial budget.
        seed: Seeds the sampler.
        hyperparameters: A search space to start from (Keras Tuner's argument).
        tune_new_entries: Search hyperparameters the hypermodel declares beyond
            ``hyperparameters`` (else they keep their defaults).
        allow_new_entries: Let the hypermodel declare hyperparameters beyond ``hyperparameters``.
        max_retries_per_trial: Run a trial that crashed (``INVALID``) again this many times.
        max_consecutive_failed_trials: Stop after this many failed trials in a row.
        informed: Run the informed ``weighted`` trials first.
        start_values: Values of other hyperparameters for the equal-weights informed trial.
        n_startup_trials: Trials sampled at random before TPE models the history.
        good_fraction: TPE's γ (see ``TPEOracle``).
        **kwargs: ``kt.Tuner``'s arguments (``directory``, ``project_name``, ``overwrite``...).
    """

    def __init__(
        self,
        hypermodel: Any = None,
        objective: Any = None,
        max_trials: int = 10,
        seed: int | None = None,
        hyperparameters: kt.HyperParameters | None = None,
        tune_new_entries: bool = True,
        allow_new_entries: bool = True,
        max_retries_per_trial: int = 0,
        max_consecutive_failed_trials: int = 3,
        *,
        informed: bool = True,
        start_values: Mapping[str, Any] | None = None,
        n_startup_trials: int | None = None,
        good_fraction: float = GOOD_FRACTION,
        **kwargs: Any,
    ) -> None:
        oracle = TPEOracle(
            objective=objective,
            max_trials=max_trials,
            seed=seed,
            hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
            informed=informed,
            start_values=start_values,
            n_startup_trials=n_startup_trials,
            good_fraction=good_fraction,
        )
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)

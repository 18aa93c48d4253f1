"""Typed results of a search: trial records, evaluations and the study result.

Plain dataclasses with no TensorFlow dependency, so reports can be written and read anywhere.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from mtltune.report.confirmation import Confirmation
from mtltune.report.race import Verdict
from mtltune.report.records import HeadScores, PhaseFailure, TrialRecord, loss_ratio
from mtltune.study.direction import Direction
from mtltune.study.heads import log_likelihood_heads

__all__ = [
    "Evaluation",
    "HeadScores",
    "PhaseFailure",
    "StrategyBest",
    "StudyResult",
    "TrialRecord",
    "loss_ratio",
]


@dataclass(frozen=True)
class Evaluation:
    """A trained model's per-head scores on the stop and test splits.

    Attributes:
        plan: How it was trained.
        objective: Its weight-free stop score.
        stop: Per-head stop scores.
        test: Per-head test scores (``loss_clean`` against the noise-free target, if any).
        epochs: Epochs trained.
    """

    plan: dict[str, Any]
    objective: float
    stop: HeadScores
    test: HeadScores
    epochs: int | None = None


@dataclass(frozen=True)
class StrategyBest:
    """The best trial of one strategy and its scores (the per-strategy comparison).

    Attributes:
        trial_id: The strategy's best trial.
        evaluation: Its stop and test scores.
    """

    trial_id: str
    evaluation: Evaluation


@dataclass(frozen=True)
class StudyResult:
    """Everything a search produced; ``mtltune.report`` renders it.

    Attributes:
        study: The resolved study (every default filled in).
        objective_name: Readable name of the weight-free score.
        objective_direction: ``min`` or ``max`` (a ``Direction``).
        best_trial: The leading challenger: the recommended trial, or, when equal weights
            stand, the best challenger (information, not the model exported).
        best: The winner's stop and test scores.
        baseline: The baseline's stop and test scores (same budget and seed).
        trials: Every trial, in creation order.
        data: Split sizes, encoded features and classes.
        seconds: Wall time of the whole search.
        strategies: The best trial of each strategy that completed a trial.
        confirmation: The race against equal weights (``search.confirm``).
        time_split: Where the seconds went (``time_split``; ``report`` added by the writer).
        verdict: Equal weights or a searched configuration: what ``best_model.keras`` is.
        tails: Per head, when a few test rows carry most of its loss (``heavy_tails``).
        failures: What failed after the trials (the report is written without it; the CLI
            exits 1).
    """

    study: dict[str, Any]
    objective_name: str
    objective_direction: Direction
    best_trial: TrialRecord
    best: Evaluation
    baseline: Evaluation
    trials: list[TrialRecord]
    data: dict[str, Any]
    seconds: float
    strategies: dict[str, StrategyBest] = field(default_factory=dict)
    pareto: list[str] = field(default_factory=list)
    replicates: dict[str, Any] | None = None
    confirmation: Confirmation | None = None
    time_split: dict[str, float] | None = None
    verdict: Verdict | None = None
    tails: dict[str, dict[str, float]] = field(default_factory=dict)
    failures: list[PhaseFailure] = field(default_factory=list)

    @property
    def heads(self) -> list[str]:
        """Head names, in study order."""
        return list(self.study["heads"])

    @property
    def log_heads(self) -> set[str]:
        """Heads whose loss is a log-likelihood (``loss_scale: log``)."""
        return log_likelihood_heads(self.study.get("heads", {}))

    @property
    def ratio(self) -> dict[str, float]:
        """Per head: baseline test loss / best test loss (> 1 means the search helped).

        For a log-likelihood head (``loss_scale: log``) the ratio of ``exp(loss)``.
        """
        return loss_ratio(self.baseline.test, self.best.test, "loss", self.log_heads)

    @property
    def ratio_clean(self) -> dict[str, float]:
        """The same ratio on the loss against the noise-free target, for heads that have one."""
        return loss_ratio(self.baseline.test, self.best.test, "loss_clean", self.log_heads)

    def to_dict(self) -> dict[str, Any]:
        """The ``report.json`` document."""
        best = asdict(self.best)
        best.update(
            trial_id=self.best_trial.trial_id,
            strategy=self.best_trial.strategy,
            hyperparameters=self.best_trial.hyperparameters,
        )
        out: dict[str, Any] = self._verdict_entry()
        out |= {
            "study": self.study,
            "objective": {
                "name": self.objective_name,
                "direction": self.objective_direction,
                "value": self.best.objective,
            },
            "best": best,
            "baseline": asdict(self.baseline),
            "ratio": self.ratio,
        }
        if self.ratio_clean:
            out["ratio_clean"] = self.ratio_clean
        out["strategies"] = {
            name: {
                "trial_id": best.trial_id,
                "objective": best.evaluation.objective,
                "plan": best.evaluation.plan,
                "test": best.evaluation.test,
            }
            for name, best in self.strategies.items()
        }
        out["trials"] = {
            "total": len(self.trials),
            "completed": sum(t.ok for t in self.trials),
            "failed": sum(not t.ok for t in self.trials),
        }
        out["pareto"] = {
            "heads": self.heads,
            "trials": [
                {
                    "trial_id": t.trial_id,
                    "strategy": t.strategy,
                    "stop": {h: t.stop[h]["loss"] for h in self.heads},
                }
                for t in self.trials
                if t.trial_id in self.pareto
            ],
        }
        if self.replicates is not None:
            out["replicates"] = self.replicates
        if self.confirmation is not None:
            out["confirmation"] = self.confirmation.to_dict()
        if self.tails:
            out["tails"] = self.tails
        out["data"] = self.data
        out["seconds"] = self.seconds
        if self.time_split is not None:
            out["time_split"] = self.time_split
        out["trial_records"] = [asdict(t) for t in self.trials]
        out["failures"] = [asdict(f) for f in self.failures]
        return out

    def _verdict_entry(self) -> dict[str, Any]:
        """``report.json``'s first entry: the verdict with its line."""
        if self.verdict is None:
            return {}
        return {"verdict": {"line": self.verdict.line(), **self.verdict.to_dict()}}

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> StudyResult:
        """Rebuild a result from its ``report.json`` document (for ``mtltune report``)."""
        trials = [TrialRecord(**t) for t in doc["trial_records"]]
        best = dict(doc["best"])
        trial_id = best.pop("trial_id")
        for key in ("strategy", "hyperparameters"):
            best.pop(key, None)
        strategies = {
            name: StrategyBest(
                entry["trial_id"],
                Evaluation(
                    plan=entry["plan"], objective=entry["objective"], stop={}, test=entry["test"]
                ),
            )
            for name, entry in doc.get("strategies", {}).items()
        }
        best = _floats(best)
        baseline = _floats(doc["baseline"])
        return cls(
            study=doc["study"],
            objective_name=doc["objective"]["name"],
            objective_direction=Direction(doc["objective"]["direction"]),
            best_trial=next(t for t in trials if t.trial_id == trial_id),
            best=Evaluation(**best),
            baseline=Evaluation(**baseline),
            trials=trials,
            data=doc["data"],
            seconds=doc["seconds"],
            strategies=strategies,
            pareto=[t["trial_id"] for t in doc.get("pareto", {}).get("trials", [])],
            replicates=doc.get("replicates"),
            confirmation=_confirmation(doc.get("confirmation")),
            time_split=doc.get("time_split"),
            verdict=Verdict.from_dict(doc["verdict"]) if "verdict" in doc else None,
            tails=doc.get("tails", {}),
            failures=[PhaseFailure(**f) for f in doc.get("failures", [])],
        )


def _floats(value: Any) -> Any:
    """Turn the strings ``report.json`` holds for non-finite numbers back into floats."""
    if isinstance(value, str) and value in ("nan", "inf", "-inf"):
        return float(value)
    if isinstance(value, dict):
        return {k: _floats(v) for k, v in value.items()}
    return value


def _confirmation(doc: dict[str, Any] | None) -> Confirmation | None:
    return None if doc is None else Confirmation.from_dict(doc)


def time_split(
    trials: list[TrialRecord],
    *,
    preparation: float,
    search: float,
    evaluation: float,
    race: float = 0.0,
) -> dict[str, float]:
    """Where a search's seconds went.

    Args:
        trials: The trials (their training and oracle seconds).
        preparation: Seconds before the search (data, run folder).
        search: Seconds of the search phase (training, oracle, building models, bookkeeping).
        evaluation: Seconds after it but the race's (baseline, test evaluations, export,
            replicates).
        race: Seconds of the race against equal weights (its training runs).

    Returns:
        ``preparation``, ``training`` (the trials' fits), ``oracle`` (proposing trials),
        ``search_other`` (the rest of the search phase), ``race`` and ``evaluation``.
    """
    training = sum(t.seconds or 0.0 for t in trials)
    oracle = sum(t.oracle_seconds or 0.0 for t in trials)
    return {
        "preparation": preparation,
        "training": training,
        "oracle": oracle,
        "search_other": max(0.0, search - training - oracle),
        "race": race,
        "evaluation": evaluation,
    }

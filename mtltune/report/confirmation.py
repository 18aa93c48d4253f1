"""Confirmation runs as data: which configurations were retrained, their runs, the choice.

A trial's stop objective is one training run from one initialisation. Confirmation retrains the
search's best few distinct configurations with further initialisation seeds on the same splits
and chooses by the mean stop objective (``mtltune.tuning.confirm`` trains; this module only
ranks, judges and renders, without TensorFlow).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from mtltune.report.numbers import number
from mtltune.report.records import HeadScores, TrialRecord, loss_ratio

#: The candidate name of the baseline's runs.
BASELINE = "baseline"
#: Where a run comes from: the search's own trial, or a confirmation run.
SEARCH, CONFIRM = "search", "confirm"


@dataclass(frozen=True)
class ConfirmRun:
    """One training run of a candidate configuration (or of the baseline) with one seed.

    Attributes:
        candidate: The trial id of the configuration, or ``baseline``.
        seed: Its initialisation (and shuffling) seed.
        source: ``search`` (the trial itself) or ``confirm`` (a confirmation run).
        objective: The stop objective of its best epoch (``None`` if it failed).
        stop: Per-head stop losses of its best epoch.
        epochs: Epochs trained.
        seconds: Wall time of the training (with the model's build, for confirmation runs).
        message: Why it failed, if it did.
    """

    candidate: str
    seed: int
    source: str
    objective: float | None
    stop: HeadScores = field(default_factory=dict)
    epochs: int | None = None
    seconds: float | None = None
    message: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the run finished with a finite objective."""
        return self.objective is not None and math.isfinite(self.objective)


def distinct_top(trials: Iterable[TrialRecord], top: int, direction: str) -> list[TrialRecord]:
    """The ``top`` best completed trials by stop objective, one per distinct plan."""
    sign = 1.0 if direction == "min" else -1.0
    ranked = sorted((t for t in trials if t.ok), key=lambda t: sign * float(t.objective or 0.0))
    chosen: dict[str, TrialRecord] = {}
    for trial in ranked:
        plan = {k: v for k, v in trial.plan.items() if k != "learned_weights"}
        chosen.setdefault(json.dumps(plan, sort_keys=True, default=str), trial)
        if len(chosen) == top:
            break
    return list(chosen.values())


@dataclass(frozen=True)
class Confirmation:
    """The confirmation of a search's best configurations.

    Attributes:
        direction: ``min`` or ``max`` (the objective's).
        seeds: The study seed (the search's runs), then the further seeds.
        candidates: Trial ids of the retrained configurations, in the search's order.
        runs: Every run of every candidate and of the baseline (the baseline's study-seed run
            is the report's baseline and is not listed here).
        test: Test scores per seed (in ``seeds`` order) of the chosen configuration
            (``best``) and the baseline (``baseline``), once the choice is made.
    """

    direction: str
    seeds: list[int]
    candidates: list[str]
    runs: list[ConfirmRun]
    test: dict[str, list[HeadScores]] = field(default_factory=dict)

    def values(self, candidate: str) -> list[float]:
        """The finite stop objectives of a candidate's runs."""
        return [float(r.objective) for r in self.runs if r.candidate == candidate and r.ok]  # type: ignore[arg-type]

    def failed(self, candidate: str) -> int:
        """How many of a candidate's runs failed."""
        return sum(not r.ok for r in self.runs if r.candidate == candidate)

    def summary(self, candidate: str) -> dict[str, Any]:
        """Mean, standard deviation, range and values of a candidate's stop objectives."""
        values = self.values(candidate)
        return {
            "mean": statistics.fmean(values) if values else math.nan,
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values, default=math.nan),
            "max": max(values, default=math.nan),
            "values": values,
            "failed": self.failed(candidate),
        }

    @property
    def ranking(self) -> list[str]:
        """Candidates by mean stop objective (one with a failed run after all without one)."""
        sign = 1.0 if self.direction == "min" else -1.0

        def key(candidate: str) -> tuple[int, float]:
            mean = self.summary(candidate)["mean"]
            return (self.failed(candidate), sign * mean if math.isfinite(mean) else math.inf)

        return sorted(self.candidates, key=key)

    @property
    def chosen(self) -> str:
        """The trial id of the configuration with the best mean stop objective."""
        return self.ranking[0]

    @property
    def clear(self) -> bool | None:
        """Whether the runner-up's mean is worse than the winner's worst run.

        ``None`` with a single candidate.
        """
        if len(self.candidates) < 2:
            return None
        winner, runner_up = (self.summary(c) for c in self.ranking[:2])
        if not math.isfinite(runner_up["mean"]):
            return True
        worst = winner["max"] if self.direction == "min" else winner["min"]
        return runner_up["mean"] > worst if self.direction == "min" else runner_up["mean"] < worst

    @property
    def verdict(self) -> str:
        """The choice in words."""
        if self.clear is None:
            return "only one distinct configuration was confirmed"
        if self.clear:
            return "clear: the runner-up's mean lies outside the winner's range of runs"
        return "indistinguishable within seed noise"

    def with_test(self, test: dict[str, list[HeadScores]]) -> Confirmation:
        """This confirmation with the paired test scores of the chosen one and the baseline."""
        return replace(self, test=test)

    def paired(self, key: str, log_heads: set[str]) -> dict[str, dict[str, Any]]:
        """Per head: the paired test ``key`` of best and baseline.

        Each seed's values, their means, the ratio of the means (baseline / best) and on how
        many seeds the best was lower.
        """
        best, base = self.test.get("best", []), self.test.get(BASELINE, [])
        out: dict[str, dict[str, Any]] = {}
        for head in best[0] if best else {}:
            pairs = [
                (w[head][key], b[head][key])
                for w, b in zip(best, base, strict=True)
                if key in w.get(head, {}) and key in b.get(head, {})
            ]
            if not pairs:
                continue
            means = [statistics.fmean(p[i] for p in pairs) for i in (0, 1)]
            ratio = loss_ratio({head: {key: means[1]}}, {head: {key: means[0]}}, key, log_heads)
            out[head] = {
                "best": [p[0] for p in pairs],
                "baseline": [p[1] for p in pairs],
                "best_mean": means[0],
                "baseline_mean": means[1],
                "ratio": ratio.get(head, math.nan),
                "best_wins": sum(w < b for w, b in pairs),
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        """The ``confirmation`` entry of ``report.json``."""
        return {
            "direction": self.direction,
            "seeds": self.seeds,
            "candidates": self.candidates,
            "chosen": self.chosen,
            "clear": self.clear,
            "verdict": self.verdict,
            "summary": {c: self.summary(c) for c in self.candidates},
            "runs": [asdict(r) for r in self.runs],
            "test": self.test,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Confirmation:
        """Rebuild a confirmation from its ``report.json`` entry."""
        return cls(
            direction=doc["direction"],
            seeds=list(doc["seeds"]),
            candidates=list(doc["candidates"]),
            runs=[ConfirmRun(**r) for r in doc["runs"]],
            test=doc.get("test", {}),
        )


def confirmation_lines(
    confirmation: Confirmation, trials: Sequence[TrialRecord], log_heads: set[str]
) -> list[str]:
    """The report's ``Confirmation`` section (Markdown lines)."""
    strategies = {t.trial_id: t.strategy for t in trials}
    chosen = confirmation.chosen
    further = len(confirmation.seeds) - 1
    lines = [
        "",
        "## Confirmation",
        "",
        f"The {len(confirmation.candidates)} best distinct configurations of the search were "
        f"retrained with {further} further initialisation seed(s) each "
        f"({', '.join(str(s) for s in confirmation.seeds[1:])}) on the same splits; each is "
        "ranked by the mean of its stop objectives over all its runs. These runs read only the "
        "train and stop splits: the test split was read only after the choice. "
        f"Chosen: trial `{chosen}`; the choice is **{confirmation.verdict}**.",
        "",
        "| rank | trial | strategy | mean objective | std | range | runs |",
        "|---|---|---|---|---|---|---|",
    ]
    for rank, candidate in enumerate(confirmation.ranking, 1):
        s = confirmation.summary(candidate)
        runs = ", ".join(number(v) for v in s["values"])
        runs += f" ({s['failed']} failed)" if s["failed"] else ""
        name = f"`{candidate}`" + (" (chosen)" if candidate == chosen else "")
        lines.append(
            f"| {rank} | {name} | {strategies.get(candidate, '–')} | {number(s['mean'])} | "
            f"{number(s['std'], 2)} | {number(s['min'])}–{number(s['max'])} | {runs} |"
        )
    return lines + _paired_lines(confirmation, log_heads)


def _paired_lines(confirmation: Confirmation, log_heads: set[str]) -> list[str]:
    """The paired best-against-baseline table (same seeds, same splits)."""
    if not confirmation.test:
        return [
            "",
            "No paired best-against-baseline comparison: a confirmation run of the chosen "
            "configuration or of the baseline failed (see `confirm.csv`).",
        ]
    n = len(confirmation.test.get("best", []))
    lines = [
        "",
        f"### Best against baseline, paired over {n} seeds",
        "",
        "The per-head table above compares one run of each (the study seed), so its ratio "
        "carries both runs' initialisation luck. Here the chosen configuration and the "
        "baseline are trained with the same seeds and splits and compared seed by seed: "
        "quote this ratio (baseline mean / best mean test loss) and the seeds the best won.",
        "",
        "| head | best test loss (mean ± std) | baseline test loss (mean ± std) | ratio | "
        "best wins |",
        "|---|---|---|---|---|",
    ]
    for key, suffix in (("loss", ""), ("loss_clean", " (clean)")):
        for head, entry in confirmation.paired(key, log_heads).items():
            best, base = entry["best"], entry["baseline"]
            lines.append(
                f"| {head}{suffix} | {_mean_std(best)} | {_mean_std(base)} | "
                f"{number(entry['ratio'])} | {entry['best_wins']} of {len(best)} |"
            )
    return lines


def _mean_std(values: list[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{number(statistics.fmean(values))} ± {number(std, 2)}"

"""The race against equal weights as data: the runs, the decisions, the recommendation.

A trial's stop objective is one training run from one initialisation. The race retrains the
search's best few distinct configurations (the challengers) and equal weights (the incumbent)
with further initialisation seeds (each dealing the train and stop rows anew when the split
shuffles, each run stopping on one half of the stop rows and judged on the other), and
judges each challenger against the incumbent seed by seed (``mtltune.report.race`` holds the
rule; ``mtltune.tuning.confirm`` trains; this module records, renders and reads back, without
TensorFlow).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from mtltune.report.numbers import number
from mtltune.report.race import INCUMBENT, Decision, RaceRule, leader, recommend
from mtltune.report.records import HeadScores, TrialRecord, loss_ratio
from mtltune.study.direction import Direction

#: The candidate name of the baseline's runs (the incumbent: equal weights).
BASELINE = INCUMBENT
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


def distinct_top(
    trials: Iterable[TrialRecord], top: int, direction: Direction
) -> list[TrialRecord]:
    """The ``top`` best completed trials by stop objective, one per distinct plan."""
    rank = Direction(direction).key
    ranked = sorted((t for t in trials if t.ok), key=lambda t: rank(float(t.objective or 0.0)))
    chosen: dict[str, TrialRecord] = {}
    for trial in ranked:
        plan = {k: v for k, v in trial.plan.items() if k != "learned_weights"}
        chosen.setdefault(json.dumps(plan, sort_keys=True, default=str), trial)
        if len(chosen) == top:
            break
    return list(chosen.values())


@dataclass(frozen=True)
class Confirmation:
    """The race of a search's best configurations against equal weights.

    Attributes:
        direction: ``min`` or ``max`` (the objective's).
        seeds: The study seed (the search's runs), then the further seeds run.
        candidates: Trial ids of the challengers, in the search's order.
        runs: Every run of every challenger and of the incumbent (``baseline``), the study-seed
            runs included.
        test: Test scores per paired seed of the leading challenger (``best``) and the
            incumbent (``baseline``), once the race is decided.
        decisions: Each challenger's standing against the incumbent.
        rule: The race's rule.
        fresh_splits: Whether each further seed dealt the train and stop rows anew (a
            shuffled split) rather than reusing the search's.
    """

    direction: Direction
    seeds: list[int]
    candidates: list[str]
    runs: list[ConfirmRun]
    test: dict[str, list[HeadScores]] = field(default_factory=dict)
    decisions: list[Decision] = field(default_factory=list)
    rule: RaceRule = field(default_factory=RaceRule)
    fresh_splits: bool = False

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

    def further_mean(self, candidate: str) -> float | None:
        """Mean stop objective of a candidate's runs at the further seeds (not the study seed).

        These runs are judged on the half of the stop rows that did not pick their epoch; the
        study seed's run (the search's own) is not, so the two are not averaged together.
        ``None`` where the candidate has no finished run at a further seed.
        """
        further = (self.objective(candidate, seed) for seed in self.seeds[1:])
        values = [v for v in further if v is not None]  # None: not run, or not finite
        return statistics.fmean(values) if values else None

    def objective(self, candidate: str, seed: int) -> float | None:
        """A candidate's stop objective at one seed (``None`` if not run or failed)."""
        run = next((r for r in self.runs if r.candidate == candidate and r.seed == seed), None)
        return float(run.objective) if run is not None and run.ok else None  # type: ignore[arg-type]

    def decision(self, candidate: str) -> Decision | None:
        """A challenger's decision."""
        return next((d for d in self.decisions if d.challenger == candidate), None)

    @property
    def recommended(self) -> str:
        """``baseline`` (equal weights stand) or the recommended challenger's trial id."""
        return recommend(self.decisions)

    @property
    def chosen(self) -> str | None:
        """The leading challenger: the recommended one, or else the best raced one."""
        lead = leader(self.decisions)
        return lead.challenger if lead is not None else None

    def with_test(self, test: dict[str, list[HeadScores]]) -> Confirmation:
        """This race with the paired test scores of the leading challenger and the baseline."""
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
            "recommended": self.recommended,
            "chosen": self.chosen,
            "rule": asdict(self.rule),
            "fresh_splits": self.fresh_splits,
            "decisions": [asdict(d) for d in self.decisions],
            "summary": {c: self.summary(c) for c in [*self.candidates, BASELINE]},
            "runs": [asdict(r) for r in self.runs],
            "test": self.test,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Confirmation:
        """Rebuild a race from its ``report.json`` entry."""
        return cls(
            direction=Direction(doc["direction"]),
            seeds=list(doc["seeds"]),
            candidates=list(doc["candidates"]),
            runs=[ConfirmRun(**r) for r in doc["runs"]],
            test=doc.get("test", {}),
            decisions=[
                Decision(**{**d, "gains": [float(g) for g in d.get("gains", [])]})
                for d in doc.get("decisions", [])
            ],
            rule=RaceRule(**doc.get("rule", {})),
            fresh_splits=doc.get("fresh_splits") is True,
        )


_STATUS = {
    "accepted": "beats equal weights",
    "dropped": "dropped: not better on average",
    "stands": "not significant at the seed cap",
    "screened": "not better at the study seed: not raced",
    "open": "undecided",
    "outpaced": "stopped: an accepted challenger gained more",
}


def confirmation_lines(
    confirmation: Confirmation, trials: Sequence[TrialRecord], log_heads: set[str]
) -> list[str]:
    """The report's race section (Markdown lines)."""
    strategies = {t.trial_id: t.strategy for t in trials}
    raced = sum(d.status != "screened" for d in confirmation.decisions)
    recommended = confirmation.recommended
    rules = _rules_text(confirmation, raced)
    lines = [
        "",
        "## The race against equal weights",
        "",
        f"Equal weights (the baseline) are the incumbent. The search's "
        f"{len(confirmation.candidates)} best distinct configurations are the challengers. "
        + rules,
        "",
        "**Recommended: "
        + ("equal weights (they stand)" if recommended == BASELINE else f"trial `{recommended}`")
        + "**.",
        "",
        "| trial | strategy | decision | seeds | won | stop objective lower by | p | "
        "mean judged objective, further seeds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for candidate in confirmation.candidates:
        decision = confirmation.decision(candidate)
        status = _STATUS[decision.status] if decision is not None else "–"
        gains = decision.gains if decision is not None else []
        mean_gain = statistics.fmean(gains) if gains else None
        lower = f"{(1 - math.exp(-mean_gain)) * 100:.1f} %" if mean_gain is not None else "–"
        p = f"{decision.p:.3g}" if decision is not None and decision.p is not None else "–"
        won = f"{decision.won} of {len(gains)}" if gains else "–"
        lines.append(
            f"| `{candidate}` | {strategies.get(candidate, '–')} | {status} | {len(gains)} | "
            f"{won} | {lower} | {p} | {number(confirmation.further_mean(candidate))} |"
        )
    further = sum(confirmation.objective(BASELINE, s) is not None for s in confirmation.seeds[1:])
    lines.append(
        f"| equal weights | weighted | incumbent | {further} | – | – | – | "
        f"{number(confirmation.further_mean(BASELINE))} |"
    )
    return lines + _paired_lines(confirmation, log_heads, raced)


def _rules_text(confirmation: Confirmation, raced: int) -> str:
    """How the race was run, in words (or that nobody was raced)."""
    rule = confirmation.rule
    further = ", ".join(str(s) for s in confirmation.seeds[1:]) or "none"
    splits = (
        "each dealing the train and stop rows anew"
        if confirmation.fresh_splits
        else "on the search's rows (an ordered split is kept)"
    )
    if raced == 0:
        return (
            "None was better than equal weights at the study seed, so none was retrained on "
            "further seeds: equal weights stand."
        )
    return (
        f"Each challenger better than equal weights at the study seed ({raced}) was "
        f"retrained on further initialisation seeds ({further}), {splits}, seed by seed, "
        "with the incumbent on the same seeds. Only the further seeds decide (the study "
        "seed chose the challengers, so it flatters them). A challenger is dropped once its "
        "mean gain is not above 0; it wins when a one-sided paired t-test of its per-seed "
        f"log ratios is significant at {rule.level:g}/{raced} after at least {rule.seeds} "
        f"seeds (at most {rule.max_seeds}). Each race run stops early on one half of the "
        "stop rows and is judged on the other half, at the epoch the first half chose (a "
        "run's own early-stopping value flatters it); these runs read only the train and "
        "stop splits."
    )


def _paired_lines(confirmation: Confirmation, log_heads: set[str], raced: int) -> list[str]:
    """The paired best-against-baseline table (same seeds, same splits)."""
    if not confirmation.test:
        why = (
            "no challenger was raced"
            if raced == 0
            else "the leader's runs or the incumbent's failed (see `confirm.csv`)"
        )
        return ["", f"No paired comparison on test: {why}."]
    n = len(confirmation.test.get("best", []))
    lines = [
        "",
        f"### Trial `{confirmation.chosen}` against equal weights on test, paired over {n} seeds",
        "",
        "The leading challenger and equal weights, trained with the same seeds and splits, "
        "compared seed by seed on the test split (read after the race was decided): quote "
        "this ratio (equal weights' mean / the challenger's mean test loss) and the seeds the "
        "challenger won.",
        "",
        "| head | challenger test loss (mean ± std) | equal weights test loss (mean ± std) | "
        "ratio | challenger wins |",
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

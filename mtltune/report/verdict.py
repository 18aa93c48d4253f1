"""The verdict: which configuration to use, equal weights or a searched one, in one line.

Built from the race (``mtltune.report.confirmation``) when there is one; without a race
(``search.confirm.top: 0``) from the single best trial against equal weights at the study seed,
and marked unconfirmed.
"""

from __future__ import annotations

import math

from mtltune.report.confirmation import BASELINE, Confirmation
from mtltune.report.race import Verdict, gain, ratio_and_interval
from mtltune.report.records import TrialRecord, loss_ratio
from mtltune.report.results import Evaluation

__all__ = ["Verdict", "verdict_of"]


def verdict_of(
    confirmation: Confirmation | None,
    leader: TrialRecord | None,
    best: Evaluation,
    baseline: Evaluation,
    direction: str,
    log_heads: set[str] | None = None,
) -> Verdict:
    """The verdict of a search.

    Args:
        confirmation: The race, if one was run.
        leader: The leading challenger's trial (the race's, or the search's best one without a
            race; the equal-weights trial itself when nothing else completed).
        best: The leader's study-seed evaluation.
        baseline: Equal weights' study-seed evaluation.
        direction: The objective's direction.
        log_heads: Heads whose loss is a log-likelihood (their ratios are ``exp`` differences).
    """
    log_heads = log_heads or set()
    strategy = leader.strategy if leader is not None else "weighted"
    broken = "diverged" in baseline.plan or "failed" in baseline.plan
    if broken and leader is not None and best is not baseline:
        return Verdict(
            recommended=leader.trial_id,
            strategy=leader.strategy,
            challenger=leader.trial_id,
            rule="equal weights diverged or failed at the study seed: the best trial is "
            "recommended",
            unconfirmed=True,
        )
    if confirmation is None or confirmation.chosen is None:
        if leader is None or best is baseline:
            return Verdict(BASELINE, "weighted", rule="no challenger completed")
        better = gain(baseline.objective, best.objective, direction) > 0
        heads = loss_ratio(baseline.test, best.test, "loss", log_heads)
        ratio = _ratio(baseline.objective, best.objective, direction)
        raced = confirmation is not None
        return Verdict(
            recommended=leader.trial_id if better and not raced else BASELINE,
            strategy=strategy if better and not raced else "weighted",
            challenger=leader.trial_id,
            objective_ratio=ratio,
            seeds=0 if raced else 1,
            won=int(better),
            heads=heads,
            rule=(
                "no challenger was better than equal weights at the study seed"
                if raced
                else "study seed only (search.confirm.top: 0): no further seeds"
            ),
            unconfirmed=not raced,
        )
    decision = confirmation.decision(confirmation.chosen)
    gains = decision.gains if decision is not None else []
    ratio, interval = ratio_and_interval([g for g in gains if math.isfinite(g)])
    recommended = confirmation.recommended
    return Verdict(
        recommended=recommended,
        strategy=strategy if recommended != BASELINE else "weighted",
        challenger=confirmation.chosen,
        objective_ratio=ratio,
        interval=interval,
        seeds=len(gains),
        won=decision.won if decision is not None else 0,
        heads={h: e["ratio"] for h, e in confirmation.paired("loss", log_heads).items()},
        rule=(
            f"one-sided paired t-test at {confirmation.rule.level:g} over the challengers raced, "
            f"{confirmation.rule.seeds}–{confirmation.rule.max_seeds} further seeds"
        ),
    )


def _ratio(incumbent: float, challenger: float, direction: str) -> float | None:
    """``exp(gain)``: incumbent / challenger for an objective to minimise."""
    value = gain(incumbent, challenger, direction)
    return math.exp(value) if math.isfinite(value) else None

"""The race against equal weights: paired gains, the acceptance rule, the verdict.

Equal weights (the baseline plan) are the incumbent. Each challenger (one of the search's best
distinct configurations) is compared with it seed by seed (paired: the same rows and seed), on
the stop objective, in the spirit of SMAC's intensification and irace's racing:

- **Screen.** A challenger whose own search trial was not better than the incumbent's run at
  the study seed is not raced (it was chosen for that very run, so the run flatters it).
- **Gains.** Only the further seeds count for the decision: the study seed chose the
  challengers, so its runs are biased in their favour. On each further seed ``s`` the gain is
  ``log(incumbent(s) / challenger(s))`` for an objective to minimise (``log(challenger /
  incumbent)`` to maximise; plain differences if a value is not positive): above 0, the
  challenger was better on that seed.
- **Drop.** A challenger whose mean gain is not above 0 over the seeds run so far is dropped: it
  can no longer beat the incumbent (SMAC's rule).
- **Accept.** A challenger replaces the incumbent when a one-sided paired t-test of its gains is
  significant at ``level / m`` (``m`` the challengers raced: Bonferroni), once it has at least
  ``seeds`` further seeds; with fewer than three seeds there is no test and the challenger must
  win every seed.
- **Extend.** A challenger neither dropped nor accepted gets one more seed, up to
  ``max_seeds``; then it has not beaten the incumbent and equal weights stand against it.
- **Outpaced.** Once a challenger is accepted, an open one races on only while its mean gain
  is above every accepted one's (over the seeds they share): otherwise it could not become the
  recommendation, and its runs would decide nothing.

Of the accepted challengers, the one with the largest mean gain (over the seeds they share) is
recommended; with none, equal weights stand. This module decides; ``mtltune.tuning.confirm``
trains.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from mtltune.study.direction import Direction

#: The name of the incumbent (equal weights at the baseline's learning rate and epsilon).
INCUMBENT = "baseline"
#: Seeds below which there is no test: a challenger must win every seed.
MIN_TEST_SEEDS = 3

Status = Literal["accepted", "dropped", "open", "stands", "screened", "outpaced"]


@dataclass(frozen=True)
class RaceRule:
    """The race's rule, from ``search.confirm``.

    Attributes:
        seeds: Further seeds every raced challenger gets before it can be accepted.
        max_seeds: The cap on further seeds while a decision is open.
        level: The one-sided paired test's level (before Bonferroni over the challengers).
    """

    seeds: int = 3
    max_seeds: int = 8
    level: float = 0.05


def gain(incumbent: float, challenger: float, direction: Direction | str) -> float:
    """How much better the challenger was than the incumbent on one seed (above 0: better)."""
    sign = Direction(direction).sign
    if incumbent > 0 and challenger > 0:
        return sign * (math.log(incumbent) - math.log(challenger))
    return sign * (incumbent - challenger)


def one_sided_p(gains: Sequence[float]) -> float:
    """The p-value of a one-sided paired t-test that the mean gain is above 0."""
    n = len(gains)
    if n < 2:
        return 1.0
    mean = statistics.fmean(gains)
    sd = statistics.stdev(gains)
    if sd == 0.0:
        return 0.0 if mean > 0 else 1.0
    from scipy.stats import t as student  # scipy is a dependency; only the race needs it

    return float(student.sf(mean / (sd / math.sqrt(n)), df=n - 1))


@dataclass(frozen=True)
class Decision:
    """Where one challenger stands against the incumbent.

    Attributes:
        challenger: Its trial id.
        status: ``accepted`` (beats the incumbent), ``dropped`` (its mean gain fell to 0 or
            below), ``open`` (still racing), ``stands`` (not significant at the seed cap: the
            incumbent stands against it), ``screened`` (not better at the study seed; not
            raced), ``outpaced`` (stopped: an accepted challenger's mean gain is higher).
        gains: Its gain on each further seed, in seed order.
        p: The one-sided test's p-value (``None`` below three seeds).
        threshold: The level it was judged at (``level / m``).
    """

    challenger: str
    status: Status
    gains: list[float] = field(default_factory=list)
    p: float | None = None
    threshold: float | None = None

    @property
    def mean_gain(self) -> float:
        """The mean gain (nan with no seed)."""
        return statistics.fmean(self.gains) if self.gains else math.nan

    @property
    def won(self) -> int:
        """Seeds on which the challenger was better."""
        return sum(g > 0 for g in self.gains)


def decide(challenger: str, gains: Sequence[float], rule: RaceRule, raced: int) -> Decision:
    """Judge one challenger on its gains so far (see the module's rule).

    Args:
        challenger: Its trial id.
        gains: Its gains on the further seeds run so far, in seed order.
        rule: The race's rule.
        raced: How many challengers are raced (Bonferroni's ``m``).
    """
    gains = list(gains)
    threshold = rule.level / max(1, raced)
    n = len(gains)
    if n == 0:
        return Decision(challenger, "open", gains, None, threshold)
    if statistics.fmean(gains) <= 0:
        return Decision(challenger, "dropped", gains, None, threshold)
    if n >= MIN_TEST_SEEDS:
        p = one_sided_p(gains)
        if n >= rule.seeds and p <= threshold:
            return Decision(challenger, "accepted", gains, p, threshold)
    else:
        p = None
        # No test can ever be made under this cap: the challenger must win every seed.
        untestable = max(rule.seeds, rule.max_seeds) < MIN_TEST_SEEDS
        if untestable and n >= rule.seeds and all(g > 0 for g in gains):
            return Decision(challenger, "accepted", gains, p, threshold)
    if n >= max(rule.seeds, rule.max_seeds):
        return Decision(challenger, "stands", gains, p, threshold)
    return Decision(challenger, "open", gains, p, threshold)


def outpaced(decision: Decision, accepted: Sequence[Decision]) -> bool:
    """Whether an open challenger can no longer become the recommendation.

    It is outpaced when some accepted challenger's mean gain, over the seeds both ran, is at
    least its own.
    """
    for other in accepted:
        shared = min(len(decision.gains), len(other.gains))
        if shared and statistics.fmean(other.gains[:shared]) >= statistics.fmean(
            decision.gains[:shared]
        ):
            return True
    return False


def recommend(decisions: Sequence[Decision]) -> str:
    """The accepted challenger with the largest mean gain over shared seeds, or the incumbent."""
    accepted = [d for d in decisions if d.status == "accepted"]
    if not accepted:
        return INCUMBENT
    shared = min(len(d.gains) for d in accepted)
    return max(accepted, key=lambda d: statistics.fmean(d.gains[:shared])).challenger


def leader(decisions: Sequence[Decision]) -> Decision | None:
    """The recommended challenger, or else the raced challenger with the best mean gain."""
    chosen = recommend(decisions)
    if chosen != INCUMBENT:
        return next(d for d in decisions if d.challenger == chosen)
    raced = [d for d in decisions if d.gains]
    return max(raced, key=lambda d: d.mean_gain, default=None)


@dataclass(frozen=True)
class Verdict:
    """The answer to "should I change my loss weights from equal, and to what?".

    Attributes:
        recommended: ``baseline`` (equal weights stand) or the recommended trial id.
        strategy: The recommendation's strategy.
        challenger: The recommendation, or the best raced challenger when equal weights stand
            (``None`` when no challenger was raced).
        objective_ratio: Incumbent / challenger stop objective, the geometric mean of the
            per-seed ratios over the further seeds (above 1: the challenger is better).
        interval: A 95 % interval of that ratio (t-based, over the seeds).
        seeds: Further seeds the challenger was raced on.
        won: Seeds on which it was better.
        heads: Per head: the paired test loss ratio, incumbent / challenger, over the race's
            seeds (test split, after the choice).
        rule: How the decision was made, in words.
        unconfirmed: The verdict rests on the study seed alone (``search.confirm.top: 0``).
    """

    recommended: str
    strategy: str
    challenger: str | None = None
    objective_ratio: float | None = None
    interval: list[float] | None = None
    seeds: int = 0
    won: int = 0
    heads: dict[str, float] = field(default_factory=dict)
    rule: str = ""
    unconfirmed: bool = False

    @property
    def stands(self) -> bool:
        """Whether equal weights stand."""
        return self.recommended == INCUMBENT

    def to_dict(self) -> dict[str, Any]:
        """The ``verdict`` entry of ``report.json``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Verdict:
        """Rebuild a verdict from ``report.json``."""
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in doc.items() if k in known})

    def line(self) -> str:
        """The verdict in one line (the first line of the result, everywhere)."""
        change = _change(self.objective_ratio)
        if not self.stands:
            span = ""
            if self.interval is not None and all(math.isfinite(v) for v in self.interval):
                lo, hi = (_change(v).removesuffix(" lower") for v in self.interval)
                span = f" ({lo} to {hi})" if "higher" in lo + hi else f" ({lo}–{hi})"
            seeds = f"{self.won} of {self.seeds} seeds"
            if self.unconfirmed:
                seeds = "study seed only"
            return (
                f"verdict: trial {self.recommended} ({self.strategy}) beats equal weights: "
                f"stop objective {change}{span}, {seeds}"
            )
        model = "best_model.keras is the equal-weights model"
        if change in ("0.0 % lower", "0.0 % higher"):  # a tie to the digit shown
            change = "no better"
        if self.challenger is None or self.objective_ratio is None:
            return f"verdict: equal weights stand: no searched configuration completed; {model}"
        if self.seeds == 0 or self.unconfirmed:
            return (
                f"verdict: equal weights stand: the best challenger, trial {self.challenger}, "
                f"was {change} at the study seed; {model}"
            )
        return (
            f"verdict: equal weights stand: the best challenger, trial {self.challenger}, was "
            f"{change} on average, better on {self.won} of {self.seeds} seeds; {model}"
        )


def ratio_and_interval(gains: Sequence[float]) -> tuple[float | None, list[float] | None]:
    """``exp(mean gain)`` and a 95 % t-interval of it (``None`` without gains)."""
    if not gains:
        return None, None
    mean = statistics.fmean(gains)
    if len(gains) < 2:
        return math.exp(mean), None
    from scipy.stats import t as student

    half = float(student.ppf(0.975, df=len(gains) - 1)) * statistics.stdev(gains)
    half /= math.sqrt(len(gains))
    return math.exp(mean), [math.exp(mean - half), math.exp(mean + half)]


def _change(ratio: float | None) -> str:
    """``incumbent / challenger`` as how much lower (or higher) the challenger was."""
    if ratio is None or not math.isfinite(ratio) or ratio <= 0:
        return "–"
    lower = (1.0 - 1.0 / ratio) * 100
    return f"{lower:.1f} % lower" if lower >= 0 else f"{-lower:.1f} % higher"

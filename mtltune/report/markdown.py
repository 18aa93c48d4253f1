"""``report.md``: the report's text, section by section, from a ``StudyResult``.

Plain data in, Markdown out (no TensorFlow, no files written: ``writer.write_report`` writes it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from mtltune.report.confirmation import confirmation_lines
from mtltune.report.numbers import number
from mtltune.report.results import StudyResult
from mtltune.report.snippets import compile_lines
from mtltune.run.files import (
    BEST_MODEL,
    PARETO_CSV,
    PREPROCESSING_JSON,
    REPLICATES_NPZ,
    TRIALS_CSV,
)
from mtltune.study.direction import Direction


def _fmt(value: Any) -> str:
    return number(value)


def _table(header: list[str], rows: Iterable[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(v) for v in row) + " |" for row in rows]
    return lines


def head_table(result: StudyResult, *, compact: bool = False) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the per-head test table.

    Args:
        result: The study result.
        compact: Fewer columns (for a terminal): no stop loss and no clean losses, only their
            ratio.
    """
    metrics = sorted(
        {k for scores in result.best.test.values() for k in scores} - {"loss", "loss_clean"}
    )
    clean = bool(result.ratio_clean)
    header = ["head"]
    header += ["test loss"] if compact else ["best stop loss", "best test loss"]
    header += [m if compact else f"best {m}" for m in metrics]
    header += ["baseline", "ratio"] if compact else ["baseline test loss", "ratio"]
    if clean:
        header += (
            ["clean ratio"]
            if compact
            else ["best clean loss", "baseline clean loss", "clean ratio"]
        )
    rows = []
    for head in result.heads:
        best, base = result.best.test[head], result.baseline.test[head]
        row: list[Any] = [head]
        row += [best["loss"]] if compact else [result.best.stop[head]["loss"], best["loss"]]
        row += [best.get(m) for m in metrics]
        row += [base["loss"], result.ratio.get(head)]
        if clean:
            if not compact:
                row += [best.get("loss_clean"), base.get("loss_clean")]
            row += [result.ratio_clean.get(head)]
        rows.append(row)
    return header, rows


Image = Callable[[str, str], list[str]]


def report_markdown(
    result: StudyResult, plots: dict[str, Path] | None = None, run_dir: Path | None = None
) -> str:
    """The ``report.md`` text, embedding the given plots (paths relative to ``run_dir``)."""
    plots = plots or {}

    def image(key: str, caption: str) -> list[str]:
        if key not in plots:
            return []
        target = plots[key].relative_to(run_dir) if run_dir else plots[key]
        return ["", f"![{caption}]({target.as_posix()})", ""]

    lines = _summary_lines(result)
    lines += _units_lines(result.study)
    header, rows = head_table(result)
    lines += _table(header, rows)
    for key in sorted(plots):
        if key.startswith("predictions_"):
            lines += image(key, f"test predictions of head {key.removeprefix('predictions_')}")
    if result.confirmation is not None:
        lines += confirmation_lines(result.confirmation, result.trials, result.log_heads)
    if result.replicates is not None:
        lines += _replicate_lines(result)
        lines += image("ratios", "per-head ratio baseline / best over replicates (log scale)")
    if result.strategies:
        lines += _strategy_lines(result)
    recommended = _recommended_plan(result)
    lines += ["", "## Recommended configuration", ""]
    lines += _plan_lines(recommended)
    lines += compile_lines(recommended)
    if recommended is not result.best.plan:
        lines += [
            "",
            f"The leading challenger, trial `{result.best_trial.trial_id}` "
            "(information; not recommended):",
            "",
        ]
        lines += _plan_lines(result.best.plan)
    else:
        lines += ["", "Equal weights (the baseline):", ""]
        lines += _plan_lines(result.baseline.plan)
    lines += _model_lines(result)
    lines += _pareto_lines(result)
    lines += image("pareto", "per-head stop losses of the trials, Pareto front and best trial")
    lines += image("history", "training and stop loss per head of the best trial")
    lines += _trial_lines(result, image)
    return "\n".join(lines) + "\n"


def _recommended_plan(result: StudyResult) -> dict[str, Any]:
    """The plan of the recommendation (equal weights when they stand)."""
    stands = result.verdict is not None and result.verdict.stands
    return result.baseline.plan if stands else result.best.plan


def _verdict_lines(result: StudyResult) -> list[str]:
    """The verdict, first; heads whose test loss a few rows decide."""
    from mtltune.report.tails import tail_note

    lines = [f"**{result.verdict.line()}**", ""] if result.verdict is not None else []
    if result.verdict is not None and result.verdict.rule:
        lines += [f"Decided by: {result.verdict.rule}.", ""]
    for head, entry in result.tails.items():
        lines += [f"- Heavy tail: {tail_note(head, entry)}"]
    return lines + ([""] if result.tails else [])


def _summary_lines(result: StudyResult) -> list[str]:
    """The title, the verdict, the search in a few lines and the per-head table's heading."""
    study = result.study
    best = result.best_trial
    return [
        f"# mtltune report: {study['name']}",
        "",
        *_failure_lines(result),
        *_verdict_lines(result),
        f"Objective: **{result.objective_name}** ({Direction(result.objective_direction).verb}), "
        "computed on the stop split; the test split was used once per model, after the search.",
        "",
        f"- Trials: {len(result.trials)} ({sum(t.ok for t in result.trials)} completed, "
        f"{sum(not t.ok for t in result.trials)} failed), tuner `{study['search']['tuner']}`, "
        f"seed {study['seed']}, {_total_seconds(result):.0f} s in all.",
        *_time_lines(result),
        "- Rows: " + ", ".join(f"{k} {v}" for k, v in result.data["rows"].items()) + ".",
        f"- Leading trial `{best.trial_id}`: strategy **{best.strategy}**, objective "
        f"{_fmt(result.best.objective)} (baseline {_fmt(result.baseline.objective)}), "
        f"{best.epochs} epochs (best epoch {best.best_epoch}).",
        "",
        "## Per-head test performance",
        "",
        "One run each, at the study seed (its ratio carries both runs' initialisation luck; "
        "the race's paired table below is the figure to quote). ratio = baseline test loss / "
        "leading trial's test loss (above 1: the searched configuration is better on that head).",
        "",
    ]


def _failure_lines(result: StudyResult) -> list[str]:
    """What failed after the trials and what this report therefore lacks (none: nothing)."""
    if not result.failures:
        return []
    lines = [
        "**Incomplete report**: these steps after the trials failed; everything else below "
        "finished. Run the same `mtltune search` command again to resume at them (finished "
        "trials, confirmation runs and replicates are kept).",
        "",
    ]
    lines += [f"- {f.describe()}" for f in result.failures]
    return [*lines, ""]


def _strategy_lines(result: StudyResult) -> list[str]:
    """The best trial of each strategy, evaluated on test."""
    lines = ["", "## Best trial of each strategy", ""]
    lines += [
        "Each strategy's best trial by the stop objective, evaluated once on test.",
        "",
    ]
    learned = any("learned_weights" in s.evaluation.plan for s in result.strategies.values())
    lines += _table(
        [
            "strategy",
            "trial",
            "stop objective",
            *(f"test loss {h}" for h in result.heads),
            *(["weights at the best epoch"] if learned else []),
        ],
        [
            [name, s.trial_id, s.evaluation.objective]
            + [s.evaluation.test[h]["loss"] for h in result.heads]
            + ([_weights_cell(s.evaluation.plan)] if learned else [])
            for name, s in result.strategies.items()
        ],
    )
    return lines


def _weights_cell(plan: dict[str, Any]) -> str:
    """A strategy's learned or dynamic weights, one per head (``–`` if it has none)."""
    weights = plan.get("learned_weights")
    if not weights:
        return "–"
    return ", ".join(f"{h} {_fmt(w)}" for h, w in weights.items())


def _pareto_lines(result: StudyResult) -> list[str]:
    """The Pareto front's trials on the per-head stop losses."""
    lines = ["", "## Pareto front", ""]
    lines += [
        f"{len(result.pareto)} of {sum(t.ok for t in result.trials)} completed trials are "
        "Pareto-optimal on the per-head stop losses (no head can improve without another "
        f"getting worse); they are in `{PARETO_CSV}`.",
        "",
    ]
    front = [t for t in result.trials if t.trial_id in result.pareto]
    lines += _table(
        ["trial", "strategy", "objective", *(f"stop loss {h}" for h in result.heads)],
        [
            [
                t.trial_id + (" (best)" if t.trial_id == result.best_trial.trial_id else ""),
                t.strategy,
                t.objective,
                *(t.stop[h]["loss"] for h in result.heads),
            ]
            for t in front
        ],
    )
    return lines


def _trial_lines(result: StudyResult, image: Image) -> list[str]:
    """The best ten trials, the search's plots and the failed trials."""
    lines = ["", "## Trials", "", f"All trials are in `{TRIALS_CSV}`. The best ten:", ""]
    ranked = sorted(
        (t for t in result.trials if t.ok),
        key=lambda t: Direction(result.objective_direction).key(t.objective),  # type: ignore[arg-type]
    )[:10]
    heads = result.heads
    lines += _table(
        ["trial", "strategy", "objective", "epochs", *(f"stop loss {h}" for h in heads)],
        [
            [t.trial_id, t.strategy, t.objective, t.epochs, *(t.stop[h]["loss"] for h in heads)]
            for t in ranked
        ],
    )
    lines += image("objective", "objective over trials")
    lines += image("hyperparameters", "each searched hyperparameter against the objective")
    failed = [t for t in result.trials if not t.ok]
    if failed:
        lines += ["", "Failed trials:", ""]
        lines += [f"- `{t.trial_id}` ({t.status}): {t.message or 'no message'}" for t in failed]
    return lines


def _total_seconds(result: StudyResult) -> float:
    """The run's seconds, the report step included (as in the time split listed below it)."""
    split = result.time_split
    return sum(split.values()) if split else result.seconds


def _time_lines(result: StudyResult) -> list[str]:
    """The search's time split, as one list item (none for reports that predate it)."""
    split = result.time_split
    if not split:
        return []
    parts = ", ".join(f"{name.replace('_', ' ')} {sec:.1f} s" for name, sec in split.items())
    return [f"- Time: {parts}."]


def _replicate_lines(result: StudyResult) -> list[str]:
    summary = result.replicates or {}
    count = summary.get("count", 0)
    lines = [
        "",
        f"## Replicates ({count})",
        "",
        f"The best configuration and the baseline retrained {count} times with other seeds "
        "(and other data draws where the data are generated or the split shuffled). The ratio "
        "is baseline / best test loss; `{REPLICATES_NPZ}` holds every test prediction.".replace(
            "{REPLICATES_NPZ}", REPLICATES_NPZ
        ),
        "",
    ]
    for reason in summary.get("diverged", []):
        lines.append(f"- Left out, both configurations (the comparison is paired): {reason}.")
    for reason in summary.get("unusable", []):
        lines.append(f"- Left out, its own data draw fails a check: {reason}.")
    for reason in summary.get("failed", []):
        lines.append(f"- Left out, failed (resuming the search runs it again): {reason}.")
    rows = []
    for head, entry in summary.get("heads", {}).items():
        for key, stats in entry.items():
            ratios = [r for r in stats["ratios"] if isinstance(r, float) and math.isfinite(r)]
            rows.append(
                [
                    head + (" (clean)" if key == "loss_clean" else ""),
                    f"{number(stats['best']['mean'])} ± {number(stats['best']['std'], 2)}",
                    f"{number(stats['baseline']['mean'])} ± {number(stats['baseline']['std'], 2)}",
                    float(np.median(ratios)) if ratios else None,
                    f"{100 * stats['share_best_wins']:.0f} %",
                ]
            )
    lines += _table(
        ["head", "best test loss", "baseline test loss", "median ratio", "best wins"], rows
    )
    return lines


def _units_lines(study: dict[str, Any]) -> list[str]:
    """What the reported losses and metrics are measured in, given the heads' ``scale``."""
    scaled = {h: c.get("scale") for h, c in study["heads"].items() if c.get("scale") != "none"}
    if not scaled:
        return []
    logs = [h for h, kind in scaled.items() if kind == "log"]
    listed = ", ".join(f"{h} ({kind})" for h, kind in scaled.items())
    text = (
        f"Targets scaled for training (`scale`, fitted on train): {listed}. Every loss and "
        "metric is in the target's own units"
    )
    if logs:
        text += (
            f", except the loss of {', '.join(logs)} (`scale: log`): the loss of log(target), "
            "a different loss from the same loss on the target"
        )
    return [text + ".", ""]


def _model_lines(result: StudyResult) -> list[str]:
    """Where the recommended model is kept and how to use it."""
    stands = result.verdict is not None and result.verdict.stands
    which = "the equal-weights model" if stands else f"trial {result.best_trial.trial_id}'s model"
    return [
        "",
        "## The recommended model",
        "",
        f"`{BEST_MODEL}` is the recommendation's trained model, {which} at the study seed "
        "(outputs in the targets' units; "
        f"`keras.saving.load_model`), `{PREPROCESSING_JSON}` its fitted input and target "
        "preprocessing. Predict new rows with `mtltune predict RUN_DIR data.csv` or "
        "`mtltune.load_run(RUN_DIR).predict(table)`.",
    ]


def _plan_lines(plan: dict[str, Any]) -> list[str]:
    lines = [f"- strategy: {plan['strategy']}", f"- Adam epsilon: {_fmt(plan['epsilon'])}"]
    if "diverged" in plan:
        lines.append(f"- **diverged** (its losses are NaN): {plan['diverged']}")
    if "failed" in plan:
        lines.append(f"- **not scored** (its losses are NaN): {plan['failed']}")
    if "learning_rate" in plan:
        lines.append(f"- learning rate: {_fmt(plan['learning_rate'])}")
    if "learning_rates" in plan:
        rates = ", ".join(f"{h} {_fmt(r)}" for h, r in plan["learning_rates"].items())
        lines.append(f"- learning rate per head: {rates}")
    if "loss_weights" in plan:
        weights = ", ".join(f"{h} {_fmt(w)}" for h, w in plan["loss_weights"].items())
        lines.append(f"- loss weights (normalised to mean 1): {weights}")
    for name, value in (plan.get("settings") or {}).items():
        lines.append(f"- {name.replace('_', ' ')}: {_fmt(value)}")
    if "learned_weights" in plan:
        weights = ", ".join(f"{h} {_fmt(w)}" for h, w in plan["learned_weights"].items())
        what = LEARNED_WEIGHTS.get(plan["strategy"], "learned weights")
        lines.append(f"- {what} at the best epoch: {weights}")
    return lines


#: What each strategy's ``learned_weights`` are, in the report.
LEARNED_WEIGHTS = {
    "uncertainty": "learned weights exp(-s)",
    "dwa": "DWA's weights of the epoch (sum K)",
    "gradnorm": "GradNorm's learned weights (sum K)",
    "famo": "FAMO's weights K·softmax(ξ)",
}

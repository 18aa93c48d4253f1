"""Figures of a search's trials: the objective, the hyperparameters, the best trial's history.

Each function returns a matplotlib ``Figure`` (not saved: ``plots.draw_all`` writes them), so
what a figure shows can be read back from its axes. Every figure colours a strategy the same
way (``strategy_colours``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from mtltune.report.numbers import number
from mtltune.report.results import TrialRecord
from mtltune.study.direction import Direction
from mtltune.study.names import STOP_PREFIX, head_loss_key

#: Strategies in the order they take matplotlib's colours (C0, C1, ...); others follow by name.
STRATEGY_ORDER = (
    "weighted",
    "separate",
    "uncertainty",
    "geometric",
    "dwa",
    "gradnorm",
    "pcgrad",
    "famo",
)
#: The plan's values plotted in ``hyperparameters.png`` (searched names they come from).
_PLAN_HYPERPARAMETERS = ("strategy", "epsilon", "learning_rate", "loss_weight_")


def strategy_colours(strategies: Iterable[str]) -> dict[str, str]:
    """One colour per strategy, the same in every figure of every run."""
    names = [*STRATEGY_ORDER, *sorted(set(strategies) - set(STRATEGY_ORDER))]
    return {name: f"C{k % 10}" for k, name in enumerate(names)}


def trial_number(trial: TrialRecord, position: int) -> int:
    """The trial's number: its id (``"07"`` is 7), or its position if the id is not a number."""
    return int(trial.trial_id) if trial.trial_id.isdigit() else position


def plan_values(trial: TrialRecord) -> dict[str, float]:
    """What a trial trained with, as the report gives it (loss weights normalised to mean 1).

    Returns:
        ``{panel name: value}``: ``learning rate``, ``learning rate <head>``, ``loss weight
        <head>``, ``epsilon`` and any other numeric hyperparameter of the user's.
    """
    plan = trial.plan
    values: dict[str, float] = {}
    if "learning_rate" in plan:
        values["learning rate"] = float(plan["learning_rate"])
    values.update(
        {f"learning rate {h}": float(v) for h, v in plan.get("learning_rates", {}).items()}
    )
    values.update({f"loss weight {h}": float(v) for h, v in plan.get("loss_weights", {}).items()})
    if "epsilon" in plan:
        values["epsilon"] = float(plan["epsilon"])
    for name, value in trial.hyperparameters.items():
        own = name.startswith(_PLAN_HYPERPARAMETERS) or name.startswith("tuner/")
        if not own and isinstance(value, int | float) and not isinstance(value, bool):
            values[name] = float(value)
    return values


def objective_figure(trials: Sequence[TrialRecord], direction: Direction | str) -> Figure:
    """The objective of each completed trial against its number, coloured by strategy."""
    numbered = sorted(
        ((trial_number(t, k), t) for k, t in enumerate(trials)), key=lambda pair: pair[0]
    )
    done = [(n, t) for n, t in numbered if t.ok]
    colours = strategy_colours(t.strategy for t in trials)
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    for strategy in _in_order({t.strategy for _, t in done}):
        points = [(n, t.objective) for n, t in done if t.strategy == strategy]
        ax.scatter(*zip(*points, strict=True), color=colours[strategy], label=strategy, zorder=3)
    values = [float(t.objective) for _, t in done]  # type: ignore[arg-type]
    direction = Direction(direction)
    best = direction.running_best(values)
    ax.step([n for n, _ in done], best, where="post", color="black", label="best so far")
    failed = [n for n, t in numbered if not t.ok]
    if failed:  # along the bottom edge: they have no objective
        bottom = ax.get_xaxis_transform()
        ax.scatter(
            failed, [0.03] * len(failed), marker="x", color="grey", transform=bottom, label="failed"
        )
    _objective_axis(ax, values)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial (its id in trials.csv)")
    ax.set_ylabel(f"objective on the stop split ({direction.better_word} is better)")
    handles, labels = ax.get_legend_handles_labels()  # above the axes: it covers no point
    fig.legend(handles, labels, loc="upper center", ncols=len(labels), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    return fig


def hyperparameter_figure(
    trials: Sequence[TrialRecord], heads: Sequence[str] | None = None
) -> Figure:
    """Each value a trial trained with against its objective: one panel each, one legend.

    Panels come learning rates first, then loss weights, then epsilon, then the user's own
    hyperparameters; a head's panels in the study's order of ``heads`` (by name without it).
    """
    done = [(t, plan_values(t)) for t in trials if t.ok]
    order = _panel_order(list(heads or []))
    names = sorted({name for _, values in done for name in values}, key=order)
    colours = strategy_colours(t.strategy for t in trials)
    columns = max(1, min(3, len(names)))
    rows = max(1, math.ceil(len(names) / columns))
    fig = Figure(figsize=(4.2 * columns, 3.3 * rows + 0.5))
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        for strategy in _in_order({t.strategy for t, values in done if name in values}):
            points = [
                (v[name], t.objective) for t, v in done if t.strategy == strategy and name in v
            ]
            ax.scatter(*zip(*points, strict=True), color=colours[strategy], s=18)
        xs = [v[name] for _, v in done if name in v]
        if all(x > 0 for x in xs):
            _log_axis(ax, xs)
        _objective_axis(ax, [float(t.objective) for t, _ in done])  # type: ignore[arg-type]
        ax.set_xlabel(name + (" (normalised: mean 1)" if name.startswith("loss weight") else ""))
        ax.set_ylabel("objective")
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    shown = _in_order({t.strategy for t, _ in done})
    handles = [Line2D([], [], marker="o", linestyle="", color=colours[s]) for s in shown]
    fig.legend(handles, shown, loc="upper center", ncols=max(1, len(shown)), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()))
    return fig


def history_figure(
    history: Mapping[str, Sequence[float]], heads: Sequence[str], best_epoch: int | None
) -> Figure:
    """Training and stop loss of each head over the epochs; the epoch whose weights were kept."""
    columns = max(1, min(3, len(heads)))
    rows = max(1, math.ceil(len(heads) / columns))
    fig = Figure(figsize=(4.4 * columns, 3.4 * rows))
    axes = fig.subplots(rows, columns, squeeze=False)
    curves = {
        head: {
            label: list(history[key])
            for key, label in (
                (head_loss_key(head), "train"),
                (STOP_PREFIX + head_loss_key(head), "stop"),
            )
            if key in history
        }
        for head in heads
    }
    every = [v for lines in curves.values() for line in lines.values() for v in line]
    log = any(
        _spans_a_decade([v for line in lines.values() for v in line]) for lines in curves.values()
    )
    log = log and bool(every) and min(every) > 0  # one scale for every head
    for ax, head in zip(axes.flat, heads, strict=False):
        values = []
        for label, line in curves[head].items():
            ax.plot(range(1, len(line) + 1), line, label=label)
            values += line
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", linestyle="--", label=f"best epoch {best_epoch}")
        _objective_axis(ax, values, log=log)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(head)
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(heads) :]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def _in_order(strategies: set[str]) -> list[str]:
    order = list(strategy_colours(strategies))
    return sorted(set(strategies), key=order.index)


def _panel_order(heads: list[str]) -> Callable[[str], tuple[int, int, str]]:
    """Sort key of a panel: its kind, then its head's place in the study, then its name."""
    prefixes = ("learning rate", "loss weight", "epsilon")

    def key(name: str) -> tuple[int, int, str]:
        rank = next((k for k, p in enumerate(prefixes) if name.startswith(p)), len(prefixes))
        head = name.removeprefix(prefixes[rank] + " ") if rank < 2 else ""
        return rank, heads.index(head) if head in heads else len(heads), name

    return key


def _log_axis(ax: Axes, values: Sequence[float]) -> None:
    """A log axis over whole decades with a few labelled ticks (no crowded minor labels)."""
    low = math.floor(math.log10(min(values)))
    high = max(low + 1, math.ceil(math.log10(max(values))))
    ax.set_xscale("log")
    ax.set_xlim(10 ** (low - 0.05), 10 ** (high + 0.05))  # a value on a decade is not cut
    ax.xaxis.set_major_locator(LogLocator(base=10, numticks=5))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _spans_a_decade(values: Sequence[float]) -> bool:
    return bool(values) and min(values) > 0 and max(values) >= 10 * min(values)


def _objective_axis(ax: Axes, values: Sequence[float], log: bool | None = None) -> None:
    """A log y axis if ``log`` (default: if the values span a decade or more), else linear.

    Tick values are written plain (``0.01``, ``48,712``), as in the report's tables.
    """
    if log is None:
        log = _spans_a_decade(values)
    if log and values:
        ax.set_yscale("log")
        plain_log_ticks(ax.yaxis, min(values), max(values))
    else:
        ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: number(v)))


def plain_log_ticks(axis: Axis, low: float, high: float) -> None:
    """Plain tick labels on a log axis (``0.01``, not ``10⁻²``), enough of them to read it.

    Within less than 0.7 of a decade (where no decade tick may show) the ticks are evenly
    spaced values (``0.165, 0.17, 0.175``), so small differences can be read off the axis;
    within three decades at 1, 2 and 5 times a power of ten; beyond, at the decades.
    """
    decades = math.log10(high / low) if low > 0 and high > 0 else math.inf
    if decades < 0.7:
        axis.set_major_locator(MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]))
    elif decades < 3:
        axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda v, _: number(v, 3)))
    axis.set_minor_formatter(NullFormatter())

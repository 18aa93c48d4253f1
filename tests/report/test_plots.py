"""Plots: what each figure draws, read back from its matplotlib objects."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from mtltune.report import TrialRecord
from mtltune.report.plots import confusion_figure, figures, pareto_figure, ratio_figure
from mtltune.report.trialplots import (
    history_figure,
    hyperparameter_figure,
    objective_figure,
    strategy_colours,
)

COLOURS = strategy_colours(["weighted", "separate"])


def trial(number: int, strategy: str, objective: float | None, **plan: float) -> TrialRecord:
    """A trial as the report holds it: raw searched values, normalised plan."""
    if strategy == "weighted":
        raw = {"a": plan.pop("a", 1.0), "b": plan.pop("b", 1.0)}
        mean = sum(raw.values()) / 2
        hps = {"learning_rate": 1e-3, **{f"loss_weight_{h}": w for h, w in raw.items()}}
        trained = {"learning_rate": 1e-3, "loss_weights": {h: w / mean for h, w in raw.items()}}
    else:
        rates = {"a": 2e-4 * (1 + number), "b": 3e-3}
        hps = {f"learning_rate_{h}": r for h, r in rates.items()}
        trained = {"learning_rates": rates}
    status = "FAILED" if objective is None else "COMPLETED"
    return TrialRecord(
        trial_id=f"{number:02d}",
        status=status,
        strategy=strategy,
        hyperparameters={"strategy": strategy, "epsilon": 1e-5, **hps},
        plan={"strategy": strategy, "epsilon": 1e-5, **trained},
        objective=objective,
    )


TRIALS = [
    trial(0, "weighted", 0.5, a=10.0, b=30.0),
    trial(1, "separate", 0.4),
    trial(2, "weighted", 0.45, a=1.0, b=3.0),
    trial(3, "separate", None),
    trial(4, "separate", 0.3),
    trial(5, "weighted", 0.35, a=20.0, b=5.0),
]


def scatter_colours(ax) -> list[tuple[float, ...]]:
    """The colour of every scattered point of an axes."""
    return [tuple(c) for coll in ax.collections for c in coll.get_facecolor()]


def panel(fig: Figure, label: str):
    return next(ax for ax in fig.axes if ax.get_xlabel().startswith(label))


def test_a_run_draws_every_figure_and_the_report_shows_them(tiny_run) -> None:
    result, run_dir = tiny_run
    drawn = figures(result, run_dir)
    expected = {"objective", "hyperparameters", "pareto", "ratios", "history"} | {
        f"predictions_{h}" for h in result.heads
    }
    assert set(drawn) == expected
    assert {p.stem for p in (run_dir / "plots").glob("*.png")} == expected
    markdown = (run_dir / "report.md").read_text()
    assert all(f"(plots/{name}.png)" in markdown for name in expected)
    # history: one readable panel per head (not a strip), the restored epoch marked on each.
    history = drawn["history"]
    panels = [ax for ax in history.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == result.heads
    width, height = history.get_size_inches()
    for ax in panels:  # each panel at least 3 x 2.2 inches
        box = ax.get_position()
        assert box.width * width >= 3 and box.height * height >= 2.2
    best = result.best_trial.best_epoch
    for ax in panels:
        labels = [line.get_label() for line in ax.get_lines()]
        assert labels == ["train", "stop", f"best epoch {best}"]
        assert list(ax.get_lines()[-1].get_xdata()) == [best, best]


def test_hyperparameters_one_colour_per_strategy_one_legend_normalised_weights() -> None:
    fig = hyperparameter_figure(TRIALS)
    names = [ax.get_xlabel() for ax in fig.axes if ax.get_xlabel()]
    assert names == [
        "learning rate",
        "learning rate a",
        "learning rate b",
        "loss weight a (normalised: mean 1)",
        "loss weight b (normalised: mean 1)",
        "epsilon",
    ]
    # A panel only `weighted` trials reach is drawn in weighted's colour, not the cycle's first.
    for label, strategy in (("loss weight a", "weighted"), ("learning rate a", "separate")):
        assert set(scatter_colours(panel(fig, label))) == {to_rgba(COLOURS[strategy])}
    both = {to_rgba(COLOURS[s]) for s in ("weighted", "separate")}
    assert set(scatter_colours(panel(fig, "epsilon"))) == both
    # The weights the report gives (mean 1), not the raw searched ones (10 and 30).
    points = panel(fig, "loss weight a").collections[0].get_offsets()
    assert sorted(np.round(points[:, 0], 6)) == [0.5, 0.5, 1.6]
    assert [ax.get_legend() for ax in fig.axes] == [None] * len(fig.axes)
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["weighted", "separate"]
    assert [to_rgba(h.get_color()) for h in legend.legend_handles] == [
        to_rgba(COLOURS["weighted"]),
        to_rgba(COLOURS["separate"]),
    ]


def test_learning_rate_tick_labels_do_not_overlap() -> None:
    fig = hyperparameter_figure(TRIALS)
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    for ax in fig.axes:
        low, high = ax.get_xlim()
        shown = [
            label.get_window_extent(renderer)
            for label in ax.get_xticklabels(which="both")
            if label.get_text() and low <= label.get_position()[0] * (1 + 1e-9) <= high * (1 + 2e-9)
        ]
        assert len(shown) >= 2, ax.get_xlabel()
        for one, other in itertools.combinations(shown, 2):
            assert not one.overlaps(other), ax.get_xlabel()


def test_objective_plot_numbers_trials_by_their_id_and_colours_strategies() -> None:
    fig = objective_figure(TRIALS, "min")
    (ax,) = fig.axes
    by_strategy = {
        coll.get_label(): [int(x) for x, _ in coll.get_offsets()] for coll in ax.collections
    }
    assert by_strategy == {"weighted": [0, 2, 5], "separate": [1, 4], "failed": [3]}
    for coll in ax.collections[:2]:
        assert set(map(tuple, coll.get_facecolor())) == {to_rgba(COLOURS[coll.get_label()])}
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    (running,) = [line for line in ax.get_lines() if line.get_label() == "best so far"]
    assert list(running.get_ydata()) == [0.5, 0.4, 0.4, 0.3, 0.3]
    assert "trial" in ax.get_xlabel()


def test_history_marks_no_epoch_when_none_was_restored() -> None:
    history = {"loss_a": [3.0, 2.0], "val_loss_a": [3.5, 2.5]}
    fig = history_figure(history, ["a"], None)
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["train", "stop"]


def pareto_points(outlier: float) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(0)
    points = {
        f"{k:02d}": {h: float(v) for h, v in zip("abcde", rng.uniform(0.1, 0.3, 5), strict=True)}
        for k in range(12)
    }
    points["11"]["c"] = outlier
    return points


def test_pareto_an_outlier_does_not_flatten_the_others_and_the_best_stays_visible() -> None:
    fig = pareto_figure(pareto_points(1e6), front=["03", "07"], best="07", heads=list("abcde"))
    (ax,) = fig.axes
    lines = {line.get_color(): line for line in ax.get_lines() if line.get_color() == "red"}
    assert len(lines) == 1 and lines["red"].get_linewidth() > 2
    trials = [line for line in ax.get_lines() if len(line.get_xdata()) == 5]  # not head axes
    values = np.array([line.get_ydata() for line in trials])
    others = np.delete(values[:, 2], 11)  # head c without the outlier
    assert others.max() - others.min() > 0.8, "the other trials are squeezed together"
    assert values[11, 2] > 1.0  # the outlier: at the top edge
    assert ax.get_ylim()[0] <= values.min() and values.max() <= ax.get_ylim()[1]


def test_two_head_pareto_scatter_keeps_the_best_trial_inside_the_axes() -> None:
    points = {k: {h: v[h] for h in "ab"} for k, v in pareto_points(1.0).items()}
    points["11"]["a"] = 1e6
    fig = pareto_figure(points, front=["03"], best="05", heads=["a", "b"])
    (ax,) = fig.axes
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x1 < 10, "one outlier sets the x axis"
    star = ax.collections[-1]
    assert star.get_facecolor()[0].tolist() == list(to_rgba("red"))
    (x, y) = star.get_offsets()[0]
    assert (x, y) == pytest.approx((points["05"]["a"], points["05"]["b"]))
    assert x0 <= x <= x1 and y0 <= y <= y1
    assert [ax.get_xlabel(), ax.get_ylabel()] == ["stop loss a", "stop loss b"]


def test_confusion_matrix_and_replicate_ratios() -> None:
    y = np.array([0, 1, 2, 1])
    fig = confusion_figure("kind", y, np.eye(3)[[0, 1, 1, 1]], ["a", "b", "c"])
    (ax,) = fig.axes
    assert ax.images[0].get_array().tolist() == [[1, 0, 0], [0, 2, 0], [0, 1, 0]]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    fig = ratio_figure({"x": [1.0, 2.0, 0.5], "y": [1.5, 1.2, float("nan")]}, "ratios")
    (ax,) = fig.axes
    assert ax.get_yscale() == "log" and ax.get_title() == "ratios"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y"]

"""What the plots promise is what they draw: titles, legends, tick values, scales, text colours."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from mtltune.report import TrialRecord
from mtltune.report.plots import (
    confusion_figure,
    pareto_figure,
    ratio_figure,
    regression_figure,
)
from mtltune.report.trialplots import history_figure, hyperparameter_figure, objective_figure

HEADS = ["zeta", "alpha", "mid"]  # study order, not alphabetical


def drawn(fig: Figure) -> Figure:
    FigureCanvasAgg(fig).draw()
    return fig


def legend_labels(fig: Figure) -> list[str]:
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    return [text.get_text() for legend in legends for text in legend.get_texts()]


def tick_labels(axis) -> list[str]:
    """The labels of the ticks in view (matplotlib keeps some beyond it)."""
    low, high = sorted(axis.get_view_interval())
    ticks = [*axis.get_major_ticks(), *axis.get_minor_ticks()]
    return [
        t.label1.get_text() for t in ticks if low <= t.get_loc() <= high and t.label1.get_text()
    ]


def points(rng: np.random.Generator, n: int = 8) -> dict[str, dict[str, float]]:
    return {
        f"{k:02d}": {h: float(v) for h, v in zip(HEADS, rng.uniform(0.16, 0.19, 3), strict=True)}
        for k in range(n)
    }


def test_pareto_legend_names_only_what_is_drawn_and_axes_show_loss_values() -> None:
    rng = np.random.default_rng(1)
    cloud = points(rng)
    best = {h: 0.1 for h in HEADS}
    fig = drawn(pareto_figure({**cloud, "08": best}, front=["08"], best="08", heads=HEADS))
    (ax,) = fig.axes
    assert "orange" not in ax.get_title() and "red" not in ax.get_title()
    assert legend_labels(fig) == ["best trial", "other trials"]  # no orange line: no entry
    assert not any(line.get_color() == "tab:orange" for line in ax.get_lines())
    texts = [t.get_text() for t in ax.texts]
    assert "0.1" in texts, texts  # each head's axis labelled in its units, the best's value
    assert sum(text.startswith("0.1") for text in texts) == 3 * len(HEADS)

    fig = drawn(pareto_figure({**cloud, "08": best}, front=["03", "08"], best="08", heads=HEADS))
    assert legend_labels(fig) == ["best trial", "Pareto front", "other trials"]


def test_two_head_pareto_has_tick_values_on_a_narrow_range() -> None:
    rng = np.random.default_rng(2)
    two = {k: {h: v[h] for h in HEADS[:2]} for k, v in points(rng).items()}
    fig = drawn(pareto_figure(two, front=["01"], best="01", heads=HEADS[:2]))
    (ax,) = fig.axes
    assert ax.get_xscale() == ax.get_yscale() == "log"
    for axis in (ax.xaxis, ax.yaxis):
        labels = tick_labels(axis)
        assert len(labels) >= 2 and len(set(labels)) == len(labels), labels
        assert all(0.16 <= float(t) <= 0.19 for t in labels), labels  # plain, not 10^x


def test_confusion_matrix_numbers_are_light_on_dark_cells() -> None:
    y = np.array([0] * 50 + [1] * 5 + [2] * 5)
    fig = confusion_figure("kind", y, np.eye(3)[y], ["a", "b", "c"])
    (ax,) = fig.axes
    colours = {t.get_text(): to_rgba(t.get_color()) for t in ax.texts}
    assert colours["50"] == to_rgba("white")
    assert colours["5"] == colours["0"] == to_rgba("black")


def test_ratio_plot_legend_explains_the_mean_marker_and_ticks_read_plainly() -> None:
    fig = drawn(ratio_figure({"x": [0.9, 1.05, 1.1], "y": [1.0, 1.02, 0.95]}, "3 replicates"))
    (ax,) = fig.axes
    assert legend_labels(fig)[0] == "mean"
    (mean_handle,) = [h for h in ax.get_legend().legend_handles if h.get_label() == "mean"]
    means = [line for line in ax.get_lines() if line.get_marker() == mean_handle.get_marker()]
    assert len(means) == 2  # the legend's marker is the one drawn, per head
    assert "1" in tick_labels(ax.yaxis) and all("^" not in t for t in tick_labels(ax.yaxis))


def test_loss_weight_and_learning_rate_panels_follow_the_study_order() -> None:
    trials = [
        TrialRecord(
            f"{k}",
            "COMPLETED",
            "weighted",
            {},
            {
                "learning_rate": 1e-3 * (k + 1),
                "epsilon": 1e-7,
                "loss_weights": dict(zip(HEADS, (1.0 + k, 1.0, 1.0 - k / 10), strict=True)),
            },
            0.2 - k / 100,
        )
        for k in range(4)
    ]
    fig = hyperparameter_figure(trials, HEADS)
    labels = [ax.get_xlabel().removesuffix(" (normalised: mean 1)") for ax in fig.axes]
    assert [x for x in labels if x] == [
        "learning rate",
        *(f"loss weight {h}" for h in HEADS),
        "epsilon",
    ]


def test_history_uses_one_axis_scale_for_every_head() -> None:
    epochs = np.arange(1, 11)
    history = {
        "loss_zeta": list(1.0 / epochs**2),  # spans two decades
        "val_loss_zeta": list(1.2 / epochs**2),
        "loss_alpha": list(2.5 - 0.01 * epochs),  # nearly flat
        "val_loss_alpha": list(2.6 - 0.01 * epochs),
    }
    fig = drawn(history_figure(history, ["zeta", "alpha"], best_epoch=10))
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_yscale() for ax in axes] == ["log", "log"]
    assert len(tick_labels(axes[1].yaxis)) >= 2  # the flat head's axis still reads
    negative = {**history, "loss_alpha": list(-0.5 - 0.01 * epochs)}  # a log-likelihood loss
    fig = history_figure(negative, ["zeta", "alpha"], best_epoch=None)
    assert [ax.get_yscale() for ax in fig.axes if ax.get_title()] == ["linear", "linear"]


def test_log_scaled_target_is_drawn_on_log_axes_and_linear_ones_without_an_offset() -> None:
    rng = np.random.default_rng(3)
    x = rng.uniform(-1.7, 1.7, 200)
    price = np.exp(10.5 + 0.8 * x)
    fig = drawn(regression_figure("price", x[:, None], price, price * 1.01, None, log=True))
    (ax,) = fig.axes
    assert ax.get_yscale() == "log" and "100,000" in tick_labels(ax.yaxis)
    fig = drawn(regression_figure("price", None, price, price * 1.01, None, log=True))
    (ax,) = fig.axes
    assert ax.get_xscale() == ax.get_yscale() == "log"
    flat = 100_000 + 0.01 * x
    fig = drawn(regression_figure("offset", x[:, None], flat, flat, None))
    (ax,) = fig.axes
    assert ax.get_yscale() == "linear" and ax.yaxis.get_offset_text().get_text() == ""


def test_objective_legend_is_outside_the_axes_so_it_covers_no_point() -> None:
    trials = [
        TrialRecord(f"{k}", "COMPLETED", s, {}, {}, v)
        for k, (s, v) in enumerate([("weighted", 0.2), ("separate", 0.35), ("weighted", 0.18)])
    ]
    fig = drawn(objective_figure(trials, "min"))
    (ax,) = fig.axes
    assert ax.get_legend() is None and legend_labels(fig) == ["weighted", "separate", "best so far"]
    renderer = fig.canvas.get_renderer()
    legend_box = fig.legends[0].get_window_extent(renderer)
    assert not legend_box.overlaps(ax.get_window_extent(renderer))

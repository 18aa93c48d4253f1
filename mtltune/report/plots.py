"""Matplotlib figures of a run, written as PNG files (no display needed).

``figures(result, run_dir)`` draws every figure a run's files allow, as matplotlib ``Figure``
objects (so what each shows can be read back from its axes); ``draw_all`` writes them to
``plots/<name>.png``, which is how ``mtltune report`` redraws a finished run. The figures of
the trials (objective, hyperparameters, history) are in ``trialplots``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import ScalarFormatter

from mtltune.report.numbers import number
from mtltune.report.trialplots import (
    history_figure,
    hyperparameter_figure,
    objective_figure,
    plain_log_ticks,
)
from mtltune.run.folder import RunFolder

#: Tukey's outer fences: an axis spans the values within this many interquartile ranges of
#: the quartiles (on a log scale); values beyond ("far out") are drawn at its edge.
FENCE = 3.0


def _save(fig: Figure, name: str, run_dir: Path) -> Path:
    """Draw the PNG in memory, then write it through the run folder's gateway."""
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=110, format="png")
    return RunFolder(run_dir).write_plot(name, buffer.getvalue())


def ratio_figure(ratios: Mapping[str, Sequence[float]], title: str) -> Figure:
    """Box plot of the per-head baseline/best test-loss ratios across replicates (log scale)."""
    fig = Figure(figsize=(1.2 + 1.1 * len(ratios), 4))
    ax = fig.subplots()
    heads = list(ratios)
    data = [[r for r in ratios[h] if math.isfinite(r) and r > 0] for h in heads]
    mean = {"marker": "^", "markerfacecolor": "tab:green", "markeredgecolor": "tab:green"}
    ax.boxplot(data, showmeans=True, meanprops=mean, medianprops={"color": "tab:orange"})
    ax.set_xticks(range(1, len(heads) + 1), heads)
    ax.set_yscale("log")
    values = [r for column in data for r in column]
    if values:
        plain_log_ticks(ax.yaxis, min(values), max(values))
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    handles = [
        Line2D([], [], linestyle="", label="mean", **mean),
        Line2D([], [], color="tab:orange", label="median"),
        Line2D([], [], color="grey", linestyle="--", label="1: equal losses"),
    ]
    ax.legend(handles=handles, fontsize=7, loc="best")
    ax.set_ylabel("baseline / best test loss")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def robust_range(values: np.ndarray, keep: float | None = None) -> tuple[float, float]:
    """The span of the values within Tukey's fences (a box plot's whiskers), plus ``keep``."""
    q1, q3 = np.percentile(values, [25, 75])
    inside = values[(values >= q1 - FENCE * (q3 - q1)) & (values <= q3 + FENCE * (q3 - q1))]
    low, high = float(inside.min()), float(inside.max())
    if keep is not None:
        low, high = min(low, keep), max(high, keep)
    return (low, high) if high > low else (low - 0.5, high + 0.5)


def pareto_figure(
    points: Mapping[str, Mapping[str, float]], front: Sequence[str], best: str, heads: Sequence[str]
) -> Figure:
    """Per-head stop losses of the trials: a scatter for two heads, parallel coordinates else.

    Each head's (log) axis spans its trials within Tukey's fences and the best trial, so one
    outlying trial does not flatten the others; a trial beyond is drawn at the axis' edge.
    """
    ids = list(points)
    logs = np.log10(np.array([[points[i][h] for h in heads] for i in ids], dtype=float))
    ranges = [robust_range(column, _at(logs[:, k], ids, best)) for k, column in enumerate(logs.T)]
    colour = {i: _BEST if i == best else _FRONT if i in front else _OTHER for i in ids}
    if len(heads) == 2:
        fig = Figure(figsize=(5.5, 5))
        ax = fig.subplots()
        (x0, x1), (y0, y1) = (_padded(r) for r in ranges)
        x, y = np.clip(logs[:, 0], x0, x1), np.clip(logs[:, 1], y0, y1)
        beyond = (x != logs[:, 0]) | (y != logs[:, 1])
        for flag, marker in ((False, "o"), (True, ">")):
            rows = [k for k in range(len(ids)) if beyond[k] == flag and ids[k] != best]
            ax.scatter(
                10 ** x[rows], 10 ** y[rows], c=[colour[ids[k]] for k in rows], marker=marker
            )
        if best in points:
            k = ids.index(best)
            ax.scatter([10 ** x[k]], [10 ** y[k]], marker="*", s=220, color="red", zorder=4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(10**x0, 10**x1)
        ax.set_ylim(10**y0, 10**y1)
        plain_log_ticks(ax.xaxis, 10**x0, 10**x1)
        plain_log_ticks(ax.yaxis, 10**y0, 10**y1)
        ax.set_xlabel(f"stop loss {heads[0]}")
        ax.set_ylabel(f"stop loss {heads[1]}")
    else:
        fig = Figure(figsize=(1.8 + 1.3 * len(heads), 4.8))
        ax = fig.subplots()
        low, high = np.array(ranges).T
        scaled = np.clip((logs - low) / (high - low), -0.05, 1.05)
        for k, trial in enumerate(ids):
            on_top = {"linewidth": 2.5, "zorder": 4} if trial == best else {"alpha": 0.6}
            ax.plot(range(len(heads)), scaled[k], color=colour[trial], **on_top)
        ax.set_xticks(range(len(heads)), heads)
        ax.set_xlim(-0.5, len(heads) - 0.5)
        ax.set_ylim(-0.1, 1.1)
        ax.set_yticks([])
        _label_head_axes(ax, ranges)
        ax.set_ylabel("stop loss per head (log scale; beyond the axis: at its end)")
    ax.set_title(f"per-head stop losses of {len(ids)} trials")
    shown = [(c, label) for c, label in _LEGEND if c in colour.values()]
    handles = [Line2D([], [], color=c, marker="o", label=label) for c, label in shown]
    fig.legend(handles=handles, loc="upper center", ncols=len(handles), frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.4 / fig.get_figheight()))
    return fig


#: The Pareto figure's colours: the best trial, the other Pareto-front trials, the rest.
_BEST, _FRONT, _OTHER = "red", "tab:orange", "tab:blue"
_LEGEND = ((_BEST, "best trial"), (_FRONT, "Pareto front"), (_OTHER, "other trials"))


def _label_head_axes(ax: Axes, ranges: Sequence[tuple[float, float]]) -> None:
    """Each head's vertical axis of the parallel coordinates, labelled with its losses."""
    for k, (low_k, high_k) in enumerate(ranges):  # each head's axis, labelled in its units
        ax.axvline(k, color="grey", linewidth=0.8, zorder=1)
        for at in (0.0, 0.5, 1.0):
            value = 10 ** (low_k + at * (high_k - low_k))
            ax.text(
                k - 0.03,
                at,
                number(value, 3),
                ha="right",
                va="center",
                fontsize=7,
                zorder=5,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
            )


def _at(column: np.ndarray, ids: list[str], trial: str) -> float | None:
    return float(column[ids.index(trial)]) if trial in ids else None


def _padded(span: tuple[float, float]) -> tuple[float, float]:
    pad = 0.06 * (span[1] - span[0])
    return span[0] - pad, span[1] + pad


def regression_figure(
    head: str,
    x: np.ndarray | None,
    y: np.ndarray,
    prediction: np.ndarray,
    clean: np.ndarray | None,
    log: bool = False,
) -> Figure:
    """Prediction against the single input (with data and clean target), or against the truth.

    A log-scaled target (``scale: log``) is drawn on log axes; values are written plain (no
    offset such as ``+1e5`` over the axis).
    """
    fig = Figure(figsize=(5.5, 4))
    ax = fig.subplots()
    y, prediction = np.ravel(y), np.ravel(prediction)
    if x is not None:
        x = np.ravel(x)
        order = np.argsort(x)
        ax.scatter(x, y, s=4, alpha=0.3, color="grey", label="data")
        if clean is not None:
            ax.plot(x[order], np.ravel(clean)[order], color="black", label="clean target")
        ax.plot(x[order], prediction[order], color="tab:red", label="prediction")
        ax.set_xlabel("input (standardised)")
        ax.set_ylabel(head)
    else:
        ax.scatter(y, prediction, s=6, alpha=0.5)
        low, high = float(min(y.min(), prediction.min())), float(max(y.max(), prediction.max()))
        ax.plot([low, high], [low, high], color="grey", linestyle="--")
        ax.set_xlabel(f"true {head}")
        ax.set_ylabel(f"predicted {head}")
        if log and low > 0:
            ax.set_xscale("log")
            plain_log_ticks(ax.xaxis, low, high)
    if log and min(float(y.min()), float(prediction.min())) > 0:
        ax.set_yscale("log")
        plain_log_ticks(
            ax.yaxis, float(min(y.min(), prediction.min())), float(max(y.max(), prediction.max()))
        )
    for axis in (ax.xaxis, ax.yaxis):
        if isinstance(axis.get_major_formatter(), ScalarFormatter):
            axis.get_major_formatter().set_useOffset(False)
    ax.set_title(f"{head}: test split")
    if x is not None:
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def confusion_figure(
    head: str, y: np.ndarray, prediction: np.ndarray, classes: Sequence[Any]
) -> Figure:
    """Confusion matrix of a classification head on the test split."""
    prediction = np.asarray(prediction)
    if prediction.shape[-1] == 1:
        predicted = (prediction.ravel() >= 0.5).astype(int)
    else:
        predicted = prediction.argmax(axis=-1)
    truth = np.asarray(y).astype(int).ravel()
    k = len(classes)
    matrix = np.zeros((k, k), dtype=int)
    np.add.at(matrix, (truth, predicted), 1)
    fig = Figure(figsize=(1.8 + 0.7 * k, 1.5 + 0.7 * k))
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    for i in range(k):
        for j in range(k):
            dark = matrix[i, j] > matrix.max() / 2  # the darker half of the colour map
            colour = "white" if dark else "black"
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center", color=colour)
    labels = [str(c) for c in classes]
    ax.set_xticks(range(k), labels, rotation=30)
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{head}: test split")
    fig.tight_layout()
    return fig


def figures(result: Any, run_dir: Path) -> dict[str, Figure]:
    """Every figure of a run that its files allow.

    Args:
        result: The ``StudyResult``.
        run_dir: The run folder (``histories/``, ``predictions.npz``).

    Returns:
        Figures keyed ``objective``, ``hyperparameters``, ``pareto``, ``ratios``, ``history``
        and ``predictions_<head>`` (each only when the run has what it shows).
    """
    out: dict[str, Figure] = {}
    if any(t.ok for t in result.trials):
        out["objective"] = objective_figure(result.trials, result.objective_direction)
        out["hyperparameters"] = hyperparameter_figure(result.trials, result.heads)
        if len(result.heads) >= 2:
            out["pareto"] = _pareto(result)
    if result.replicates is not None and result.replicates["count"] > 0:
        # Against the noise-free target where a head has one (the reference experiment's view).
        stats = result.replicates["heads"]
        ratios = {h: e.get("loss_clean", e["loss"])["ratios"] for h, e in stats.items()}
        clean = any("loss_clean" in e for e in stats.values())
        title = f"{result.replicates['count']} replicates: baseline / best test loss"
        out["ratios"] = ratio_figure(ratios, title + (" (vs clean target)" if clean else ""))
    best = result.best_trial
    folder = RunFolder(run_dir)
    if (history := folder.read_history(best.trial_id)) is not None:
        out["history"] = history_figure(history, result.heads, best.best_epoch)
    if (arrays := folder.read_predictions()) is not None:
        out.update(_prediction_figures(result, arrays))
    return out


def draw_all(result: Any, run_dir: Path) -> dict[str, Path]:
    """Write every figure of ``figures`` to ``run_dir/plots/<name>.png``; returns the paths."""
    return {name: _save(fig, name, run_dir) for name, fig in figures(result, run_dir).items()}


def _pareto(result: Any) -> Figure:
    heads = result.heads
    log_heads = result.log_heads
    points = {
        t.trial_id: {
            h: math.exp(t.stop[h]["loss"]) if h in log_heads else t.stop[h]["loss"] for h in heads
        }
        for t in result.trials
        if t.ok
    }
    return pareto_figure(points, result.pareto, result.best_trial.trial_id, heads)


def _prediction_figures(result: Any, arrays: dict[str, np.ndarray]) -> dict[str, Figure]:
    study = result.study
    single = len(study["data"]["inputs"]) == 1 and arrays["x"].shape[1] == 1
    classes = result.data.get("classes", {})
    out: dict[str, Figure] = {}
    for head, config in study["heads"].items():
        y, best = arrays[f"y/{head}"], arrays[f"best/{head}"]
        if config["kind"] == "regression":
            x = arrays["x"] if single else None
            log = config.get("scale") == "log"
            fig = regression_figure(head, x, y, best, arrays.get(f"clean/{head}"), log=log)
        else:
            fig = confusion_figure(head, y, best, classes.get(head, []))
        out[f"predictions_{head}"] = fig
    return out

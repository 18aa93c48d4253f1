"""Matplotlib figures of a run, written as PNG files (no display needed).

Each function draws one figure from plain data (lists, dicts, numpy arrays) and returns the path
it wrote, so ``mtltune report`` can redraw them from a finished run's files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from mtltune.report.results import TrialRecord
from mtltune.run.files import HISTORIES, PLOTS, PREDICTIONS_NPZ


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def ratio_boxplot(ratios: Mapping[str, Sequence[float]], path: Path, title: str) -> Path:
    """Box plot of the per-head baseline/best test-loss ratios across replicates (log scale)."""
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(ratios), 4))
    heads = list(ratios)
    data = [[r for r in ratios[h] if math.isfinite(r) and r > 0] for h in heads]
    ax.boxplot(data, showmeans=True)
    ax.set_xticks(range(1, len(heads) + 1), heads)
    ax.set_yscale("log")
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_ylabel("baseline / best test loss")
    ax.set_title(title)
    return _save(fig, path)


def pareto_plot(
    points: Mapping[str, Mapping[str, float]],
    front: Sequence[str],
    best: str,
    heads: Sequence[str],
    path: Path,
) -> Path:
    """Per-head stop losses of the trials: a scatter for two heads, parallel coordinates else."""
    ids = list(points)
    on_front = [i in front for i in ids]
    if len(heads) == 2:
        fig, ax = plt.subplots(figsize=(5, 4.5))
        x = [points[i][heads[0]] for i in ids]
        y = [points[i][heads[1]] for i in ids]
        ax.scatter(x, y, c=["tab:orange" if f else "tab:blue" for f in on_front], s=25)
        if best in points:
            ax.scatter(
                [points[best][heads[0]]],
                [points[best][heads[1]]],
                marker="*",
                s=220,
                facecolors="none",
                edgecolors="red",
                label=f"best trial {best}",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"stop loss {heads[0]}")
        ax.set_ylabel(f"stop loss {heads[1]}")
        ax.legend(loc="upper right")
    else:
        fig, ax = plt.subplots(figsize=(1.5 + 1.2 * len(heads), 4.5))
        matrix = np.log10(np.array([[points[i][h] for h in heads] for i in ids], dtype=float))
        low, high = matrix.min(axis=0), matrix.max(axis=0)
        scaled = (matrix - low) / np.where(high > low, high - low, 1.0)
        for row, front_member, trial in zip(scaled, on_front, ids, strict=True):
            style = (
                {"color": "tab:orange", "alpha": 0.9}
                if front_member
                else {"color": "tab:blue", "alpha": 0.3}
            )
            if trial == best:
                style = {"color": "red", "linewidth": 2.5}
            ax.plot(range(len(heads)), row, **style)
        ax.set_xticks(range(len(heads)), heads)
        ax.set_ylabel("log stop loss, scaled per head (0 = lowest)")
    ax.set_title("Trials: Pareto front in orange, best trial in red")
    return _save(fig, path)


def objective_plot(trials: Sequence[TrialRecord], direction: str, path: Path) -> Path:
    """Objective of each trial in order, with the best so far."""
    done = [t for t in trials if t.ok]
    fig, ax = plt.subplots(figsize=(6, 4))
    values = [float(t.objective) for t in done]  # type: ignore[arg-type]
    best = np.minimum.accumulate(values) if direction == "min" else np.maximum.accumulate(values)
    ax.scatter(range(1, len(values) + 1), values, label="trial")
    ax.plot(range(1, len(values) + 1), best, color="tab:red", label="best so far")
    ax.set_yscale("log")
    ax.set_xlabel("completed trial")
    ax.set_ylabel("objective (stop split)")
    ax.legend()
    return _save(fig, path)


def hyperparameter_plot(trials: Sequence[TrialRecord], path: Path) -> Path:
    """Each numeric searched hyperparameter against the objective (log scales)."""
    done = [t for t in trials if t.ok]
    names = sorted(
        {
            k
            for t in done
            for k, v in t.hyperparameters.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and not k.startswith("tuner/")
        }
    )
    columns = max(1, min(3, len(names)))
    rows = max(1, math.ceil(len(names) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        pairs = [(t.hyperparameters[name], t.objective) for t in done if name in t.hyperparameters]
        strategies = [t.strategy for t in done if name in t.hyperparameters]
        for strategy in sorted(set(strategies)):
            xs = [p[0] for p, s in zip(pairs, strategies, strict=True) if s == strategy]
            ys = [p[1] for p, s in zip(pairs, strategies, strict=True) if s == strategy]
            ax.scatter(xs, ys, label=strategy, s=18)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel("objective")
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    if names:
        axes.flat[0].legend(fontsize=7)
    return _save(fig, path)


def history_plot(history: Mapping[str, Sequence[float]], heads: Sequence[str], path: Path) -> Path:
    """Training and stop loss of each head over the epochs of one trial."""
    fig, axes = plt.subplots(1, len(heads), figsize=(3.4 * len(heads), 3.2), squeeze=False)
    for ax, head in zip(axes.flat, heads, strict=True):
        for key, label in ((f"loss_{head}", "train"), (f"val_loss_{head}", "stop")):
            if key in history:
                ax.plot(range(1, len(history[key]) + 1), history[key], label=label)
        ax.set_title(head)
        ax.set_xlabel("epoch")
        if all(v > 0 for k in (f"loss_{head}",) for v in history.get(k, [1.0])):
            ax.set_yscale("log")
        ax.legend(fontsize=7)
    return _save(fig, path)


def regression_plot(
    head: str,
    x: np.ndarray | None,
    y: np.ndarray,
    prediction: np.ndarray,
    clean: np.ndarray | None,
    path: Path,
) -> Path:
    """Prediction against the single input (with data and clean target), or against the truth."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
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
    ax.set_title(f"{head}: test split")
    if x is not None:
        ax.legend(fontsize=7)
    return _save(fig, path)


def confusion_plot(
    head: str, y: np.ndarray, prediction: np.ndarray, classes: Sequence[Any], path: Path
) -> Path:
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
    fig, ax = plt.subplots(figsize=(1.8 + 0.7 * k, 1.5 + 0.7 * k))
    ax.imshow(matrix, cmap="Blues")
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(matrix[i, j]), ha="center", va="center")
    labels = [str(c) for c in classes]
    ax.set_xticks(range(k), labels, rotation=30)
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{head}: test split")
    return _save(fig, path)


def draw_all(result: Any, run_dir: Path) -> dict[str, Path]:
    """Every plot of a run that its files allow, under ``run_dir/plots``.

    Args:
        result: The ``StudyResult``.
        run_dir: The run folder (``histories/``, ``predictions.npz``).

    Returns:
        Written paths keyed ``ratios``, ``pareto``, ``objective``, ``hyperparameters``,
        ``history`` and ``predictions_<head>``.
    """
    import json

    out_dir = run_dir / PLOTS
    heads = result.heads
    plots: dict[str, Path] = {}
    done = [t for t in result.trials if t.ok]
    if done:
        plots["objective"] = objective_plot(
            result.trials, result.objective_direction, out_dir / "objective.png"
        )
        plots["hyperparameters"] = hyperparameter_plot(
            result.trials, out_dir / "hyperparameters.png"
        )
    if len(heads) >= 2 and done:
        points = {t.trial_id: {h: t.stop[h]["loss"] for h in heads} for t in done}
        log_heads = {h for h, c in result.study["heads"].items() if c.get("loss_scale") == "log"}
        points = {
            i: {h: math.exp(v) if h in log_heads else v for h, v in p.items()}
            for i, p in points.items()
        }
        plots["pareto"] = pareto_plot(
            points, result.pareto, result.best_trial.trial_id, heads, out_dir / "pareto.png"
        )
    if result.replicates is not None:
        # Against the noise-free target where a head has one (the reference experiment's view).
        heads_stats = result.replicates["heads"]
        ratios = {h: e.get("loss_clean", e["loss"])["ratios"] for h, e in heads_stats.items()}
        clean = any("loss_clean" in e for e in heads_stats.values())
        plots["ratios"] = ratio_boxplot(
            ratios,
            out_dir / "ratios.png",
            f"{result.replicates['count']} replicates: baseline / best test loss"
            + (" (vs clean target)" if clean else ""),
        )
    history_file = run_dir / HISTORIES / f"{result.best_trial.trial_id}.json"
    if history_file.exists():
        plots["history"] = history_plot(
            json.loads(history_file.read_text()), heads, out_dir / "history.png"
        )
    predictions_file = run_dir / PREDICTIONS_NPZ
    if predictions_file.exists():
        plots.update(prediction_plots(result, np.load(predictions_file), out_dir))
    return plots


def prediction_plots(result: Any, arrays: Any, out_dir: Path) -> dict[str, Path]:
    """Each head's test predictions of the best model, keyed ``predictions_<head>``.

    Args:
        result: The ``StudyResult``.
        arrays: The contents of ``predictions.npz``.
        out_dir: Where the images go.
    """
    plots: dict[str, Path] = {}
    study = result.study
    single = len(study["data"]["inputs"]) == 1 and arrays["x"].shape[1] == 1
    classes = result.data.get("classes", {})
    for head, config in study["heads"].items():
        path = out_dir / f"predictions_{head}.png"
        if config["kind"] == "regression":
            clean = arrays.get(f"clean/{head}")
            plots[f"predictions_{head}"] = regression_plot(
                head,
                arrays["x"] if single else None,
                arrays[f"y/{head}"],
                arrays[f"best/{head}"],
                clean,
                path,
            )
        else:
            plots[f"predictions_{head}"] = confusion_plot(
                head,
                arrays[f"y/{head}"],
                arrays[f"best/{head}"],
                classes.get(head, []),
                path,
            )
    return plots

"""Plots: every figure of a tiny run is written and non-empty; the drawing functions."""

from __future__ import annotations

import numpy as np

from mtltune.report.plots import confusion_plot, pareto_plot, ratio_boxplot


def test_a_run_writes_every_plot(tiny_run) -> None:
    result, run_dir = tiny_run
    expected = {"objective", "hyperparameters", "pareto", "ratios", "history"} | {
        f"predictions_{h}" for h in result.heads
    }
    written = {p.stem for p in (run_dir / "plots").glob("*.png")}
    assert written == expected
    for path in (run_dir / "plots").glob("*.png"):
        assert path.stat().st_size > 5_000
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (run_dir / "report.md").read_text()
    for name in expected:
        assert f"(plots/{name}.png)" in markdown


def test_two_head_pareto_scatter_and_confusion_matrix(tmp_path) -> None:
    points = {"a": {"x": 1.0, "y": 2.0}, "b": {"x": 2.0, "y": 1.0}, "c": {"x": 3.0, "y": 3.0}}
    path = pareto_plot(points, ["a", "b"], "a", ["x", "y"], tmp_path / "pareto.png")
    assert path.stat().st_size > 5_000
    y = np.array([0, 1, 2, 1])
    probabilities = np.eye(3)[[0, 1, 1, 1]]
    path = confusion_plot("kind", y, probabilities, ["a", "b", "c"], tmp_path / "cm.png")
    assert path.stat().st_size > 5_000
    path = ratio_boxplot({"x": [1.0, 2.0, 0.5]}, tmp_path / "box.png", "ratios")
    assert path.stat().st_size > 5_000

"""Heavy tails: when a handful of test rows decide a head's squared-error loss.

On a price-like target a few rows can carry most of the squared error: one configuration can
have the better mean absolute error on every seed and still a worse mean squared error. The
report says so beside the head, with the ratio of the robust metric (mean absolute error).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

#: The share of the rows called "the worst rows".
WORST = 0.01
#: Flag a head when its worst rows carry more than this share of its squared error.
DOMINANT = 0.5
#: Fewer test rows than this say nothing about tails.
MIN_ROWS = 20
#: Losses whose per-row value is the squared error.
SQUARED = {"mse", "mean_squared_error"}


def heavy_tails(
    arrays: Mapping[str, np.ndarray], heads: Mapping[str, Any], role: str
) -> dict[str, dict[str, float]]:
    """Regression heads whose worst 1 % of test rows carry over half of the squared error.

    Args:
        arrays: ``test_arrays``: ``y/<head>``, ``best/<head>`` and ``baseline/<head>`` in the
            targets' units.
        heads: The study's heads (``kind``, ``loss``).
        role: The model whose errors are judged (``best`` or ``baseline``: the recommended one).

    Returns:
        Per flagged head: ``share`` (of the squared error carried by the worst 1 % of rows),
        ``rows`` (how many rows that is) and ``mae_ratio`` (baseline / best mean absolute error,
        the robust comparison; absent without both models).
    """
    out: dict[str, dict[str, float]] = {}
    for head, config in heads.items():
        loss = str(getattr(config, "loss", None) or "mse")
        if getattr(config, "kind", "regression") != "regression" or loss not in SQUARED:
            continue
        y, predicted = arrays.get(f"y/{head}"), arrays.get(f"{role}/{head}")
        if y is None or predicted is None:
            continue
        errors = np.square(np.ravel(y).astype(float) - np.ravel(predicted).astype(float))
        errors = errors[np.isfinite(errors)]
        total = float(errors.sum())
        if len(errors) < MIN_ROWS or total <= 0:
            continue
        worst = max(1, math.ceil(WORST * len(errors)))
        share = float(np.sort(errors)[-worst:].sum()) / total
        if share <= DOMINANT:
            continue
        entry = {"share": share, "rows": float(worst)}
        best, base = arrays.get(f"best/{head}"), arrays.get(f"baseline/{head}")
        if best is not None and base is not None:
            mae_best = float(np.mean(np.abs(np.ravel(y) - np.ravel(best))))
            mae_base = float(np.mean(np.abs(np.ravel(y) - np.ravel(base))))
            if mae_best > 0:
                entry["mae_ratio"] = mae_base / mae_best
        out[head] = entry
    return out


def tail_note(head: str, entry: Mapping[str, float]) -> str:
    """One sentence for the report beside a flagged head."""
    text = (
        f"`{head}`: the worst {int(entry['rows'])} test row(s) (1 %) carry "
        f"{entry['share'] * 100:.0f} % of its squared error, so its test loss is decided by a "
        "few rows"
    )
    if "mae_ratio" in entry:
        ratio = entry["mae_ratio"]
        text += f"; on the mean absolute error the ratio equal weights / best is {ratio:.3g}"
    return text + ". Consider `scale: log` or a robust loss (`huber`, `mae`) for this head."

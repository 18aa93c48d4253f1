"""The Pareto front of the trials: no head can improve without another getting worse.

Weights trade one head against another; the front shows every trade a search found, from each
completed trial's per-head stop losses (lower is better).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether ``a`` is at least as good as ``b`` on every head and better on one."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(
        x < y for x, y in zip(a, b, strict=True)
    )


def pareto_front(points: Mapping[str, Mapping[str, float]], heads: Sequence[str]) -> list[str]:
    """Ids of the non-dominated points, in the given order.

    Args:
        points: Per trial id, the per-head losses (lower is better). Points with a missing or
            non-finite loss are left out.
        heads: The heads to compare on.

    Returns:
        The ids of the points no other point dominates. Identical points do not dominate each
        other, so ties are all kept; with one head the front is the minimum (and its ties).
    """
    vectors = {
        key: [float(values[h]) for h in heads]
        for key, values in points.items()
        if all(h in values and math.isfinite(float(values[h])) for h in heads)
    }
    return [
        key
        for key, vector in vectors.items()
        if not any(dominates(other, vector) for o, other in vectors.items() if o != key)
    ]

"""Compare two run folders' ``report.json`` number by number (times and paths left out).

Used to show that a change keeps a bundled study's results (issue 27: fused heads change the
order of floating-point sums, nothing else)::

    mtltune search studies/reg_class.yaml --set search.max_trials=6 --out before/reg_class
    # ... the same command on the changed code, --out after/reg_class
    python benchmarks/compare_runs.py before/reg_class after/reg_class

Prints how many numbers the two reports hold, how many are equal bit for bit, the largest
relative difference and where it is, and whether the verdict lines agree.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Keys whose values are times, not results (a whole subtree for ``time_split``).
SKIPPED = {"seconds", "oracle_seconds", "time_split"}


def numbers(value: Any, path: str = "") -> Iterator[tuple[str, float]]:
    """Every number in a JSON value, with its key path."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in SKIPPED:
                continue
            yield from numbers(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from numbers(item, f"{path}[{i}]")
    elif isinstance(value, bool):
        return
    elif isinstance(value, (int, float)):
        yield path, float(value)


def compare(before: Path, after: Path) -> dict[str, Any]:
    """The comparison of two runs' reports."""
    a = json.loads((before / "report.json").read_text())
    b = json.loads((after / "report.json").read_text())
    left, right = dict(numbers(a)), dict(numbers(b))
    common = sorted(set(left) & set(right))
    equal = sum(
        1 for k in common if left[k] == right[k] or (math.isnan(left[k]) and math.isnan(right[k]))
    )
    worst, where = 0.0, ""
    for key in common:
        x, y = left[key], right[key]
        if x == y or (math.isnan(x) and math.isnan(y)):
            continue
        rel = abs(x - y) / max(abs(x), abs(y), 1e-300)
        if rel > worst:
            worst, where = rel, key
    return {
        "numbers": len(common),
        "only_before": len(set(left) - set(right)),
        "only_after": len(set(right) - set(left)),
        "equal": equal,
        "largest_relative_difference": worst,
        "where": where,
        "verdict_before": (a.get("verdict") or {}).get("line"),
        "verdict_after": (b.get("verdict") or {}).get("line"),
        "trials": [
            {
                "trial": x.get("trial_id"),
                "strategy": x.get("strategy"),
                "objective": [x.get("objective"), y.get("objective")],
                "epochs": [x.get("epochs"), y.get("epochs")],
            }
            for x, y in zip(a.get("trial_records", []), b.get("trial_records", []), strict=False)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    args = parser.parse_args()
    print(json.dumps(compare(args.before, args.after), indent=1))


if __name__ == "__main__":
    main()

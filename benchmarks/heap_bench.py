"""The garbage collector's share of a search, with and without ``mtltune.run.heap`` (issue 23).

Runs ``mtltune search`` on a bundled study as a user does, each run in a fresh process, in
turn: as shipped (``on``: the heap alive at the run's start frozen for the run, the collector
paused while TensorFlow is imported) and with both turned off in that process (``off``: every
collection walks the whole heap, as before). Prints, per way, the wall seconds of the whole
command and the seconds the collector ran (``gc.callbacks``), with their medians and ranges,
and the ratio of the medians (on / off). The run folder's ``trials.csv`` must be the same both
ways (the collector does not touch what a search computes): checked on every pair.

Run: python benchmarks/heap_bench.py [--study studies/hetero_sine.yaml] [--repeats 3]
     [--set search.max_trials=5 ...]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: What the child runs: argv[1] is "on" or "off", argv[2] the file for its figures, the rest
#: ``mtltune search``'s arguments.
CHILD = r"""
import contextlib, gc, json, sys, time
way, figures, args = sys.argv[1], sys.argv[2], sys.argv[3:]
if way == "off":
    import mtltune.run.heap as heap
    heap.frozen_heap = contextlib.nullcontext
    heap.freeze_survivors = lambda: None
    heap.gc_paused = contextlib.nullcontext
spent = {"seconds": 0.0, "collections": 0, "full": 0}
started = [0.0]
def clock(phase, info):
    if phase == "start":
        started[0] = time.perf_counter()
    else:
        spent["seconds"] += time.perf_counter() - started[0]
        spent["collections"] += 1
        spent["full"] += info["generation"] == 2
gc.callbacks.append(clock)
from mtltune.cli import main
sys.argv = ["mtltune", "search", *args]
try:
    main()
finally:
    with open(figures, "w") as f:
        json.dump(spent, f)
"""


def run_once(way: str, study: str, sets: list[str]) -> tuple[float, dict, str]:
    """One ``mtltune search`` in a fresh process; (wall seconds, collector figures, trials.csv)."""
    with tempfile.TemporaryDirectory() as folder:
        figures = Path(folder) / "gc.json"
        command = [sys.executable, "-c", CHILD, way, str(figures), study, "--out", f"{folder}/run"]
        for value in sets:
            command += ["--set", value]
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
        seconds = time.perf_counter() - start
        trials = (Path(folder) / "run" / "trials.csv").read_text()
        return seconds, json.loads(figures.read_text()), trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="studies/hetero_sine.yaml")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--set", dest="sets", action="append", default=[])
    args = parser.parse_args()
    runs: dict[str, list[tuple[float, dict]]] = {"on": [], "off": []}
    for _ in range(args.repeats):
        trials = {}
        for way in ("off", "on"):
            seconds, spent, trials[way] = run_once(way, args.study, args.sets)
            runs[way].append((seconds, spent))
        # Seconds per trial differ; everything else in trials.csv must not.
        same = [_without_seconds(text) for text in trials.values()]
        assert same[0] == same[1], "the trials differ with the heap frozen and without"
    sets = " ".join(f"--set {s}" for s in args.sets)
    print(f"## heap: mtltune search {args.study} {sets}, {args.repeats} pair(s), fresh processes")
    medians = {}
    for way, done in runs.items():
        walls = [w for w, _ in done]
        collected = [s["seconds"] for _, s in done]
        full = [s["full"] for _, s in done]
        medians[way] = (statistics.median(walls), statistics.median(collected))
        print(
            f"{way:3s}: command {medians[way][0]:.1f} s ({min(walls):.1f}–{max(walls):.1f}), "
            f"collector {medians[way][1]:.1f} s ({min(collected):.1f}–{max(collected):.1f}), "
            f"full collections {statistics.median(full):.0f}"
        )
    print(
        f"on / off (medians): command {medians['on'][0] / medians['off'][0]:.2f}, "
        f"collector {medians['on'][1] / medians['off'][1]:.2f}; trials.csv the same in every pair"
    )


def _without_seconds(text: str) -> list[list[str]]:
    """trials.csv without its time columns."""
    lines = list(csv.reader(io.StringIO(text)))
    keep = [i for i, name in enumerate(lines[0]) if "seconds" not in name]
    return [[row[i] for i in keep] for row in lines]


if __name__ == "__main__":
    main()

"""The garbage collector's share of a search, with and without ``mtltune.run.heap`` (issue 23).

Two searches, each run in a fresh process, in turn: as shipped (``on``: the heap alive at the
search's start frozen for it, the collector paused while TensorFlow is imported) and with both
turned off in that process (``off``: every collection walks the whole heap):

- ``cli``: ``mtltune search`` on a bundled study as a user runs it. Its run folder's
  ``trials.csv`` must be the same both ways (checked on every pair).
- ``library``: a user's own Keras Tuner search, ``mtltune.TPETuner`` on a ``MultiTaskHyperModel``
  of a two-head functional model, outside ``recycling()`` (Keras Tuner and Keras'
  ``clear_session`` collect twice per trial).
- ``imports``: the CPU seconds of ``import mtltune.search`` in a fresh process, plain, with the
  collector paused (``gc_paused``), and as ``mtltune search`` does it (``lean_imports``: paused,
  and the packages a non-Bayesian search never uses hidden), in turn.

For the two searches it prints, per way, the wall seconds of the whole process and the
seconds the collector ran (``gc.callbacks``), with their medians and ranges, and the ratio
of the medians (on / off). ``off`` is no freeze at all; before issue 23 a study's search
froze the heap inside its recycling blocks already, so ``cli``'s ``off`` is not the code
before (compare that with ``farm-bench`` against an older checkout, as benchmarks/RESULTS.md
does).

Run: python benchmarks/heap_bench.py [--parts cli,library,imports]
     [--study studies/hetero_sine.yaml] [--repeats 3] [--trials 12] [--set search.max_trials=5 ...]
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
try:
    if args[0] == "--library":
        library_search(int(args[1]), args[2])
    else:
        from mtltune.cli import main
        sys.argv = ["mtltune", "search", *args]
        main()
finally:
    with open(figures, "w") as f:
        json.dump(spent, f)
"""

#: A user's own search (prepended to ``CHILD`` for the ``library`` part).
LIBRARY = r"""
def library_search(trials, folder):
    import keras
    import numpy as np
    from mtltune import MultiTaskHyperModel, TPETuner

    def build(hp):
        inputs = keras.Input((3,))
        hidden = keras.layers.Dense(hp.Int("units", 8, 32, step=8), activation="relu")(inputs)
        outputs = {
            "a": keras.layers.Dense(1, name="a")(hidden),
            "b": keras.layers.Dense(1, activation="sigmoid", name="b")(hidden),
        }
        return keras.Model(inputs, outputs)

    def data(n, seed):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(n, 3)).astype("float32")
        return x, {"a": x[:, :1] * 3.0, "b": (x[:, 1:2] > 0).astype("float32")}

    hypermodel = MultiTaskHyperModel(
        build, heads={"a": {}, "b": {"kind": "binary"}}, training={"max_epochs": 3, "patience": 2}
    )
    tuner = TPETuner(hypermodel, objective=hypermodel.tuner_objective, max_trials=trials,
                     seed=1, directory=folder, project_name="mine")
    (x, y), (xv, yv) = data(512, 0), data(256, 1)
    tuner.search(x, y, validation_data=(xv, yv), verbose=0)
"""


def run_once(way: str, args: list[str]) -> tuple[float, dict, str]:
    """One search in a fresh process; (wall seconds, collector figures, trials.csv or "")."""
    with tempfile.TemporaryDirectory() as folder:
        figures = Path(folder) / "gc.json"
        args = [a.replace("{folder}", folder) for a in args]
        command = [sys.executable, "-c", LIBRARY + CHILD, way, str(figures), *args]
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, cwd=ROOT)
        seconds = time.perf_counter() - start
        csv = Path(folder) / "run" / "trials.csv"
        return seconds, json.loads(figures.read_text()), csv.read_text() if csv.exists() else ""


#: ``import mtltune.search`` three ways; prints the process's CPU seconds.
IMPORTS = r"""
import resource, sys
way = sys.argv[1]
if way == "plain":
    import mtltune.search
else:
    from mtltune.run.heap import gc_paused
    from mtltune.run.imports import lean_imports, unused_packages
    with gc_paused() if way == "paused" else lean_imports(unused_packages("tpe")):
        import mtltune.search
usage = resource.getrusage(resource.RUSAGE_SELF)
print(usage.ru_utime + usage.ru_stime)
"""


def bench_imports(repeats: int) -> None:
    """CPU seconds of ``import mtltune.search`` plain, paused and lean, in turn."""
    ways = ("plain", "paused", "lean")
    cpu: dict[str, list[float]] = {way: [] for way in ways}
    for _ in range(repeats):
        for way in ways:
            done = subprocess.run(
                [sys.executable, "-c", IMPORTS, way], capture_output=True, text=True, check=True
            )
            cpu[way].append(float(done.stdout.split()[-1]))
    print(f"## heap, imports: import mtltune.search, {repeats} round(s), fresh processes")
    medians = {way: statistics.median(values) for way, values in cpu.items()}
    for way, values in cpu.items():
        print(f"{way:6s}: CPU {medians[way]:.2f} s ({min(values):.2f}–{max(values):.2f})")
    print(
        f"paused / plain {medians['paused'] / medians['plain']:.2f}, "
        f"lean / paused {medians['lean'] / medians['paused']:.2f}, "
        f"lean / plain {medians['lean'] / medians['plain']:.2f} (medians)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="cli,library,imports")
    parser.add_argument("--study", default="studies/hetero_sine.yaml")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trials", type=int, default=12, help="library part's trials")
    parser.add_argument("--set", dest="sets", action="append", default=[])
    args = parser.parse_args()
    parts = {
        "cli": (
            f"mtltune search {args.study} " + " ".join(f"--set {s}" for s in args.sets),
            [args.study, "--out", "{folder}/run", *(a for s in args.sets for a in ("--set", s))],
        ),
        "library": (
            f"a user's TPETuner search, {args.trials} trials",
            ["--library", str(args.trials), "{folder}"],
        ),
    }
    for part in args.parts.split(","):
        if part == "imports":
            bench_imports(max(args.repeats, 6))
            continue
        title, child_args = parts[part]
        compare(part, title, child_args, args.repeats)


def compare(part: str, title: str, child_args: list[str], repeats: int) -> None:
    """Run the part ``repeats`` times each way, in turn, and print the figures."""
    runs: dict[str, list[tuple[float, dict]]] = {"on": [], "off": []}
    for _ in range(repeats):
        trials = {}
        for way in ("off", "on"):
            seconds, spent, trials[way] = run_once(way, child_args)
            runs[way].append((seconds, spent))
        # Seconds per trial differ; everything else in trials.csv must not.
        same = [_without_seconds(text) for text in trials.values()]
        assert same[0] == same[1], "the trials differ with the heap frozen and without"
    print(f"## heap, {part}: {title}; {repeats} pair(s), fresh processes")
    medians = {}
    for way, done in runs.items():
        walls = [w for w, _ in done]
        collected = [s["seconds"] for _, s in done]
        full = [s["full"] for _, s in done]
        medians[way] = (statistics.median(walls), statistics.median(collected))
        print(
            f"{way:3s}: process {medians[way][0]:.1f} s ({min(walls):.1f}–{max(walls):.1f}), "
            f"collector {medians[way][1]:.1f} s ({min(collected):.1f}–{max(collected):.1f}), "
            f"full collections {statistics.median(full):.0f}"
        )
    print(
        f"on / off (medians): process {medians['on'][0] / medians['off'][0]:.2f}, "
        f"collector {medians['on'][1] / medians['off'][1]:.2f}"
    )


def _without_seconds(text: str) -> list[list[str]]:
    """trials.csv without its time columns."""
    if not text:
        return []
    lines = list(csv.reader(io.StringIO(text)))
    keep = [i for i, name in enumerate(lines[0]) if "seconds" not in name]
    return [[row[i] for i in keep] for row in lines]


if __name__ == "__main__":
    main()

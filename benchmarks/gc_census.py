"""Where a test-suite run spends its garbage collection: every process's collector seconds.

Runs the suite (``python -m pytest -q`` and any further arguments) with a ``sitecustomize`` on
``PYTHONPATH`` that times Python's collector with ``gc.callbacks`` in every Python process the
suite starts (the pytest-xdist test processes, the ``mtltune`` commands, workers...; a process
killed with SIGKILL reports nothing), then prints per process its CPU seconds, its collector
seconds and how many full (generation 2) collections it ran, the test processes first.

Run: python benchmarks/gc_census.py [PYTEST ARGS ...]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SITECUSTOMIZE = r"""
import atexit, gc, json, os, sys, time
_spent = {"seconds": 0.0, "full": 0, "full_seconds": 0.0, "start": 0.0}
def _clock(phase, info):
    if phase == "start":
        _spent["start"] = time.perf_counter()
        return
    took = time.perf_counter() - _spent["start"]
    _spent["seconds"] += took
    if info["generation"] == 2:
        _spent["full"] += 1
        _spent["full_seconds"] += took
gc.callbacks.append(_clock)
def _report():
    times = os.times()
    with open(os.environ["GC_CENSUS_FILE"], "a") as f:
        f.write(json.dumps({"argv": sys.argv[:3], "cpu": times.user + times.system,
                            "tensorflow": "tensorflow" in sys.modules,
                            "pytest": "_pytest" in sys.modules, **_spent}) + "\n")
atexit.register(_report)
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "sitecustomize.py").write_text(SITECUSTOMIZE)
        census = Path(folder) / "census.jsonl"
        path = os.pathsep.join(p for p in (folder, os.environ.get("PYTHONPATH")) if p)
        env = {**os.environ, "PYTHONPATH": path, "GC_CENSUS_FILE": str(census)}
        subprocess.run([sys.executable, "-m", "pytest", "-q", *sys.argv[1:]], env=env)
        rows = [json.loads(line) for line in census.read_text().splitlines()]
    tests = [r for r in rows if r["argv"] == ["-c"] and r["pytest"]]  # pytest-xdist's workers
    children = [r for r in rows if not r["pytest"] and r["tensorflow"]]
    print("## gc census: test processes")
    for r in tests:
        mean = r["full_seconds"] / max(r["full"], 1)
        print(
            f"CPU {r['cpu']:.1f} s, collector {r['seconds']:.1f} s, {r['full']} full "
            f"collections ({mean:.2f} s each)"
        )
    collector = sum(r["seconds"] for r in children)
    cpu = sum(r["cpu"] for r in children)
    print(
        f"## {len(children)} child processes with TensorFlow (not killed): CPU {cpu:.1f} s, "
        f"collector {collector:.1f} s"
    )


if __name__ == "__main__":
    main()

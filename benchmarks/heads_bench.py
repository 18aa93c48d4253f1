"""Issue 27's ``heads`` part: seconds per epoch against the number of heads, and the search.

``steps``: for K = 2, 5, 10, 20, 50 heads on ``builtin:phase_sine`` (20,000 rows, half of them
training rows, trunk 3 × Dense(128), batch 64), a ``weighted`` and a ``separate`` model (every
learning rate 1e-3, epsilon 1e-3) are built and traced, then every model's epoch is timed in
turn, round after round (the machine is shared and noisy): each model keeps its median round,
and the spread (min–max over rounds) is printed beside it. Ratios compare models measured in the
same run: ``weighted`` at K against ``weighted`` at 2 heads, ``separate`` against ``weighted`` at
the same K.

``search``: a generated study of 20 heteroscedastic heads (``builtin:hetero_sine`` with
``sigma_ratio`` 30: noise σ_i spread geometrically over a factor of 30), 30 trials of the
bundled tuner (``tpe``, ``weighted`` only), for several seeds: the best stop objective after 30
trials against the stop objective of the 1/σ² plan (the maximum-likelihood weights) trained with
the same seed, and the median of that ratio over seeds.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from mtltune import load_study, prepare_dataset
from mtltune.model import loop
from mtltune.model.strategies import separate_plan, weighted_plan
from mtltune.tuning.hypermodel import MultiTaskHyperModel
from mtltune.tuning.reuse import stateless_study

#: Head counts the ``steps`` measurement times.
HEAD_COUNTS = (2, 5, 10, 20, 50)

#: Epochs per timed fit, and rows per batch.
EPOCHS, BATCH = 8, 64


def step_study(heads: int, folder: Path) -> Any:
    """The ``steps`` measurement's study with ``heads`` heads (written into ``folder``)."""
    raw = {
        "name": f"heads_{heads}",
        "seed": 7,
        "data": {"source": "builtin:phase_sine", "params": {"n": 20000, "tasks": heads}},
        "split": {"train": 0.05, "stop": 0.45, "test": 0.5, "shuffle": False},
        "heads": {f"y{i}": {"kind": "regression", "scale": "none"} for i in range(heads)},
        "model": {"units": [128, 128, 128], "activation": "relu"},
        "training": {"max_epochs": 8, "batch_size": 64, "patience": 5},
        "search": {"strategies": ["weighted", "separate"]},
    }
    path = folder / f"heads_{heads}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_study(path)


def _loops(heads: int, folder: Path) -> dict[str, tuple[Any, tuple[Any, ...]]]:
    """Traced epoch loops of both strategies at ``heads`` heads, with their epoch arguments."""
    study = step_study(heads, folder)
    data = prepare_dataset(study)
    names = list(study.heads)
    hypermodel = MultiTaskHyperModel.from_study(
        study, data.input_dim, dict.fromkeys(names, 1), stateless_build=stateless_study(study)
    )
    plans = {
        "weighted": weighted_plan(names, learning_rate=1e-3, epsilon=1e-3),
        "separate": separate_plan(dict.fromkeys(names, 1e-3), epsilon=1e-3),
    }
    out = {}
    for strategy, plan in plans.items():
        model = hypermodel.build_plan(plan)
        args = (data.train.x, data.train.y, (data.stop.x, data.stop.y))
        loop.fit(model, *args, epochs=1, batch_size=study.training.batch_size)  # trace
        out[strategy] = (model, args)
    return out


def bench_steps(rounds: int = 5, counts: tuple[int, ...] = HEAD_COUNTS) -> dict[str, Any]:
    """Seconds per epoch of ``weighted`` and ``separate`` at each head count; prints the table."""
    with tempfile.TemporaryDirectory() as folder:
        loops = {}
        for heads in counts:
            for strategy, value in _loops(heads, Path(folder)).items():
                loops[(strategy, heads)] = value
    times: dict[tuple[str, int], list[float]] = {key: [] for key in loops}
    for _ in range(rounds):
        for key, (model, args) in loops.items():
            start = time.perf_counter()
            loop.fit(model, *args, epochs=EPOCHS, batch_size=BATCH)
            times[key].append((time.perf_counter() - start) / EPOCHS)
    median = {key: statistics.median(values) for key, values in times.items()}
    print(
        f"## heads: s/epoch, median of {rounds} rounds (min-max), phase_sine 10,000 training "
        "rows, trunk 3 x Dense(128), batch 64"
    )
    print(
        "| heads K | weighted s/epoch | separate s/epoch | weighted ÷ weighted(K=2) "
        "| separate ÷ weighted |"
    )
    print("|---|---|---|---|---|")
    base = median[("weighted", counts[0])]
    for heads in counts:
        w, s = median[("weighted", heads)], median[("separate", heads)]
        spread_w = f"{min(times[('weighted', heads)]):.3f}–{max(times[('weighted', heads)]):.3f}"
        spread_s = f"{min(times[('separate', heads)]):.3f}–{max(times[('separate', heads)]):.3f}"
        print(
            f"| {heads} | {w:.3f} ({spread_w}) | {s:.3f} ({spread_s}) | {w / base:.2f} "
            f"| {s / w:.2f} |"
        )
    return {"median": median, "times": times}

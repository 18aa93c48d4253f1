"""Issue 27's ``heads`` part: seconds per epoch against the number of heads, and the search.

``steps``: for K = 2, 5, 10, 20, 50 heads on ``builtin:phase_sine`` (20,000 rows: 1,000
training rows, 9,000 stop rows scored each epoch; trunk 3 × Dense(128), batch 64), a
``weighted`` and a ``separate`` model (every learning rate 1e-3, epsilon 1e-3) are built and
traced, then every model's epoch is timed in turn, round after round (the machine is shared and
noisy): each model keeps its median round, and the spread (min–max over rounds) is printed
beside it. Ratios compare models measured in the same run: ``weighted`` at K against
``weighted`` at 2 heads, ``separate`` against ``weighted`` at the same K.

``variants``: at 5 and 20 heads, the same ``steps`` models with the network's like heads fused
(``build_network``'s default) and unfused (``fuse=False``: one ``Dense(1)`` per head), for both
strategies, timed in the same rounds; and ``per_head_gradients`` alone on one training batch
of the ``separate`` model (its shared variables), as K backward passes (the default) and as one
``pfor``-vectorised pass (``vectorized=True``), in milliseconds per batch.

``search``: a generated study of 20 heteroscedastic heads (``builtin:hetero_sine`` with
``spread`` 30: noise σ_i spread geometrically over a factor of 30), 30 trials of the
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


def _loops(
    heads: int, folder: Path, *, fuse: bool = True
) -> dict[str, tuple[Any, tuple[Any, ...]]]:
    """Traced epoch loops of both strategies at ``heads`` heads, with their epoch arguments.

    ``fuse=False``: the network without fused heads (one ``Dense(1)`` per head).
    """
    from mtltune.model.network import build_network

    study = step_study(heads, folder)
    data = prepare_dataset(study)
    names = list(study.heads)
    hypermodel = MultiTaskHyperModel.from_study(
        study, data.input_dim, dict.fromkeys(names, 1), stateless_build=stateless_study(study)
    )
    if not fuse:
        units = dict.fromkeys(names, 1)
        hypermodel.build_fn = lambda hp: build_network(
            study.model, study.heads, data.input_dim, units, name=study.name, fuse=False
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


def _seconds_per_epoch(model: Any, args: tuple[Any, ...]) -> float:
    """One timed fit of ``EPOCHS`` epochs (each with its stop-split scoring), per epoch."""
    start = time.perf_counter()
    loop.fit(model, *args, epochs=EPOCHS, batch_size=BATCH)
    return (time.perf_counter() - start) / EPOCHS


def _gradient_pass(model: Any, x: Any, y: Any, *, vectorized: bool) -> Any:
    """A traced function: the K per-head gradients of ``model``'s shared variables on a batch."""
    import tensorflow as tf

    from mtltune.model.gradients import per_head_gradients, variables_reached

    reached = variables_reached(model).values()  # the variables two heads or more reach
    shared = [v for v in model.trainable_variables if sum(id(v) in r for r in reached) > 1]
    y = model.pack_targets(loop.as_tensors(y))
    x = loop.as_tensors(x)

    @tf.function(autograph=False)
    def grads() -> Any:
        with tf.GradientTape(persistent=True) as tape:
            stacked, _ = model.forward(x, y, training=True)
        return per_head_gradients(tape, stacked, shared, vectorized=vectorized)

    grads()  # trace
    return grads


def bench_variants(rounds: int = 7, counts: tuple[int, ...] = (5, 20)) -> dict[str, Any]:
    """Fused against unfused networks per strategy, and the per-head gradients' two passes."""
    with tempfile.TemporaryDirectory() as folder:
        loops = {
            (strategy, "fused" if fuse else "unfused", heads): value
            for heads in counts
            for fuse in (True, False)
            for strategy, value in _loops(heads, Path(folder), fuse=fuse).items()
        }
    passes = {}
    for heads in counts:
        model, (x, y, _) = loops[("separate", "fused", heads)]
        rows = slice(0, BATCH)
        batch_x, batch_y = x[rows], {h: v[rows] for h, v in y.items()}
        for vectorized in (False, True):
            passes[(vectorized, heads)] = _gradient_pass(
                model, batch_x, batch_y, vectorized=vectorized
            )
    epoch: dict[tuple[str, str, int], list[float]] = {key: [] for key in loops}
    grads: dict[tuple[bool, int], list[float]] = {key: [] for key in passes}
    for _ in range(rounds):
        for key, (model, args) in loops.items():
            epoch[key].append(_seconds_per_epoch(model, args))
        for key, function in passes.items():
            start = time.perf_counter()
            for _ in range(20):
                function()
            grads[key].append((time.perf_counter() - start) / 20 * 1000)

    def cell(values: list[float], digits: int) -> str:
        low, high = min(values), max(values)
        return f"{statistics.median(values):.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"

    print(f"## heads variants: s/epoch, median of {rounds} rounds (min–max), as ``steps``")
    print("| heads K | strategy | fused | unfused | fused ÷ unfused |")
    print("|---|---|---|---|---|")
    for heads in counts:
        for strategy in ("weighted", "separate"):
            fused, unfused = epoch[(strategy, "fused", heads)], epoch[(strategy, "unfused", heads)]
            ratio = statistics.median(fused) / statistics.median(unfused)
            print(f"| {heads} | {strategy} | {cell(fused, 3)} | {cell(unfused, 3)} | {ratio:.2f} |")
    print(f"## per_head_gradients on one batch of {BATCH} rows, ms, median of {rounds} rounds")
    print("| heads K | K passes (default) | vectorised (pfor) | vectorised ÷ K passes |")
    print("|---|---|---|---|")
    for heads in counts:
        plain, vector = grads[(False, heads)], grads[(True, heads)]
        ratio = statistics.median(vector) / statistics.median(plain)
        print(f"| {heads} | {cell(plain, 2)} | {cell(vector, 2)} | {ratio:.2f} |")
    return {"epoch": epoch, "gradients": grads}


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
            times[key].append(_seconds_per_epoch(model, args))
    median = {key: statistics.median(values) for key, values in times.items()}
    print(
        f"## heads: s/epoch (8 epochs and their stop-split scoring), median of {rounds} rounds "
        "(min-max), phase_sine 20,000 rows (1,000 training, 9,000 stop), trunk 3 x Dense(128), "
        "batch 64"
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


#: The ``search`` measurement: heads, noise spread, trials.
SEARCH_HEADS, SEARCH_SPREAD, SEARCH_TRIALS = 20, 30.0, 30


def search_study(seed: int, folder: Path) -> Any:
    """The 20-head heteroscedastic study (written into ``folder``), ``weighted`` and ``tpe``."""
    raw = {
        "name": "hetero_20",
        "seed": seed,
        "data": {
            "source": "builtin:hetero_sine",
            "params": {"n": 10000, "tasks": SEARCH_HEADS, "spread": SEARCH_SPREAD},
        },
        "split": {"train": 0.05, "stop": 0.45, "test": 0.5, "shuffle": False},
        "heads": {
            f"y{i}": {"target": f"y{i}", "clean_target": "y", "scale": "none"}
            for i in range(SEARCH_HEADS)
        },
        "model": {"units": [64, 64, 64], "activation": "relu"},
        "training": {"max_epochs": 200, "batch_size": 32, "patience": 5},
        "search": {
            "strategies": ["weighted"],
            "tuner": "tpe",
            "max_trials": SEARCH_TRIALS,
            "loss_weight": {"min": 0.01, "max": 100.0},
            "learning_rate": {"min": 0.0001, "max": 0.01},
            "epsilon": {"min": 1.0e-7, "max": 0.01},
            "baseline": {"learning_rate": 0.001, "epsilon": 0.001},
            "confirm": {"top": 0},
        },
        "report": {"plots": False},
    }
    path = folder / f"hetero_20_{seed}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_study(path)


def _search_one(seed: int) -> dict[str, Any]:
    """One seed: the search's stop objectives and the 1/σ² plan's stop objective."""
    from mtltune import run_study
    from mtltune.data.generators import hetero_sigma
    from mtltune.model.objectives import MONITOR
    from mtltune.tuning.evaluation import train_plan
    from mtltune.tuning.tuner import study_hypermodel

    with tempfile.TemporaryDirectory() as folder:
        study = search_study(seed, Path(folder))
        dataset = prepare_dataset(study)
        heads = list(study.heads)
        params = study.data.params
        weights = {h: 1.0 / hetero_sigma(params, i) ** 2 for i, h in enumerate(heads)}
        plan = weighted_plan(heads, learning_rate=1e-3, epsilon=1e-3, weights=weights)
        _, fit = train_plan(study_hypermodel(study, dataset), plan, dataset)
        reference = float(fit[MONITOR])
        started = time.perf_counter()
        result = run_study(study, Path(folder) / "run", report=False)
        wall = time.perf_counter() - started
    objectives = [t.objective if t.ok else float("inf") for t in result.trials]
    return {"seed": seed, "reference": reference, "objectives": objectives, "wall": wall}


def bench_search(seeds: list[int]) -> list[dict[str, Any]]:
    """Best stop objective after 30 trials ÷ the 1/σ² plan's, per seed; prints the table."""
    import multiprocessing

    runs = []
    for seed in seeds:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            runs.append(pool.apply(_search_one, (seed,)))
        run = runs[-1]
        print(
            f"seed {seed}: 1/σ² plan {run['reference']:.5f}; best after 5/10/20/30 trials "
            + "/".join(f"{min(run['objectives'][:n]):.5f}" for n in (5, 10, 20, 30))
            + f"; {run['wall']:.0f} s",
            flush=True,
        )
    ratios = [min(r["objectives"][:SEARCH_TRIALS]) / r["reference"] for r in runs]
    print(
        f"## heads search: {SEARCH_HEADS} heads, σ spread {SEARCH_SPREAD:g}, {SEARCH_TRIALS} "
        f"trials: best ÷ 1/σ² plan per seed {', '.join(f'{r:.4f}' for r in ratios)}; median "
        f"{statistics.median(ratios):.4f} (target <= 1.02)"
    )
    return runs

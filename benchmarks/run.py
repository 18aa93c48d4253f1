"""Benchmarks of issue 5, each measured against a peer in the same run.

1. ``trials``: per-trial wall time and best stop objective of mtltune against the hand-written
   Keras Tuner peer (benchmarks/peer_keras_tuner.py) on the hetero-sine study, same seed, same
   number of trials, same search space (weighted strategy, random search), one after the other.
2. ``steps``: time per training step of the ``separate`` strategy against ``weighted``, five
   heads, same model and data, and the floor: ``weighted`` plus only the work any exact
   ``separate`` step must add (the other heads' back-propagation through the trunk, and their
   Adam moments of it).
3. ``memory``: resident memory after each of N short trials in one search.
4. ``leak``: resident memory growth per fit of mtltune's model against a plain Keras model,
   outside Keras Tuner (is the growth ours or Keras'?).
5. ``workers``: trials per minute of a distributed search with 1 and with 2 local workers
   (``search --workers N``), and of the one-process search, on the hetero-sine study, same
   seed, same trials (random search), one after the other, the worker runs repeated.
6. ``profile``: a ``cProfile`` of a 10-trial one-process search: seconds in garbage
   collection, best-epoch weight copies, network builds, epochs and evaluations.
7. ``adam``: the same one-process searches (``weighted``, then ``separate``) with mtltune's
   ``FlatAdam``, the per-variable ``mtltune.FusedAdam`` and Keras' own ``Adam``: seconds per
   search, first trial (its trace) and per epoch after it; each search in its own spawned
   process, alternating.
8. ``recycle``: the first training epoch after a recycling build (``clear_session``, then
   ``build_plan``, as Keras Tuner does at each trial), with TensorFlow's caches kept (a study
   hypermodel) and cleared (as for a user's ``build_fn``), against the epoch after it.

9. ``startup``: what a worker pays before its first trial, each in a fresh process: importing
   TensorFlow, Keras and Keras Tuner with and without the packages a worker never uses
   (``mtltune.distributed.worker.NOT_FOR_WORKERS``), and the first training epoch and first
   evaluation (their trace) of each strategy with the epoch loop traced without autograph (as
   mtltune does) and with it (the ``tf.function`` default).
10. ``cli``: ``mtltune search`` on the bundled study as a user runs it, in one process and with
   ``--workers 2``: seconds from the command's start to its first trial's start, to the end
   of the search (the first line after the last trial) and to its exit, and the distributed
   search's extra start-up over the one-process search's.
11. ``memory_table``: peak resident memory of ``mtltune validate`` and of a 1-trial, 1-epoch
   ``mtltune search`` on a generated 1,000,000-row, 20-column CSV, each in its own process,
   against the size of the table in pandas and against the peak of a process that only reads
   it with ``pandas.read_csv`` (and of one that only imports ``mtltune.search``).

12. ``confirm`` (benchmarks/confirm_bench.py): the configuration a search chooses with and
   without confirmation runs, and with Keras Tuner's ``executions_per_trial: 2`` at the same
   number of training runs: its mean test objective over fresh seeds, and the seconds it costs.

13. ``search`` (issue 14, benchmarks/search_bench.py): best stop objective after 5, 10 and 20
   trials (each search runs 20 trials, whatever the study's own budget), wall time and the
   oracle's share of it, for every tuner on three bundled studies and three seeds; on
   hetero_sine against the fixed equal-weights and 1/σ² plans; with five or more seeds, each
   tuner against ``bayesian`` seed by seed (wins, median ratio, sign test).

14. ``verdict`` (issue 24, benchmarks/verdict_bench.py): over many seeds, the paired test
   objective ratio against equal weights of mtltune's recommendation and of always taking the
   race's leading challenger (the policy before the verdict): no regret on studies where equal
   weights are optimal (same_sine, phase_sine, reg_class), power where better weights exist
   (hetero_sine, imbalanced).
15. ``strategies`` (issue 28, benchmarks/strategies_bench.py): every strategy (DWA, GradNorm,
   PCGrad and FAMO beside mtltune's four) tuned alone with the same trials on hetero_sine,
   reg_class, imbalanced and scikit-learn's diabetes table, then raced against equal weights:
   each one's paired test objective ratio, and its seconds per step against ``weighted``.

16. ``heads`` (issue 27, benchmarks/heads_bench.py): seconds per epoch of ``weighted`` and
   ``separate`` at 2, 5, 10, 20 and 50 heads, with their ratios; and a 20-head heteroscedastic
   search (σ spread over a factor of 30, 30 trials): best after 30 ÷ the 1/σ² plan, per seed
   (``--seeds``, default 7,8,9; ``--heads-parts`` picks ``steps``, ``variants``: fused against
   unfused networks and the per-head gradients' two passes, ``search``).

17. ``headroom`` (issue 24, benchmarks/headroom_bench.py): on a two-head study, a grid of fixed
   loss-weight ratios trained at several seeds and scored on test against equal weights: how
   much better than equal weights any weighting can be there (``--headroom-set`` adds study
   overrides, e.g. ``heads.amount.scale=none``).

Run: python benchmarks/run.py [--trials 8] [--seeds 7,8,9] [--paired]
     [--parts trials,steps,memory,leak,workers,profile,adam,recycle,startup,cli,memory_table,
              search,confirm,verdict,strategies,heads,headroom]
     [--strategies-out /tmp/strategies.jsonl] [--strategies dwa,gradnorm]
     [--verdict-out /tmp/verdict.jsonl] [--verdict-trials 12]
     [--studies hetero_sine,phase_sine,reg_class] [--tuners random,bayesian,tpe,tpe-plain]
     [--search-out /tmp/search.jsonl] [--search-trials 20] [--summary-only]
     [--worker-trials 20] [--repeats 3] [--worker-strategies "weighted;weighted,separate"]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import math
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
import search_bench
from confirm_bench import bench_confirm
from peer_keras_tuner import STUDY, run_peer, run_peer_on
from rounds import fastest_per_step

from mtltune import load_study, prepare_dataset, run_study
from mtltune.distributed.chief import DistributedOptions
from mtltune.distributed.worker import NOT_FOR_WORKERS
from mtltune.model import loop
from mtltune.model.strategies import separate_plan, weighted_plan
from mtltune.search import SilentProgress
from mtltune.tuning.hypermodel import MultiTaskHyperModel
from mtltune.tuning.reuse import stateless_study


class Clock(SilentProgress):
    """Records each trial's wall time (build, fit, bookkeeping) and the RSS after it."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self.rss_mb: list[float] = []
        self._start = 0.0

    def trial_started(self, trial_id: str, total: int) -> None:
        self._start = time.perf_counter()

    def trial_finished(self, record, total: int) -> None:
        self.seconds.append(time.perf_counter() - self._start)
        self.rss_mb.append(rss_mb())


def rss_mb() -> float:
    """Resident set size of this process in MB (Linux)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


#: The Adams the ``steps`` and ``adam`` parts compare: mtltune's (flat moments, one kernel per
#: optimizer), the per-variable fused kernel, Keras' own.
ADAMS = ("flat", "fused", "keras")


@contextlib.contextmanager
def adam_class(adam: str):
    """Models built inside use ``adam`` (one of ``ADAMS``) instead of ``mtltune``'s ``FlatAdam``."""
    import keras

    import mtltune.model.multitask
    from mtltune.model.adam import FlatAdam, FusedAdam

    classes = {"flat": FlatAdam, "fused": FusedAdam, "keras": keras.optimizers.Adam}
    mtltune.model.multitask.FlatAdam = classes[adam]
    try:
        yield
    finally:
        mtltune.model.multitask.FlatAdam = FlatAdam


def random_search(trials: int, strategies: str):
    """The bundled study as a random search of ``trials`` trials over ``strategies``, no plots,
    and its prepared data."""
    overrides = [
        "search.tuner=random",
        f"search.max_trials={trials}",
        f"search.strategies=[{strategies}]",
        "report.plots=false",
    ]
    study = load_study(STUDY, overrides)
    return study, prepare_dataset(study)


def fixed_plans(heads: list[str]) -> dict:
    """The two strategies' plans the step-level parts time: every rate 1e-3, epsilon 1e-3."""
    return {
        "weighted": weighted_plan(heads, learning_rate=1e-3, epsilon=1e-3),
        "separate": separate_plan(dict.fromkeys(heads, 1e-3), epsilon=1e-3),
    }


def _in_child(function, *args):
    """Run ``function(*args)`` in a new Python process (spawned) and return its result."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def _run_ours(overrides: list[str]) -> dict:
    study = load_study(STUDY, overrides)
    with tempfile.TemporaryDirectory() as folder:
        clock = Clock()
        result = run_study(study, Path(folder) / "mtltune", progress=clock)
    return {
        "seconds": clock.seconds,
        "epochs": [t.epochs for t in result.trials],
        "best": min(t.objective for t in result.trials if t.ok),
        "objectives": [t.objective for t in result.trials],
        "configs": [t.hyperparameters for t in result.trials],
    }


def _run_peer_on(configs: list[dict], seed: int) -> list[float]:
    return [r["objective"] for r in run_peer_on(configs, seed)]


def _run_peer(trials: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        records = run_peer(trials, Path(folder) / "peer", seed=seed)
    return {
        "seconds": [r["seconds"] for r in records],
        "epochs": [int(r["epochs"]) for r in records],
        "best": min(r["objective"] for r in records),
    }


def bench_trials(trials: int, seeds: list[int], paired: bool = False) -> None:
    """Per-trial time and best stop objective of mtltune and the peer, for each seed."""
    rows = []
    for seed in seeds:
        overrides: list[str] = [
            "search.tuner=random",
            "search.strategies=[weighted]",
            f"search.max_trials={trials}",
            f"seed={seed}",
        ]
        # Each search in a fresh child process: neither inherits the other's heap (Keras
        # Tuner's per-trial gc.collect() slows down with every object a previous run left).
        ours = _in_child(_run_ours, overrides)
        peer = _in_child(_run_peer, trials, seed)
        print(f"## trials: hetero_sine seed {seed}, {trials} trials each, weighted, random search")
        for name, run in (("mtltune", ours), ("peer", peer)):
            print(
                f"{name:8s} per-trial seconds: mean {statistics.mean(run['seconds']):.2f}, "
                f"median {statistics.median(run['seconds']):.2f}; epochs {run['epochs']}; "
                f"seconds per epoch {sum(run['seconds']) / sum(run['epochs']):.3f}; "
                f"best stop objective {run['best']:.5f}"
            )
        ratio = statistics.mean(ours["seconds"]) / statistics.mean(peer["seconds"])
        per_epoch = (sum(ours["seconds"]) / sum(ours["epochs"])) / (
            sum(peer["seconds"]) / sum(peer["epochs"])
        )
        print(f"ratio mtltune / peer: per trial {ratio:.2f}, per epoch {per_epoch:.2f}")
        rows.append((ratio, ours["best"], peer["best"]))
        if paired:
            # The same 8 configurations in both: sampling luck cancels, training differs.
            theirs = _in_child(_run_peer_on, ours["configs"], seed)
            pairs = zip(ours["objectives"], theirs, strict=True)
            diffs = [a - b for a, b in pairs if a is not None and b is not None]
            wins = sum(d < 0 for d in diffs)
            print(
                f"paired (mtltune's configurations fitted by the peer): mtltune "
                f"{' '.join(f'{v or math.nan:.4f}' for v in ours['objectives'])}; peer "
                f"{' '.join(f'{v:.4f}' for v in theirs)}; mtltune better in {wins}/{len(diffs)}, "
                f"median difference {statistics.median(diffs):+.4f}; best of each "
                f"{ours['best']:.5f} vs {min(theirs):.5f}"
            )
    if len(rows) > 1:
        ratios, ours_best, peer_best = zip(*rows, strict=True)
        print(
            f"## over seeds {seeds}: per-trial ratio mean {statistics.mean(ratios):.2f} "
            f"(max {max(ratios):.2f}; target <= 0.33); best stop objective mtltune "
            f"{statistics.mean(ours_best):.5f} ± {statistics.stdev(ours_best):.5f}, peer "
            f"{statistics.mean(peer_best):.5f} ± {statistics.stdev(peer_best):.5f} (mean ± sd)"
        )


class FloorStep:
    """``weighted``'s step plus the matrix work any exact ``separate`` step adds to it.

    ``separate`` gives each head's Adam the gradient of that head's own loss, so the shared
    trunk is back-propagated once per head; ``weighted`` back-propagates the weighted sum once.
    This step runs ``weighted``'s, then, for the other ``heads - 1`` heads at once (batched,
    the most efficient form), what back-propagation through each Dense trunk layer costs: the
    activation's derivative, the kernel and bias gradients, the gradient for the layer below.
    Without ``adam`` the extra Adam updates of the trunk (each head's Adam keeps its own
    moments for it) are left out, so its time is a lower bound for ``separate``, whatever the
    implementation; with ``adam`` it also updates those moments (flat, one ``ResourceApplyAdam``
    for all the other heads, as ``FlatAdam`` does per head) and sums their step (not applied:
    weighted's training is unchanged): the least a batched implementation of ``separate``
    would cost.

    Args:
        model: The ``weighted`` model; its trunk is the Dense layers named ``trunk_*``.
        batch_size: Rows per batch.
        adam: Also do the other heads' Adam moment updates of the trunk.
    """

    def __init__(self, model, batch_size: int, adam: bool = False) -> None:
        import tensorflow as tf

        self.model = model
        self.head_names = model.head_names
        self.kernels = [
            layer.kernel for layer in model.net.layers if layer.name.startswith("trunk_")
        ]
        self.extra = len(model.head_names) - 1
        self.adam = adam
        size = sum(self.extra * (k.shape[0] + 1) * k.shape[1] for k in self.kernels)
        self.flat = [tf.Variable(tf.zeros(size)) for _ in ("momentum", "velocity", "delta")]
        rng = np.random.default_rng(0)
        self.inputs = [
            tf.constant(rng.normal(size=(batch_size, k.shape[0])), "float32") for k in self.kernels
        ]
        self.masks = [
            tf.constant((rng.random((batch_size, 1, k.shape[1])) > 0.5).astype("float32"))
            for k in self.kernels
        ]

    def train_batch(self, data):
        import tensorflow as tf

        losses, total = self.model.train_batch(data)
        rows = tf.shape(tf.nest.flatten(data[0])[0])[0]
        width = self.kernels[-1].shape[1]
        upstream = tf.fill([rows, self.extra, width], total)  # depends on the step: not folded
        checksum = tf.constant(0.0)
        grads = {}
        for i in reversed(range(len(self.kernels))):
            kernel, inputs = self.kernels[i], self.inputs[i][:rows]
            out = kernel.shape[1]
            delta = upstream * self.masks[i][:rows]
            kernel_grads = tf.matmul(inputs, tf.reshape(delta, [rows, -1]), transpose_a=True)
            grads[i] = tf.reshape(kernel_grads, [-1, self.extra, out])
            grads[len(self.kernels) + i] = tf.reduce_sum(delta, axis=0)
            if i:
                below = tf.matmul(tf.reshape(delta, [-1, out]), kernel, transpose_b=True)
                upstream = tf.reshape(below, [rows, self.extra, -1])
        if self.adam:  # the other heads' Adams, flat, in one kernel; their summed step
            momentum, velocity, delta = self.flat
            tf.raw_ops.ResourceApplyAdam(
                var=delta.handle,
                m=momentum.handle,
                v=velocity.handle,
                beta1_power=tf.constant(0.9),
                beta2_power=tf.constant(0.999),
                lr=tf.constant(1e-3),
                beta1=tf.constant(0.9),
                beta2=tf.constant(0.999),
                epsilon=tf.constant(1e-7),
                grad=tf.concat([tf.reshape(g, [-1]) for g in grads.values()], 0),
            )
            step = delta.read_value()
            checksum += tf.reduce_sum(step)
            delta.assign(tf.zeros_like(step))
        else:
            for grad in grads.values():
                checksum += tf.reshape(grad, [-1])[0]
        return losses, total + 0.0 * checksum

    def epoch_logs(self, total, losses, *, training: bool):
        return self.model.epoch_logs(total, losses, training=training)


def bench_steps(epochs: int = 20, rounds: int = 5) -> None:
    """ms per training step of ``separate`` against ``weighted`` in mtltune's epoch loop.

    Both models are traced first; then the strategies alternate for ``rounds`` rounds of
    ``epochs`` epochs and each keeps its fastest round (the machine is shared and noisy). The
    ``floor`` row is ``weighted``'s step plus only the extra back-propagation work of the other
    heads (``FloorStep``): no implementation of ``separate`` can be faster; ``floor+adam`` adds
    their Adam moments of the trunk, updated by one fused kernel. The ``(FusedAdam)`` and
    ``(Keras Adam)`` rows are both strategies with those optimizers instead of ``FlatAdam``.
    """
    study = load_study(STUDY)
    data = prepare_dataset(study)
    heads = list(study.heads)
    hypermodel = MultiTaskHyperModel.from_study(
        study, data.input_dim, dict.fromkeys(heads, 1), stateless_build=stateless_study(study)
    )
    weighted, separate = fixed_plans(heads).values()
    plans = {  # name: (plan, Adam)
        "weighted": (weighted, "flat"),
        "separate": (separate, "flat"),
        "floor": (weighted, "flat"),
        "floor+adam": (weighted, "flat"),
        "weighted (FusedAdam)": (weighted, "fused"),
        "separate (FusedAdam)": (separate, "fused"),
        "weighted (Keras Adam)": (weighted, "keras"),
        "separate (Keras Adam)": (separate, "keras"),
    }
    batch = study.training.batch_size
    x, y = loop.as_tensors(data.train.x), loop.as_tensors(data.train.y)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(data.train))
    steps = -(-len(data.train) // batch) * epochs
    loops = {}
    for name, (plan, adam) in plans.items():
        with adam_class(adam):
            model = hypermodel.build_plan(plan)
        if name.startswith("floor"):
            loops[name] = loop.EpochLoop(FloorStep(model, batch, adam=name == "floor+adam"))
        else:
            loops[name] = loop.loop_of(model)
        loops[name].train_epoch(x, y, order, batch)  # trace
    times = fastest_per_step(loops, x, y, order, batch, epochs, rounds)
    print(f"## steps: {len(heads)} heads, best of {rounds} rounds of {steps} steps, batch {batch}")
    for name, seconds in times.items():
        print(f"{name:21s} {1000 * seconds:.2f} ms per step ({1 / seconds:.0f} steps/s)")
    print(
        f"ratio separate / weighted: {times['separate'] / times['weighted']:.2f} (target <= 1.5); "
        f"floor / weighted: {times['floor'] / times['weighted']:.2f} (the least any exact "
        f"separate step can cost); floor+adam / weighted: "
        f"{times['floor+adam'] / times['weighted']:.2f} (with the other heads' Adam moments); "
        f"with FusedAdam: separate / weighted "
        f"{times['separate (FusedAdam)'] / times['weighted (FusedAdam)']:.2f}; with Keras' own "
        f"Adam: {times['separate (Keras Adam)'] / times['weighted (Keras Adam)']:.2f}"
    )


def bench_memory(trials: int) -> None:
    overrides = [
        "search.tuner=random",
        f"search.max_trials={trials}",
        "training.max_epochs=2",
        "data.params.n=2000",
    ]
    study = load_study(STUDY, overrides)
    clock = Clock()
    with tempfile.TemporaryDirectory() as folder:
        run_study(study, Path(folder) / "memory", progress=clock)
    rss = clock.rss_mb
    print(f"## memory: resident MB after each of {trials} trials (2 epochs each)")
    print(" ".join(f"{v:.0f}" for v in rss))
    print(
        f"growth from trial 1 to trial {trials}: {rss[-1] - rss[0]:.0f} MB; from trial 5: "
        f"{rss[-1] - rss[min(4, len(rss) - 1)]:.0f} MB (target < 200)"
    )


def bench_leak(fits: int = 16) -> None:
    """RSS growth per fit: mtltune's model against a plain compiled Keras model (the peer)."""
    import gc

    import keras

    study = load_study(STUDY, ["data.params.n=2000"])
    data = prepare_dataset(study)
    heads = list(study.heads)
    hypermodel = MultiTaskHyperModel.from_study(
        study, data.input_dim, dict.fromkeys(heads, 1), stateless_build=stateless_study(study)
    )

    def ours() -> None:
        model = hypermodel.build_plan(fixed_plans(heads)["weighted"])
        hypermodel.fit(
            None,
            model,
            data.train.x,
            data.train.y,
            validation_data=(data.stop.x, data.stop.y),
            epochs=2,
        )

    def plain() -> None:
        inputs = keras.Input((data.input_dim,))
        hidden = inputs
        for _ in range(10):
            hidden = keras.layers.Dense(100, activation="relu")(hidden)
        model = keras.Model(inputs, {h: keras.layers.Dense(1, name=h)(hidden) for h in heads})
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=dict.fromkeys(heads, "mse"))
        model.fit(
            data.train.x,
            data.train.y,
            validation_data=(data.stop.x, data.stop.y),
            epochs=2,
            verbose=0,
        )

    print(f"## leak: RSS MB after each of {fits} fits (2 epochs, clear_session between)")
    for name, fit in (("mtltune", ours), ("plain keras", plain)):
        values = []
        for _ in range(fits):
            keras.backend.clear_session()
            gc.collect()
            fit()
            values.append(rss_mb())
        growth = (values[-1] - values[3]) / (fits - 4)
        print(f"{name:11s} {' '.join(f'{v:.0f}' for v in values)}; {growth:.1f} MB per fit")


class SearchClock(SilentProgress):
    """Records when the search starts and when each trial ends."""

    def __init__(self) -> None:
        self.search_started = 0.0
        self.starts: list[float] = []
        self.ends: list[float] = []

    def stage(self, message: str) -> None:
        if message in ("searching", "resuming search"):
            self.search_started = time.perf_counter()

    def trial_started(self, trial_id: str, total: int) -> None:
        self.starts.append(time.perf_counter())

    def trial_finished(self, record, total: int) -> None:
        self.ends.append(time.perf_counter())


def bench_recycle(rounds: int = 3) -> None:
    """Seconds of the first epoch after a recycling build, caches kept and cleared.

    Inside ``recycling()`` a study hypermodel keeps TensorFlow's kernel and function caches,
    which Keras Tuner's ``clear_session`` and each build's seeding would clear; a hypermodel on a
    user's ``build_fn`` (``stateless_build`` off) lets them be cleared. For each strategy and
    each way, a model is built and traced, then ``rounds`` times: released (as the end of its
    ``fit`` does), ``clear_session``, recycled by ``build_plan``, one epoch timed (the first
    after the build), then a second epoch timed.
    """
    import keras

    study = load_study(STUDY)
    data = prepare_dataset(study)
    heads = list(study.heads)
    batch = study.training.batch_size
    x, y = loop.as_tensors(data.train.x), loop.as_tensors(data.train.y)
    order = np.random.default_rng(0).permutation(len(data.train))
    plans = fixed_plans(heads)
    print(f"## recycle: first epoch after a recycling build, {rounds} rounds, best of them")
    for name, plan in plans.items():
        for kept in (True, False):
            hypermodel = MultiTaskHyperModel.from_study(
                study, data.input_dim, dict.fromkeys(heads, 1)
            )
            hypermodel.stateless_build = kept
            first, second = [], []
            with hypermodel.recycling():
                model = hypermodel.build_plan(plan)
                loop.loop_of(model).train_epoch(x, y, order, batch)  # trace
                for _ in range(rounds):
                    hypermodel._release(model)
                    keras.backend.clear_session()
                    recycled = hypermodel.build_plan(plan)
                    assert recycled is model, "the model was not recycled"
                    for seconds in (first, second):
                        start = time.perf_counter()
                        loop.loop_of(model).train_epoch(x, y, order, batch)
                        seconds.append(time.perf_counter() - start)
            print(
                f"{name:9s} caches {'kept' if kept else 'cleared':7s}: first epoch after the "
                f"build {min(first):.3f} s (max {max(first):.3f}), next epoch {min(second):.3f} s"
            )


def bench_profile(trials: int = 10) -> None:
    """Where a one-process search spends its time outside training: a ``cProfile`` of it.

    Prints the total and per-call seconds of the per-trial overheads found so far: garbage
    collection (Keras Tuner and Keras' ``clear_session`` collect before every build), the
    best-epoch weight copies, building the network, the compiled epochs and evaluations.
    """
    import cProfile
    import pstats

    study, dataset = random_search(trials, "weighted")
    clock = SearchClock()
    profile = cProfile.Profile()
    with tempfile.TemporaryDirectory() as folder:
        profile.enable()
        run_study(study, Path(folder) / "run", progress=clock, dataset=dataset)
        profile.disable()
    stats = pstats.Stats(profile).stats  # {(file, line, name): (cc, calls, tottime, cumtime, _)}
    wanted = {
        "gc.collect": lambda f, n: n == "<built-in method gc.collect>",
        "best-epoch copies (save)": lambda f, n: f.endswith("callbacks.py") and n == "save",
        "Keras get_weights": lambda f, n: n == "get_weights",
        "build_network": lambda f, n: f.endswith("network.py") and n == "build_network",
        "train_epoch": lambda f, n: f.endswith("loop.py") and n == "train_epoch",
        "evaluate (stop split)": lambda f, n: f.endswith("loop.py") and n == "evaluate",
    }
    search = clock.ends[-1] - clock.search_started
    print(f"## profile: {trials}-trial one-process search, weighted; search {search:.1f} s")
    for label, match in wanted.items():
        rows = [v for (f, _, n), v in stats.items() if match(f, n)]
        calls = sum(r[1] for r in rows)
        seconds = sum(r[3] for r in rows)
        each = f"{1000 * seconds / calls:.1f} ms each" if calls else "-"
        print(f"{label:26s} {calls:5d} calls {seconds:6.2f} s ({each})")


def bench_workers(trials: int, strategies: str, repeats: int = 1) -> None:
    """Trials per minute with 1 and 2 local workers (and in one process), same trials.

    The search phase is timed from its start (worker start-up included) to the end of the last
    trial; the test-set evaluation after it is not a search cost and is left out. The 1-worker
    and 2-worker searches alternate ``repeats`` times (which worker gets the last, longest
    trial varies from run to run); the one-process search and a 1-worker search at one thread
    (the 2-worker searches' setting) run once.

    Trial time (the seconds trials were running, summed over workers) splits the ratio: two
    one-thread workers can at most do ``2 × (trial time of 1 worker) / (trial time at one
    thread)`` as many trials per minute as one worker (the ceiling: no start-up, no tail, no
    contention between them), and ``(trial time of 2 workers) / (trial time at one thread)``
    is what running side by side costs each of them (1.00: nothing).
    """
    study, dataset = random_search(trials, strategies)
    runs: dict[str, list[dict]] = {
        "1 process": [],
        "1 thread": [],
        "1 worker": [],
        "2 workers": [],
    }
    configs = [("1 process", None), ("1 thread", DistributedOptions(workers=1, threads=1))] + [
        (name, DistributedOptions(workers=count))
        for _ in range(repeats)
        for name, count in (("1 worker", 1), ("2 workers", 2))
    ]
    for name, distributed in configs:
        clock = SearchClock()
        with tempfile.TemporaryDirectory() as folder:
            result = run_study(
                study,
                Path(folder) / "run",
                progress=clock,
                dataset=dataset,
                distributed=distributed,
            )
        seconds = clock.ends[-1] - clock.search_started
        runs[name].append(
            {
                "seconds": seconds,
                "per_minute": 60 * len(clock.ends) / seconds,
                "start_up": clock.starts[0] - clock.search_started,
                "trial_time": sum(clock.ends) - sum(clock.starts),
                "epochs": [t.epochs for t in result.trials],
                "best": min(t.objective for t in result.trials if t.ok),
                "threads": distributed.worker_threads() if distributed else os.cpu_count(),
            }
        )
    print(
        f"## workers: hetero_sine, {trials} trials, strategies {strategies}, random search, "
        f"{repeats} repeat(s)"
    )
    for name, done in runs.items():
        for run in done:
            print(
                f"{name:9s} {run['per_minute']:.2f} trials/min (search {run['seconds']:.1f} s, of "
                f"which {run['start_up']:.1f} s before the first trial; trial time "
                f"{run['trial_time']:.1f} s; {run['threads']} thread(s) per process); epochs "
                f"{sum(run['epochs'])}; best stop objective {run['best']:.5f}"
            )
    ratios = [
        two["per_minute"] / one["per_minute"]
        for one, two in zip(runs["1 worker"], runs["2 workers"], strict=True)
    ]
    # Without the workers' start-up (Python, TensorFlow import, data), which a longer search
    # amortises; each worker still traces each strategy's step once, inside its first trials.
    running = [
        (one["seconds"] - one["start_up"]) / (two["seconds"] - two["start_up"])
        for one, two in zip(runs["1 worker"], runs["2 workers"], strict=True)
    ]
    against_one = runs["2 workers"][0]["per_minute"] / runs["1 process"][0]["per_minute"]
    print(
        f"ratio 2 workers / 1 worker: {' '.join(f'{r:.2f}' for r in ratios)}, mean "
        f"{statistics.mean(ratios):.2f} (target >= 1.6); from the first trial's start on: "
        f"{' '.join(f'{r:.2f}' for r in running)}; first 2-worker run / 1 process: "
        f"{against_one:.2f}"
    )
    one_thread = runs["1 thread"][0]["trial_time"]
    ceiling = 2 * statistics.mean(r["trial_time"] for r in runs["1 worker"]) / one_thread
    side_by_side = [r["trial_time"] / one_thread for r in runs["2 workers"]]
    print(
        f"ceiling of 2 one-thread workers / 1 worker: {ceiling:.2f} (2 x trial time of 1 worker "
        f"/ at one thread); trial time of 2 workers / at one thread: "
        f"{' '.join(f'{r:.2f}' for r in side_by_side)} (1.00: running side by side costs "
        "nothing)"
    )


def _search_with(optimizer: str, strategy: str, trials: int) -> dict:
    """A one-process random search of ``trials`` trials, with ``optimizer`` for every Adam."""
    study, dataset = random_search(trials, strategy)
    clock = SearchClock()
    with adam_class(optimizer), tempfile.TemporaryDirectory() as folder:
        result = run_study(study, Path(folder) / "run", progress=clock, dataset=dataset)
    epochs = [t.epochs for t in result.trials]
    seconds = clock.ends[-1] - clock.search_started
    first = clock.ends[0] - clock.search_started
    return {
        "seconds": seconds,
        "first": first,
        "first_epochs": epochs[0],
        "per_epoch": (seconds - first) / (sum(epochs) - epochs[0]),
        "epochs": sum(epochs),
        "best": min(t.objective for t in result.trials if t.ok),
    }


def bench_adam(trials: int = 10, repeats: int = 2) -> None:
    """``FlatAdam``, ``FusedAdam`` and Keras' ``Adam`` in the same searches (spawned, in turn)."""
    print(f"## adam: hetero_sine, {trials} trials, random search, {repeats} repeat(s)")
    for strategy in ("weighted", "separate"):
        runs: dict[str, list[dict]] = {adam: [] for adam in ADAMS}
        for _ in range(repeats):
            for optimizer in runs:
                runs[optimizer].append(_in_child(_search_with, optimizer, strategy, trials))
        for optimizer, done in runs.items():
            for run in done:
                print(
                    f"{strategy:9s} {optimizer:6s} search {run['seconds']:.1f} s, first trial "
                    f"{run['first']:.1f} s ({run['first_epochs']} epochs), then "
                    f"{1000 * run['per_epoch']:.1f} ms per epoch (everything included); "
                    f"{run['epochs']} epochs, best {run['best']:.5f}"
                )
        for peer in ADAMS[1:]:
            ratios = [
                statistics.mean(r[key] for r in runs["flat"])
                / statistics.mean(r[key] for r in runs[peer])
                for key in ("per_epoch", "first")
            ]
            print(
                f"{strategy}: flat / {peer} per epoch {ratios[0]:.2f}, first trial {ratios[1]:.2f}"
            )


IMPORTS = """
import sys, time
from mtltune.distributed.worker import import_keras
start = time.perf_counter()
if sys.argv[1] == "hidden":
    import_keras()  # as a worker imports
else:
    import tensorflow
    from mtltune import search
print(time.perf_counter() - start)
"""


def _import_seconds(way: str) -> float:
    """Seconds a fresh Python takes to import what a worker imports, ``way`` "hidden" or not."""
    done = subprocess.run(
        [sys.executable, "-c", IMPORTS, way], capture_output=True, text=True, check=True
    )
    return float(done.stdout.split()[-1])


def _first_trace(strategy: str, autograph: bool) -> tuple[float, float]:
    """Seconds of a fresh model's first training epoch and first evaluation in this process."""
    import tensorflow as tf

    study = load_study(STUDY)
    data = prepare_dataset(study)
    heads = list(study.heads)
    model = MultiTaskHyperModel.from_study(
        study, data.input_dim, dict.fromkeys(heads, 1)
    ).build_plan(fixed_plans(heads)[strategy])
    epochs = loop.loop_of(model)
    if autograph:  # the same functions, converted as tf.function does by default
        epochs._train = tf.function(epochs._train_epoch, reduce_retracing=True)
        epochs._evaluate = tf.function(epochs._evaluate_chunks, reduce_retracing=True)
    x, y = loop.as_tensors(data.train.x), loop.as_tensors(data.train.y)
    order = np.arange(len(data.train))
    start = time.perf_counter()
    epochs.train_epoch(x, y, order, study.training.batch_size)
    train = time.perf_counter() - start
    start = time.perf_counter()
    epochs.evaluate(loop.as_tensors(data.stop.x), loop.as_tensors(data.stop.y))
    return train, time.perf_counter() - start


def bench_startup(repeats: int = 3) -> None:
    """A worker's start-up costs, ours against the peer (each in a fresh process, in turn)."""
    installed = [m for m in NOT_FOR_WORKERS if importlib.util.find_spec(m.split(".")[0])]
    print(
        f"## startup: {repeats} repeat(s), fresh processes; installed of {NOT_FOR_WORKERS}: "
        f"{installed}"
    )
    imports: dict[str, list[float]] = {"hidden": [], "all": []}
    for _ in range(repeats):
        for way, seconds in imports.items():
            seconds.append(_import_seconds(way))
    for way, seconds in imports.items():
        print(
            f"import TensorFlow, Keras, Keras Tuner, mtltune.search ({way:6s}): "
            f"median {statistics.median(seconds):.2f} s ({' '.join(f'{t:.2f}' for t in seconds)})"
        )
    ratio = statistics.median(imports["hidden"]) / statistics.median(imports["all"])
    print(f"imports hidden / all: {ratio:.2f}")
    for strategy in ("weighted", "separate"):
        traces: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        for _ in range(repeats):
            for autograph, done in traces.items():
                done.append(_in_child(_first_trace, strategy, autograph))
        medians = {
            autograph: [statistics.median(t[k] for t in done) for k in (0, 1)]
            for autograph, done in traces.items()
        }
        for autograph, (train, evaluate) in medians.items():
            print(
                f"{strategy:9s} autograph {'on ' if autograph else 'off'}: first epoch "
                f"{train:.2f} s, first evaluation {evaluate:.2f} s (medians)"
            )
        print(
            f"{strategy}: first epoch + evaluation, off / on: "
            f"{sum(medians[False]) / sum(medians[True]):.2f}"
        )


def _cli_search(trials: int, workers: int | None) -> dict[str, float]:
    """Run ``mtltune search`` on the bundled study; seconds to milestones of its output."""
    with tempfile.TemporaryDirectory() as folder:
        command = [
            sys.executable, "-m", "mtltune", "search", str(STUDY), "--out", f"{folder}/run",
            "--set", "search.tuner=random", "--set", f"search.max_trials={trials}",
            "--set", "search.strategies=[weighted]", "--set", "report.plots=false",
        ]  # fmt: skip
        if workers is not None:
            command += ["--workers", str(workers)]
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, bufsize=1)
        seen: dict[str, float] = {}
        ended = 0
        for line in process.stdout:  # "MM:SS trial 3 of 20 …" as it starts, then as it ends
            now = time.perf_counter() - start
            trial = re.search(r"\btrial \d+ of \d+ (…)?", line)
            if trial and trial.group(1) and "first" not in seen:
                seen["first"] = now
            elif trial and not trial.group(1):
                ended += 1
                if ended == trials:
                    seen["searched"] = now
        process.wait()
        seen["exit"] = time.perf_counter() - start
        assert process.returncode == 0, f"mtltune search failed ({process.returncode})"
    return seen


def bench_cli(trials: int, repeats: int) -> None:
    """``mtltune search`` as a user runs it, one process against two local workers (in turn)."""
    print(f"## cli: mtltune search, hetero_sine, {trials} trials, weighted, {repeats} repeat(s)")
    runs: dict[str, list[dict[str, float]]] = {"1 process": [], "2 workers": []}
    for _ in range(repeats):
        runs["1 process"].append(_cli_search(trials, None))
        runs["2 workers"].append(_cli_search(trials, 2))
    for name, done in runs.items():
        for run in done:
            print(
                f"{name:9s} first trial started at {run['first']:.1f} s, last trial ended at "
                f"{run['searched']:.1f} s, exit at {run['exit']:.1f} s"
            )
    extra = [
        two["first"] - one["first"]
        for one, two in zip(runs["1 process"], runs["2 workers"], strict=True)
    ]
    searched = [
        one["searched"] / two["searched"]
        for one, two in zip(runs["1 process"], runs["2 workers"], strict=True)
    ]
    print(
        f"2 workers' extra start-up over 1 process: {' '.join(f'{e:.1f}' for e in extra)} s; "
        f"search end 1 process / 2 workers: {' '.join(f'{r:.2f}' for r in searched)}"
    )


TABLE_ROWS = 1_000_000


def write_big_table(folder: Path, rows: int = TABLE_ROWS) -> Path:
    """A CSV of ``rows`` rows and 20 columns (16 numeric and 2 categorical inputs, a price and
    a yes/no label) and its study, in ``folder``; returns the study's path."""
    rng = np.random.default_rng(0)
    columns: dict[str, object] = {f"x{i}": rng.normal(size=rows).round(4) for i in range(16)}
    columns["c0"] = rng.choice([f"k{i}" for i in range(5)], rows)
    columns["c1"] = rng.choice([f"level{i}" for i in range(20)], rows)
    signal = columns["x0"] + 0.5 * columns["x1"]  # type: ignore[operator]
    columns["price"] = np.exp(6 + signal + rng.normal(0, 0.3, rows)).round(2)
    columns["sold"] = np.where(signal > 0, "yes", "no")
    import pandas as pd

    pd.DataFrame(columns).to_csv(folder / "table.csv", index=False)
    study = {
        "name": "big_table",
        "seed": 0,
        "data": {"source": "table.csv", "inputs": [*(f"x{i}" for i in range(16)), "c0", "c1"]},
        "heads": {"price": {"scale": "log"}, "sold": {"kind": "binary"}},
        "model": {"units": [32]},
        "training": {"max_epochs": 1, "batch_size": 1024, "patience": 1},
        "search": {"tuner": "random", "max_trials": 1, "strategies": ["weighted"]},
        "report": {"plots": False},
    }
    import yaml

    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


#: Runs ``argv[2:]`` as a module or code (``-m NAME ...`` or ``-c CODE ...``) and writes the
#: process's peak resident memory (``VmHWM``: of this process only, reset by ``exec``; a
#: child's ``ru_maxrss`` would start from its parent's peak at ``fork``) to ``argv[1]``.
_PEAK_WRAPPER = """
import atexit, runpy, sys
out, mode, target, *args = sys.argv[1:]
def peak():
    status = open('/proc/self/status').read().split('VmHWM:')[1]
    open(out, 'w').write(status.split()[0])
atexit.register(peak)
sys.argv = [target, *args]
if mode == '-m':
    runpy.run_module(target, run_name='__main__', alter_sys=True)
else:
    exec(target, {'__name__': '__main__'})
"""


def _peak_mb(arguments: list[str]) -> tuple[float, float, str]:
    """Run ``python -m ...`` or ``python -c ...`` in a new process: its peak resident memory
    (MB), wall seconds and last output line."""
    with tempfile.NamedTemporaryFile(suffix=".peak") as peak:
        command = [sys.executable, "-c", _PEAK_WRAPPER, peak.name, *arguments]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        assert done.returncode == 0, f"{arguments} failed:\n{done.stderr[-2000:]}"
        kilobytes = float(Path(peak.name).read_text())
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return kilobytes / 1024, seconds, lines[-1] if lines else ""


def bench_memory_table(rows: int = TABLE_ROWS) -> None:
    """Peak memory of validate and a tiny search on a large CSV, against the table's size."""
    print(f"## memory_table: {rows:,} rows x 20 columns, each command in its own process")
    with tempfile.TemporaryDirectory(dir="/tmp") as name:
        folder = Path(name)
        study = write_big_table(folder, rows)
        csv = folder / "table.csv"
        print(f"CSV: {csv.stat().st_size / 2**20:.0f} MB on disk")
        read = (
            "import pandas as pd, sys; t = pd.read_csv(sys.argv[1]); "
            "print(t.memory_usage(deep=True).sum() / 2**20)"
        )
        read_mb, read_s, table_mb = _peak_mb(["-c", read, str(csv)])
        table = float(table_mb)
        # What each process holds before any data: its imports.
        pandas_mb, _, _ = _peak_mb(["-c", "import pandas"])
        data_mb, _, _ = _peak_mb(["-c", "import mtltune.cli, mtltune.data"])
        search_imports_mb, _, _ = _peak_mb(["-c", "import mtltune.cli, mtltune.search"])
        validate_mb, validate_s, _ = _peak_mb(["-m", "mtltune", "validate", str(study)])
        search = ["-m", "mtltune", "search", str(study), "--out", str(folder / "run")]
        search_mb, search_s, _ = _peak_mb(search)
    print(f"table in pandas (memory_usage deep): {table:.0f} MB")
    for label, peak, seconds, imports in (
        ("pandas.read_csv only", read_mb, read_s, pandas_mb),
        ("mtltune validate", validate_mb, validate_s, data_mb),
        ("mtltune search (1 trial, 1 epoch)", search_mb, search_s, search_imports_mb),
    ):
        print(
            f"{label:34s} peak {peak:6.0f} MB, imports alone {imports:4.0f} MB: "
            f"{(peak - imports) / table:.2f}x the table ({seconds:.0f} s, shared machine)"
        )


def _confirm_options(parser: argparse.ArgumentParser) -> None:
    """The confirm part's options."""
    parser.add_argument("--confirm-trials", type=int, default=20, help="trials (confirm part)")
    parser.add_argument(
        "--quality-seeds", type=int, default=3, help="fresh seeds scoring a choice (confirm part)"
    )
    parser.add_argument(
        "--ways",
        default="plain,plain+,confirm,exec2",
        help="searches to run (confirm part; without plain, it is read off the confirm search)",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument(
        "--seeds", default=None, help="comma-separated study seeds (trials: 7; search: 7,8,9)"
    )
    parser.add_argument(
        "--studies",
        default=None,
        help="bundled studies (search: hetero_sine,phase_sine,reg_class; confirm: "
        "hetero_sine,reg_class)",
    )
    parser.add_argument(
        "--tuners", default="reference,random,bayesian,tpe,tpe-plain", help="search part"
    )
    parser.add_argument("--search-out", default="search.jsonl", help="search part's records")
    parser.add_argument("--verdict-out", default="verdict.jsonl", help="verdict part's records")
    parser.add_argument("--headroom-out", default="headroom.jsonl", help="headroom part's records")
    parser.add_argument(
        "--headroom-set", action="append", default=[], help="headroom part: a study override"
    )
    parser.add_argument(
        "--strategies-out", default="strategies.jsonl", help="strategies part's records"
    )
    parser.add_argument(
        "--strategies",
        default=None,
        help="strategies part: comma-separated strategies (default: all eight)",
    )
    parser.add_argument(
        "--verdict-trials", type=int, default=12, help="verdict part: trials per search"
    )
    parser.add_argument(
        "--search-trials", type=int, default=20, help="search part: trials per search"
    )
    parser.add_argument(
        "--summary-only", action="store_true", help="search part: only summarise --search-out"
    )
    parser.add_argument(
        "--paired", action="store_true", help="also fit mtltune's configurations with the peer"
    )
    parser.add_argument("--memory-trials", type=int, default=50)
    parser.add_argument(
        "--heads-parts",
        default="steps,search",
        help="heads parts, comma-separated: steps, variants, search",
    )
    parser.add_argument("--parts", default="trials,steps,memory,leak")
    parser.add_argument(
        "--worker-trials", type=int, default=20, help="trials per search (workers part)"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="repeats (workers, adam, startup parts)"
    )
    parser.add_argument(
        "--worker-strategies",
        default="weighted;weighted,separate",
        help="semicolon-separated strategy sets (workers part)",
    )
    _confirm_options(parser)
    args = parser.parse_args()
    parts = args.parts.split(",")
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}")
    if "steps" in parts:
        bench_steps()
    if "trials" in parts:
        bench_trials(args.trials, [int(s) for s in (args.seeds or "7").split(",")], args.paired)
    if "memory" in parts:
        bench_memory(args.memory_trials)
    if "leak" in parts:
        bench_leak()
    if "profile" in parts:
        bench_profile()
    if "adam" in parts:
        bench_adam(repeats=args.repeats)
    if "recycle" in parts:
        bench_recycle()
    if "startup" in parts:
        bench_startup(args.repeats)
    if "cli" in parts:
        bench_cli(args.worker_trials, args.repeats)
    if "memory_table" in parts:
        bench_memory_table()
    if "search" in parts:
        out = Path(args.search_out)
        if not args.summary_only:
            seeds = [int(s) for s in (args.seeds or "7,8,9").split(",")]
            studies = (args.studies or "hetero_sine,phase_sine,reg_class").split(",")
            search_bench.run(studies, seeds, args.tuners.split(","), out, args.search_trials)
        search_bench.summary(out)
    if "workers" in parts:
        # weighted alone is the trials part's search space; separate alone already keeps two
        # cores busy (its per-head gradients run in parallel), so the mix gains less.
        for strategies in args.worker_strategies.split(";"):
            bench_workers(args.worker_trials, strategies, args.repeats)
    if "verdict" in parts:
        import verdict_bench

        out = Path(args.verdict_out)
        if not args.summary_only:
            seeds = [int(s) for s in (args.seeds or ",".join(map(str, range(7, 17)))).split(",")]
            default = ",".join(verdict_bench.NO_REGRET + verdict_bench.POWER)
            studies = (args.studies or default).split(",")
            verdict_bench.run(studies, seeds, out, args.verdict_trials)
        verdict_bench.summary(out)
    if "headroom" in parts:
        import headroom_bench

        out = Path(args.headroom_out)
        if not args.summary_only:
            seeds = [int(s) for s in (args.seeds or "7,8,9,10,11").split(",")]
            studies = (args.studies or "imbalanced").split(",")
            headroom_bench.run(studies, seeds, out, args.headroom_set)
        headroom_bench.summary(out)
    if "strategies" in parts:
        import strategies_bench

        names = (args.strategies or ",".join(strategies_bench.ALL)).split(",")
        out = Path(args.strategies_out)
        if not args.summary_only:
            strategies_bench.step_costs(strategies=names)
            seeds = [int(s) for s in (args.seeds or "0,1,2,3,4").split(",")]
            studies = (args.studies or ",".join(strategies_bench.DEFAULT_STUDIES)).split(",")
            strategies_bench.run(studies, seeds, out, args.trials, names)
        strategies_bench.summary(out, names)
    if "heads" in parts:
        import heads_bench

        if "steps" in args.heads_parts:
            heads_bench.bench_steps(rounds=max(args.repeats, 5))
        if "variants" in args.heads_parts:
            heads_bench.bench_variants(rounds=max(args.repeats, 5))
        if "search" in args.heads_parts:
            heads_bench.bench_search([int(s) for s in (args.seeds or "7,8,9").split(",")])
    if "confirm" in parts:
        seeds = [int(s) for s in (args.seeds or "7,8,9").split(",")]
        studies = (args.studies or "hetero_sine,reg_class").split(",")
        ways = args.ways.split(",")
        bench_confirm(studies, seeds, args.confirm_trials, args.quality_seeds, ways)


if __name__ == "__main__":
    main()

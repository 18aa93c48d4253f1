"""The ``confirm`` part of benchmarks/run.py: does confirming the top trials pick better?

For each bundled study and study seed, four searches choose a configuration:

- ``plain``: the search's single best trial (``search.confirm.top: 0``), ``T`` trials;
- ``plain+``: the same at the confirmation's budget, ``T + top * seeds`` trials;
- ``confirm``: ``T`` trials, then the ``top`` best distinct configurations retrained with
  ``seeds`` further seeds each, chosen by the mean stop objective;
- ``exec2``: Keras Tuner's ``executions_per_trial: 2`` at the same number of training runs,
  ``(T + top * seeds) / 2`` trials, each the mean of two seeds.

Each chosen configuration is then scored by what a user gets from it: its mean test loss over
``--quality-seeds`` fresh initialisation seeds on the same splits (one seed's test loss is
itself seed noise). The test objective is the geometric mean of the per-head test losses (of
the losses against the noise-free target for ``hetero_sine``, the clean loss).
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from mtltune import load_study, prepare_dataset, run_study
from mtltune.model.strategies import TrainPlan
from mtltune.tuning.evaluation import head_scores, train_plan
from mtltune.tuning.tuner import study_hypermodel

STUDIES = Path(__file__).resolve().parent.parent / "studies"
TOP, SEEDS = 3, 2


def _plan(described: dict[str, Any]) -> TrainPlan:
    """The ``TrainPlan`` a ``TrainPlan.describe()`` summary came from."""
    rates = described.get("learning_rates") or {"*": described["learning_rate"]}
    return TrainPlan(
        described["strategy"], described["epsilon"], dict(rates), described.get("loss_weights", {})
    )


def _geomean(values: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def _search(name: str, seed: int, overrides: list[str]) -> tuple[dict[str, Any], float, float]:
    """Run one search; return the chosen plan, the search's seconds and confirmation's."""
    study = load_study(STUDIES / f"{name}.yaml", [f"seed={seed}", *overrides])
    with tempfile.TemporaryDirectory() as folder:
        result = run_study(study, Path(folder) / "run")
    confirm_seconds = 0.0
    if result.confirmation is not None:
        confirm_seconds = sum(
            r.seconds or 0.0 for r in result.confirmation.runs if r.source == "confirm"
        )
    return result.best.plan, result.seconds, confirm_seconds


def _quality(name: str, seed: int, plan: dict[str, Any], seeds: int) -> dict[str, float]:
    """Mean test objective (and clean one) of a plan over fresh seeds, on the study's splits."""
    study = load_study(STUDIES / f"{name}.yaml", [f"seed={seed}"])
    dataset = prepare_dataset(study)
    hypermodel = study_hypermodel(study, dataset)
    test, clean = [], []
    for k in range(seeds):
        model, _ = train_plan(hypermodel, _plan(plan), dataset, seed=seed + 5000 + k)
        scores = head_scores(model, dataset.test)
        test.append(_geomean([s["loss"] for s in scores.values()]))
        if all("loss_clean" in s for s in scores.values()):
            clean.append(_geomean([s["loss_clean"] for s in scores.values()]))
    out = {"test": statistics.fmean(test)}
    if clean:
        out["clean"] = statistics.fmean(clean)
    return out


def bench_confirm(studies: list[str], seeds: list[int], trials: int, quality_seeds: int) -> None:
    """Print, per study and seed, each way's chosen configuration's test quality and cost."""
    extra = TOP * SEEDS
    ways = {
        "plain": [f"search.max_trials={trials}", "search.confirm.top=0"],
        "plain+": [f"search.max_trials={trials + extra}", "search.confirm.top=0"],
        "confirm": [
            f"search.max_trials={trials}",
            f"search.confirm.top={TOP}",
            f"search.confirm.seeds={SEEDS}",
        ],
        "exec2": [
            f"search.max_trials={(trials + extra) // 2}",
            "search.confirm.top=0",
            "search.executions_per_trial=2",
        ],
    }
    print(
        f"confirm: {trials} trials, top {TOP} x {SEEDS} seeds (+{extra} runs); "
        f"quality = mean over {quality_seeds} fresh seeds; shared machine"
    )
    table: dict[tuple[str, str], list[float]] = {}
    for name in studies:
        for seed in seeds:
            for way, overrides in ways.items():
                start = time.perf_counter()
                plan, seconds, confirming = _search(name, seed, overrides)
                quality = _quality(name, seed, plan, quality_seeds)
                table.setdefault((name, f"{way}/seconds"), []).append(seconds)
                for key, value in quality.items():
                    table.setdefault((name, f"{way}/{key}"), []).append(value)
                print(
                    f"  {name} seed {seed} {way:8s}: test objective {quality['test']:.5g}"
                    + (f", clean {quality['clean']:.5g}" if "clean" in quality else "")
                    + f"; search {seconds:.0f} s (confirmation runs {confirming:.0f} s), "
                    f"with scoring {time.perf_counter() - start:.0f} s; {plan['strategy']}",
                    flush=True,
                )
    print("summary (mean over seeds; ratio to plain, below 1 is better):")
    for (name, key), values in table.items():
        way, metric = key.split("/")
        reference = statistics.fmean(table[(name, f"plain/{metric}")])
        mean = statistics.fmean(values)
        print(f"  {name} {metric:7s} {way:8s} {mean:.5g}  ratio {mean / reference:.3f}")

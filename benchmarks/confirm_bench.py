"""The ``confirm`` part of benchmarks/run.py: does confirming the top trials pick better?

For each bundled study and study seed, four searches choose a configuration:

- ``plain``: the search's single best trial (what ``search.confirm.top: 0`` chooses), ``T``
  trials; read off the ``confirm`` search (same seed, same trials) unless run on its own;
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

import json
import math
import statistics
import tempfile
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


def _search(name: str, seed: int, overrides: list[str]) -> dict[str, Any]:
    """Run one search: the chosen plan, the search's single best trial's, and the seconds."""
    study = load_study(STUDIES / f"{name}.yaml", [f"seed={seed}", *overrides])
    with tempfile.TemporaryDirectory() as folder:
        result = run_study(study, Path(folder) / "run")
    confirm_seconds = 0.0
    if result.confirmation is not None:
        confirm_seconds = sum(
            r.seconds or 0.0 for r in result.confirmation.runs if r.source == "confirm"
        )
    single = min((t for t in result.trials if t.ok), key=lambda t: float(t.objective or 0.0))
    return {
        "plan": result.best.plan,
        "single": single.plan,
        "seconds": result.seconds,
        "confirming": confirm_seconds,
    }


#: Scores already measured (two ways often choose the same plan), by study, seed and plan.
_SCORED: dict[str, dict[str, float]] = {}


def _quality(name: str, seed: int, plan: dict[str, Any], seeds: int) -> dict[str, float]:
    """Mean test objective (and clean one) of a plan over fresh seeds, on the study's splits."""
    key = json.dumps([name, seed, plan, seeds], sort_keys=True)
    if key not in _SCORED:
        _SCORED[key] = _measure(name, seed, plan, seeds)
    return _SCORED[key]


def _measure(name: str, seed: int, plan: dict[str, Any], seeds: int) -> dict[str, float]:
    """``_quality``, measured."""
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


def bench_confirm(
    studies: list[str], seeds: list[int], trials: int, quality_seeds: int, only: list[str]
) -> None:
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
    ways = {way: overrides for way, overrides in ways.items() if way in only}
    print(
        f"confirm: {trials} trials, top {TOP} x {SEEDS} seeds (+{extra} runs); "
        f"quality = mean over {quality_seeds} fresh seeds; shared machine"
    )
    table: dict[tuple[str, str], list[float]] = {}
    for name in studies:
        for seed in seeds:
            for way, overrides in ways.items():
                got = _search(name, seed, overrides)
                _score(table, name, seed, way, got["plan"], got, quality_seeds)
                if way == "confirm" and "plain" not in ways:
                    _score(table, name, seed, "plain", got["single"], None, quality_seeds)
    _summary(table)


def _score(
    table: dict[tuple[str, str], list[float]],
    name: str,
    seed: int,
    way: str,
    plan: dict[str, Any],
    got: dict[str, Any] | None,
    quality_seeds: int,
) -> None:
    """Score one way's chosen plan over fresh seeds; print it and add it to the table."""
    quality = _quality(name, seed, plan, quality_seeds)
    for key, value in quality.items():
        table.setdefault((name, f"{way}/{key}"), []).append(value)
    line = f"  {name} seed {seed} {way:8s}: test objective {quality['test']:.5g}"
    line += f", clean {quality['clean']:.5g}" if "clean" in quality else ""
    if got is not None:
        table.setdefault((name, f"{way}/seconds"), []).append(got["seconds"])
        line += f"; search {got['seconds']:.0f} s (confirmation runs {got['confirming']:.0f} s)"
    print(f"{line}; {plan['strategy']} {_short(plan)}", flush=True)


def _short(plan: dict[str, Any]) -> str:
    """A plan in a few characters (to see whether two ways chose the same)."""
    rates = plan.get("learning_rates") or {"*": plan.get("learning_rate")}
    return f"lr {','.join(f'{r:.3g}' for r in rates.values())} eps {plan['epsilon']:.2g}"


def _summary(table: dict[tuple[str, str], list[float]]) -> None:
    """Means over seeds and their ratios to the plain search's."""
    print("summary (mean over seeds; ratio to plain, below 1 is better):")
    for (name, key), values in table.items():
        way, metric = key.split("/")
        mean = statistics.fmean(values)
        plain = table.get((name, f"plain/{metric}"))
        ratio = f"  ratio {mean / statistics.fmean(plain):.3f}" if plain else ""
        print(f"  {name} {metric:7s} {way:8s} {mean:.5g} over {len(values)}{ratio}")

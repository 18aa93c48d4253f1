"""The ``headroom`` part of benchmarks/run.py (issue 24): how much better than equal weights can
any fixed weighting be on a study's test split?

The verdict's power target asks the race to find a configuration better than equal weights on
at least 80 % of seeds, which presumes one exists. This part measures the room there is: for a
two-head study, every weight ratio of a grid (the second head's weight over the first's,
3^-3 ... 3^6, weights normalised to mean 1, the baseline's learning rate and epsilon) is
trained at several study seeds (each its own split and initialisation, as the verdict part's
searches), and its test objective (the geometric mean of the per-head test losses, as the
verdict part scores) is compared with equal weights' at the same seed.

The ratio chosen with hindsight (the best mean over the seeds, on test) is an upper bound on
what any search of the loss weights could gain there; if it is within a few per cent of equal
weights, no race can show "better on 80 % of seeds" by a margin that matters.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

from verdict_bench import STUDIES, _in_child, _objective

#: The second head's weight over the first's.
RATIOS = tuple(3.0**k for k in range(-3, 7))


def _grid(study_name: str, seed: int, overrides: list[str]) -> dict:
    """Every ratio of the grid, trained and scored on test at one study seed."""
    from mtltune import load_study
    from mtltune.data.dataset import prepare_dataset
    from mtltune.model.strategies import weighted_plan
    from mtltune.tuning.evaluation import evaluate, train_plan
    from mtltune.tuning.tuner import study_hypermodel

    study = load_study(STUDIES / f"{study_name}.yaml", [f"seed={seed}", *overrides])
    dataset = prepare_dataset(study)
    hypermodel = study_hypermodel(study, dataset)
    heads = list(study.heads)
    base = study.search.baseline
    scores = {}
    for ratio in RATIOS:
        weights = {heads[0]: 1.0, **{h: ratio for h in heads[1:]}}
        plan = weighted_plan(
            heads, learning_rate=base.learning_rate, epsilon=base.epsilon, weights=weights
        )
        model, fit = train_plan(hypermodel, plan, dataset)
        evaluation = evaluate(model, dataset, hypermodel, epochs=int(fit["epochs"]), test=True)
        scores[ratio] = _objective(evaluation.test)
    return {"study": study_name, "seed": seed, "overrides": overrides, "test": scores}


def run(studies: list[str], seeds: list[int], out: Path, overrides: list[str]) -> None:
    """One JSON line per (study, seed) not yet in ``out``."""
    done = set()
    if out.exists():
        done = {
            (r["study"], r["seed"], tuple(r["overrides"]))
            for r in map(json.loads, out.read_text().splitlines())
        }
    for study in studies:
        for seed in seeds:
            if (study, seed, tuple(overrides)) in done:
                continue
            record = _in_child(_grid, study, seed, overrides)
            with out.open("a") as stream:
                stream.write(json.dumps(record) + "\n")
            print(f"{study} seed {seed}: {record['test']}", flush=True)


def summary(path: Path) -> None:
    """Per study: each ratio's paired test gain over equal weights (above 1: better)."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["study"], " ".join(r["overrides"])), []).append(r)
    for (study, overrides), rows in groups.items():
        print(f"\n{study} {overrides or '(as shipped)'}: {len(rows)} seeds")
        print("| weight ratio | equal / ratio (geometric mean) | min-max | seeds better |")
        print("|---|---|---|---|")
        best = None
        ratios = sorted(set.intersection(*(set(map(float, r["test"])) for r in rows)))
        for ratio in ratios:
            gains = [r["test"]["1.0"] / r["test"][str(ratio)] for r in rows]
            mean = math.exp(statistics.fmean(math.log(g) for g in gains))
            better = sum(g > 1 for g in gains)
            print(
                f"| {ratio:.4g} | {mean:.4f} | {min(gains):.4f}-{max(gains):.4f} | "
                f"{better} of {len(gains)} |"
            )
            if best is None or mean > best[1]:
                best = (ratio, mean)
        print(
            f"best in hindsight: ratio {best[0]:.4g}, equal weights' test objective "
            f"{best[1]:.4f}x its own"
        )

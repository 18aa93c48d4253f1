"""The ``strategies`` part of benchmarks/run.py (issue 28): every strategy, tuned with the same
budget, in the race against equal weights.

For each (study, seed) and each strategy, one search as ``run_study`` runs it with
``search.strategies`` set to that strategy alone (so each tunes its own hyperparameters with
the same number of trials), then the race of the verdict (tuning/confirm.py) between its best
configurations and equal weights. One spawned process runs a (study, seed)'s strategies in turn
and appends one JSON line per search to ``--strategies-out``; the summary reads that file, so
the benchmark can be run in pieces.

The score is verdict_bench's **paired test objective ratio** of the race's leading challenger
(``leader``) against equal weights (above 1: the strategy's best configuration is better on
test), and of what mtltune recommends (``verdict``: equal weights, ratio 1, when they stand).

The ``step_costs`` function times each strategy's training step against ``weighted`` on the
bundled hetero_sine study (its model, batch and data as shipped).

The fourth table is scikit-learn's bundled diabetes data (442 rows, no network), made
multi-target: disease progression, BMI and blood pressure from age, sex and the six serum
measurements.
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from rounds import fastest_per_step
from verdict_bench import _in_child, _objective

STUDIES = Path(__file__).resolve().parent.parent / "studies"
ALL = ("weighted", "separate", "uncertainty", "geometric", "dwa", "gradnorm", "pcgrad", "famo")
DEFAULT_STUDIES = ("hetero_sine", "reg_class", "imbalanced", "diabetes")

#: Kept small for two shared cores: small trunks, few epochs, no plots, a race of the top
#: challenger on 3 seeds (the verdict's rule, with ``top: 1`` and ``max_seeds: 3``).
COMMON = [
    "report.replicates=0",
    "report.plots=false",
    "search.confirm.top=1",
    "search.confirm.seeds=3",
    "search.confirm.max_seeds=3",
]
SMALLER = {
    "hetero_sine": ["model.units=[32,32,32]", "training.max_epochs=40"],
    "reg_class": ["model.units=[32,16]", "training.max_epochs=60", "training.patience=10"],
    "imbalanced": ["model.units=[32,32]", "training.max_epochs=30"],
    "diabetes": [],
}

DIABETES_STUDY = """\
# scikit-learn's bundled diabetes data (Efron et al. 2004), made multi-target.
name: diabetes
seed: 0
data:
  source: diabetes.csv
  inputs: [age, sex, s1, s2, s3, s4, s5, s6]
split: {train: 0.6, stop: 0.2, test: 0.2, shuffle: true}
heads:
  progression: {target: progression, kind: regression}
  bmi: {target: bmi, kind: regression}
  bp: {target: bp, kind: regression}
model: {units: [32, 16], activation: relu}
training: {max_epochs: 60, batch_size: 32, patience: 10}
search:
  strategies: [weighted]
  tuner: tpe
  max_trials: 8
  learning_rate: {min: 0.0003, max: 0.03}
  epsilon: {min: 1.0e-8, max: 0.01}
"""


def write_diabetes(folder: Path) -> Path:
    """Write the diabetes table and its study into ``folder``; the study's path."""
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True, scaled=False).frame.rename(
        columns={"target": "progression"}
    )
    frame.to_csv(folder / "diabetes.csv", index=False)
    path = folder / "diabetes.yaml"
    path.write_text(DIABETES_STUDY)
    return path


def _study_path(name: str, folder: Path) -> Path:
    return write_diabetes(folder) if name == "diabetes" else STUDIES / f"{name}.yaml"


def _searches(study_name: str, seed: int, trials: int, strategies: list[str]) -> list[dict]:
    """One search per strategy, with the race; each one's verdict and paired test scores."""
    from mtltune import load_study, run_study

    records = []
    with tempfile.TemporaryDirectory() as tmp:
        path = _study_path(study_name, Path(tmp))
        for strategy in strategies:
            overrides = [
                f"seed={seed}",
                f"search.max_trials={trials}",
                f"search.strategies=[{strategy}]",
                *COMMON,
                *SMALLER.get(study_name, []),
            ]
            study = load_study(path, overrides)
            started = time.perf_counter()
            try:
                result = run_study(study, Path(tmp) / f"run-{strategy}")
            except Exception as exc:  # a strategy that cannot run is a row, not a crash
                records.append(
                    {"study": study_name, "seed": seed, "strategy": strategy, "error": str(exc)}
                )
                continue
            wall = time.perf_counter() - started
            race = result.confirmation
            test = race.test if race is not None else {}
            leader = [_objective(s) for s in test.get("best", [])]
            equal = [_objective(s) for s in test.get("baseline", [])]
            if not test:
                leader = [_objective(result.best.test)]
                equal = [_objective(result.baseline.test)]
            failed = sum(1 for t in result.trials if not t.ok)
            records.append(
                {
                    "study": study_name,
                    "seed": seed,
                    "strategy": strategy,
                    "trials": trials,
                    "failed_trials": failed,
                    "wall": wall,
                    "recommended": result.verdict.recommended,
                    "line": result.verdict.line(),
                    "leader_plan": result.best_trial.plan,
                    "leader_test": leader,
                    "equal_test": equal,
                    "decisions": [asdict(d) for d in race.decisions] if race is not None else [],
                }
            )
    return records


def run(
    studies: list[str], seeds: list[int], out: Path, trials: int, strategies: list[str]
) -> None:
    """Run every (study, seed, strategy) search not yet in ``out``; one JSON line each."""
    done = set()
    if out.exists():
        done = {
            (r["study"], r["seed"], r["strategy"])
            for r in map(json.loads, out.read_text().splitlines())
        }
    for seed in seeds:  # every study gets its first seeds before any gets its last
        for study in studies:
            todo = [s for s in strategies if (study, seed, s) not in done]
            if not todo:
                continue
            records = _in_child(_searches, study, seed, trials, todo)
            with out.open("a") as stream:
                for record in records:
                    stream.write(json.dumps(record) + "\n")
            for record in records:
                line = record.get("line") or record.get("error")
                print(f"{study} seed {seed} {record['strategy']}: {line}", flush=True)


def _pairs(record: dict) -> list[float]:
    """Per race seed, equal weights' test objective over the leader's (above 1: leader better)."""
    pairs = zip(record["equal_test"], record["leader_test"], strict=True)
    return [e / p for e, p in pairs]


def _geomean(values: list[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def summary(path: Path, strategies: list[str] | None = None) -> None:
    """Per study and strategy: the leader's paired test ratios against equal weights.

    Columns: the study seeds searched; the race seeds paired over all of them; the geometric
    mean of the per-seed ratios (equal weights' test objective over the leader's), their median
    and range; how many race seeds the leader won; how many searches' verdicts let equal
    weights stand; what following the verdict gave (per study seed: 1 where equal weights
    stand, else the geometric mean of its race's ratios; the geometric mean over study seeds);
    and the leader against ``weighted``'s leader on the same race seeds (above 1: the
    strategy's best configuration beat the tuned static weights).
    """
    records = [json.loads(line) for line in path.read_text().splitlines()]
    ok = [r for r in records if "error" not in r]
    errors = len(records) - len(ok)
    print(f"\nstrategies benchmark: {len(ok)} searches ({errors} errors) from {path}")
    print(
        "| study | strategy | study seeds | race seeds | ratio vs equal weights (geometric "
        "mean) | median | min–max | race seeds won | equal weights stand | following the "
        "verdict | vs tuned weighted |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    names = strategies or list(dict.fromkeys(r["strategy"] for r in ok))
    for study in dict.fromkeys(r["study"] for r in ok):
        weighted = {r["seed"]: r for r in ok if r["study"] == study and r["strategy"] == "weighted"}
        for strategy in names:
            runs = [r for r in ok if r["study"] == study and r["strategy"] == strategy]
            if not runs:
                continue
            ratios = [x for r in runs for x in _pairs(r)]
            stands = sum(r["recommended"] == "baseline" for r in runs)
            # The race seeds are the same sequence in every search of a study seed (equal
            # weights score the same on each): pair the seeds both races ran.
            against = [
                w / p
                for r in runs
                if r["seed"] in weighted
                for w, p in zip(weighted[r["seed"]]["leader_test"], r["leader_test"], strict=False)
            ]
            versus = f"{_geomean(against):.4f}" if against else "–"
            policy = [1.0 if r["recommended"] == "baseline" else _geomean(_pairs(r)) for r in runs]
            print(
                f"| {study} | {strategy} | {len(runs)} | {len(ratios)} | {_geomean(ratios):.4f} | "
                f"{statistics.median(ratios):.4f} | {min(ratios):.4f}–{max(ratios):.4f} | "
                f"{sum(x > 1 for x in ratios)} of {len(ratios)} | {stands} of {len(runs)} | "
                f"{_geomean(policy):.4f} | {versus} |"
            )
    walls = [r["wall"] for r in ok]
    if walls:
        print(f"\nwall per search: median {statistics.median(walls):.0f} s")


def step_costs(epochs: int = 5, rounds: int = 3, strategies: list[str] | None = None) -> dict:
    """Seconds per training step of each strategy on the bundled hetero_sine study.

    Every model is traced first; then the strategies alternate for ``rounds`` rounds of
    ``epochs`` epochs and each keeps its fastest round (the machine is shared and noisy).
    """
    import numpy as np

    from mtltune import load_study, prepare_dataset
    from mtltune.model import loop
    from mtltune.model.strategies import separate_plan, single_optimizer_plan, weighted_plan
    from mtltune.tuning.hypermodel import MultiTaskHyperModel
    from mtltune.tuning.reuse import stateless_study

    study = load_study(STUDIES / "hetero_sine.yaml")
    data = prepare_dataset(study)
    heads = list(study.heads)
    hypermodel = MultiTaskHyperModel.from_study(
        study, data.input_dim, dict.fromkeys(heads, 1), stateless_build=stateless_study(study)
    )
    names = strategies or list(ALL)
    plans = {}
    for name in names:
        if name == "weighted":
            plans[name] = weighted_plan(heads, learning_rate=1e-3, epsilon=1e-3)
        elif name == "separate":
            plans[name] = separate_plan(dict.fromkeys(heads, 1e-3), epsilon=1e-3)
        else:
            plans[name] = single_optimizer_plan(name, learning_rate=1e-3, epsilon=1e-3)
    batch = study.training.batch_size
    x, y = loop.as_tensors(data.train.x), loop.as_tensors(data.train.y)
    order = np.random.default_rng(0).permutation(len(data.train))
    loops = {}
    for name, plan in plans.items():
        loops[name] = loop.loop_of(hypermodel.build_plan(plan))
        loops[name].train_epoch(x, y, order, batch)  # trace
    times = fastest_per_step(loops, x, y, order, batch, epochs, rounds)
    print(f"## strategy steps: hetero_sine, {len(heads)} heads, batch {batch}, best of {rounds}")
    print("| strategy | ms per step | × weighted |")
    print("|---|---|---|")
    for name, seconds in times.items():
        ratio = seconds / times["weighted"] if "weighted" in times else float("nan")
        print(f"| {name} | {1000 * seconds:.2f} | {ratio:.2f} |")
    return times

"""The ``verdict`` part of benchmarks/run.py (issue 24): no regret where equal weights are
optimal, power where better weights exist.

Every (study, seed) search runs through ``run_study`` (no replicates, the race on) in its own
spawned process on a temporary folder and appends one JSON line to ``--verdict-out``; the
summary reads that file, so the benchmark can be run in pieces and summarised at the end.

For each search the race's paired test scores (the leading challenger and equal weights,
trained with the same seeds and splits, scored on the test split after the race) give the
**paired test objective ratio** of two policies against equal weights, per seed of the study:

- ``verdict``: what mtltune recommends now (equal weights when they stand: ratio 1 exactly);
- ``leader``: always the race's leading challenger, whatever the race said. This is the policy
  of the code before the verdict, which always recommended a searched configuration (it chose
  among the top three by mean stop objective; the race's leader is chosen among the same top
  three by mean gain over equal weights on the same seeds).

The test objective of a run is the geometric mean of its per-head test losses (the study's
weight-free objective, on test); the ratio is ``exp(mean over the race's seeds of log(equal
weights' / policy's))``, above 1 when the policy is better.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import statistics
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

STUDIES = Path(__file__).resolve().parent.parent / "studies"
#: No-regret studies (equal weights optimal or near it) and power studies (better weights exist).
NO_REGRET = ("same_sine", "phase_sine", "reg_class")
POWER = ("hetero_sine", "imbalanced")


def _in_child(function, *args):
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def _objective(scores: dict) -> float:
    """The geometric mean of per-head test losses (arithmetic if one is not positive)."""
    losses = [s["loss"] for s in scores.values()]
    if all(v > 0 for v in losses):
        return math.exp(statistics.fmean(math.log(v) for v in losses))
    return statistics.fmean(losses)


def _search(study_name: str, seed: int, trials: int) -> dict:
    """One search as ``mtltune search`` runs it, with the race; its verdict and paired scores."""
    from mtltune import load_study, run_study

    # ``imbalanced:heads.amount.scale=none``: a bundled study with overrides of its own.
    name, _, extra = study_name.partition(":")
    overrides = [f"seed={seed}", f"search.max_trials={trials}", "report.replicates=0"]
    overrides += [o for o in extra.split(";") if o]
    study = load_study(STUDIES / f"{name}.yaml", overrides)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        result = run_study(study, Path(folder) / "run")
        wall = time.perf_counter() - started
    race = result.confirmation
    test = race.test if race is not None else {}
    leader = [_objective(s) for s in test.get("best", [])]
    equal = [_objective(s) for s in test.get("baseline", [])]
    if not test:  # no challenger raced: the study-seed runs are the only pair
        leader, equal = [_objective(result.best.test)], [_objective(result.baseline.test)]
    return {
        "study": study_name,
        "seed": seed,
        "trials": trials,
        "wall": wall,
        "race_seconds": (result.time_split or {}).get("evaluation"),
        "recommended": result.verdict.recommended,
        "leader": result.best_trial.trial_id,
        "line": result.verdict.line(),
        "leader_test": leader,
        "equal_test": equal,
        "decisions": [asdict(d) for d in race.decisions] if race is not None else [],
    }


def run(studies: list[str], seeds: list[int], out: Path, trials: int) -> None:
    """Run every (study, seed) search not yet in ``out``; one JSON line each."""
    done = set()
    if out.exists():
        done = {(r["study"], r["seed"]) for r in map(json.loads, out.read_text().splitlines())}
    for seed in seeds:  # every study gets its first seeds before any gets its last
        for study in studies:
            if (study, seed) in done:
                continue
            record = _in_child(_search, study, seed, trials)
            with out.open("a") as stream:
                stream.write(json.dumps(record) + "\n")
            print(f"{study} seed {seed}: {record['line']} ({record['wall']:.0f} s)", flush=True)


def _ratio(record: dict, policy: str) -> float:
    """The policy's paired test objective ratio against equal weights (above 1: better)."""
    if policy == "verdict" and record["recommended"] == "baseline":
        return 1.0
    pairs = zip(record["equal_test"], record["leader_test"], strict=True)
    return math.exp(statistics.fmean(math.log(e / p) for e, p in pairs))


def summary(path: Path) -> None:
    """Per study: seeds, verdicts, and each policy's ratios, regret and power."""
    records = [json.loads(line) for line in path.read_text().splitlines()]
    print(f"\nverdict benchmark: {len(records)} searches from {path}")
    print(
        "| study | kind | seeds | equal weights stand | policy | median ratio | min–max | "
        "within 1 % or better | better |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for study in dict.fromkeys(r["study"] for r in records):
        runs = [r for r in records if r["study"] == study]
        base = study.partition(":")[0]
        kind = "no regret" if base in NO_REGRET else "power" if base in POWER else "–"
        stands = sum(r["recommended"] == "baseline" for r in runs)
        for policy in ("verdict", "leader"):
            ratios = [_ratio(r, policy) for r in runs]
            ok = sum(x >= 0.99 for x in ratios)
            better = sum(x > 1.0 for x in ratios)
            print(
                f"| {study} | {kind} | {len(runs)} | {stands} of {len(runs)} | {policy} | "
                f"{statistics.median(ratios):.4f} | {min(ratios):.4f}–{max(ratios):.4f} | "
                f"{ok} of {len(runs)} ({100 * ok / len(runs):.0f} %) | "
                f"{better} of {len(runs)} ({100 * better / len(runs):.0f} %) |"
            )
    walls = [r["wall"] for r in records]
    print(f"\nwall per search: median {statistics.median(walls):.0f} s")

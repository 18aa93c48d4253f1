"""The ``search`` part of benchmarks/run.py (issue 14): sample efficiency and oracle cost.

Every (study, seed, tuner) search runs through ``run_study`` (report written, no replicates) in
its own spawned process on a temporary folder, and appends one JSON line to ``--search-out``;
the summary reads that file, so the benchmark can be run in pieces and summarised at the end.
Tuners: ``random``, ``bayesian``, ``tpe`` (informed trials on) and ``tpe-plain`` (``tpe`` with
``search.informed: false``); the ablations ``tpe-tenth`` (Optuna's default γ, a tenth of the
trials, instead of a quarter) and ``tpe-same-eps`` (inverse-loss proposals keep the source
trial's epsilon). Each record also keeps the configuration the search chose (after its
confirmation runs) and its mean stop objective over its runs: the search's trial and the
confirmation seeds. On ``hetero_sine`` the fixed equal-weights and 1/σ² plans
(learning rate 1e-3, epsilon 1e-3, the study seed) are trained too, as references; trials and
references see only the train and stop splits (the stop objective is reported, never a test
figure). With five or more seeds of a study, the summary also pairs each tuner's searches with
``bayesian``'s, seed by seed (wins, median ratio, sign test).
"""

from __future__ import annotations

import itertools
import json
import math
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

STUDIES = Path(__file__).resolve().parent.parent / "studies"
TUNERS = {
    "random": ["search.tuner=random"],
    "bayesian": ["search.tuner=bayesian"],
    "tpe": ["search.tuner=tpe", "search.informed=true"],
    "tpe-plain": ["search.tuner=tpe", "search.informed=false"],
    # Ablations of ``tpe`` (each one design choice undone in the search's own process):
    "tpe-tenth": ["search.tuner=tpe", "search.informed=true"],  # Optuna's default γ, 0.1
    "tpe-same-eps": ["search.tuner=tpe", "search.informed=true"],  # ε not scaled with weights
}


def _ablate(tuner: str) -> None:
    """Undo one design choice of the ``tpe`` oracle in this process (the ablation tuners)."""
    if tuner == "tpe-tenth":
        from mtltune.tuning.oracle import _TPEProposals

        _TPEProposals.__init__.__kwdefaults__["good_fraction"] = 0.1
    elif tuner == "tpe-same-eps":
        from mtltune.tuning import informed

        informed.scaled_epsilon = lambda space, values, weights, epsilon: epsilon


AFTER = (5, 10, 20)


def _in_child(function, *args):
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def _search(study_name: str, seed: int, tuner: str, trials: int) -> dict:
    """One search of ``trials`` trials, as ``mtltune search`` runs it (report, no replicates)."""
    from mtltune import load_study, run_study

    overrides = [f"seed={seed}", f"search.max_trials={trials}", "report.replicates=0"]
    overrides += TUNERS[tuner]
    study = load_study(STUDIES / f"{study_name}.yaml", overrides)
    _ablate(tuner)
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        result = run_study(study, Path(folder) / "run", report=True)
        wall = time.perf_counter() - started
    return {
        "study": study_name,
        "seed": seed,
        "tuner": tuner,
        "max_trials": trials,
        "wall": wall,
        "objectives": [t.objective if t.ok else None for t in result.trials],
        "strategies": [t.strategy for t in result.trials],
        "weights": [t.plan.get("loss_weights") for t in result.trials],
        "origins": [getattr(t, "origin", "sampler") for t in result.trials],
        "oracle": [getattr(t, "oracle_seconds", None) for t in result.trials],
        "training": [t.seconds for t in result.trials],
        "split": getattr(result, "time_split", None),
        "chosen": _chosen(result),
    }


def _chosen(result) -> dict | None:
    """The configuration the search chose and its mean stop objective over its runs.

    The chosen configuration's own trial plus its confirmation runs (further initialisation
    seeds, same splits): a figure less at the mercy of one lucky initialisation than the best
    single trial. Stop split only, like every figure here.
    """
    confirmation = result.confirmation
    trial_id = result.best_trial.trial_id
    values = confirmation.values(trial_id) if confirmation else []
    if not values:
        return None
    return {"trial": trial_id, "mean": statistics.fmean(values), "runs": len(values)}


def _references(seed: int) -> dict:
    """Stop objectives of the equal-weights and 1/σ² plans on hetero_sine, this seed."""
    from mtltune import load_study, prepare_dataset
    from mtltune.model.objectives import MONITOR
    from mtltune.model.strategies import weighted_plan
    from mtltune.tuning.evaluation import train_plan
    from mtltune.tuning.tuner import study_hypermodel

    study = load_study(STUDIES / "hetero_sine.yaml", [f"seed={seed}"])
    dataset = prepare_dataset(study)
    hypermodel = study_hypermodel(study, dataset)
    heads = list(study.heads)
    sigma = {h: 0.1 * 2**i for i, h in enumerate(heads)}
    plans = {
        "equal": dict.fromkeys(heads, 1.0),
        "inverse_variance": {h: 1 / s**2 for h, s in sigma.items()},
    }
    out = {"study": "hetero_sine", "seed": seed, "tuner": "reference"}
    for name, weights in plans.items():
        plan = weighted_plan(heads, learning_rate=1e-3, epsilon=1e-3, weights=weights)
        _, fit = train_plan(hypermodel, plan, dataset)
        out[name] = float(fit[MONITOR])
    return out


def run(studies: list[str], seeds: list[int], tuners: list[str], out: Path, trials: int) -> None:
    """Run the searches of ``trials`` trials (and hetero_sine's references) into ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    for study in studies:
        for seed in seeds:
            jobs = [(_search, study, seed, t, trials) for t in tuners if t != "reference"]
            if study == "hetero_sine" and "reference" in tuners:
                jobs = [(_references, seed), *jobs]
            for function, *args in jobs:
                record = _in_child(function, *args)
                with out.open("a") as file:
                    file.write(json.dumps(record) + "\n")
                print(json.dumps({k: record[k] for k in record if k in _SHORT}), flush=True)


_SHORT = ("study", "seed", "tuner", "wall", "equal", "inverse_variance")


def _best_after(objectives: list[float | None], n: int) -> float | None:
    done = [o for o in objectives[:n] if o is not None]
    return min(done) if done else None


def _spearman(record: dict) -> float | None:
    """Spearman correlation of the best weighted trial's weights with σ_i (hetero_sine)."""
    from scipy.stats import spearmanr

    weighted = [
        (o, w)
        for o, w, s in zip(
            record["objectives"], record["weights"], record["strategies"], strict=True
        )
        if o is not None and w and s == "weighted"
    ]
    if not weighted:
        return None
    _, weights = min(weighted, key=lambda pair: pair[0])
    heads = sorted(weights, key=lambda h: int(h[1:]))
    if len(set(weights.values())) == 1:
        return math.nan  # equal weights: no correlation with anything
    sigma = [0.1 * 2**i for i in range(len(heads))]
    return float(spearmanr([weights[h] for h in heads], sigma).statistic)


def _median(values: list[float | None]) -> float | None:
    values = [v for v in values if v is not None and math.isfinite(v)]
    return statistics.median(values) if values else None


def _fmt(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def summary(path: Path) -> None:
    """Print the Markdown tables of the records in ``path``."""
    records, seen = [], set()
    for line in path.read_text().splitlines():
        record = json.loads(line) if line.strip() else None
        key = record and (record["study"], record["seed"], record["tuner"])
        if record and key not in seen:  # a piece run twice: its first record
            seen.add(key)
            records.append(record)
    refs = {r["seed"]: r for r in records if r["tuner"] == "reference"}
    runs = [r for r in records if r["tuner"] != "reference"]
    print(
        "| study | tuner | seeds | best after 5 | after 10 | after 20 (all) "
        "| chosen, mean of its runs | wall s | oracle % |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    keys = sorted({(r["study"], r["tuner"]) for r in runs})
    for study, tuner in keys:
        rows = sorted((r for r in runs if (r["study"], r["tuner"]) == (study, tuner)), key=_seed)
        best = {n: [_best_after(r["objectives"], n) for r in rows] for n in AFTER}
        oracle = [sum(x or 0 for x in r["oracle"]) / r["wall"] * 100 for r in rows]
        chosen = [(r.get("chosen") or {}).get("mean") for r in rows]
        cells = [
            " ".join(_fmt(v) for v in values) + f" (med {_fmt(_median(values))})"
            for values in [*(best[n] for n in AFTER), chosen]
        ]
        walls = " ".join(f"{r['wall']:.0f}" for r in rows)
        seeds = ",".join(str(r["seed"]) for r in rows)
        share = " ".join(f"{o:.2f}" for o in oracle)
        print(f"| {study} | {tuner} | {seeds} | {' | '.join(cells)} | {walls} | {share} |")
    _paired_summary(runs)
    if refs:
        _hetero_summary(runs, refs)


#: The tuner every other one is compared with, seed by seed (the issue's target names it).
PAIRED_REFERENCE = "bayesian"


def _paired(pairs: list[tuple[float, float]]) -> str:
    """Wins/ties/losses of the first figure of each pair, median ratio, sign test, 3-seed sets.

    The sign test asks how likely this many wins (or losses) would be if either tuner were
    equally likely to win each seed: a two-sided binomial test on the seeds that differ. The
    last figure is the share of all three-seed subsets on which the first tuner's median is no
    worse than the second's: how often a target judged on the median of three seeds holds.
    """
    from scipy.stats import binomtest

    wins = sum(a < b for a, b in pairs)
    losses = sum(a > b for a, b in pairs)
    ratio = _median([a / b for a, b in pairs if b > 0])
    p = binomtest(wins, wins + losses).pvalue if wins + losses else None
    triples = list(itertools.combinations(pairs, 3))
    held = sum(
        statistics.median(a for a, _ in t) <= statistics.median(b for _, b in t) for t in triples
    )
    share = f"{held / len(triples):.0%}" if triples else "–"
    counts = f"{wins}/{len(pairs) - wins - losses}/{losses}"
    return f"{counts} | {_fmt(ratio, 3)} | {_fmt(p, 2)} | {share}"


def _paired_summary(runs: list[dict]) -> None:
    """Each tuner against ``bayesian`` on the seeds both searched (when there are 5 or more).

    Per seed, the best stop objective after all trials and the chosen configuration's mean
    over its runs; a tuner's wins/ties/losses against ``bayesian``, the median of the per-seed
    ratios (below 1: better), the sign test's p-value and the share of three-seed subsets on
    which its median is no worse. A median over three seeds moves with one seed's luck; this
    table says whether a difference holds over many.
    """
    by_key = {(r["study"], r["tuner"], r["seed"]): r for r in runs}
    lines = []
    for study, tuner in sorted({(r["study"], r["tuner"]) for r in runs}):
        if tuner == PAIRED_REFERENCE:
            continue
        seeds = sorted(
            seed
            for (s, t, seed) in by_key
            if (s, t) == (study, tuner) and (study, PAIRED_REFERENCE, seed) in by_key
        )
        if len(seeds) < 5:
            continue
        cells = []
        for figure in (_best_of_all, _chosen_mean):
            pairs = [
                (figure(by_key[study, tuner, seed]), figure(by_key[study, PAIRED_REFERENCE, seed]))
                for seed in seeds
            ]
            cells.append(_paired([(a, b) for a, b in pairs if a is not None and b is not None]))
        lines.append(f"| {study} | {tuner} | {len(seeds)} | {' | '.join(cells)} |")
    if lines:
        print()
        print(f"Paired against `{PAIRED_REFERENCE}`, seed by seed (ratio < 1: better):")
        print(
            "| study | tuner | seeds | best after all: w/t/l | median ratio | sign test p "
            "| 3-seed sets no worse | chosen mean: w/t/l | median ratio | sign test p "
            "| 3-seed sets no worse |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        print("\n".join(lines))


def _best_of_all(record: dict) -> float | None:
    return _best_after(record["objectives"], len(record["objectives"]))


def _chosen_mean(record: dict) -> float | None:
    return (record.get("chosen") or {}).get("mean")


def _seed(record: dict) -> int:
    return int(record["seed"])


def _hetero_summary(runs: list[dict], refs: dict) -> None:
    print()
    print("hetero_sine references (stop objective, lr 1e-3, eps 1e-3):")
    for seed, ref in sorted(refs.items()):
        print(f"  seed {seed}: equal {ref['equal']:.4f}, 1/σ² {ref['inverse_variance']:.4f}")
    print("| tuner | best after 5 ÷ 1/σ² plan, per seed | median | Spearman(w, σ) per seed |")
    print("|---|---|---|---|")
    for tuner in sorted({r["tuner"] for r in runs if r["study"] == "hetero_sine"}):
        rows = sorted(
            (r for r in runs if (r["study"], r["tuner"]) == ("hetero_sine", tuner)), key=_seed
        )
        ratios = []
        for r in rows:
            best, ref = _best_after(r["objectives"], 5), refs.get(r["seed"])
            ratios.append(best / ref["inverse_variance"] if best and ref else None)
        rho = [_spearman(r) for r in rows]
        print(
            f"| {tuner} | {' '.join(_fmt(x, 3) for x in ratios)} | {_fmt(_median(ratios), 3)} "
            f"| {' '.join(_fmt(x, 2) for x in rho)} |"
        )

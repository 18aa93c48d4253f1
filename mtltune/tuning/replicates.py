"""Replications: retrain the winner and the baseline with other seeds and data draws.

One train/test run of a winning configuration proves little. Each replicate retrains the best
configuration and the baseline with a new seed (and a new data draw where the data are generated
or the split is shuffled) and predicts the test split. Every statistic is then computed from the
saved predictions alone, so it can be recomputed from ``replicates.npz``.

A replicate in which either plan diverges is left out for both (the comparison is paired) and
named, with its reason, under ``diverged``: a diverging run is a result, not a crashed search.
A replicate that raises is left out too, and named under ``failed`` (a resumed search runs it
again). Each finished replicate is kept in ``replicates/<number>.npz``: a resumed search of
the same study and plans reuses it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import keras_tuner as kt
import numpy as np

from mtltune.data import Dataset, prepare_dataset
from mtltune.data.scaling import OutputUnits, TargetScale, head_units, in_units
from mtltune.errors import DataError, error_text
from mtltune.model.heads import make_loss
from mtltune.model.strategies import TrainPlan
from mtltune.run.files import REPLICATES_DIR
from mtltune.run.fingerprint import study_fingerprint
from mtltune.run.units import load_unit, save_unit
from mtltune.study import HeadConfig, Study
from mtltune.study.heads import is_log_likelihood
from mtltune.tuning.evaluation import predict_in_units, train_plan
from mtltune.tuning.hypermodel import MultiTaskHyperModel
from mtltune.tuning.phases import describe_failure, tracebacks_wanted
from mtltune.tuning.tuner import study_hypermodel

ROLES = ("best", "baseline")
#: Called before replicate ``k`` (from 0) is trained, with whether it was kept instead.
OnReplicate = Callable[[int, bool], None]


def replicate_seed(study_seed: int, index: int) -> int:
    """Seed of replicate ``index`` (the search itself used the study seed)."""
    return study_seed + 1 + index


def run_replicates(
    study: Study,
    hypermodel: MultiTaskHyperModel,
    plans: Mapping[str, TrainPlan],
    dataset: Dataset,
    count: int,
    on_replicate: OnReplicate | None = None,
    folder: Path | None = None,
) -> dict[str, np.ndarray]:
    """Train each plan ``count`` times and collect test targets and predictions.

    A replicate that draws new data (a built-in generator, a shuffled split) is a run of the
    whole pipeline on its own draw: the encodings, target scales and class weights are fitted
    on its own train split, and its models are built for its own input width (a rare category
    absent from its train split is one column fewer; in its test split, it is unseen: all
    zeros). A replicate that raises is left out and named under ``failed``.

    Args:
        study: The study (seed, data source, split).
        hypermodel: Builds and trains the models of replicates on the search's data.
        plans: ``{"best": plan, "baseline": plan}``.
        dataset: The search's data (reused when a replicate cannot draw new data).
        count: Number of replicates.
        on_replicate: Called with the replicate index before it starts.
        folder: The run folder: each finished replicate is kept in
            ``replicates/<number>.npz`` and reused by a resumed search of the same study and
            plans (default: nothing kept).

    Returns:
        Arrays keyed ``y/<k>/<head>``, ``clean/<k>/<head>`` and ``<role>/<k>/<output>``, in
        the targets' units, and ``scale/<k>/<head>`` (center, spread) of each scaled head,
        for the ``count`` kept replicates (``k`` from 0); ``diverged``: why each diverging
        replicate was left out; ``unusable``: each whose own data draw fails a data check (a
        class missing from its train split, say); ``failed``: ``replicate <n>: <reason>`` of
        each that raised anything else.
    """
    redraw = study.data.is_builtin or study.split.shuffle
    tag = {
        "fingerprint": study_fingerprint(study),
        "plans": {role: plan.describe() for role, plan in plans.items()},
    }
    arrays: dict[str, np.ndarray] = {}
    diverged: list[str] = []
    unusable: list[str] = []
    failed: list[str] = []
    for k in range(count):
        path = folder / REPLICATES_DIR / f"{k + 1}.npz" if folder is not None else None
        unit = load_unit(path, {**tag, "replicate": k}) if path is not None else None
        if on_replicate is not None:
            on_replicate(k, unit is not None)
        if unit is None:
            try:
                unit = _replicate(study, hypermodel, plans, dataset, k, redraw)
            except kt.errors.FailedTrialError as exc:
                unit = {"diverged": np.asarray(error_text(exc))}
            except DataError as exc:  # its own draw fails a check: as final as a divergence
                unit = {"unusable": np.asarray(error_text(exc))}
            except Exception as exc:  # left out and named; a resumed search tries it again
                if tracebacks_wanted():
                    raise
                failed.append(f"replicate {k + 1}: {describe_failure(exc)}")
                continue
            if path is not None:
                save_unit(path, unit, {**tag, "replicate": k}, root=folder)
        if "diverged" in unit:
            diverged.append(f"replicate {k + 1}: {unit['diverged']}")
            continue
        if "unusable" in unit:
            unusable.append(f"replicate {k + 1}: {unit['unusable']}")
            continue
        slot = k - len(diverged) - len(unusable) - len(failed)  # kept ones are numbered 0, 1, ...
        for key, values in unit.items():
            kind, name = key.split("/", 1)
            arrays[f"{kind}/{slot}/{name}"] = values
    arrays["count"] = np.asarray(count - len(diverged) - len(unusable) - len(failed))
    arrays["diverged"] = np.asarray(diverged, dtype=str)
    arrays["unusable"] = np.asarray(unusable, dtype=str)
    arrays["failed"] = np.asarray(failed, dtype=str)
    return arrays


def _replicate(
    study: Study,
    hypermodel: MultiTaskHyperModel,
    plans: Mapping[str, TrainPlan],
    dataset: Dataset,
    k: int,
    redraw: bool,
) -> dict[str, np.ndarray]:
    """Train and predict replicate ``k`` of every plan: ``<kind>/<name>`` arrays.

    Raises:
        keras_tuner.errors.FailedTrialError: If a plan diverged.
    """
    out: dict[str, np.ndarray] = {}
    seed = replicate_seed(study.seed, k)
    data = prepare_dataset(study, seed=seed) if redraw else dataset
    # New data: a hypermodel fitted to it (input width, classes, scales, class weights).
    own = study_hypermodel(study, data) if redraw else hypermodel
    units = head_units(own.heads, data.target_scales)
    for head, y in in_units(units, data.test.y).items():
        out[f"y/{head}"] = y
    for head, clean in in_units(units, data.test.clean).items():
        out[f"clean/{head}"] = clean
    for head, scale in data.target_scales.items():
        if scale.kind != "none":
            out[f"scale/{head}"] = np.asarray([scale.center, scale.spread])
    with own.recycling():  # Each model is read right after its training.
        for role, plan in plans.items():
            model, _ = train_plan(own, plan, data, seed=seed)
            for key, values in predict_in_units(model, data.test.x, units).items():
                out[f"{role}/{key}"] = values
    return out


def head_loss(
    head: str,
    config: HeadConfig,
    arrays: Mapping[str, np.ndarray],
    role: str,
    k: int,
    target: str = "y",
    class_weights: Any = None,
) -> float:
    """One replicate's test loss of a head, from the saved arrays, in the target's units.

    A scaled head's arrays are mapped back to the network's axis, where its loss is defined,
    and the loss is converted to the target's units (``TargetScale.to_units``).
    """
    loss = make_loss(config, class_weights)
    names = [head, *(config.uses or [])]
    values = [arrays[f"{target}/{k}/{head}"], *(arrays[f"{role}/{k}/{n}"] for n in names)]
    stored = arrays.get(f"scale/{k}/{head}")
    if stored is None:
        return float(loss(*values))
    scale = TargetScale(config.scale or "none", float(stored[0]), float(stored[1]))
    units = head_units({head: config}, {head: scale})
    outputs = zip((head, *names), values, strict=True)
    values = [units.get(n, OutputUnits()).invert(v) for n, v in outputs]
    return scale.to_units(str(config.loss), float(loss(*values)))


def summarise(
    arrays: Mapping[str, np.ndarray],
    heads: Mapping[str, HeadConfig],
    class_weights: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Per head: every replicate's test loss for best and baseline, mean, std, ratios, wins.

    ``loss_clean`` gets the same treatment for heads with a noise-free target. A ratio is
    baseline / best (for a log-likelihood head, ``exp(baseline - best)``); ``share_best_wins``
    is the share of replicates where best has the lower test loss.
    """
    count = int(arrays["count"])
    class_weights = class_weights or {}
    diverged = [str(d) for d in arrays.get("diverged", [])]
    unusable = [str(d) for d in arrays.get("unusable", [])]
    failed = [str(d) for d in arrays.get("failed", [])]
    out: dict[str, Any] = {
        "count": count,
        "heads": {},
        "diverged": diverged,
        "unusable": unusable,
        "failed": failed,
    }
    if count == 0:
        return out
    for head, config in heads.items():
        entry: dict[str, Any] = {}
        targets = ["y"] + (["clean"] if f"clean/0/{head}" in arrays else [])
        for target in targets:
            key = "loss" if target == "y" else "loss_clean"
            values = {
                role: [
                    head_loss(head, config, arrays, role, k, target, class_weights.get(head))
                    for k in range(count)
                ]
                for role in ROLES
            }
            log = is_log_likelihood(config)
            ratios = [
                math.exp(b - w) if log else (b / w if w > 0 else math.nan)
                for w, b in zip(values["best"], values["baseline"], strict=True)
            ]
            entry[key] = {
                **{role: _stats(values[role]) for role in ROLES},
                "ratios": ratios,
                "share_best_wins": float(
                    np.mean(
                        [w < b for w, b in zip(values["best"], values["baseline"], strict=True)]
                    )
                ),
            }
        out["heads"][head] = entry
    return out


def _stats(values: list[float]) -> dict[str, Any]:
    array = np.asarray(values, dtype=float)
    return {
        "mean": float(array.mean()),
        "std": float(array.std(ddof=1)) if len(array) > 1 else 0.0,
        "values": [float(v) for v in array],
    }

"""Replications: retrain the winner and the baseline with other seeds and data draws.

One train/test run of a winning configuration proves little. Each replicate retrains the best
configuration and the baseline with a new seed (and a new data draw where the data are generated
or the split is shuffled) and predicts the test split. Every statistic is then computed from the
saved predictions alone, so it can be recomputed from ``replicates.npz``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from mtltune.data import Dataset, prepare_dataset
from mtltune.model.heads import make_loss
from mtltune.model.strategies import TrainPlan
from mtltune.study import HeadConfig, Study
from mtltune.tuning.evaluation import train_plan
from mtltune.tuning.hypermodel import EVAL_BATCH_SIZE, MultiTaskHyperModel

ROLES = ("best", "baseline")


def replicate_seed(study_seed: int, index: int) -> int:
    """Seed of replicate ``index`` (the search itself used the study seed)."""
    return study_seed + 1 + index


def run_replicates(
    study: Study,
    hypermodel: MultiTaskHyperModel,
    plans: Mapping[str, TrainPlan],
    dataset: Dataset,
    count: int,
    on_replicate: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Train each plan ``count`` times and collect test targets and predictions.

    Args:
        study: The study (seed, data source, split).
        hypermodel: Builds and trains the models.
        plans: ``{"best": plan, "baseline": plan}``.
        dataset: The search's data (reused when a replicate cannot draw new data).
        count: Number of replicates.
        on_replicate: Called with the replicate index before it starts.

    Returns:
        Arrays keyed ``y/<k>/<head>``, ``clean/<k>/<head>`` and ``<role>/<k>/<output>``.
    """
    redraw = study.data.is_builtin or study.split.shuffle
    arrays: dict[str, np.ndarray] = {}
    with hypermodel.recycling():  # Each model is read right after its training.
        for k in range(count):
            _replicate(study, hypermodel, plans, dataset, k, redraw, arrays, on_replicate)
    arrays["count"] = np.asarray(count)
    return arrays


def _replicate(
    study: Study,
    hypermodel: MultiTaskHyperModel,
    plans: Mapping[str, TrainPlan],
    dataset: Dataset,
    k: int,
    redraw: bool,
    arrays: dict[str, np.ndarray],
    on_replicate: Callable[[int], None] | None,
) -> None:
    """Train and predict replicate ``k`` of every plan into ``arrays``."""
    if on_replicate is not None:
        on_replicate(k)
    seed = replicate_seed(study.seed, k)
    data = prepare_dataset(study, seed=seed) if redraw else dataset
    for head, y in data.test.y.items():
        arrays[f"y/{k}/{head}"] = np.asarray(y)
    for head, clean in data.test.clean.items():
        arrays[f"clean/{k}/{head}"] = np.asarray(clean)
    for role, plan in plans.items():
        model, _ = train_plan(hypermodel, plan, data, seed=seed)
        predictions = model.predict(data.test.x, batch_size=EVAL_BATCH_SIZE, verbose=0)
        for key in model.output_keys:
            arrays[f"{role}/{k}/{key}"] = np.asarray(predictions[key])


def head_loss(
    head: str,
    config: HeadConfig,
    arrays: Mapping[str, np.ndarray],
    role: str,
    k: int,
    target: str = "y",
    class_weights: Any = None,
) -> float:
    """One replicate's test loss of a head, from the saved arrays."""
    loss = make_loss(config, class_weights)
    aux = [arrays[f"{role}/{k}/{name}"] for name in config.uses or []]
    return float(loss(arrays[f"{target}/{k}/{head}"], arrays[f"{role}/{k}/{head}"], *aux))


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
    out: dict[str, Any] = {"count": count, "heads": {}}
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
            log = config.loss_scale == "log"
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

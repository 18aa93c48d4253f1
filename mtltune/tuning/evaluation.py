"""Head-by-head evaluation of trained models, and training outside the tuner (baseline)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import keras_tuner as kt
import numpy as np

from mtltune.data import Dataset, SplitArrays
from mtltune.data.scaling import OutputUnits, head_units, in_units
from mtltune.errors import error_text
from mtltune.model import loop
from mtltune.model.multitask import MultiTaskModel
from mtltune.model.strategies import TrainPlan
from mtltune.report.results import Evaluation, HeadScores
from mtltune.study import HeadConfig
from mtltune.study.names import head_loss_key, head_metric_key
from mtltune.tuning.hypermodel import MultiTaskHyperModel


def head_scores(model: MultiTaskModel, split: SplitArrays) -> HeadScores:
    """Loss and every metric of each head on one split.

    Heads with a noise-free target also get ``loss_clean``: their loss against that target.

    Args:
        model: A trained model.
        split: The rows to score.

    Returns:
        ``{head: {"loss": ..., "<metric>": ..., ["loss_clean": ...]}}``.
    """
    logs = loop.evaluate(model, split.x, split.y)
    scores: HeadScores = {h: {"loss": float(logs[head_loss_key(h)])} for h in model.head_names}
    for head, metric in model.metric_keys():
        scores[head][metric] = float(logs[head_metric_key(head, metric)])
    if split.clean:
        clean = loop.evaluate(model, split.x, {**split.y, **split.clean})
        for head in split.clean:
            scores[head]["loss_clean"] = float(clean[head_loss_key(head)])
    return scores


def evaluate(
    model: MultiTaskModel,
    dataset: Dataset,
    hypermodel: MultiTaskHyperModel,
    epochs: int | None = None,
    *,
    test: bool = True,
) -> Evaluation:
    """Score a trained model on the stop split (objective) and, once, on the test split.

    With ``test=False`` the test split is not read (``with_test`` adds its scores later).
    """
    stop = head_scores(model, dataset.stop)
    objective = hypermodel.objective_for(dataset.train.y, dataset.stop.y)
    if objective.config.kind == "head":
        metric = objective.config.metric
        value = stop[str(objective.config.head)][metric]
    else:
        value = objective.score({h: s["loss"] for h, s in stop.items()})
    plan = model.plan.describe()
    learned = model.learned_weights()
    if learned is not None:
        plan["learned_weights"] = learned
    return Evaluation(
        plan=plan,
        objective=float(value),
        stop=stop,
        test=head_scores(model, dataset.test) if test else {},
        epochs=epochs,
    )


def with_test(evaluation: Evaluation, model: MultiTaskModel, dataset: Dataset) -> Evaluation:
    """An evaluation made with ``test=False``, with its test scores (the test split read once)."""
    return dataclasses.replace(evaluation, test=head_scores(model, dataset.test))


def train_plan(
    hypermodel: MultiTaskHyperModel, plan: TrainPlan, dataset: Dataset, seed: int | None = None
) -> tuple[MultiTaskModel, dict[str, float]]:
    """Train a model for a fixed plan under the hypermodel's budget (best epoch restored)."""
    model = hypermodel.build_plan(plan, seed=seed)
    results = hypermodel.fit(
        None,
        model,
        dataset.train.x,
        dataset.train.y,
        validation_data=(dataset.stop.x, dataset.stop.y),
    )
    return model, results


def train_baseline(
    hypermodel: MultiTaskHyperModel, plan: TrainPlan, dataset: Dataset, *, test: bool = True
) -> tuple[Evaluation, MultiTaskModel | None]:
    """Train and evaluate the baseline; a diverging baseline is a result, not an error.

    Returns:
        Its evaluation and model; if it diverged, an evaluation whose losses are NaN and whose
        plan says why under ``diverged``, and no model.
    """
    try:
        model, results = train_plan(hypermodel, plan, dataset)
    except kt.errors.FailedTrialError as exc:
        nan = {h: {"loss": math.nan} for h in hypermodel.heads}
        described = {**plan.describe(), "diverged": error_text(exc)}
        return Evaluation(plan=described, objective=math.nan, stop=nan, test=nan), None
    return evaluate(model, dataset, hypermodel, epochs=int(results["epochs"]), test=test), model


def predict_in_units(
    model: MultiTaskModel, x: np.ndarray, units: Mapping[str, OutputUnits]
) -> dict[str, np.ndarray]:
    """A model's outputs for ``x`` (heads and auxiliary outputs), in the targets' units."""
    predictions = loop.predict(model, x)
    return in_units(units, {k: predictions[k] for k in model.output_keys})


def test_arrays(
    dataset: Dataset, models: dict[str, Any], heads: Mapping[str, HeadConfig]
) -> dict[str, np.ndarray]:
    """Test inputs, targets and each model's predictions, for plots and recomputation.

    Targets and predictions are in the targets' units (``heads.<h>.scale`` undone).
    """
    test = dataset.test
    units = head_units(heads, dataset.target_scales)
    arrays: dict[str, np.ndarray] = {"x": test.x, "rows": test.rows}
    arrays.update({f"y/{h}": v for h, v in in_units(units, test.y).items()})
    arrays.update({f"clean/{h}": v for h, v in in_units(units, test.clean).items()})
    for role, model in models.items():
        predictions = predict_in_units(model, test.x, units)
        arrays.update({f"{role}/{k}": v for k, v in predictions.items()})
    return arrays

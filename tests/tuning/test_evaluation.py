"""Head-by-head evaluation against targets and noise-free targets."""

from __future__ import annotations

import numpy as np
import pytest

from mtltune import MultiTaskHyperModel, weighted_plan
from mtltune.tuning.evaluation import head_scores, train_baseline


def test_head_scores_match_numpy_in_the_targets_units(tiny_study, tiny_dataset) -> None:
    scales = tiny_dataset.target_scales
    assert {s.kind for s in scales.values()} == {"standard"}
    hypermodel = MultiTaskHyperModel.from_study(
        tiny_study, tiny_dataset.input_dim, {h: 1 for h in tiny_study.heads}, target_scales=scales
    )
    model = hypermodel.build_plan(
        weighted_plan(list(tiny_study.heads), learning_rate=1e-3, epsilon=1e-7)
    )
    split = tiny_dataset.test
    scores = head_scores(model, split)
    predictions = model.predict(split.x, verbose=0)
    for head in tiny_study.heads:
        # Trained on the scaled target; every score in the target's own units.
        prediction = scales[head].inverse(predictions[head]).astype(np.float64)
        error = prediction - scales[head].inverse(split.y[head])
        assert scores[head]["loss"] == pytest.approx(np.mean(error**2), rel=1e-4)
        assert scores[head]["mae"] == pytest.approx(np.mean(np.abs(error)), rel=1e-4)
        assert scores[head]["rmse"] == pytest.approx(np.sqrt(np.mean(error**2)), rel=1e-4)
        clean_error = prediction - scales[head].inverse(split.clean[head])
        assert scores[head]["loss_clean"] == pytest.approx(np.mean(clean_error**2), rel=1e-4)


def test_train_baseline_scores_stop_and_test(tiny_study, tiny_dataset) -> None:
    hypermodel = MultiTaskHyperModel.from_study(
        tiny_study, tiny_dataset.input_dim, {h: 1 for h in tiny_study.heads}
    )
    plan = weighted_plan(list(tiny_study.heads), learning_rate=1e-2, epsilon=1e-7)
    evaluation, model = train_baseline(hypermodel, plan, tiny_dataset)
    assert model is not None and "diverged" not in evaluation.plan
    losses = [evaluation.stop[h]["loss"] for h in tiny_study.heads]
    assert evaluation.objective == pytest.approx(float(np.exp(np.mean(np.log(losses)))))
    assert set(evaluation.test) == set(tiny_study.heads)
    assert 1 <= evaluation.epochs <= tiny_study.training.max_epochs

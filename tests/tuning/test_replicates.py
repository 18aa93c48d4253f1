"""Replicates: statistics from hand-made arrays, and recomputation from a run's saved npz."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mtltune import HeadConfig
from mtltune.tuning.replicates import replicate_seed, summarise


def hand_arrays() -> dict[str, np.ndarray]:
    y = np.zeros((4, 1), dtype="float32")
    arrays = {"count": np.asarray(3)}
    best_errors = [0.1, 0.2, 0.3]
    baseline_errors = [0.2, 0.1, 0.6]
    for k in range(3):
        arrays[f"y/{k}/a"] = y
        arrays[f"best/{k}/a"] = y + best_errors[k]
        arrays[f"baseline/{k}/a"] = y + baseline_errors[k]
    return arrays


def test_statistics_of_hand_made_replicates() -> None:
    summary = summarise(hand_arrays(), {"a": HeadConfig()})
    stats = summary["heads"]["a"]["loss"]
    best = [0.01, 0.04, 0.09]
    baseline = [0.04, 0.01, 0.36]
    assert stats["best"]["values"] == pytest.approx(best, rel=1e-5)
    assert stats["best"]["mean"] == pytest.approx(np.mean(best), rel=1e-5)
    assert stats["best"]["std"] == pytest.approx(np.std(best, ddof=1), rel=1e-5)
    assert stats["baseline"]["mean"] == pytest.approx(np.mean(baseline), rel=1e-5)
    assert stats["ratios"] == pytest.approx([4.0, 0.25, 4.0], rel=1e-5)
    assert stats["share_best_wins"] == pytest.approx(2 / 3)
    assert summary["count"] == 3


def test_replicate_seeds_differ_from_the_search_seed() -> None:
    seeds = [replicate_seed(7, k) for k in range(3)]
    assert 7 not in seeds and len(set(seeds)) == 3


def test_every_replicate_number_is_recomputed_from_saved_predictions(tiny_run) -> None:
    result, run_dir = tiny_run
    arrays = np.load(run_dir / "replicates.npz")
    document = json.loads((run_dir / "report.json").read_text())
    summary = document["replicates"]
    count = summary["count"]
    assert count == 2 == int(arrays["count"])
    for head, entry in summary["heads"].items():
        for key, target in (("loss", "y"), ("loss_clean", "clean")):
            values = {
                role: [
                    float(
                        np.mean(
                            (arrays[f"{role}/{k}/{head}"] - arrays[f"{target}/{k}/{head}"]) ** 2
                        )
                    )
                    for k in range(count)
                ]
                for role in ("best", "baseline")
            }
            stats = entry[key]
            for role in ("best", "baseline"):
                assert stats[role]["values"] == pytest.approx(values[role], rel=1e-5)
                assert stats[role]["mean"] == pytest.approx(np.mean(values[role]), rel=1e-5)
                assert stats[role]["std"] == pytest.approx(np.std(values[role], ddof=1), rel=1e-4)
            ratios = [b / w for w, b in zip(values["best"], values["baseline"], strict=True)]
            assert stats["ratios"] == pytest.approx(ratios, rel=1e-5)
            wins = np.mean([w < b for w, b in zip(values["best"], values["baseline"], strict=True)])
            assert stats["share_best_wins"] == pytest.approx(wins)
    # The single-run test losses are recomputable from predictions.npz the same way.
    predictions = np.load(run_dir / "predictions.npz")
    for head in result.heads:
        for role, evaluation in (("best", result.best), ("baseline", result.baseline)):
            mse = float(np.mean((predictions[f"{role}/{head}"] - predictions[f"y/{head}"]) ** 2))
            assert evaluation.test[head]["loss"] == pytest.approx(mse, rel=1e-4)


def test_a_diverging_replicate_is_left_out_and_named(tmp_path, monkeypatch) -> None:
    import keras_tuner as kt
    from conftest import TINY, deep_update

    from mtltune import Study, run_study, write_report
    from mtltune.tuning import replicates

    study = Study.from_dict(
        deep_update(TINY, {"report": {"replicates": 3}, "search": {"max_trials": 2}})
    )
    train_plan = replicates.train_plan

    def diverging_second(hypermodel, plan, data, seed=None):
        if seed == replicate_seed(study.seed, 1):
            raise kt.errors.FailedTrialError("the loss became nan at epoch 2")
        return train_plan(hypermodel, plan, data, seed=seed)

    monkeypatch.setattr(replicates, "train_plan", diverging_second)
    run_dir = tmp_path / "run"
    result = run_study(study, run_dir)  # finishes: the divergence is a result
    write_report(result, run_dir)

    summary = json.loads((run_dir / "report.json").read_text())["replicates"]
    assert summary["count"] == 2
    assert summary["diverged"] == ["replicate 2: the loss became nan at epoch 2"]
    for entry in summary["heads"].values():
        assert len(entry["loss"]["best"]["values"]) == 2  # replicates 1 and 3, paired
    arrays = np.load(run_dir / "replicates.npz")
    assert {"best/0/y0", "best/1/y0", "baseline/1/y2"} <= set(arrays)
    assert "best/2/y0" not in arrays
    assert list(arrays["diverged"]) == summary["diverged"]
    assert "Left out, both configurations" in (run_dir / "report.md").read_text()

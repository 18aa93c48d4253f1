"""Target scaling (``heads.<h>.scale``) and row sampling (``data.sample``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mtltune import DataError, HeadConfig, Objective, StudyError, load_study, prepare_dataset
from mtltune.data.scaling import TargetScale, head_units, in_units, loss_in_units, loss_units
from mtltune.model.heads import make_loss
from mtltune.study import ObjectiveConfig
from mtltune.study.heads import is_log_likelihood, log_likelihood_heads


def write(tmp_path: Path, frame: pd.DataFrame, study: dict[str, Any]):
    frame.to_csv(tmp_path / "rows.csv", index=False)
    raw = {
        "name": "t",
        "seed": 4,
        "data": {"source": "rows.csv", "inputs": ["x"]},
        "heads": {"price": {}},
        **study,
    }
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(raw))
    return load_study(tmp_path / "study.yaml")


def prices(n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    x = rng.normal(size=n)
    return pd.DataFrame({"x": x, "price": np.exp(7 + x + rng.normal(0, 0.3, n))})


@pytest.mark.parametrize("kind", ["standard", "log", "none"])
def test_scaled_targets_round_trip_to_the_original_units(tmp_path, kind) -> None:
    frame = prices()
    data = prepare_dataset(write(tmp_path, frame, {"heads": {"price": {"scale": kind}}}))
    scale = data.targets["price"].scale
    assert scale.kind == kind
    train = frame["price"].to_numpy()[data.train.rows]
    if kind != "none":  # fitted on the train rows only
        fitted = np.log(train) if kind == "log" else train
        assert (scale.center, scale.spread) == pytest.approx((fitted.mean(), fitted.std()))
        assert data.train.y["price"].std() == pytest.approx(1.0, rel=1e-4)
    for name in ("train", "stop", "test"):
        part = data.split(name)
        back = scale.inverse(part.y["price"]).ravel()
        np.testing.assert_allclose(back, frame["price"].to_numpy()[part.rows], rtol=1e-5)


@pytest.mark.parametrize("loss", ["mse", "mae", "huber", "gaussian_nll"])
def test_a_loss_on_the_scaled_axis_converts_to_the_loss_in_target_units(loss) -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(50.0, 20.0, (64, 1))
    prediction = y + rng.normal(0, 15.0, (64, 1))
    log_variance = rng.normal(5.0, 0.5, (64, 1))  # of the target, in its units
    scale = TargetScale.fit("standard", y)
    head = HeadConfig(kind="regression", loss=loss)
    scaled = [scale.transform(y), scale.transform(prediction)]
    in_units = [y.astype("float32"), prediction.astype("float32")]
    if loss == "gaussian_nll":
        shift = 2 * np.log(scale.spread)
        scaled.append((log_variance - shift).astype("float32"))
        in_units.append(log_variance.astype("float32"))
    on_axis = float(make_loss(head)(*scaled))
    if loss == "huber":  # a Huber loss with delta 1 on the axis has delta = spread in units
        error = np.abs(prediction - y)
        delta = scale.spread
        quadratic = np.minimum(error, delta)
        expected = float(np.mean(0.5 * quadratic**2 + delta * (error - quadratic)))
    else:
        expected = float(make_loss(head)(*in_units))
    assert scale.to_units(loss, on_axis) == pytest.approx(expected, rel=1e-4)


def test_standard_scaling_leaves_the_ranking_of_trials_unchanged() -> None:
    rng = np.random.default_rng(1)
    heads = ("price", "size", "kind")
    factors = {"price": 3000.0**2, "size": 0.2**2, "kind": 1.0}  # sigma^2; a classifier: 1
    trials = [dict(zip(heads, rng.uniform(0.01, 2.0, 3), strict=True)) for _ in range(30)]
    reference = {"price": 1.0, "size": 1.0, "kind": 1.1}
    for floor in (0.0, 0.5):  # also with a floor (its reference converts alike)
        objective = Objective(ObjectiveConfig(floor=floor), heads)
        on_axis = objective.with_reference(reference)
        units = objective.with_reference({h: reference[h] * factors[h] for h in heads})
        scores_axis = [on_axis.score(t) for t in trials]
        scores_units = [units.score({h: t[h] * factors[h] for h in heads}) for t in trials]
        assert np.argsort(scores_axis).tolist() == np.argsort(scores_units).tolist()


def test_scale_defaults_and_misuse() -> None:
    assert HeadConfig().scale == "standard"
    assert HeadConfig(kind="binary").scale == "none"
    assert HeadConfig(loss="pkg.losses:mine").scale == "none"
    with pytest.raises(ValueError, match="only allowed on a regression head"):
        HeadConfig(kind="binary", scale="standard")
    with pytest.raises(ValueError, match="custom loss"):
        HeadConfig(loss="pkg.losses:mine", scale="log")


def test_log_scale_needs_positive_targets(tmp_path) -> None:
    frame = prices().assign(price=lambda f: f["price"] - 1500.0)
    study = write(tmp_path, frame, {"heads": {"price": {"scale": "log"}}})
    with pytest.raises(DataError, match=r"heads\.price\.target \(column 'price'\).*values > 0"):
        prepare_dataset(study)


def test_data_sample_is_a_seeded_reproducible_subset(tmp_path) -> None:
    frame = prices(500)
    study = write(tmp_path, frame, {"data": {"source": "rows.csv", "inputs": ["x"], "sample": 120}})
    first, again = prepare_dataset(study), prepare_dataset(study)
    rows = np.concatenate([first.split(s).rows for s in ("train", "stop", "test")])
    assert len(rows) == 120 and len(set(rows.tolist())) == 120
    for name in ("train", "stop", "test"):
        np.testing.assert_array_equal(first.split(name).rows, again.split(name).rows)
        np.testing.assert_array_equal(first.split(name).x, again.split(name).x)
        # rows are positions in the file: the sampled rows' inputs are the file's
        expected = frame["x"].to_numpy()[first.split(name).rows] - first.inputs.numeric["x"][0]
        np.testing.assert_allclose(
            first.split(name).x[:, 0], expected / first.inputs.numeric["x"][1], atol=1e-5
        )
    other = prepare_dataset(study.model_copy(update={"seed": 5}))
    other_rows = np.concatenate([other.split(s).rows for s in ("train", "stop", "test")])
    assert len(other_rows) == 120 and set(other_rows.tolist()) != set(rows.tolist())
    with pytest.raises(StudyError, match=r"data\.sample"):
        write(tmp_path, frame, {"data": {"source": "rows.csv", "inputs": ["x"], "sample": 0}})


def test_the_one_home_of_unit_conversion_maps_outputs_and_losses() -> None:
    price = HeadConfig(kind="regression", loss="gaussian_nll", uses=["price_logvar"])
    count = HeadConfig(kind="regression", loss="mse")
    scales = {"price": TargetScale("log", 2.0, 0.5)}
    units = head_units({"price": price, "count": count}, scales)
    assert set(units) == {"price", "price_logvar"}  # an unscaled head needs no conversion
    assert units["price_logvar"].offset == pytest.approx(2.0 * np.log(0.5))
    z = np.array([0.0, 1.0])
    converted = in_units(units, {"price": z, "count": z})
    np.testing.assert_allclose(converted["price"], scales["price"].inverse(z))
    np.testing.assert_array_equal(converted["count"], z)
    # The tensor path (the model's metrics) is the same formula as NumPy's inverse.
    np.testing.assert_allclose(scales["price"].undo(z, np.exp), np.exp(z * 0.5 + 2.0))
    assert loss_in_units(scales, "price", "gaussian_nll", 1.0) == pytest.approx(
        1.0 + 2.0 * np.log(0.5)
    )
    assert loss_in_units(scales, "count", "mse", 3.0) == 3.0
    assert loss_units(scales, "count", "mse") == (1.0, 0.0)


def test_which_heads_are_log_likelihoods_is_decided_once() -> None:
    nll = HeadConfig(kind="regression", loss="gaussian_nll", uses=["v"])
    mse = HeadConfig(kind="regression", loss="mse")
    assert is_log_likelihood(nll) and not is_log_likelihood(mse)
    heads = {"a": nll, "b": mse}
    resolved = {h: cfg.model_dump() for h, cfg in heads.items()}  # as report.json keeps them
    assert log_likelihood_heads(heads) == log_likelihood_heads(resolved) == {"a"}
    assert log_likelihood_heads({"c": None}) == set()

"""Data: generators, seeded disjoint splits, train-only preprocessing, actionable errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from mtltune import DataError, load_study, prepare_dataset
from mtltune.data import hetero_sine, load_table, phase_sine, split_indices
from mtltune.study import BuiltinParams, SplitConfig


def test_hetero_sine_noise_grows_like_0_1_times_2_to_the_i() -> None:
    frame = hetero_sine(BuiltinParams(n=20_000, tasks=4), seed=0)
    assert list(frame.columns) == ["y0", "y1", "y2", "y3", "x", "y"]
    np.testing.assert_allclose(frame["y"], np.sin(2 * np.pi * frame["x"]))
    for i in range(4):
        std = float((frame[f"y{i}"] - frame["y"]).std())
        assert std == pytest.approx(0.1 * 2**i, rel=0.05)
    assert frame["x"].between(0, 1).all()


def test_phase_sine_is_exact() -> None:
    frame = phase_sine(BuiltinParams(n=100, tasks=5), seed=1)
    for i in range(5):
        np.testing.assert_allclose(frame[f"y{i}"], np.sin((2 * frame["x"] + i / 5) * np.pi))


def test_generators_are_seeded() -> None:
    params = BuiltinParams(n=50, tasks=2)
    pd.testing.assert_frame_equal(hetero_sine(params, 3), hetero_sine(params, 3))
    assert not hetero_sine(params, 3).equals(hetero_sine(params, 4))


def test_splits_are_disjoint_cover_all_rows_and_are_seeded() -> None:
    split = SplitConfig(train=0.5, stop=0.3, test=0.2, shuffle=True)
    train, stop, test = split_indices(101, split, seed=9)
    assert len(train) + len(stop) + len(test) == 101
    assert set(train).isdisjoint(stop) and set(train).isdisjoint(test)
    assert set(stop).isdisjoint(test)
    assert set(np.concatenate([train, stop, test])) == set(range(101))
    again = split_indices(101, split, seed=9)
    for a, b in zip((train, stop, test), again, strict=True):
        np.testing.assert_array_equal(a, b)
    other = split_indices(101, split, seed=10)
    assert not np.array_equal(train, other[0])


def test_unshuffled_split_keeps_file_order() -> None:
    split = SplitConfig(train=0.05, stop=0.45, test=0.5, shuffle=False)
    train, stop, test = split_indices(1000, split, seed=0)
    np.testing.assert_array_equal(train, np.arange(50))
    np.testing.assert_array_equal(stop, np.arange(50, 500))
    np.testing.assert_array_equal(test, np.arange(500, 1000))


def test_an_empty_split_is_a_data_error() -> None:
    split = SplitConfig(train=0.98, stop=0.01, test=0.01)
    with pytest.raises(DataError) as exc:
        split_indices(20, split, seed=0)
    assert {p.where for p in exc.value.problems} == {"split.stop", "split.test"}


def write_table(tmp_path, frame: pd.DataFrame, study: dict, name: str = "rows.csv"):
    path = tmp_path / name
    if name.endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path)
    study = {
        "name": "table",
        "seed": 0,
        "split": {"train": 0.5, "stop": 0.25, "test": 0.25, "shuffle": False},
        **study,
    }
    study["data"] = {"source": name, **study.get("data", {})}
    yaml_path = tmp_path / "study.yaml"
    yaml_path.write_text(yaml.safe_dump(study))
    return load_study(yaml_path)


def mixed_frame(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "size": np.arange(n, dtype=float) * 10.0,  # rising: train rows have smaller values
            "colour": ["red", "blue"] * (n // 2),
            "price": rng.normal(size=n),
            "sold": ["no", "yes", "yes", "no"] * (n // 4),
            "kind": ["b", "a", "c", "a"] * (n // 4),
        }
    )


def test_train_only_statistics_and_encodings(tmp_path) -> None:
    frame = mixed_frame()
    frame.loc[35, "colour"] = "green"  # only in test
    study = write_table(
        tmp_path,
        frame,
        {
            "data": {"inputs": ["size", "colour"]},
            "heads": {
                "price": {},
                "sold": {"kind": "binary", "positive_class": "yes"},
                "kind": {"kind": "multiclass"},
            },
        },
    )
    data = prepare_dataset(study)
    train_rows = frame.iloc[:20]
    mean, std = data.inputs.numeric["size"]
    assert mean == pytest.approx(train_rows["size"].mean())
    assert std == pytest.approx(train_rows["size"].std(ddof=0))
    assert mean != pytest.approx(frame["size"].mean())
    assert data.train.x[:, 0].mean() == pytest.approx(0.0, abs=1e-6)
    assert data.train.x[:, 0].std() == pytest.approx(1.0, rel=1e-5)
    assert data.test.x[:, 0].mean() > 2  # later rows, standardised with train statistics
    assert data.inputs.feature_names == ["size", "colour=blue", "colour=red"]
    green = np.flatnonzero(data.test.rows == 35)[0]
    np.testing.assert_array_equal(data.test.x[green, 1:], [0.0, 0.0])
    np.testing.assert_array_equal(data.train.y["sold"].ravel(), (train_rows["sold"] == "yes"))
    assert data.targets["kind"].classes == ["a", "b", "c"]
    np.testing.assert_array_equal(data.train.y["kind"][:4], [1, 0, 2, 0])
    assert data.targets["kind"].units == 3
    assert data.train.y["price"].shape == (20, 1)


def test_parquet_sources_load(tmp_path) -> None:
    study = write_table(
        tmp_path,
        mixed_frame(),
        {"data": {"inputs": ["size"]}, "heads": {"price": {}}},
        name="rows.parquet",
    )
    assert len(load_table(study)) == 40


def test_missing_column_lists_available_ones(tmp_path) -> None:
    study = write_table(
        tmp_path, mixed_frame(), {"data": {"inputs": ["size"]}, "heads": {"a": {"target": "nope"}}}
    )
    with pytest.raises(DataError) as exc:
        prepare_dataset(study)
    problem = exc.value.problems[0]
    assert problem.where == "heads.a.target"
    assert "'nope'" in problem.message and "size, colour, price" in problem.message


def test_non_numeric_value_in_a_numeric_column(tmp_path) -> None:
    frame = mixed_frame()
    frame["size"] = frame["size"].astype(object)
    frame.loc[7, "size"] = "12kg"
    study = write_table(tmp_path, frame, {"data": {"inputs": ["size"]}, "heads": {"price": {}}})
    with pytest.raises(DataError) as exc:
        prepare_dataset(study)
    message = str(exc.value)
    assert "'size'" in message and "'12kg'" in message and "data row 8" in message


def test_missing_target_values_are_counted(tmp_path) -> None:
    frame = mixed_frame()
    frame.loc[[3, 9], "price"] = np.nan
    study = write_table(tmp_path, frame, {"data": {"inputs": ["size"]}, "heads": {"price": {}}})
    with pytest.raises(DataError, match=r"2 missing or infinite values \(first data rows: 4, 10\)"):
        prepare_dataset(study)


def test_single_class_target(tmp_path) -> None:
    frame = mixed_frame()
    frame["sold"] = "yes"
    study = write_table(
        tmp_path, frame, {"data": {"inputs": ["size"]}, "heads": {"sold": {"kind": "binary"}}}
    )
    with pytest.raises(DataError, match="at least 2 classes"):
        prepare_dataset(study)


def test_class_unseen_in_train(tmp_path) -> None:
    frame = mixed_frame()
    frame.loc[30, "kind"] = "z"
    study = write_table(
        tmp_path, frame, {"data": {"inputs": ["size"]}, "heads": {"kind": {"kind": "multiclass"}}}
    )
    with pytest.raises(DataError) as exc:
        prepare_dataset(study)
    assert exc.value.problems[0].where == "heads.kind.target (column 'kind')"
    assert "['z']" in str(exc.value) and "test split" in str(exc.value)


def test_missing_data_file(tmp_path, tiny_raw) -> None:
    tiny_raw["data"] = {"source": "absent.csv", "inputs": ["x"]}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(tiny_raw))
    with pytest.raises(DataError, match=r"absent\.csv' does not exist"):
        prepare_dataset(load_study(path))


def test_same_seed_same_dataset(tiny_study) -> None:
    a, b = prepare_dataset(tiny_study), prepare_dataset(tiny_study)
    np.testing.assert_array_equal(a.train.x, b.train.x)
    np.testing.assert_array_equal(a.test.y["y1"], b.test.y["y1"])
    c = prepare_dataset(tiny_study, seed=tiny_study.seed + 1)
    assert not np.array_equal(a.train.x, c.train.x)

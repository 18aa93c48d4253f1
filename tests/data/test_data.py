"""Data: generators, seeded disjoint splits, train-only preprocessing, actionable errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mtltune import DataError, Dataset, load_study, prepare_dataset
from mtltune.data import describe, load_table, split_indices
from mtltune.data.racesplits import race_splits, repartitioned
from mtltune.study import SplitConfig, Study

SPLITS = ("train", "stop", "test")


def write_table(
    tmp_path: Path, frame: pd.DataFrame, study: dict[str, Any], name: str = "rows.csv"
) -> Study:
    """Write the rows and a study YAML beside them (data.source relative to it), then load it."""
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


def builtin_study(tmp_path: Path, generator: str = "hetero_sine", **updates: Any) -> Study:
    raw: dict[str, Any] = {
        "name": "builtin",
        "seed": 3,
        "data": {"source": f"builtin:{generator}", "params": {"n": 300, "tasks": 3}},
        "split": {"train": 0.5, "stop": 0.25, "test": 0.25, "shuffle": True},
        "heads": {f"y{i}": {} for i in range(3)},
        **updates,
    }
    path = tmp_path / "builtin.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_study(path)


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


def problems(exc: pytest.ExceptionInfo[DataError]) -> dict[str, str]:
    return {p.where: p.message for p in exc.value.problems}


def data_error(study: Study) -> pytest.ExceptionInfo[DataError]:
    with pytest.raises(DataError) as exc:
        prepare_dataset(study)
    return exc


# ---------------------------------------------------------------------------------------------
# Built-in generators


def test_builtin_study_uses_its_params(tmp_path) -> None:
    study = builtin_study(tmp_path)
    table = load_table(study)
    assert len(table) == 300
    assert {"y0", "y1", "y2", "x", "y"} == set(table.columns)
    data = prepare_dataset(study)
    assert sum(len(data.split(s)) for s in SPLITS) == 300
    assert data.inputs.feature_names == ["x"]


# ---------------------------------------------------------------------------------------------
# Splits


def test_splits_are_disjoint_cover_all_rows_and_are_seeded() -> None:
    split = SplitConfig(train=0.5, stop=0.3, test=0.2, shuffle=True)
    train, stop, test = split_indices(101, split, seed=9)
    assert len(train) + len(stop) + len(test) == 101
    assert set(train).isdisjoint(stop) and set(train).isdisjoint(test)
    assert set(stop).isdisjoint(test)
    assert sorted(np.concatenate([train, stop, test]).tolist()) == list(range(101))
    again = split_indices(101, split, seed=9)
    for a, b in zip((train, stop, test), again, strict=True):
        np.testing.assert_array_equal(a, b)
    other = split_indices(101, split, seed=10)
    assert not np.array_equal(train, other[0])


@pytest.mark.parametrize("n", [5, 10, 57, 1000])
@pytest.mark.parametrize("fractions", [(0.6, 0.2, 0.2), (0.34, 0.33, 0.33), (0.4, 0.4, 0.2)])
def test_split_sizes_follow_the_fractions(n, fractions) -> None:
    split = SplitConfig(train=fractions[0], stop=fractions[1], test=fractions[2])
    train, stop, test = split_indices(n, split, seed=1)
    assert sorted(np.concatenate([train, stop, test]).tolist()) == list(range(n))
    for part, fraction in zip((train, stop, test), fractions, strict=True):
        assert len(part) >= 1
        assert abs(len(part) - n * fraction) <= 1.5


def test_unshuffled_split_keeps_file_order() -> None:
    split = SplitConfig(train=0.05, stop=0.45, test=0.5, shuffle=False)
    train, stop, test = split_indices(1000, split, seed=0)
    np.testing.assert_array_equal(train, np.arange(50))
    np.testing.assert_array_equal(stop, np.arange(50, 500))
    np.testing.assert_array_equal(test, np.arange(500, 1000))
    for a, b in zip((train, stop, test), split_indices(1000, split, seed=123), strict=True):
        np.testing.assert_array_equal(a, b)  # the seed does not matter without a shuffle


def test_shuffled_split_is_not_file_order() -> None:
    train, _, _ = split_indices(1000, SplitConfig(shuffle=True), seed=0)
    assert not np.array_equal(np.sort(train), np.arange(len(train)))


def test_an_empty_split_is_a_data_error() -> None:
    split = SplitConfig(train=0.98, stop=0.01, test=0.01)
    with pytest.raises(DataError) as exc:
        split_indices(20, split, seed=0)
    assert {p.where for p in exc.value.problems} == {"split.stop", "split.test"}
    assert "split.stop" in str(exc.value) and "no rows" in str(exc.value)


def test_an_empty_train_split_is_a_data_error() -> None:
    with pytest.raises(DataError) as exc:
        split_indices(4, SplitConfig(train=0.1, stop=0.45, test=0.45), seed=0)
    assert "split.train" in {p.where for p in exc.value.problems}


def test_prepare_dataset_with_too_few_rows_names_the_split(tmp_path) -> None:
    frame = mixed_frame(8)
    study = write_table(
        tmp_path,
        frame,
        {
            "split": {"train": 0.9, "stop": 0.05, "test": 0.05},
            "data": {"inputs": ["size"]},
            "heads": {"price": {}},
        },
    )
    found = problems(data_error(study))  # 8 rows: train 7, stop 0, test 1
    assert set(found) == {"split.stop"}
    assert "8" in found["split.stop"]


# ---------------------------------------------------------------------------------------------
# Preprocessing fitted on train


def test_a_binary_head_of_many_values_is_told_which_kind_fits(tmp_path) -> None:
    frame = mixed_frame()
    frame["count"] = np.arange(len(frame)) % 5  # whole numbers: class codes or amounts
    for column, fix in (
        ("price", "its values are numbers with fractions: use kind: regression"),
        ("count", "use kind: multiclass for class codes, or kind: regression for amounts"),
        ("kind", "use kind: multiclass"),
    ):
        study = write_table(
            tmp_path, frame, {"data": {"inputs": ["size"]}, "heads": {column: {"kind": "binary"}}}
        )
        message = problems(data_error(study))[f"heads.{column}.target (column {column!r})"]
        assert "a binary head needs exactly 2 classes" in message
        assert message.endswith(fix), message


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
    assert isinstance(data, Dataset)
    train_rows = frame.iloc[:20]
    mean, std = data.inputs.numeric["size"]
    assert mean == pytest.approx(train_rows["size"].mean())
    assert std == pytest.approx(train_rows["size"].std(ddof=0))
    assert mean != pytest.approx(frame["size"].mean())
    assert data.train.x[:, 0].mean() == pytest.approx(0.0, abs=1e-6)
    assert data.train.x[:, 0].std() == pytest.approx(1.0, rel=1e-5)
    assert data.test.x[:, 0].mean() > 2  # later rows, standardised with train statistics
    np.testing.assert_allclose(data.test.x[:, 0], (frame["size"].iloc[30:] - mean) / std, rtol=1e-6)
    assert data.inputs.feature_names == ["size", "colour=blue", "colour=red"]
    green = np.flatnonzero(data.test.rows == 35)[0]
    np.testing.assert_array_equal(data.test.x[green, 1:], [0.0, 0.0])
    np.testing.assert_array_equal(data.train.y["sold"].ravel(), (train_rows["sold"] == "yes"))
    assert data.targets["kind"].classes == ["a", "b", "c"]
    np.testing.assert_array_equal(data.train.y["kind"][:4], [1, 0, 2, 0])
    assert data.targets["kind"].units == 3
    assert data.train.y["price"].shape == (20, 1)


def test_shuffled_train_statistics_come_from_the_train_rows_only(tmp_path) -> None:
    rng = np.random.default_rng(5)
    n = 200
    frame = pd.DataFrame(
        {
            "u": rng.exponential(3.0, n) + np.linspace(0, 50, n),
            "v": rng.normal(10.0, 4.0, n),
            "t": rng.normal(size=n),
        }
    )
    study = write_table(
        tmp_path,
        frame,
        {
            "split": {"train": 0.3, "stop": 0.3, "test": 0.4, "shuffle": True},
            "data": {"inputs": ["u", "v"]},
            "heads": {"t": {}},
        },
    )
    data = prepare_dataset(study)
    train = frame.iloc[data.train.rows]
    for j, column in enumerate(["u", "v"]):
        mean, std = data.inputs.numeric[column]
        assert mean == pytest.approx(train[column].mean(), rel=1e-12)
        assert std == pytest.approx(np.std(train[column].to_numpy()), rel=1e-12)
        assert mean != pytest.approx(frame[column].mean(), rel=1e-6)
        assert data.train.x[:, j].mean() == pytest.approx(0.0, abs=1e-5)
        assert data.train.x[:, j].std() == pytest.approx(1.0, rel=1e-4)
        for name in ("stop", "test"):
            part = data.split(name)
            expected = (frame[column].to_numpy()[part.rows] - mean) / std
            np.testing.assert_allclose(part.x[:, j], expected, rtol=1e-5, atol=1e-6)
    t = frame["t"].to_numpy()
    scale = data.targets["t"].scale  # standard, from the train rows only
    assert (scale.center, scale.spread) == pytest.approx(
        (t[data.train.rows].mean(), t[data.train.rows].std())
    )
    assert data.train.y["t"].mean() == pytest.approx(0.0, abs=1e-5)
    unscaled = scale.inverse(data.test.y["t"]).ravel()
    np.testing.assert_allclose(unscaled, t[data.test.rows], rtol=1e-5, atol=1e-6)


def test_dataset_shapes_and_dtypes(tmp_path) -> None:
    study = write_table(
        tmp_path,
        mixed_frame(),
        {
            "data": {"inputs": ["size", "colour"]},
            "heads": {"price": {}, "sold": {"kind": "binary"}, "kind": {"kind": "multiclass"}},
        },
    )
    data = prepare_dataset(study)
    assert data.input_dim == 3
    assert [len(data.split(s)) for s in SPLITS] == [20, 10, 10]
    for name in SPLITS:
        part = data.split(name)
        assert part.x.dtype == np.float32 and part.x.shape == (len(part), 3)
        assert part.y["price"].dtype == np.float32 and part.y["price"].shape == (len(part), 1)
        assert part.y["sold"].dtype == np.float32 and part.y["sold"].shape == (len(part), 1)
        assert set(np.unique(part.y["sold"])) <= {0.0, 1.0}
        assert part.y["kind"].dtype == np.int32 and part.y["kind"].shape == (len(part),)
        assert part.clean == {}
    assert sorted(np.concatenate([data.split(s).rows for s in SPLITS]).tolist()) == list(range(40))
    assert data.targets["sold"].units == 1 and data.targets["price"].units == 1
    info = describe(data)
    assert info["rows"] == {"train": 20, "stop": 10, "test": 10}
    assert info["classes"] == {"sold": ["no", "yes"], "kind": ["a", "b", "c"]}


def test_categorical_inputs_use_train_categories(tmp_path) -> None:
    frame = mixed_frame()
    frame["colour"] = ["red", "blue"] * 10 + ["red", "purple"] * 10  # purple: stop and test only
    study = write_table(tmp_path, frame, {"data": {"inputs": ["colour"]}, "heads": {"price": {}}})
    data = prepare_dataset(study)
    assert data.inputs.categorical == {"colour": ["blue", "red"]}
    assert data.inputs.feature_names == ["colour=blue", "colour=red"]
    np.testing.assert_array_equal(data.train.x[:2], [[0.0, 1.0], [1.0, 0.0]])
    for name in ("stop", "test"):
        part = data.split(name)
        purple = frame["colour"].to_numpy()[part.rows] == "purple"
        assert purple.any()
        np.testing.assert_array_equal(part.x[purple], 0.0)  # unseen: all zeros
        np.testing.assert_array_equal(part.x[~purple].sum(axis=1), 1.0)


def test_numeric_column_listed_as_categorical_is_one_hot(tmp_path) -> None:
    frame = mixed_frame()
    frame["grade"] = [1, 2, 3, 2] * 10
    study = write_table(
        tmp_path,
        frame,
        {"data": {"inputs": ["size", "grade"], "categorical": ["grade"]}, "heads": {"price": {}}},
    )
    data = prepare_dataset(study)
    assert data.inputs.feature_names == ["size", "grade=1", "grade=2", "grade=3"]
    np.testing.assert_array_equal(data.train.x[:4, 1:], np.eye(3)[[0, 1, 2, 1]])


def test_numbers_stored_as_text_are_numeric(tmp_path) -> None:
    frame = mixed_frame()
    frame["size"] = frame["size"].map(lambda v: f"{v:.1f}")  # strings in the Parquet file
    study = write_table(
        tmp_path,
        frame,
        {"data": {"inputs": ["size"]}, "heads": {"price": {}}},
        name="rows.parquet",
    )
    data = prepare_dataset(study)
    assert list(data.inputs.numeric) == ["size"] and data.inputs.categorical == {}
    assert data.train.x[:, 0].mean() == pytest.approx(0.0, abs=1e-6)


def test_constant_and_boolean_inputs(tmp_path) -> None:
    frame = mixed_frame()
    frame["const"] = 5.0
    frame["flag"] = [True, False, False, True] * 10
    study = write_table(
        tmp_path, frame, {"data": {"inputs": ["const", "flag"]}, "heads": {"price": {}}}
    )
    data = prepare_dataset(study)
    assert data.inputs.numeric["const"] == (5.0, 1.0)  # a zero std is not divided by
    assert np.isfinite(data.train.x).all()
    np.testing.assert_array_equal(data.train.x[:, 0], 0.0)
    assert data.inputs.feature_names == ["const", "flag=False", "flag=True"]
    np.testing.assert_array_equal(data.train.x[:4, 1:], [[0, 1], [1, 0], [1, 0], [0, 1]])


def test_binary_string_labels_map_to_0_and_1(tmp_path) -> None:
    frame = mixed_frame()
    study = write_table(
        tmp_path, frame, {"data": {"inputs": ["size"]}, "heads": {"sold": {"kind": "binary"}}}
    )
    data = prepare_dataset(study)
    assert data.targets["sold"].classes == ["no", "yes"]  # the larger label is positive
    for name in SPLITS:
        part = data.split(name)
        expected = (frame["sold"].to_numpy()[part.rows] == "yes").astype(np.float32)
        np.testing.assert_array_equal(part.y["sold"].ravel(), expected)


def test_positive_class_is_honoured(tmp_path) -> None:
    frame = mixed_frame()
    study = write_table(
        tmp_path,
        frame,
        {
            "data": {"inputs": ["size"]},
            "heads": {"sold": {"kind": "binary", "positive_class": "no"}},
        },
    )
    data = prepare_dataset(study)
    assert data.targets["sold"].classes == ["yes", "no"]  # [negative, positive]
    for name in SPLITS:
        part = data.split(name)
        expected = (frame["sold"].to_numpy()[part.rows] == "no").astype(np.float32)
        np.testing.assert_array_equal(part.y["sold"].ravel(), expected)


def test_positive_class_with_integer_labels(tmp_path) -> None:
    frame = mixed_frame()
    frame["flag"] = [0, 1] * 20
    study = write_table(
        tmp_path,
        frame,
        {"data": {"inputs": ["size"]}, "heads": {"flag": {"kind": "binary", "positive_class": 0}}},
    )
    data = prepare_dataset(study)
    np.testing.assert_array_equal(data.train.y["flag"].ravel()[:4], [1.0, 0.0, 1.0, 0.0])


def test_unknown_positive_class(tmp_path) -> None:
    study = write_table(
        tmp_path,
        mixed_frame(),
        {
            "data": {"inputs": ["size"]},
            "heads": {"sold": {"kind": "binary", "positive_class": "maybe"}},
        },
    )
    found = problems(data_error(study))
    assert "heads.sold.positive_class" in found
    assert "'maybe'" in found["heads.sold.positive_class"]


def test_binary_head_with_three_classes(tmp_path) -> None:
    study = write_table(
        tmp_path,
        mixed_frame(),
        {"data": {"inputs": ["size"]}, "heads": {"kind": {"kind": "binary"}}},
    )
    exc = data_error(study)
    assert exc.value.problems[0].where.startswith("heads.kind.target")
    assert "multiclass" in str(exc.value)


def test_multiclass_labels_are_codes_in_sorted_order(tmp_path) -> None:
    frame = mixed_frame(60)
    frame["kind"] = (["zebra", "ant", "moose"] * 20)[:60]
    study = write_table(
        tmp_path,
        frame,
        {
            "split": {"train": 0.5, "stop": 0.25, "test": 0.25, "shuffle": True},
            "data": {"inputs": ["size"]},
            "heads": {"kind": {"kind": "multiclass"}},
        },
    )
    data = prepare_dataset(study)
    classes = data.targets["kind"].classes
    assert classes == ["ant", "moose", "zebra"]
    for name in SPLITS:
        part = data.split(name)
        labels = frame["kind"].to_numpy()[part.rows]
        np.testing.assert_array_equal(part.y["kind"], [classes.index(v) for v in labels])


def test_multiclass_integer_labels(tmp_path) -> None:
    frame = mixed_frame()
    frame["level"] = [30, 10, 20, 10] * 10
    study = write_table(
        tmp_path, frame, {"data": {"inputs": ["size"]}, "heads": {"level": {"kind": "multiclass"}}}
    )
    data = prepare_dataset(study)
    assert data.targets["level"].classes == [10, 20, 30]
    np.testing.assert_array_equal(data.train.y["level"][:4], [2, 0, 1, 0])


def test_clean_targets_are_kept_for_evaluation(tmp_path) -> None:
    study = builtin_study(tmp_path, heads={"y0": {"clean_target": "y"}, "y1": {}})
    data = prepare_dataset(study)
    table = load_table(study)  # the same draw as prepare_dataset's
    assert set(data.train.clean) == {"y0"}
    units = {h: data.targets[h].scale.inverse for h in ("y0", "y1")}
    for name in SPLITS:
        part = data.split(name)
        assert part.clean["y0"].shape == (len(part), 1)
        clean = units["y0"](part.clean["y0"]).ravel()  # scaled like its head's target
        np.testing.assert_allclose(clean, table["y"].to_numpy()[part.rows], atol=1e-5)
        y0 = units["y0"](part.y["y0"]).ravel()
        np.testing.assert_allclose(y0, table["y0"].to_numpy()[part.rows], atol=1e-5)
        noise = units["y1"](part.y["y1"]).ravel() - clean
        assert 0.1 < float(noise.std()) < 0.4  # y1's noise std is 0.2


# ---------------------------------------------------------------------------------------------
# Errors


def test_class_unseen_in_train(tmp_path) -> None:
    frame = mixed_frame()
    frame.loc[30, "kind"] = "z"
    study = write_table(
        tmp_path, frame, {"data": {"inputs": ["size"]}, "heads": {"kind": {"kind": "multiclass"}}}
    )
    exc = data_error(study)
    assert exc.value.problems[0].where == "heads.kind.target (column 'kind')"
    assert "['z']" in str(exc.value) and "test split" in str(exc.value)
    assert "data row 31" in str(exc.value)


def test_class_unseen_in_train_but_in_stop(tmp_path) -> None:
    frame = mixed_frame()
    frame.loc[22, "sold"] = "maybe"  # rows 20..29 are the stop split
    frame.loc[[0, 1, 2, 3], "sold"] = ["no", "yes", "no", "yes"]
    study = write_table(
        tmp_path,
        frame,
        {"data": {"inputs": ["size"]}, "heads": {"price": {}, "sold": {"kind": "multiclass"}}},
    )
    exc = data_error(study)
    where = [p.where for p in exc.value.problems]
    assert where == ["heads.sold.target (column 'sold')"]
    assert "stop split" in str(exc.value) and "'maybe'" in str(exc.value)


def test_single_class_target(tmp_path) -> None:
    frame = mixed_frame()
    frame["sold"] = "yes"
    study = write_table(
        tmp_path, frame, {"data": {"inputs": ["size"]}, "heads": {"sold": {"kind": "binary"}}}
    )
    exc = data_error(study)
    assert exc.value.problems[0].where.startswith("heads.sold.target")
    assert "at least 2 classes" in str(exc.value)
    assert "'yes'" in str(exc.value)


def test_single_class_in_train_only(tmp_path) -> None:
    frame = mixed_frame()
    frame["kind"] = ["a"] * 20 + ["b", "c"] * 10  # train (first half) sees only 'a'
    study = write_table(
        tmp_path, frame, {"data": {"inputs": ["size"]}, "heads": {"kind": {"kind": "multiclass"}}}
    )
    exc = data_error(study)
    assert exc.value.problems[0].where.startswith("heads.kind.target")
    assert "at least 2 classes" in str(exc.value)


def test_missing_column_lists_available_ones(tmp_path) -> None:
    study = write_table(
        tmp_path, mixed_frame(), {"data": {"inputs": ["size"]}, "heads": {"a": {"target": "nope"}}}
    )
    exc = data_error(study)
    problem = exc.value.problems[0]
    assert problem.where == "heads.a.target"
    assert "'nope'" in problem.message
    assert "size, colour, price, sold, kind" in problem.message
    assert "heads.a.target" in str(exc.value)


def test_every_missing_column_is_reported(tmp_path) -> None:
    study = write_table(
        tmp_path,
        mixed_frame(),
        {
            "data": {"inputs": ["size", "weight"]},
            "heads": {"a": {"target": "nope", "clean_target": "gone"}, "price": {}},
        },
    )
    found = problems(data_error(study))
    assert set(found) == {"data.inputs.1", "heads.a.target", "heads.a.clean_target"}
    assert "'weight'" in found["data.inputs.1"]
    assert all("available columns" in m for m in found.values())


def test_non_numeric_value_in_a_numeric_column(tmp_path) -> None:
    frame = mixed_frame()
    frame["size"] = frame["size"].astype(object)
    frame.loc[7, "size"] = "12kg"
    study = write_table(tmp_path, frame, {"data": {"inputs": ["size"]}, "heads": {"price": {}}})
    exc = data_error(study)
    assert len(exc.value.problems) == 1
    problem = exc.value.problems[0]
    assert "data.inputs.0" in problem.where and "'size'" in problem.where
    assert "'12kg'" in problem.message and "data row 8" in problem.message
    assert "data.categorical" in problem.message  # the other fix


def test_non_numeric_value_in_a_regression_target(tmp_path) -> None:
    frame = mixed_frame()
    frame["price"] = frame["price"].astype(object)
    frame.loc[11, "price"] = "n/a?"
    study = write_table(tmp_path, frame, {"data": {"inputs": ["size"]}, "heads": {"price": {}}})
    exc = data_error(study)
    problem = exc.value.problems[0]
    assert problem.where.startswith("heads.price.target") and "'price'" in problem.where
    assert "'n/a?'" in problem.message and "data row 12" in problem.message


def test_nan_in_a_regression_target(tmp_path) -> None:
    frame = mixed_frame()
    frame.loc[[3, 9], "price"] = np.nan
    study = write_table(tmp_path, frame, {"data": {"inputs": ["size"]}, "heads": {"price": {}}})
    exc = data_error(study)
    assert [p.where for p in exc.value.problems] == ["heads.price.target (column 'price')"]
    message = exc.value.problems[0].message
    assert "2 missing" in message and "4, 10" in message


def test_infinite_value_in_an_input(tmp_path) -> None:
    frame = mixed_frame()
    frame.loc[5, "size"] = np.inf
    study = write_table(tmp_path, frame, {"data": {"inputs": ["size"]}, "heads": {"price": {}}})
    exc = data_error(study)
    assert exc.value.problems[0].where == "data.inputs.0 (column 'size')"
    assert "6" in exc.value.problems[0].message


def test_missing_label_in_a_classification_target(tmp_path) -> None:
    frame = mixed_frame()
    frame.loc[2, "sold"] = None
    study = write_table(
        tmp_path, frame, {"data": {"inputs": ["size"]}, "heads": {"sold": {"kind": "binary"}}}
    )
    exc = data_error(study)
    assert exc.value.problems[0].where == "heads.sold.target (column 'sold')"
    assert "1 missing" in exc.value.problems[0].message


def test_missing_values_can_be_dropped(tmp_path) -> None:
    frame = mixed_frame()
    frame.loc[[3, 9], "price"] = np.nan
    frame.loc[12, "size"] = np.inf
    frame.loc[15, "sold"] = None
    study = write_table(
        tmp_path,
        frame,
        {
            "data": {"inputs": ["size"], "missing": "drop"},
            "heads": {"price": {}, "sold": {"kind": "binary"}},
        },
    )
    data = prepare_dataset(study)
    assert sum(len(data.split(s)) for s in ("train", "stop", "test")) == 36
    assert np.isfinite(data.train.x).all() and np.isfinite(data.train.y["price"]).all()


def test_dropped_rows_keep_raw_row_positions(tmp_path) -> None:
    # SplitArrays.rows are positions in the raw table, also after rows are dropped
    frame = mixed_frame()
    frame["price"] = np.arange(40, dtype=float)
    frame.loc[[3, 9], "price"] = np.nan
    study = write_table(
        tmp_path,
        frame,
        {
            "split": {"train": 0.5, "stop": 0.25, "test": 0.25, "shuffle": True},
            "data": {"inputs": ["size"], "missing": "drop"},
            "heads": {"price": {}},
        },
    )
    data = prepare_dataset(study)
    rows = np.concatenate([data.split(s).rows for s in SPLITS])
    assert sorted(rows.tolist()) == sorted(set(range(40)) - {3, 9})
    for name in SPLITS:
        part = data.split(name)
        price = data.targets["price"].scale.inverse(part.y["price"]).ravel()
        np.testing.assert_allclose(price, frame["price"].to_numpy()[part.rows], atol=1e-5)


def test_missing_data_file(tmp_path) -> None:
    study = write_table(
        tmp_path, mixed_frame(), {"data": {"inputs": ["size"]}, "heads": {"price": {}}}
    )
    (tmp_path / "rows.csv").unlink()
    exc = data_error(study)
    assert exc.value.problems[0].where == "data.source"
    assert "rows.csv' does not exist" in str(exc.value)


def test_unreadable_and_empty_files(tmp_path) -> None:
    study = write_table(
        tmp_path,
        mixed_frame(),
        {"data": {"inputs": ["size"]}, "heads": {"price": {}}},
        name="rows.parquet",
    )
    (tmp_path / "rows.parquet").write_bytes(b"this is not parquet")
    exc = data_error(study)
    assert exc.value.problems[0].where == "data.source" and "cannot read" in str(exc.value)
    study = write_table(
        tmp_path, mixed_frame().iloc[:0], {"data": {"inputs": ["size"]}, "heads": {"price": {}}}
    )
    exc = data_error(study)
    assert "no rows" in str(exc.value)


def test_parquet_and_csv_give_the_same_dataset(tmp_path) -> None:
    spec = {
        "data": {"inputs": ["size", "colour"]},
        "heads": {"price": {}, "kind": {"kind": "multiclass"}},
    }
    (tmp_path / "csv").mkdir()
    (tmp_path / "pq").mkdir()
    from_csv = prepare_dataset(write_table(tmp_path / "csv", mixed_frame(), spec))
    parquet_study = write_table(tmp_path / "pq", mixed_frame(), spec, name="rows.parquet")
    assert parquet_study.data_path() == (tmp_path / "pq" / "rows.parquet").resolve()
    pd.testing.assert_frame_equal(load_table(parquet_study), mixed_frame())
    from_parquet = prepare_dataset(parquet_study)
    for name in SPLITS:
        np.testing.assert_allclose(from_csv.split(name).x, from_parquet.split(name).x, rtol=1e-6)
        np.testing.assert_array_equal(
            from_csv.split(name).y["kind"], from_parquet.split(name).y["kind"]
        )


def test_same_seed_same_dataset(tmp_path) -> None:
    study = builtin_study(tmp_path)
    a, b = prepare_dataset(study), prepare_dataset(study)
    for name in SPLITS:
        np.testing.assert_array_equal(a.split(name).x, b.split(name).x)
        np.testing.assert_array_equal(a.split(name).rows, b.split(name).rows)
        np.testing.assert_array_equal(a.split(name).y["y1"], b.split(name).y["y1"])
    c = prepare_dataset(study, seed=study.seed + 1)
    assert not np.array_equal(a.train.x, c.train.x)


def test_balanced_class_weights_come_from_train_frequencies(tmp_path) -> None:
    frame = mixed_frame()
    frame["sold"] = ["yes"] + ["no"] * 39  # rare in train: 1 of 20
    frame.loc[25, "sold"] = "yes"
    study = write_table(
        tmp_path,
        frame,
        {
            "data": {"inputs": ["size"]},
            "heads": {"sold": {"kind": "binary", "loss": "weighted_binary_crossentropy"}},
        },
    )
    data = prepare_dataset(study)
    assert data.targets["sold"].classes == ["no", "yes"]
    assert data.class_weights["sold"] == pytest.approx([20 / (2 * 19), 20 / (2 * 1)])


def test_class_weights_by_label_and_unknown_labels(tmp_path) -> None:
    head = {
        "kind": "multiclass",
        "loss": "weighted_categorical_crossentropy",
        "class_weights": {"c": 5.0},
    }
    study = write_table(
        tmp_path, mixed_frame(), {"data": {"inputs": ["size"]}, "heads": {"kind": head}}
    )
    assert prepare_dataset(study).class_weights["kind"] == [1.0, 1.0, 5.0]
    head["class_weights"] = {"zebra": 2.0}
    study = write_table(
        tmp_path, mixed_frame(), {"data": {"inputs": ["size"]}, "heads": {"kind": head}}
    )
    with pytest.raises(DataError) as exc:
        prepare_dataset(study)
    assert exc.value.problems[0].where == "heads.kind.class_weights"
    assert "'zebra'" in str(exc.value)


def test_a_race_seed_deals_train_and_stop_anew_and_never_moves_test(tmp_path) -> None:
    data = prepare_dataset(builtin_study(tmp_path))
    dealt = repartitioned(data, 1003)
    assert (len(dealt.train), len(dealt.stop)) == (len(data.train), len(data.stop))
    pool = np.concatenate([data.train.rows, data.stop.rows])
    assert sorted(np.concatenate([dealt.train.rows, dealt.stop.rows])) == sorted(pool)
    assert set(dealt.stop.rows) != set(data.stop.rows)
    assert dealt.test is data.test and dealt.targets is data.targets
    # Each row keeps its inputs and targets: row r's values are the same in both deals.
    where = {int(r): i for i, r in enumerate(np.concatenate([data.train.rows, data.stop.rows]))}
    x = np.concatenate([data.train.x, data.stop.x])
    y0 = np.concatenate([data.train.y["y0"], data.stop.y["y0"]])
    for split in (dealt.train, dealt.stop):
        index = [where[int(r)] for r in split.rows]
        np.testing.assert_array_equal(split.x, x[index])
        np.testing.assert_array_equal(split.y["y0"], y0[index])
    # The same seed deals the same rows; another seed others.
    assert np.array_equal(repartitioned(data, 1003).stop.rows, dealt.stop.rows)
    assert not np.array_equal(repartitioned(data, 1004).stop.rows, dealt.stop.rows)


def test_a_race_run_stops_on_one_half_of_the_stop_rows_and_is_judged_on_the_other(
    tmp_path,
) -> None:
    data = prepare_dataset(builtin_study(tmp_path))
    train, judge = race_splits(data, 1003, shuffle=True)
    dealt = repartitioned(data, 1003)
    assert np.array_equal(train.train.rows, dealt.train.rows) and train.test is data.test
    halves = [train.stop.rows, judge.rows]
    assert abs(len(halves[0]) - len(halves[1])) <= 1 and not set(halves[0]) & set(halves[1])
    assert sorted(np.concatenate(halves)) == sorted(dealt.stop.rows)
    # An ordered split keeps its rows: the earlier half stops, the later half judges.
    kept, later = race_splits(data, 1003, shuffle=False)
    assert kept.train is data.train
    n = len(data.stop) // 2
    assert np.array_equal(kept.stop.x, data.stop.x[:n]) and np.array_equal(later.x, data.stop.x[n:])

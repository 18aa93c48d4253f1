"""Rows in, arrays out: table loading, built-in generators, seeded splits, preprocessing.

Every statistic (input means and standard deviations, categories, class labels) is learned from
the train split only and then applied to stop and test: the test split stays an air gap.
Nothing here imports TensorFlow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mtltune.data.checks import (
    category_labels,
    check_columns,
    check_log_targets,
    check_target_range,
    check_unseen_classes,
    check_values,
    is_categorical,
)
from mtltune.data.generators import GENERATORS
from mtltune.data.scaling import TargetScale
from mtltune.data.tables import read_table, sample_rows
from mtltune.errors import DataError, Problem
from mtltune.study import BuiltinParams, HeadConfig, SplitConfig, Study, yaml_boolean_hint

SPLITS = ("train", "stop", "test")


def load_table(study: Study, *, seed: int | None = None) -> pd.DataFrame:
    """Read the study's rows from its CSV/Parquet file or built-in generator.

    Args:
        study: The study.
        seed: Seed of a built-in generator (default: derived from the study seed).

    Returns:
        The raw table, in file order.

    Raises:
        DataError: If the file is missing, unreadable or empty.
    """
    if study.data.is_builtin:
        params = study.data.params or BuiltinParams()
        draw_seed = _seeds(study.seed)[0] if seed is None else seed
        return GENERATORS[study.data.builtin_name](params, draw_seed)
    path = study.data_path()
    assert path is not None
    return read_table(path, "data.source")


# ---------------------------------------------------------------------------------------------
# Splits


def split_indices(
    n: int, split: SplitConfig, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row positions of train, stop and test: disjoint, covering all rows, seeded.

    Args:
        n: Number of rows.
        split: Fractions and whether to shuffle.
        seed: Seed of the shuffle (ignored when ``split.shuffle`` is false).

    Returns:
        Three sorted-or-shuffled integer arrays.

    Raises:
        DataError: If a split would be empty.
    """
    order = np.random.default_rng(seed).permutation(n) if split.shuffle else np.arange(n)
    n_train = round(n * split.train)
    n_stop = round(n * split.stop)
    sizes = {"train": n_train, "stop": n_stop, "test": n - n_train - n_stop}
    empty = [name for name, size in sizes.items() if size <= 0]
    if empty:
        raise DataError(
            [
                Problem(
                    f"split.{name}",
                    f"leaves no rows out of {n} (sizes {sizes}); raise this fraction or add rows",
                )
                for name in empty
            ]
        )
    return order[:n_train], order[n_train : n_train + n_stop], order[n_train + n_stop :]


def _seeds(seed: int) -> tuple[int, int]:
    """Independent seeds for the data draw and the split, derived from the study seed."""
    draw, shuffle = np.random.SeedSequence(seed).generate_state(2)
    return int(draw), int(shuffle)


# ---------------------------------------------------------------------------------------------
# Preprocessing fitted on train


@dataclass(frozen=True)
class InputEncoder:
    """Standardises numeric inputs and one-hot encodes categorical ones, fitted on train.

    Attributes:
        numeric: Numeric columns with their train mean and standard deviation.
        categorical: Categorical columns with the categories seen in train.
    """

    numeric: dict[str, tuple[float, float]]
    categorical: dict[str, list[str]]

    @property
    def feature_names(self) -> list[str]:
        """Names of the encoded features, in column order."""
        names = list(self.numeric)
        for column, categories in self.categorical.items():
            names += [f"{column}={c}" for c in categories]
        return names

    def transform(self, table: pd.DataFrame) -> np.ndarray:
        """Encode rows into a float32 matrix (unseen categories become all zeros).

        The matrix is filled column by column: no temporary as large as the table.
        """
        out = np.zeros((len(table), len(self.feature_names)), dtype=np.float32)
        for j, (column, (mean, std)) in enumerate(self.numeric.items()):
            out[:, j] = (table[column].to_numpy(dtype=np.float64) - mean) / std
        j = len(self.numeric)
        for column, categories in self.categorical.items():
            # pandas picks the narrowest code type (int8 below 128 categories): widen it before
            # adding the column offset, which can be any size.
            codes = pd.Categorical(category_labels(table[column]), categories=categories).codes
            codes = codes.astype(np.intp, copy=False)
            seen = np.flatnonzero(codes >= 0)
            out[seen, j + codes[seen]] = 1.0
            j += len(categories)
        return out


@dataclass(frozen=True)
class TargetEncoder:
    """Encodes one head's labels: floats for regression, 0/1 for binary, codes for multiclass.

    Attributes:
        kind: The head kind.
        classes: Class labels seen in train (classification heads), in code order.
        class_weights: Weight of each class in code order (weighted cross-entropy heads).
        scale: The target's scale fitted on train (regression heads, ``heads.<h>.scale``).
    """

    kind: str
    classes: list[Any] = field(default_factory=list)
    class_weights: list[float] | None = None
    scale: TargetScale = field(default_factory=TargetScale)

    @property
    def units(self) -> int:
        """Width of the head's output layer."""
        return len(self.classes) if self.kind == "multiclass" else 1

    def transform(self, values: pd.Series) -> np.ndarray:
        """Encode a column (already checked) into the array the head's loss expects."""
        if self.kind == "regression":
            return self.scale.transform(values.to_numpy(dtype=np.float64))[:, None]
        codes = pd.Index(self.classes).get_indexer(values)
        if self.kind == "binary":
            return codes.astype(np.float32)[:, None]
        return codes.astype(np.int32)


@dataclass(frozen=True)
class SplitArrays:
    """One split, ready for Keras.

    Attributes:
        x: Encoded inputs, shape (rows, features).
        y: Encoded target of each head.
        clean: Noise-free target of the heads that name a ``clean_target``.
        rows: Positions of these rows in the raw table.
    """

    x: np.ndarray
    y: dict[str, np.ndarray]
    clean: dict[str, np.ndarray]
    rows: np.ndarray

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass(frozen=True)
class Dataset:
    """The study's data: three splits and the encoders fitted on train."""

    train: SplitArrays
    stop: SplitArrays
    test: SplitArrays
    inputs: InputEncoder
    targets: dict[str, TargetEncoder]

    @property
    def class_weights(self) -> dict[str, list[float]]:
        """Per-class weights (code order) of the class-weighted heads, from train."""
        return {h: e.class_weights for h, e in self.targets.items() if e.class_weights}

    @property
    def target_scales(self) -> dict[str, TargetScale]:
        """The fitted scale of each regression target (``heads.<h>.scale``)."""
        return {h: e.scale for h, e in self.targets.items() if e.kind == "regression"}

    @property
    def input_dim(self) -> int:
        """Number of encoded input features."""
        return int(self.train.x.shape[1])

    def split(self, name: str) -> SplitArrays:
        """One split by name (``train``, ``stop`` or ``test``)."""
        return {"train": self.train, "stop": self.stop, "test": self.test}[name]


def prepare_dataset(study: Study, *, seed: int | None = None) -> Dataset:
    """Load, check, split and encode the study's data.

    Args:
        study: The validated study.
        seed: Seed for the data draw and shuffle (default: the study seed). Replications pass
            other seeds to get other draws.

    Returns:
        The dataset.

    Raises:
        DataError: With one problem per missing column, bad value or unusable target.
    """
    seed = study.seed if seed is None else seed
    draw_seed, split_seed = _seeds(seed)
    table = load_table(study, seed=draw_seed)
    check_columns(study, table)
    table, positions = check_values(study, table)
    sampled = sample_rows(len(table), study.data.sample, seed)
    if sampled is not None:
        table, positions = table.iloc[sampled].reset_index(drop=True), positions[sampled]
    check_log_targets(study, table, positions)
    check_target_range(study, table, positions)
    train_idx, stop_idx, test_idx = split_indices(len(table), study.split, split_seed)
    train = table.iloc[train_idx]
    inputs = _fit_inputs(train, study.data.inputs or [], study.data.categorical)
    targets = {name: _fit_target(name, head, train) for name, head in study.heads.items()}
    parts = {}
    for name, idx in zip(SPLITS, (train_idx, stop_idx, test_idx), strict=True):
        rows = table.iloc[idx]
        if name != "train":
            check_unseen_classes(study, targets, rows, name, positions[idx])
        parts[name] = SplitArrays(
            x=inputs.transform(rows),
            y={h: targets[h].transform(rows[study.heads[h].target]) for h in study.heads},
            clean={
                h: targets[h].scale.transform(rows[head.clean_target].to_numpy())[:, None]
                for h, head in study.heads.items()
                if head.clean_target is not None
            },
            rows=positions[idx],
        )
    return Dataset(inputs=inputs, targets=targets, **parts)


def _fit_inputs(train: pd.DataFrame, inputs: Sequence[str], forced: Sequence[str]) -> InputEncoder:
    numeric: dict[str, tuple[float, float]] = {}
    categorical: dict[str, list[str]] = {}
    for column in inputs:
        series = train[column]
        if is_categorical(series, forced):
            categorical[column] = sorted(category_labels(series).unique().tolist())
        else:
            values = series.to_numpy(dtype=np.float64)
            std = float(values.std())
            numeric[column] = (float(values.mean()), std if std > 0 else 1.0)
    return InputEncoder(numeric=numeric, categorical=categorical)


def _sorted_labels(values: pd.Series) -> list[Any]:
    labels = values.unique().tolist()
    try:
        return sorted(labels)
    except TypeError:
        return sorted(labels, key=str)


def _kind_hint(values: pd.Series) -> str:
    """The head kind a column of more than two values asks for, as a fix to suggest."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.to_numpy(dtype=np.float64)
        if (numbers[np.isfinite(numbers)] % 1 != 0).any():
            return "its values are numbers with fractions: use kind: regression"
        return "use kind: multiclass for class codes, or kind: regression for amounts"
    return "use kind: multiclass"


def _fit_target(name: str, head: HeadConfig, train: pd.DataFrame) -> TargetEncoder:
    if head.kind == "regression":
        values = train[str(head.target)].to_numpy(dtype=np.float64)
        return TargetEncoder(kind="regression", scale=TargetScale.fit(head.scale, values))
    where = f"heads.{name}.target (column {head.target!r})"
    classes = _sorted_labels(train[str(head.target)])
    if len(classes) < 2:
        raise DataError(
            [
                Problem(
                    where,
                    f"a {head.kind} head needs at least 2 classes in the train split, found "
                    f"only {classes}; check the column or the split",
                )
            ]
        )
    if head.kind == "binary":
        if len(classes) != 2:
            raise DataError(
                [
                    Problem(
                        where,
                        f"a binary head needs exactly 2 classes, found {len(classes)} in train "
                        f"({classes[:10]}); {_kind_hint(train[str(head.target)])}",
                    )
                ]
            )
        if head.positive_class is not None:
            matches = [
                c for c in classes if c == head.positive_class or str(c) == str(head.positive_class)
            ]
            if not matches:
                message = f"expected one of {classes}, got {head.positive_class!r}"
                if isinstance(head.positive_class, bool):
                    message += f"; {yaml_boolean_hint(head.positive_class, 'positive_class')}"
                raise DataError([Problem(f"heads.{name}.positive_class", message)])
            negative = next(c for c in classes if c != matches[0])
            classes = [negative, matches[0]]
    weights = _class_weights(name, head, train[str(head.target)], classes)
    return TargetEncoder(kind=head.kind, classes=classes, class_weights=weights)


def _class_weights(
    name: str, head: HeadConfig, labels: pd.Series, classes: list[Any]
) -> list[float] | None:
    """Per-class weights in code order: ``balanced`` from train frequencies, or as given."""
    if head.class_weights is None:
        return None
    if head.class_weights == "balanced":
        counts = labels.value_counts()
        return [len(labels) / (len(classes) * float(counts[c])) for c in classes]
    by_label = {str(c): c for c in classes}
    unknown = sorted(set(head.class_weights) - set(by_label))
    if unknown:
        raise DataError(
            [
                Problem(
                    f"heads.{name}.class_weights",
                    f"labels {unknown} are not classes of the train split; expected some of "
                    f"{[str(c) for c in classes]}",
                )
            ]
        )
    return [float(head.class_weights.get(str(c), 1.0)) for c in classes]


def describe(dataset: Dataset) -> dict[str, Any]:
    """Sizes and encodings of a dataset, for ``validate`` and the report."""
    return {
        "rows": {name: len(dataset.split(name)) for name in SPLITS},
        "features": dataset.inputs.feature_names,
        "classes": {
            name: [_jsonable(c) for c in enc.classes]
            for name, enc in dataset.targets.items()
            if enc.kind != "regression"
        },
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value

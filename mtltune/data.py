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

from mtltune.errors import DataError, Problem
from mtltune.study import BuiltinParams, HeadConfig, SplitConfig, Study

SPLITS = ("train", "stop", "test")


# ---------------------------------------------------------------------------------------------
# Built-in generators (the reference experiment)


def hetero_sine(params: BuiltinParams, seed: int) -> pd.DataFrame:
    """Heteroscedastic sines: ``y_i = sin(2πx) + N(0, 0.1·2^i)``, plus ``x`` and clean ``y``.

    Args:
        params: ``n`` rows and ``tasks`` noisy targets.
        seed: Seed of the generator.

    Returns:
        Columns ``y0..y{tasks-1}``, ``x`` and the noise-free ``y``.
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, params.n)
    clean = np.sin(2.0 * np.pi * x)
    columns = {
        f"y{i}": clean + rng.normal(0.0, 0.1 * 2.0**i, params.n) for i in range(params.tasks)
    }
    return pd.DataFrame({**columns, "x": x, "y": clean})


def phase_sine(params: BuiltinParams, seed: int) -> pd.DataFrame:
    """Phase-shifted, noise-free sines: ``y_i = sin((2x + i/tasks)·π)``, plus ``x``.

    Args:
        params: ``n`` rows and ``tasks`` targets.
        seed: Seed of the generator.

    Returns:
        Columns ``y0..y{tasks-1}`` and ``x``.
    """
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, params.n)
    columns = {f"y{i}": np.sin((2.0 * x + i / params.tasks) * np.pi) for i in range(params.tasks)}
    return pd.DataFrame({**columns, "x": x})


GENERATORS = {"hetero_sine": hetero_sine, "phase_sine": phase_sine}


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
    where = "data.source"
    if not path.is_file():
        raise DataError([Problem(where, f"data file {str(path)!r} does not exist")])
    try:
        csv = path.suffix.lower() == ".csv"
        table = pd.read_csv(path) if csv else pd.read_parquet(path)
    except Exception as exc:  # pandas raises many types for unreadable files
        raise DataError(
            [Problem(where, f"cannot read {str(path)!r} as {path.suffix} ({exc})")]
        ) from None
    if table.empty:
        raise DataError([Problem(where, f"data file {str(path)!r} has no rows")])
    return table


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
        """Encode rows into a float32 matrix (unseen categories become all zeros)."""
        parts = []
        for column, (mean, std) in self.numeric.items():
            values = table[column].to_numpy(dtype=np.float64)
            parts.append(((values - mean) / std)[:, None])
        for column, categories in self.categorical.items():
            values = table[column].astype(str).to_numpy()
            parts.append((values[:, None] == np.asarray(categories)[None, :]).astype(np.float64))
        return np.concatenate(parts, axis=1).astype(np.float32)


@dataclass(frozen=True)
class TargetEncoder:
    """Encodes one head's labels: floats for regression, 0/1 for binary, codes for multiclass.

    Attributes:
        kind: The head kind.
        classes: Class labels seen in train (classification heads), in code order.
        class_weights: Weight of each class in code order (weighted cross-entropy heads).
    """

    kind: str
    classes: list[Any] = field(default_factory=list)
    class_weights: list[float] | None = None

    @property
    def units(self) -> int:
        """Width of the head's output layer."""
        return len(self.classes) if self.kind == "multiclass" else 1

    def transform(self, values: pd.Series) -> np.ndarray:
        """Encode a column (already checked) into the array the head's loss expects."""
        if self.kind == "regression":
            return values.to_numpy(dtype=np.float32)[:, None]
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
    _check_columns(study, table)
    table, positions = _check_values(study, table)
    train_idx, stop_idx, test_idx = split_indices(len(table), study.split, split_seed)
    train = table.iloc[train_idx]
    inputs = _fit_inputs(train, study.data.inputs or [], study.data.categorical)
    targets = {name: _fit_target(name, head, train) for name, head in study.heads.items()}
    parts = {}
    for name, idx in zip(SPLITS, (train_idx, stop_idx, test_idx), strict=True):
        rows = table.iloc[idx]
        if name != "train":
            _check_unseen_classes(study, targets, rows, name, positions[idx])
        parts[name] = SplitArrays(
            x=inputs.transform(rows),
            y={h: targets[h].transform(rows[study.heads[h].target]) for h in study.heads},
            clean={
                h: rows[head.clean_target].to_numpy(dtype=np.float32)[:, None]
                for h, head in study.heads.items()
                if head.clean_target is not None
            },
            rows=positions[idx],
        )
    return Dataset(inputs=inputs, targets=targets, **parts)


def _check_columns(study: Study, table: pd.DataFrame) -> None:
    available = list(map(str, table.columns))
    problems = []

    def need(column: str, where: str) -> None:
        if column not in table.columns:
            problems.append(
                Problem(
                    where,
                    f"column {column!r} is not in the data; available columns: "
                    f"{', '.join(available)}",
                )
            )

    for i, column in enumerate(study.data.inputs or []):
        need(column, f"data.inputs.{i}")
    for name, head in study.heads.items():
        need(str(head.target), f"heads.{name}.target")
        if head.clean_target is not None:
            need(head.clean_target, f"heads.{name}.clean_target")
    if problems:
        raise DataError(problems)


def _is_categorical(series: pd.Series, forced: Sequence[str]) -> bool:
    return series.name in forced or not (
        pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    )


def _numeric_columns(study: Study, table: pd.DataFrame) -> list[tuple[str, str]]:
    """``(key path, column)`` of every column that must hold numbers.

    An input column not listed under ``data.categorical`` is numeric unless most of its values
    are not numbers (then it is one-hot encoded as a categorical input).
    """
    columns = []
    for i, column in enumerate(study.data.inputs or []):
        series = table[column]
        if column in study.data.categorical:
            continue
        if _is_categorical(series, ()):
            converted = pd.to_numeric(series, errors="coerce")
            if (converted.isna() & series.notna()).mean() >= 0.5:
                continue
        columns.append((f"data.inputs.{i}", column))
    for name, head in study.heads.items():
        if head.kind == "regression":
            columns.append((f"heads.{name}.target", str(head.target)))
        if head.clean_target is not None:
            columns.append((f"heads.{name}.clean_target", head.clean_target))
    return columns


def _rows(mask: np.ndarray) -> str:
    """First data rows (1-based) where ``mask`` holds."""
    return ", ".join(str(r + 1) for r in np.flatnonzero(mask)[:5])


def _check_values(study: Study, table: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Convert numeric columns, then reject (or drop) rows with missing or infinite values.

    Returns:
        The clean table (rows renumbered) and, for each of its rows, its position in the raw
        table.
    """
    problems = []
    numeric = _numeric_columns(study, table)
    for where, column in numeric:
        series = table[column]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            continue
        converted = pd.to_numeric(series, errors="coerce")
        bad = (converted.isna() & series.notna()).to_numpy()
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            hint = "; fix the values" + (
                " or list the column under data.categorical" if where.startswith("data.") else ""
            )
            problems.append(
                Problem(
                    f"{where} (column {column!r})",
                    f"expected numbers, found {series.iloc[first]!r} in data row {first + 1} "
                    f"({int(bad.sum())} non-numeric values){hint}",
                )
            )
        else:
            table = table.assign(**{column: converted})
    if problems:
        raise DataError(problems)
    missing: dict[tuple[str, str], np.ndarray] = {
        (where, column): ~np.isfinite(table[column].to_numpy(dtype=np.float64))
        for where, column in numeric
    }
    numeric_names = {column for _, column in numeric}
    for i, column in enumerate(study.data.inputs or []):
        if column not in numeric_names:
            missing[(f"data.inputs.{i}", column)] = table[column].isna().to_numpy()
    for name, head in study.heads.items():
        if head.kind != "regression":
            missing[(f"heads.{name}.target", str(head.target))] = (
                table[str(head.target)].isna().to_numpy()
            )
    any_missing = np.logical_or.reduce(list(missing.values()))
    if not any_missing.any():
        return table, np.arange(len(table))
    if study.data.missing == "drop":
        kept = table.loc[~any_missing].reset_index(drop=True)
        if kept.empty:
            raise DataError(
                [Problem("data.missing", "dropping rows with missing values leaves no rows")]
            )
        return kept, np.flatnonzero(~any_missing)
    raise DataError(
        [
            Problem(
                f"{where} (column {column!r})",
                f"expected finite values, found {int(mask.sum())} missing or infinite (first "
                f"data rows: {_rows(mask)}); fill or remove them, or set data.missing: drop",
            )
            for (where, column), mask in missing.items()
            if mask.any()
        ]
    )


def _fit_inputs(train: pd.DataFrame, inputs: Sequence[str], forced: Sequence[str]) -> InputEncoder:
    numeric: dict[str, tuple[float, float]] = {}
    categorical: dict[str, list[str]] = {}
    for column in inputs:
        series = train[column]
        if _is_categorical(series, forced):
            categorical[column] = sorted(series.astype(str).unique().tolist())
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


def _fit_target(name: str, head: HeadConfig, train: pd.DataFrame) -> TargetEncoder:
    if head.kind == "regression":
        return TargetEncoder(kind="regression")
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
                        f"({classes[:10]}); use kind: multiclass",
                    )
                ]
            )
        if head.positive_class is not None:
            matches = [
                c for c in classes if c == head.positive_class or str(c) == str(head.positive_class)
            ]
            if not matches:
                raise DataError(
                    [
                        Problem(
                            f"heads.{name}.positive_class",
                            f"expected one of {classes}, got {head.positive_class!r}",
                        )
                    ]
                )
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


def _check_unseen_classes(
    study: Study,
    targets: dict[str, TargetEncoder],
    rows: pd.DataFrame,
    split_name: str,
    idx: np.ndarray,
) -> None:
    problems = []
    for name, encoder in targets.items():
        if encoder.kind == "regression":
            continue
        column = str(study.heads[name].target)
        unseen = ~rows[column].isin(encoder.classes).to_numpy()
        if unseen.any():
            labels = sorted(map(str, rows[column][unseen].unique()))
            first = int(idx[np.flatnonzero(unseen)[0]])
            problems.append(
                Problem(
                    f"heads.{name}.target (column {column!r})",
                    f"the {split_name} split has classes that train never saw: {labels} "
                    f"(first at data row {first + 1}); shuffle the split, add rows or "
                    "merge rare classes",
                )
            )
    if problems:
        raise DataError(problems)


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

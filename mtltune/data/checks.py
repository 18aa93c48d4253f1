"""Checks of a raw table against its study.

Columns present, numbers numeric, values finite, classes seen in train. Every failure is a
``DataError`` naming the key path, the column and the rows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mtltune.errors import DataError, Problem
from mtltune.study import Study
from mtltune.study.limits import quote

#: Largest magnitude a value may have: the network computes in float32.
FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_header(columns: Sequence[Any], source: str) -> None:
    """Refuse a table whose header names a column twice (pandas would rename the second)."""
    names = [str(c) for c in columns]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise DataError(
            [
                Problem(
                    "data.source",
                    f"{source} names columns {twice} more than once; each column needs a name "
                    "of its own (rename or remove the copies)",
                )
            ]
        )


def float32_problems(table: pd.DataFrame, numeric: list[tuple[str, str]]) -> list[Problem]:
    """Finite values too large for float32 (they would become infinite in the network)."""
    problems = []
    for where, column in numeric:
        values = table[column].to_numpy(dtype=np.float64)
        huge = np.isfinite(values) & (np.abs(values) > FLOAT32_MAX)
        if huge.any():
            first = int(np.flatnonzero(huge)[0])
            problems.append(
                Problem(
                    f"{where} (column {column!r})",
                    f"{int(huge.sum())} values are too large for the network's float32 (at "
                    f"most ±{FLOAT32_MAX:.3g}), first {values[first]:g} in data row "
                    f"{first + 1}; rescale the column (for example to other units or a log)",
                )
            )
    return problems


def check_columns(study: Study, table: pd.DataFrame) -> None:
    """Every input, target and clean-target column exists (else list the available ones)."""
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


def category_labels(series: pd.Series) -> pd.Series:
    """A categorical column's labels as text, numbers spelled one way whatever their dtype.

    A column of codes is read as floats when one of its cells is empty (``1.0``) and as
    integers when none is (``1``): a whole number is spelled as an integer, so train and new
    rows agree. Text is kept as it is (``"01"`` stays ``"01"``).
    """

    def label(value: Any) -> str:
        if isinstance(value, (float, np.floating)) and np.isfinite(value) and value == int(value):
            return str(int(value))
        return str(value)

    if pd.api.types.is_integer_dtype(series) or pd.api.types.is_bool_dtype(series):
        return series.astype(str)
    return series.map(label).astype(str)


def is_categorical(series: pd.Series, forced: Sequence[str]) -> bool:
    """Whether a column is one-hot encoded: forced, or not numbers (booleans count as labels)."""
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
        if is_categorical(series, ()):
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


def check_values(study: Study, table: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """Convert numeric columns, then reject (or drop) rows with missing or infinite values.

    Returns:
        The clean table (rows renumbered) and, for each of its rows, its position in the raw
        table.
    """
    numeric = _numeric_columns(study, table)
    table = _as_numbers(table, numeric)
    problems = float32_problems(table, numeric)
    if problems:
        raise DataError(problems)
    missing = _missing_masks(study, table, numeric)
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


def _as_numbers(table: pd.DataFrame, numeric: list[tuple[str, str]]) -> pd.DataFrame:
    """The table with its numeric columns converted to numbers.

    Raises:
        DataError: Naming each numeric column that holds text, and its first such row.
    """
    problems = []
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
                    f"expected numbers, found {quote(series.iloc[first])} in data row {first + 1} "
                    f"({int(bad.sum())} non-numeric values){hint}",
                )
            )
        else:
            table = table.assign(**{column: converted})
    if problems:
        raise DataError(problems)
    return table


def _missing_masks(
    study: Study, table: pd.DataFrame, numeric: list[tuple[str, str]]
) -> dict[tuple[str, str], np.ndarray]:
    """Per (key path, column): which rows are missing (or, for numbers, not finite)."""
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
    return missing


def check_unseen_classes(
    study: Study,
    targets: Mapping[str, Any],
    rows: pd.DataFrame,
    split_name: str,
    idx: np.ndarray,
) -> None:
    """Stop and test rows may only hold classes that the train split has."""
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


#: Largest target magnitude a squared error of an unscaled target holds in float32 (the
#: difference of two such values, squared, stays finite).
SQUARE_MAX = math.sqrt(FLOAT32_MAX) / 2
#: Built-in losses that square the error of an unscaled (``scale: none``) target.
_SQUARING = frozenset({"mse", "rmse", "gaussian_nll"})


def check_target_range(study: Study, table: pd.DataFrame, positions: np.ndarray) -> None:
    """Targets of ``scale: none`` heads with a squared loss stay finite when squared (float32).

    A scaled target (``standard``, ``log``) is trained on standardised values, and its losses
    are converted back to the target's units in float64: any float32 value is fine.
    """
    problems = []
    for name, head in study.heads.items():
        if head.kind != "regression" or head.scale != "none" or str(head.loss) not in _SQUARING:
            continue
        values = np.abs(table[head.target].to_numpy(dtype=np.float64))
        bad = values > SQUARE_MAX
        if bad.any():
            first = int(positions[np.flatnonzero(bad)[0]])
            problems.append(
                Problem(
                    f"heads.{name}.target (column {head.target!r})",
                    f"{int(bad.sum())} values beyond ±{SQUARE_MAX:.3g} (first {values[bad][0]:g} "
                    f"at data row {first + 1}): their {head.loss} overflows float32 in training "
                    "with scale: none; use scale: standard (the default) or rescale the column",
                )
            )
    if problems:
        raise DataError(problems)


def check_log_targets(study: Study, table: pd.DataFrame, positions: np.ndarray) -> None:
    """Targets (and clean targets) of ``scale: log`` heads must be positive in every row."""
    problems = []
    for name, head in study.heads.items():
        if head.scale != "log":
            continue
        for key, column in (("target", head.target), ("clean_target", head.clean_target)):
            if column is None:
                continue
            bad = ~(table[column].to_numpy(dtype=np.float64) > 0)
            if bad.any():
                first = int(positions[np.flatnonzero(bad)[0]])
                problems.append(
                    Problem(
                        f"heads.{name}.{key} (column {column!r})",
                        f"scale: log needs values > 0, found {int(bad.sum())} others (first at "
                        f"data row {first + 1}); use scale: standard or remove those rows",
                    )
                )
    if problems:
        raise DataError(problems)

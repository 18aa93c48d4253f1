"""The fitted preprocessing of a study, as a plain JSON document, and its use on new rows.

After a search the run folder holds ``preprocessing.json`` beside ``best_model.keras``: the
input standardisation and one-hot categories, each head's target scale and class labels, all
fitted on the train split. ``mtltune.run.loader.load_preprocessing`` reads it back (validated:
a run folder is untrusted input) as a ``Preprocessing``, which checks new rows the way ``validate``
checks a study's data (every input column present, numbers where numbers were), and encodes
them for the model. Nothing here imports TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mtltune.data.checks import FLOAT32_MAX, category_labels, float32_problems
from mtltune.data.dataset import Dataset, InputEncoder, TargetEncoder
from mtltune.errors import DataError, Problem
from mtltune.study import Study

#: Version of the document's layout.
FORMAT = 1


def _plain(value: Any) -> Any:
    """A NumPy scalar as a plain Python value (JSON-able)."""
    return value.item() if isinstance(value, np.generic) else value


def preprocessing_document(study: Study, dataset: Dataset, model_file: str) -> dict[str, Any]:
    """The fitted preprocessing of a study's data, as JSON-able data.

    Args:
        study: The study (input columns, each head's target column).
        dataset: Its prepared data (encoders fitted on train).
        model_file: The saved model's file name, beside the document.
    """
    inputs = dataset.inputs
    heads = {}
    for name, encoder in dataset.targets.items():
        heads[name] = {
            "target": str(study.heads[name].target),
            "kind": encoder.kind,
            "classes": [_plain(c) for c in encoder.classes],
            "scale": encoder.scale.to_dict(),
        }
    return {
        "format": FORMAT,
        "model": model_file,
        "inputs": {
            "columns": list(study.data.inputs or []),
            "numeric": {c: {"mean": m, "std": s} for c, (m, s) in inputs.numeric.items()},
            "categorical": {c: list(v) for c, v in inputs.categorical.items()},
            "features": inputs.feature_names,
        },
        "heads": heads,
    }


@dataclass(frozen=True)
class Preprocessing:
    """The fitted preprocessing read from ``preprocessing.json``.

    Attributes:
        columns: The input columns, in the study's order.
        inputs: The input encoder (standardisation, one-hot categories).
        targets: Each head's encoder (kind, class labels, target scale).
        target_columns: Each head's target column in the study's data.
        model_file: The saved model's file name.
    """

    columns: list[str]
    inputs: InputEncoder
    targets: dict[str, TargetEncoder]
    target_columns: dict[str, str]
    model_file: str

    def encode(self, table: pd.DataFrame) -> np.ndarray:
        """Check new rows and encode their inputs (float32, one row per table row).

        Raises:
            DataError: Naming each missing column, non-numeric or missing value.
        """
        self.check(table)
        numeric = {c: pd.to_numeric(table[c]) for c in self.inputs.numeric}
        return self.inputs.transform(table.assign(**numeric))

    def unseen_categories(self, table: pd.DataFrame) -> dict[str, tuple[int, str]]:
        """Per categorical input: rows whose category train never saw, and the first such.

        Such a row is encoded with no category set (all its one-hot features 0).
        """
        unseen = {}
        for column, categories in self.inputs.categorical.items():
            labels = category_labels(table[column])
            new = ~labels.isin(categories).to_numpy()
            if new.any():
                unseen[column] = (int(new.sum()), str(labels.iloc[int(np.flatnonzero(new)[0])]))
        return unseen

    def check(self, table: pd.DataFrame) -> None:
        """Every input column is present, numeric ones hold finite numbers, none is missing.

        Raises:
            DataError: One problem per column, naming it and its first bad row.
        """
        available = ", ".join(map(str, table.columns))
        problems = [
            Problem(
                f"column {c!r}",
                f"the model's input column {c!r} is not in the data; available columns: "
                f"{available}",
            )
            for c in self.columns
            if c not in table.columns
        ]
        if problems:
            raise DataError(problems)
        for column in self.columns:
            problem = _bad_values(table[column], column, column in self.inputs.numeric)
            if problem is not None:
                problems.append(problem)
        if problems:
            raise DataError(problems)
        numbers = table[list(self.inputs.numeric)].apply(pd.to_numeric)
        # The study's own check: a value beyond float32 becomes infinite in the network.
        problems = float32_problems(numbers, [("input", c) for c in self.inputs.numeric])
        problems = problems or _standardised_problems(numbers, self.inputs.numeric)
        if problems:
            raise DataError(problems)


def _standardised_problems(
    numbers: pd.DataFrame, stats: Mapping[str, tuple[float, float]]
) -> list[Problem]:
    """Inputs whose standardised value overflows float32 (far beyond anything in train)."""
    problems = []
    for column, (mean, std) in stats.items():
        bad = np.abs((numbers[column].to_numpy(dtype=np.float64) - mean) / std) > FLOAT32_MAX
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            problems.append(
                Problem(
                    f"column {column!r}",
                    f"{int(bad.sum())} values are so far from train's (first in data row "
                    f"{first + 1}) that the standardised input overflows float32; they are "
                    "outside what the model was trained on",
                )
            )
    return problems


def _bad_values(series: pd.Series, column: str, numeric: bool) -> Problem | None:
    """The problem of a column with non-numeric (numeric inputs) or missing values, if any."""
    if numeric:
        if pd.api.types.is_bool_dtype(series):
            return Problem(f"column {column!r}", "expected numbers, found true/false values")
        converted = pd.to_numeric(series, errors="coerce")
        bad = (converted.isna() & series.notna()).to_numpy()
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            return Problem(
                f"column {column!r}",
                f"expected numbers, found {series.iloc[first]!r} in data row {first + 1} "
                f"({int(bad.sum())} non-numeric values); the model was trained on numbers",
            )
        missing = ~np.isfinite(converted.to_numpy(dtype=np.float64))
    else:
        missing = series.isna().to_numpy()
    if missing.any():
        rows = ", ".join(str(r + 1) for r in np.flatnonzero(missing)[:5])
        return Problem(
            f"column {column!r}",
            f"expected finite values, found {int(missing.sum())} missing or infinite (first data "
            f"rows: {rows}); fill or remove them",
        )
    return None

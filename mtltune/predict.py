"""Use a finished run's best model on new rows: ``load_run(RUN_DIR).predict(table)``.

A run folder holds ``best_model.keras`` (outputs in the targets' units) and
``preprocessing.json`` (the input encoding and class labels fitted on train). ``load_run`` reads
the preprocessing; ``RunModel.predict`` checks the table's input columns (as ``validate`` checks
a study's data), encodes them, runs the model (loaded on first use) and returns one column per
head: values in the target's units for regression heads, class labels and one probability
column per class for classification heads. ``mtltune predict`` is ``predict_file``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mtltune.data.preprocessing import Preprocessing
from mtltune.data.tables import read_table
from mtltune.errors import InputError, Problem
from mtltune.run.atomic import write_atomic
from mtltune.run.files import BEST_MODEL, PREPROCESSING_JSON

#: Rows per call of the model (the result does not depend on it).
BATCH_SIZE = 4096


@dataclass(frozen=True)
class Predictions:
    """The predictions of a run's best model for a table's rows.

    Attributes:
        table: One column per head (regression: values in the target's units; classification:
            class labels), then ``<head>_p_<label>`` per class (classification heads) and each
            auxiliary output (a ``gaussian_nll`` head's log-variance, in the target's units).
        outputs: The model's raw outputs keyed by output name (regression outputs already in
            the targets' units; probabilities for classification heads).
    """

    table: pd.DataFrame
    outputs: dict[str, np.ndarray]


@dataclass
class RunModel:
    """A finished run's best model with its preprocessing (see ``load_run``).

    Attributes:
        run_dir: The run folder.
        preprocessing: The fitted preprocessing of inputs and targets.
    """

    run_dir: Path
    preprocessing: Preprocessing
    _model: Any = field(default=None, repr=False)

    @property
    def model(self) -> Any:
        """The Keras model (``best_model.keras``), loaded on first use."""
        if self._model is None:
            import keras

            path = self.run_dir / self.preprocessing.model_file
            self._model = keras.saving.load_model(path, compile=False)
        return self._model

    def predict(self, table: pd.DataFrame) -> Predictions:
        """Predict every row of a table holding (at least) the study's input columns.

        Raises:
            DataError: If an input column is missing or holds values of the wrong type.
        """
        x = self.preprocessing.encode(table)
        raw = self.model.predict(x, batch_size=BATCH_SIZE, verbose=0)
        outputs = {str(k): np.asarray(v) for k, v in raw.items()}
        return Predictions(self._columns(outputs, table.index), outputs)

    def _columns(self, outputs: dict[str, np.ndarray], index: pd.Index) -> pd.DataFrame:
        columns: dict[str, Any] = {}
        extras: dict[str, Any] = {}
        for head, encoder in self.preprocessing.targets.items():
            values = outputs[head]
            if encoder.kind == "regression":
                columns[head] = values[:, 0]
                continue
            classes = np.asarray(encoder.classes, dtype=object)
            if encoder.kind == "binary":
                probabilities = np.concatenate([1.0 - values, values], axis=1)
            else:
                probabilities = values
            columns[head] = classes[np.argmax(probabilities, axis=1)]
            for code, label in enumerate(encoder.classes):
                extras[f"{head}_p_{label}"] = probabilities[:, code]
        for key, values in outputs.items():
            if key not in self.preprocessing.targets:
                extras[key] = values[:, 0] if values.shape[1] == 1 else list(values)
        return pd.DataFrame({**columns, **extras}, index=index)


def load_run(run_dir: str | Path) -> RunModel:
    """The best model of a finished search, ready to predict new rows.

    Example:
        ```python
        import mtltune, pandas as pd

        run = mtltune.load_run("runs/diamonds")
        predictions = run.predict(pd.read_csv("new_diamonds.csv")).table
        ```

    Raises:
        InputError: If the folder holds no finished search's model.
    """
    run_dir = Path(run_dir)
    path = run_dir / PREPROCESSING_JSON
    if not (path.is_file() and (run_dir / BEST_MODEL).is_file()):
        raise InputError(
            [
                Problem(
                    str(run_dir),
                    f"expected {BEST_MODEL} and {PREPROCESSING_JSON}, written when a search "
                    "finishes; run or finish `mtltune search` into this folder first",
                )
            ]
        )
    preprocessing = Preprocessing.from_document(json.loads(path.read_text(encoding="utf-8")))
    return RunModel(run_dir, preprocessing)


@dataclass(frozen=True)
class PredictResult:
    """What ``predict_file`` did.

    Attributes:
        out: The written CSV.
        rows: Number of predicted rows.
        columns: The written columns.
    """

    out: Path
    rows: int
    columns: list[str]


def predict_file(
    run_dir: str | Path, data: str | Path, out: str | Path | None = None, *, overwrite: bool = False
) -> PredictResult:
    """Predict a CSV or Parquet file's rows into a CSV (``mtltune predict``).

    Args:
        run_dir: The finished run's folder.
        data: The rows to predict.
        out: The CSV to write (default: ``<data stem>_predictions.csv`` beside ``data``).
        overwrite: Replace ``out`` if it exists (otherwise an existing file is an error).

    Raises:
        InputError: If the run has no model, the data cannot be read or lack an input column
            (naming it), or ``out`` exists without ``overwrite``. Nothing is written.
    """
    data = Path(data)
    target = Path(out) if out is not None else data.with_name(f"{data.stem}_predictions.csv")
    if target.exists() and not overwrite:
        raise InputError(
            [
                Problem(
                    "--out",
                    f"{str(target)!r} already exists; choose another file or pass --overwrite "
                    "to replace it",
                )
            ]
        )
    run = load_run(run_dir)
    table = read_table(data, "DATA")
    predictions = run.predict(table)
    write_atomic(target, predictions.table.to_csv(index=False), root=target.parent)
    return PredictResult(target, len(predictions.table), list(predictions.table.columns))

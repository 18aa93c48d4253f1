"""Use a finished run's best model on new rows: ``load_run(RUN_DIR).predict(table)``.

A run folder holds ``best_model.keras`` (outputs in the targets' units) and
``preprocessing.json`` (the input encoding and class labels fitted on train). ``load_run`` reads
the preprocessing; ``RunModel.predict`` checks the table's input columns (as ``validate`` checks
a study's data), encodes them, runs the model (loaded on first use) and returns one column per
head: values in the target's units for regression heads, class labels and one probability
column per class for classification heads. ``mtltune predict`` is ``predict_file``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mtltune.data.preprocessing import Preprocessing
from mtltune.data.tables import read_table
from mtltune.errors import InputError, NotARunError, Problem
from mtltune.run.atomic import RunPathError, write_file
from mtltune.run.checks import damaged
from mtltune.run.files import BEST_MODEL, PREPROCESSING_JSON
from mtltune.run.loader import check_model_archive, check_outputs, load_preprocessing

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
        unseen: Per categorical input whose rows hold categories train never saw: how many
            rows, and the first such category (those rows have no category set).
    """

    table: pd.DataFrame
    outputs: dict[str, np.ndarray]
    unseen: dict[str, tuple[int, str]] = field(default_factory=dict)


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
        """The Keras model (``best_model.keras``), loaded on first use and checked.

        Raises:
            DamagedRunError: If the archive is not a Keras model, holds code Keras' safe mode
                refuses, or its inputs and outputs do not match ``preprocessing.json``.
        """
        if self._model is None:
            self._model = _load_model(self.run_dir, self.preprocessing)
        return self._model

    def predict(self, table: pd.DataFrame) -> Predictions:
        """Predict every row of a table holding (at least) the study's input columns.

        Raises:
            DataError: If an input column is missing or holds values of the wrong type.
        """
        x = self.preprocessing.encode(table)
        raw = self.model.predict(x, batch_size=BATCH_SIZE, verbose=0)
        outputs = {str(k): np.asarray(v) for k, v in raw.items()}
        unseen = self.preprocessing.unseen_categories(table)
        return Predictions(self._columns(outputs, table.index), outputs, unseen)

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
        NotARunError: If the folder holds no finished search's model (an ``InputError``).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        what = "it is a file, not a run folder" if run_dir.exists() else "no such run folder"
        raise NotARunError(
            [Problem(str(run_dir), f"{what}; pass the folder `mtltune search` wrote")]
        )
    if not all(os.path.lexists(run_dir / name) for name in (PREPROCESSING_JSON, BEST_MODEL)):
        raise NotARunError(
            [
                Problem(
                    str(run_dir),
                    f"expected {BEST_MODEL} and {PREPROCESSING_JSON}, written when a search "
                    "finishes; run or finish `mtltune search` into this folder first",
                )
            ]
        )
    # Both files are untrusted input: validated before use (mtltune.run.loader).
    preprocessing = load_preprocessing(run_dir)
    check_model_archive(run_dir)
    return RunModel(run_dir, preprocessing)


def _load_model(run_dir: Path, preprocessing: Preprocessing) -> Any:
    """``best_model.keras`` loaded in Keras' safe mode and probed with one row of zeros."""
    import keras

    path = check_model_archive(run_dir)
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
        probe = model.predict(
            np.zeros((1, len(preprocessing.inputs.feature_names)), np.float32), verbose=0
        )
    except Exception as exc:  # Keras raises many kinds; each is a damaged archive here
        text = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise damaged(path, f"Keras cannot load or run it ({type(exc).__name__}: {text})") from None
    if not isinstance(probe, dict):
        raise damaged(path, "its output is not a mapping of head names: not mtltune's model")
    check_outputs(path, [str(k) for k in probe], preprocessing.targets)
    return model


@dataclass(frozen=True)
class PredictResult:
    """What ``predict_file`` did.

    Attributes:
        out: The written CSV.
        rows: Number of predicted rows.
        columns: The written columns.
        unseen: Per categorical input, rows with categories train never saw (``Predictions``).
    """

    out: Path
    rows: int
    columns: list[str]
    unseen: dict[str, tuple[int, str]] = field(default_factory=dict)


def predict_file(
    run_dir: str | Path, data: str | Path, out: str | Path | None = None, *, overwrite: bool = False
) -> PredictResult:
    """Predict a CSV or Parquet file's rows into a CSV (``mtltune predict``).

    The run folder is checked first, then ``out``, then the data; nothing is written unless
    every row is predicted.

    Args:
        run_dir: The finished run's folder.
        data: The rows to predict.
        out: The CSV to write (default: ``<data stem>_predictions.csv`` beside ``data``).
        overwrite: Replace ``out`` if it exists (otherwise an existing file is an error).

    Raises:
        InputError: If the folder is no finished run, the data cannot be read or hold bad
            values (naming the column and row), or ``out`` cannot be written (naming why).
        DamagedRunError: If a file of the run folder is damaged (naming it).
    """
    data = Path(data)
    target = Path(out) if out is not None else data.with_name(f"{data.stem}_predictions.csv")
    run = load_run(run_dir)
    check_output(target, overwrite=overwrite)
    table = read_table(data, "DATA")
    predictions = run.predict(table)
    try:
        write_file(target, predictions.table.to_csv(index=False), root=target.parent)
    except (OSError, RunPathError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise out_error(target, f"it cannot be written ({reason})") from None
    return PredictResult(
        target, len(predictions.table), list(predictions.table.columns), predictions.unseen
    )


def out_error(target: Path, reason: str) -> InputError:
    """The error for an unusable ``--out``: the path, why, and the way out."""
    return InputError([Problem("--out", f"cannot write predictions to {str(target)!r}: {reason}")])


def check_output(target: Path, *, overwrite: bool) -> None:
    """Refuse an output path before anything is predicted.

    A folder, an existing file (without ``overwrite``), a path under a file, or one in a
    folder that cannot be written is refused.

    Raises:
        InputError: Naming ``--out`` and the reason.
    """
    if target.is_dir():
        raise out_error(target, "it is a folder; pass a file name with --out")
    if os.path.lexists(target) and not overwrite:
        raise InputError(
            [
                Problem(
                    "--out",
                    f"{str(target)!r} already exists; choose another file or pass --overwrite "
                    "to replace it",
                )
            ]
        )
    existing = target.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise out_error(target, f"{existing} is a file, so no folder can be made under it")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise out_error(
            target, f"{existing} is not writable (permission denied); pass --out elsewhere"
        )

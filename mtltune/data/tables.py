"""Reading a data file, and drawing a seeded sample of its rows (``data.sample``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mtltune.data.checks import check_header
from mtltune.errors import DataError, Problem


def read_table(path: Path, where: str) -> pd.DataFrame:
    """Read a CSV (``.csv``) or Parquet file; ``where`` names it in errors.

    Raises:
        DataError: If the file is missing, unreadable or empty.
    """
    if not path.is_file():
        raise DataError([Problem(where, f"data file {str(path)!r} does not exist")])
    try:
        csv = path.suffix.lower() == ".csv"
        if csv:
            check_header(pd.read_csv(path, header=None, nrows=1).iloc[0].tolist(), path.name)
        table = pd.read_csv(path) if csv else pd.read_parquet(path)
    except DataError:
        raise
    except Exception as exc:  # pandas raises many types for unreadable files
        raise DataError(
            [Problem(where, f"cannot read {str(path)!r} as {path.suffix} ({exc})")]
        ) from None
    if table.empty:
        raise DataError([Problem(where, f"data file {str(path)!r} has no rows")])
    if not csv:  # a CSV's header was checked before pandas renamed repeated names
        check_header(table.columns, path.name)
    return table


def sample_rows(n: int, sample: int | None, seed: int) -> np.ndarray | None:
    """Sorted positions of a seeded ``data.sample`` of ``n`` rows (``None``: every row).

    The seed's third stream draws it, independent of the data draw and the split.
    """
    if sample is None or sample >= n:
        return None
    stream = int(np.random.SeedSequence(seed).generate_state(3)[2])
    return np.sort(np.random.default_rng(stream).choice(n, size=sample, replace=False))

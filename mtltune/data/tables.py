"""Reading a data file, and drawing a seeded sample of its rows (``data.sample``)."""

from __future__ import annotations

import errno
import stat
from pathlib import Path

import numpy as np
import pandas as pd

from mtltune.data.checks import check_header
from mtltune.errors import DataError, Problem, error_text


def _not_a_file(path: Path) -> str:
    """Why ``path`` cannot be read as a data file (it is not a regular file), and the fix."""
    try:
        mode = path.stat().st_mode
    except RuntimeError:  # Python < 3.13 reports a symlink loop so
        return "is a symbolic link that loops back on itself; point it at a CSV or Parquet file"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symbolic link that loops back on itself; point it at a CSV or Parquet file"
        if path.is_symlink():
            return "is a symbolic link to a file that does not exist; fix the link or the path"
        if exc.errno == errno.ENOENT:
            return "does not exist; check data.source (relative paths start at the study file)"
        return f"cannot be read ({exc.strerror}); check its permissions"
    kinds = {
        stat.S_ISDIR: "a folder",
        stat.S_ISFIFO: "a named pipe (FIFO)",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISSOCK: "a socket",
    }
    kind = next((name for test, name in kinds.items() if test(mode)), "not a regular file")
    return f"is {kind}, not a regular file; name a CSV or Parquet file"


def read_table(path: Path, where: str) -> pd.DataFrame:
    """Read a CSV (``.csv``) or Parquet file; ``where`` names it in errors.

    Raises:
        DataError: If the file is missing, unreadable or empty.
    """
    if not path.is_file():
        raise DataError([Problem(where, f"data file {str(path)!r} {_not_a_file(path)}")])
    try:
        csv = path.suffix.lower() == ".csv"
        if csv:
            check_header(pd.read_csv(path, header=None, nrows=1).iloc[0].tolist(), path.name)
        table = pd.read_csv(path) if csv else pd.read_parquet(path)
    except DataError:
        raise
    except Exception as exc:  # pandas raises many types for unreadable files
        raise DataError(
            [Problem(where, f"cannot read {str(path)!r} as {path.suffix} ({error_text(exc)})")]
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

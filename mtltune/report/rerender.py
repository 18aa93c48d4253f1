"""``mtltune report``: re-render a finished run's report while holding its folder.

The folder is checked to be a finished run (``report.json``) before anything in it is touched,
then its lock is taken (``mtltune.run.lock``): a search still running there (resumed after the
report was written) is refused, since its ``report.json`` is stale and its ``trials.csv``
current. Under the lock the report is read, checked and rewritten.
"""

from __future__ import annotations

from pathlib import Path

from mtltune.errors import NotARunError
from mtltune.report.readback import load_result
from mtltune.report.writer import write_report
from mtltune.run.files import REPORT_JSON
from mtltune.run.lock import acquire_run_lock


def rerender_report(run_dir: str | Path) -> dict[str, Path]:
    """Rewrite ``report.md``, ``trials.csv``, ``pareto.csv`` and the plots of a finished run.

    Returns:
        The written paths, keyed as ``write_report`` keys them.

    Raises:
        NotARunError: If the folder holds no ``report.json`` (nothing is touched).
        SearchError: If a search holds the folder's lock.
        DamagedRunError: If a file of the run is damaged (named), before anything is written.
    """
    run_dir = Path(run_dir)
    if not (run_dir / REPORT_JSON).is_file():
        raise NotARunError(
            f"{run_dir / REPORT_JSON} does not exist: is {run_dir} a finished run folder?"
        )
    with acquire_run_lock(run_dir, "report", create=False):
        result = load_result(run_dir, check_files=True)
        return write_report(result, run_dir)

"""The report: typed results, the report files, the trials table, plots and the Pareto front.

Works on plain data (``StudyResult``, ``TrialRecord``) and never imports TensorFlow, so
``mtltune report`` and ``mtltune trials`` re-render a finished run without it. May import
``mtltune.run`` (file names, atomic writes) and ``mtltune.errors``.
"""

from mtltune.report.markdown import head_table, report_markdown
from mtltune.report.results import Evaluation, HeadScores, StrategyBest, StudyResult, TrialRecord
from mtltune.report.writer import (
    pareto_table,
    report_json,
    trials_table,
    write_report,
    write_trials,
)

__all__ = [
    "Evaluation",
    "HeadScores",
    "StrategyBest",
    "StudyResult",
    "TrialRecord",
    "head_table",
    "pareto_table",
    "report_json",
    "report_markdown",
    "trials_table",
    "write_report",
    "write_trials",
]

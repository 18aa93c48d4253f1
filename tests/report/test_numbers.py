"""One way to write a number, in the terminal and in report.md: money reads as money."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from rich.text import Text

from mtltune.cli.output import cell, headline
from mtltune.report import head_table, report_markdown
from mtltune.report.numbers import number


@pytest.mark.parametrize(
    ("value", "digits", "text"),
    [
        (48712.34, 4, "48,712"),
        (-48712.34, 4, "-48,712"),
        (1234567.8, 4, "1,234,568"),
        (999.95, 4, "1,000"),
        (999.949, 4, "999.9"),
        (150.0, 2, "150"),
        (0.01312, 4, "0.01312"),
        (2.0, 4, "2"),
        (1.789e-05, 4, "1.789e-05"),
        (0.169354, 5, "0.16935"),
        (3.2e12, 4, "3.2e+12"),
        (12345, 4, "12,345"),
        (np.int64(12345), 4, "12,345"),
        (np.float32(48712.5), 4, "48,712"),
        (7, 4, "7"),
        (None, 4, "–"),
        (math.inf, 4, "inf"),
        ("weighted", 4, "weighted"),
    ],
)
def test_numbers_are_plain_with_thousands_separators_where_the_magnitude_allows(
    value, digits, text
) -> None:
    assert number(value, digits) == text


def test_the_terminal_and_report_md_write_a_dollar_mae_alike(tiny_run) -> None:
    result, _ = tiny_run
    head = next(iter(result.best.test))
    test = {**result.best.test, head: {**result.best.test[head], "mae": 48712.34}}
    dollars = replace(result, best=replace(result.best, objective=48712.34, test=test))
    assert "objective 48,712," in Text.from_markup(headline(dollars)).plain
    header, rows = head_table(dollars, compact=True)
    mae = next(row for row in rows if row[0] == head)[header.index("mae")]
    assert cell(mae) == "48,712"
    text = report_markdown(dollars)
    assert "objective 48,712 " in text and "| 48,712 |" in text
    assert "4.871e+04" not in text

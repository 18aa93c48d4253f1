"""How a number is written, in the terminal and in report.md alike.

``4.871e+04`` hides a dollar amount: a number of 1,000 or more (below 10⁹) is written plain
and whole with thousands separators (``48,712``); a smaller one to its significant digits
(``0.01312``, ``2.549``), in exponent form only when it is tiny (``1.789e-05``) or from
10⁹ on.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

#: Below this, a number is written to its significant digits; from it, whole with separators.
_PLAIN_FROM = 1_000.0
#: From this, a number is too long to write plain.
_PLAIN_TO = 1e9


def number(value: Any, digits: int = 4) -> str:
    """A number as a reader wants it: ``48,712``, ``0.01312``, ``1.789e-05``, ``–`` for none.

    Args:
        value: A real number, numpy's included (anything else is returned as ``str(value)``).
        digits: Significant digits of a number below 1,000.

    Returns:
        The text; integers are written whole (with separators from 1,000 on).
    """
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return str(value)
    if isinstance(value, numbers.Integral):  # int, numpy's integers
        return f"{int(value):,}" if abs(value) >= _PLAIN_FROM else str(int(value))
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    text = f"{value:.{digits}g}"
    if abs(value) >= _PLAIN_TO:
        return text
    rounded = float(text)
    if abs(rounded) >= _PLAIN_FROM:
        return f"{value:,.0f}"
    if "e+" in text:  # 150 to two digits: ``1.5e+02``
        return f"{rounded:.0f}"
    return text

"""Tables that fit the console: columns that do not fit go to a further table, never off-screen.

A table of many heads is wider than 80 columns; squeezed by rich it would cut every number to
``0.01…``. Instead, the columns are laid out greedily: a table takes columns while it fits the
console's width, and the rest continue in the next table, each repeating the key column(s)
(the trial, the head) so every row can still be read across.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.table import Table


def fitted_tables(
    console: Console,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    title: str | None = None,
    left: Sequence[str] = (),
    key: int = 1,
) -> list[Table]:
    """Tables of ``header`` and ``rows`` split by columns so each fits ``console.width``.

    Args:
        console: The console the tables will be printed on (its width counts).
        header: Column names.
        rows: Cells as text, one sequence per row, in ``header``'s order.
        title: The first table's title.
        left: Columns aligned left (the others are numbers, aligned right).
        key: How many leading columns every table repeats.

    Returns:
        One table if all columns fit, else several; a single column too wide folds its cells.
    """
    keys = list(range(min(key, len(header))))
    rest = list(range(len(keys), len(header)))
    tables: list[Table] = []
    while rest or not tables:
        taken: list[int] = [rest.pop(0)] if rest else []
        while rest and _width(console, header, rows, [*keys, *taken, rest[0]], left) <= (
            console.width
        ):
            taken.append(rest.pop(0))
        tables.append(_table(header, rows, [*keys, *taken], left, title if not tables else None))
    return tables


def _table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    columns: Sequence[int],
    left: Sequence[str],
    title: str | None,
) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for c in columns:
        table.add_column(
            header[c], justify="left" if header[c] in left else "right", overflow="fold"
        )
    for row in rows:
        table.add_row(*(row[c] for c in columns))
    return table


def _width(
    console: Console,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    columns: Sequence[int],
    left: Sequence[str],
) -> int:
    """The width a table of these columns needs unwrapped."""
    table = _table(header, rows, columns, left, None)
    return console.measure(table, options=console.options.update(width=10_000)).maximum

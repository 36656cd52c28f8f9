"""Tables and files the analysis tools write: markdown tables for the
terminal, CSV and JSON files for later use.

Two table layouts exist because readers use them differently: the compact
one (``| a | b |`` rows under ``|---|---|``) is pasted into READMEs and
issues, the aligned one pads every column so that a wide table of numbers
(benchmark, complexity) stays readable in a terminal.
"""
import csv
import json
from typing import Any, List, Sequence


def markdown_table(header: Sequence[Any],
                   rows: Sequence[Sequence[Any]],
                   align: bool = False) -> str:
    """A markdown table, one line per row, without a trailing newline.

    Args:
        header: C column names.
        rows: rows of C cells each; cells are written with ``str``.
        align: pad every column to its widest cell (the separator then
            spans the column); otherwise cells are written as they are under
            a ``|---|`` separator.

    Returns:
        ``len(rows) + 2`` lines joined by ``\\n``.
    """
    lines = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    if not align:
        out = ['| ' + ' | '.join(cells) + ' |' for cells in lines]
        out.insert(1, '|---' * len(lines[0]) + '|')
        return '\n'.join(out)
    widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
    out = ['| ' + ' | '.join(c.ljust(w) for c, w in zip(cells, widths)) + ' |' for cells in lines]
    out.insert(1, '|' + '|'.join('-' * (w + 2) for w in widths) + '|')
    return '\n'.join(out)


def write_csv(path: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Write ``header`` and ``rows`` (lists of cells, same order) to ``path``
    with the ``csv`` module's defaults (values through ``str``, quoted
    where needed)."""
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


def write_json(path: str, obj: Any) -> None:
    """Write ``obj`` to ``path`` as JSON, one indented level per line
    (``indent=1``: nested lists of numbers stay diffable yet compact)."""
    with open(path, 'w') as f:
        json.dump(obj, f, indent=1)


def dict_rows(rows: Sequence[dict], columns: Sequence[str]) -> List[list]:
    """``[[row[c] for c in columns] for row in rows]``: dict records as CSV rows."""
    return [[row[c] for c in columns] for row in rows]

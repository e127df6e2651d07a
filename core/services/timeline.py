"""A patient's timeline: interactions, appointments, consent and plugin entries.

Entries are ordered newest first by a total key: time, then source, the kind
and number of their ``ref`` (``interaction:42``), kind and title.  A page's
``next_before`` is an opaque cursor naming the last entry shown; passing it
back as ``before`` returns exactly the entries after it, so entries that share
a timestamp are neither lost nor repeated between pages (a plain time cursor
loses them).  A :class:`datetime` is still accepted as ``before``: strictly
older entries.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from core.errors import ValidationError
from core.models import Appointment, ConsentEvent, Interaction
from core.plugin_manager import PluginHost
from core.timeline import TimelineEntry

MAX_PAGE = 200
#: stop widening a plugin's window past this many rows (ties that large are not real)
_MAX_WINDOW = 20_000
_ONE_TICK = dt.timedelta(microseconds=1)

#: (occurred_at, source, ref kind, ref number, ref text, kind, title)
SortKey = tuple[dt.datetime, str, str, int, str, str, str]


def entry_key(entry: TimelineEntry) -> SortKey:
    """The total order of timeline entries (compare descending for newest first)."""
    ref_kind, _, ref_id = (entry.ref or "").partition(":")
    number = int(ref_id) if ref_id.isdigit() else -1
    return (entry.occurred_at, entry.source, ref_kind, number, ref_id, entry.kind, entry.title)


def _floor_key(moment: dt.datetime) -> SortKey:
    """A key below every entry at *moment*: ``before=<datetime>`` means strictly older."""
    return (moment.astimezone(dt.UTC), "", "", -2, "", "", "")


class TimelineCursor(str):
    """An opaque position just after an entry; pass it back as ``before``.

    ``isoformat()`` gives the entry's time, for callers that still page by
    time (those lose entries sharing that time; pass the cursor itself).
    """

    key: SortKey

    @classmethod
    def of(cls, key: SortKey) -> TimelineCursor:
        moment, *rest = key
        raw = json.dumps([moment.isoformat(), *rest], ensure_ascii=False, separators=(",", ":"))
        cursor = cls(base64.urlsafe_b64encode(raw.encode()).decode().rstrip("="))
        cursor.key = key
        return cursor

    @classmethod
    def parse(cls, text: str) -> SortKey:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            moment, source, ref_kind, number, ref_id, kind, title = json.loads(raw)
            when = dt.datetime.fromisoformat(moment)
            if when.tzinfo is None or not isinstance(number, int):
                raise ValueError
            return (when.astimezone(dt.UTC), source, ref_kind, number, ref_id, kind, title)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise ValidationError(
                f"{text[:40]!r} is not a timeline cursor", field="before"
            ) from None

    @property
    def occurred_at(self) -> dt.datetime:
        return self.key[0]

    def isoformat(self) -> str:
        return self.occurred_at.isoformat()


@dataclass(frozen=True)
class TimelinePage:
    """One page of a timeline, newest first; pass ``next_before`` for the next page."""

    entries: list[TimelineEntry]
    next_before: TimelineCursor | None


def _cursor_key(before: dt.datetime | str | None) -> SortKey | None:
    if before is None or before == "":
        return None
    if isinstance(before, TimelineCursor) and hasattr(before, "key"):
        return before.key
    if isinstance(before, dt.datetime):
        if before.tzinfo is None:
            raise ValidationError("before must carry a time zone", field="before")
        return _floor_key(before)
    return TimelineCursor.parse(str(before))


def _older_than(column: Any, id_column: Any, ref_kind: str, key: SortKey) -> ColumnElement[bool]:
    """SQL for "this core row sorts below *key*" (rows sort by time, then id)."""
    moment, source, cursor_kind, number = key[0], key[1], key[2], key[3]
    mine = ("core", ref_kind)
    if mine < (source, cursor_kind):
        return column <= moment
    if mine > (source, cursor_kind):
        return column < moment
    return or_(column < moment, and_(column == moment, id_column < number))


def core_entries(
    session: Session, patient_id: int, before: dt.datetime | str | None, limit: int
) -> list[TimelineEntry]:
    """Up to *limit* entries from each core table, sorted below *before*."""
    entries: list[TimelineEntry] = []
    for rows in _core_sources(session, patient_id, _cursor_key(before), limit):
        entries += rows
    return entries


def _interaction_entry(i: Interaction) -> TimelineEntry:
    return TimelineEntry(
        occurred_at=i.started_at,
        source="core",
        kind=i.kind,
        title=i.subject or i.kind,
        body=i.body,
        channel=i.channel,
        direction=i.direction,
        ref=f"interaction:{i.id}",
    )


def _appointment_entry(a: Appointment) -> TimelineEntry:
    return TimelineEntry(
        occurred_at=a.scheduled_start,
        source="core",
        kind="appointment",
        title=a.status,
        ref=f"appointment:{a.id}",
    )


def _consent_entry(c: ConsentEvent) -> TimelineEntry:
    return TimelineEntry(
        occurred_at=c.occurred_at,
        source="core",
        kind="consent",
        title=f"{c.status}: {c.channel}/{c.purpose}",
        channel=c.channel,
        ref=f"consent:{c.id}",
    )


#: (model, its time column, ref kind, entry builder) of each core table on the timeline
_CORE_TABLES: tuple[tuple[Any, Any, str, Callable[[Any], TimelineEntry]], ...] = (
    (Interaction, Interaction.started_at, "interaction", _interaction_entry),
    (Appointment, Appointment.scheduled_start, "appointment", _appointment_entry),
    (ConsentEvent, ConsentEvent.occurred_at, "consent", _consent_entry),
)


def _core_sources(
    session: Session, patient_id: int, key: SortKey | None, limit: int
) -> list[list[TimelineEntry]]:
    """One list per core table, each newest first in the timeline's order."""
    sources = []
    for model, moment, ref_kind, to_entry in _CORE_TABLES:
        query = select(model).where(model.patient_id == patient_id)
        if key is not None:
            query = query.where(_older_than(moment, model.id, ref_kind, key))
        rows = session.scalars(query.order_by(moment.desc(), model.id.desc()).limit(limit))
        sources.append([to_entry(row) for row in rows])
    return sources


@dataclass
class _Source:
    """Rows one source returned, and what its truncation leaves unknown."""

    rows: list[TimelineEntry]
    #: core sources: every row sorting at or above this key was returned
    floor_key: SortKey | None = None
    #: plugin sources: every row strictly newer than this time was returned
    floor_time: dt.datetime | None = None

    def covers(self, entry: TimelineEntry) -> bool:
        if self.floor_key is not None and entry_key(entry) < self.floor_key:
            return False
        return self.floor_time is None or entry.occurred_at > self.floor_time


def _plugin_sources(
    session: Session, plugins: PluginHost, patient_id: int, key: SortKey | None, window: int
) -> list[_Source]:
    # ask for rows up to and including the cursor's instant; drop the ones shown already
    before = None if key is None else key[0] + _ONE_TICK
    results = plugins.caller("careloop_patient_timeline_entries")(
        session=session, patient_id=patient_id, before=before, limit=window
    )
    sources = []
    for result in results:
        rows = list(result or ())
        floor = min((e.occurred_at for e in rows), default=None) if len(rows) >= window else None
        if key is not None:
            rows = [e for e in rows if entry_key(e) < key]
        sources.append(_Source(rows, floor_time=floor))
    return sources


def patient_timeline(
    session: Session,
    plugins: PluginHost,
    patient_id: int,
    *,
    before: dt.datetime | str | None = None,
    limit: int = 50,
) -> TimelinePage:
    """Everything that happened to a patient, newest first, *limit* per page.

    *before* is a page's ``next_before`` cursor (or a time: strictly older
    entries).  Raises :class:`ValidationError` for a malformed cursor.
    """
    limit = max(1, min(limit, MAX_PAGE))
    key = _cursor_key(before)
    wanted = limit + 1
    sources: list[_Source] = []
    for rows in _core_sources(session, patient_id, key, wanted):
        truncated = len(rows) >= wanted
        sources.append(_Source(rows, floor_key=entry_key(rows[-1]) if truncated else None))
    window = wanted
    while True:
        plugin_sources = _plugin_sources(session, plugins, patient_id, key, window)
        merged = sorted(
            (e for s in (*sources, *plugin_sources) for e in s.rows), key=entry_key, reverse=True
        )
        page: list[TimelineEntry] = []
        blocked = False
        for entry in merged:
            if not all(s.covers(entry) for s in (*sources, *plugin_sources)):
                blocked = True
                break
            page.append(entry)
            if len(page) == wanted:
                break
        # a plugin cut its rows inside a group sharing one time: widen its window
        if len(page) < wanted and blocked and window < _MAX_WINDOW:
            window *= 4
            continue
        break
    has_more = len(page) > limit or blocked
    page = page[:limit]
    cursor = TimelineCursor.of(entry_key(page[-1])) if has_more and page else None
    return TimelinePage(page, cursor)

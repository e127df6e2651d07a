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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Text,
    and_,
    bindparam,
    literal_column,
    or_,
    select,
    union_all,
)
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


def _core_selects() -> tuple[tuple[Any, Any, str, Select[Any]], ...]:
    """(table columns, time column, ref kind, select of the shared columns) per core table.

    The three selects have the same columns (``ref_kind, id, at, kind, subject, body,
    channel, direction, purpose``) so that one ``UNION ALL`` reads them all.  They use
    the tables' columns (a Core statement: no ORM compilation, rows not entities).
    """

    def none(type_: Any = String) -> Any:
        # a plain NULL (short SQL): each select is a subquery of a UNION ALL whose first
        # branch gives the column's type
        return literal_column("NULL", type_)

    i = Interaction.__table__.c
    a = Appointment.__table__.c
    c = ConsentEvent.__table__.c
    return (
        (
            i,
            i.started_at,
            "interaction",
            select(
                literal_column("'interaction'", String).label("ref_kind"),
                i.id,
                i.started_at.label("at"),
                i.kind,
                i.subject,
                i.body,
                i.channel,
                i.direction,
                none().label("purpose"),
            ),
        ),
        (
            a,
            a.scheduled_start,
            "appointment",
            select(
                literal_column("'appointment'", String).label("ref_kind"),
                a.id,
                a.scheduled_start.label("at"),
                a.status.label("kind"),
                none().label("subject"),
                none(Text).label("body"),
                none().label("channel"),
                none().label("direction"),
                none().label("purpose"),
            ),
        ),
        (
            c,
            c.occurred_at,
            "consent",
            select(
                literal_column("'consent'", String).label("ref_kind"),
                c.id,
                c.occurred_at.label("at"),
                c.status.label("kind"),
                none().label("subject"),
                none(Text).label("body"),
                c.channel,
                none().label("direction"),
                c.purpose,
            ),
        ),
    )


_CORE_SELECTS = _core_selects()


def _row_entry(row: Any) -> TimelineEntry:
    """A timeline entry from one row of the core ``UNION ALL``."""
    ref_kind = row.ref_kind
    if ref_kind == "interaction":
        return TimelineEntry(
            occurred_at=row.at,
            source="core",
            kind=row.kind,
            title=row.subject or row.kind,
            body=row.body,
            channel=row.channel,
            direction=row.direction,
            ref=f"interaction:{row.id}",
        )
    if ref_kind == "appointment":
        return TimelineEntry(
            occurred_at=row.at,
            source="core",
            kind="appointment",
            title=row.kind,
            ref=f"appointment:{row.id}",
        )
    return TimelineEntry(
        occurred_at=row.at,
        source="core",
        kind="consent",
        title=f"{row.kind}: {row.channel}/{row.purpose}",
        channel=row.channel,
        ref=f"consent:{row.id}",
    )


def _core_branches(patient_id: Any, key: SortKey | None, limit: Any) -> list[Any]:
    """Each core table's newest rows below *key*, one subquery per table."""
    branches = []
    for table, moment, ref_kind, columns in _CORE_SELECTS:
        query = columns.where(table.patient_id == patient_id)
        if key is not None:
            query = query.where(_older_than(moment, table.id, ref_kind, key))
        branches.append(query.order_by(moment.desc(), table.id.desc()).limit(limit).subquery())
    return branches


def _core_union(patient_id: Any, key: SortKey | None, limit: Any) -> Any:
    """One ``UNION ALL`` of each core table's newest rows below *key*."""
    return union_all(*(select(branch) for branch in _core_branches(patient_id, key, limit)))


#: the first page's query, built once (building a statement costs more than running it)
_FIRST_PAGE = _core_union(bindparam("patient_id"), None, bindparam("limit"))


class CoreRow(NamedTuple):
    """A row of :func:`first_page_branches` (a core table's row in the shared columns)."""

    ref_kind: str
    id: int
    at: dt.datetime
    kind: str | None
    subject: str | None
    body: str | None
    channel: str | None
    direction: str | None
    purpose: str | None


def first_page_branches(limit: int) -> list[Any]:
    """The first page's core rows as subqueries, for a caller reading them in its own
    statement (one round trip for a page that reads more), for a page of *limit*
    entries: bind parameter ``patient_id``, columns as :class:`CoreRow`.  Pass the
    rows to :func:`patient_timeline` as ``core_rows``.
    """
    return _core_branches(bindparam("patient_id"), None, first_page_limit(limit))


def first_page_limit(limit: int) -> int:
    """Rows each core table gives the first page of *limit* entries (one more than shown:
    whether there is an older page); :func:`first_page_branches` uses it."""
    return max(1, min(limit, MAX_PAGE)) + 1


def _core_sources(
    session: Session,
    patient_id: int,
    key: SortKey | None,
    limit: int,
    core_rows: Iterable[Any] | None = None,
) -> list[list[TimelineEntry]]:
    """One list per core table, each newest first in the timeline's order (one query,
    or none when the caller read the first page's *core_rows* itself)."""
    result: Iterable[Any]
    if core_rows is not None:
        result = core_rows
    else:
        if session.autoflush:
            session.flush()  # a Core statement does not autoflush: rows added here count
        if key is None:
            result = session.execute(_FIRST_PAGE, {"patient_id": patient_id, "limit": limit})
        else:
            result = session.execute(_core_union(patient_id, key, limit))
    rows: dict[str, list[Any]] = {kind: [] for _m, _t, kind, _c in _CORE_SELECTS}
    for row in result:
        rows[row.ref_kind].append(row)
    # a UNION ALL of ordered subqueries keeps each one's order in practice, but SQL does
    # not promise it: sort each table's rows (time, then id: the timeline's order)
    return [
        [_row_entry(row) for row in sorted(table, key=_time_then_id, reverse=True)]
        for table in rows.values()
    ]


def _time_then_id(row: Any) -> tuple[dt.datetime, int]:
    return (row.at, row.id)


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
    core_rows: Iterable[CoreRow] | None = None,
) -> TimelinePage:
    """Everything that happened to a patient, newest first, *limit* per page.

    *before* is a page's ``next_before`` cursor (or a time: strictly older
    entries).  Raises :class:`ValidationError` for a malformed cursor.

    *core_rows*: the first page's core rows, read by the caller with
    ``first_page_branches(limit)`` (only without *before*).
    """
    limit = max(1, min(limit, MAX_PAGE))
    key = _cursor_key(before)
    if core_rows is not None and key is not None:
        raise ValueError("core_rows are the first page's: not with before")
    wanted = limit + 1
    sources: list[_Source] = []
    for rows in _core_sources(session, patient_id, key, wanted, core_rows):
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

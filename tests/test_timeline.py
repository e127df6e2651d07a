"""The patient timeline: time order, exact pagination, plugin entries."""

from __future__ import annotations

import datetime as dt

import pytest

from core import Manifest, hookimpl
from core.errors import ValidationError
from core.services.appointments import book_appointment
from core.services.consent import grant, withdraw
from core.services.interactions import log_interaction
from core.services.patients import PatientInput, create_patient
from core.services.timeline import patient_timeline
from core.timeline import TimelineEntry

T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)


def _patient(runtime, actor) -> int:
    with runtime.transaction() as s:
        return create_patient(s, PatientInput(given_name="Siti", family_name="Rahayu"), actor).id


def _call(s, pid, actor, at: dt.datetime, subject: str = "call") -> int:
    return log_interaction(
        s,
        pid,
        channel="phone",
        direction="inbound",
        kind="call",
        subject=subject,
        actor=actor,
        started_at=at,
    ).id


def _all_pages(runtime, pid: int, limit: int) -> list[list[TimelineEntry]]:
    pages: list[list[TimelineEntry]] = []
    before = None
    with runtime.session() as s:
        for _ in range(200):
            page = patient_timeline(s, runtime.plugins, pid, before=before, limit=limit)
            pages.append(page.entries)
            if page.next_before is None:
                break
            before = page.next_before
        else:
            pytest.fail("pagination did not end")
    return pages


def _fill_with_ties(runtime, actor, pid: int) -> set[str]:
    """Entries in groups that share a timestamp, across interactions, visits and consent."""
    refs: set[str] = set()
    with runtime.transaction() as s:
        for group in range(6):
            at = T0 - dt.timedelta(hours=group)
            for n in range(group + 2):  # 2..7 entries with exactly the same time
                refs.add(f"interaction:{_call(s, pid, actor, at, f'g{group}-{n}')}")
            appt = book_appointment(s, pid, scheduled_start=at, actor=actor)
            refs.add(f"appointment:{appt.id}")
        event = grant(s, pid, "sms", "care", actor, occurred_at=T0 - dt.timedelta(hours=2))
        refs.add(f"consent:{event.id}")
        event = withdraw(s, pid, "email", "marketing", actor, occurred_at=T0)
        refs.add(f"consent:{event.id}")
    return refs


def test_newest_first_with_every_core_kind(runtime, actor):
    pid = _patient(runtime, actor)
    with runtime.transaction() as s:
        _call(s, pid, actor, T0 - dt.timedelta(days=3), "oldest")
        book_appointment(s, pid, scheduled_start=T0 - dt.timedelta(days=1), actor=actor)
        grant(s, pid, "whatsapp", "care", actor, occurred_at=T0 - dt.timedelta(days=2))
        _call(s, pid, actor, T0, "newest")
    with runtime.session() as s:
        page = patient_timeline(s, runtime.plugins, pid, limit=10)
    times = [e.occurred_at for e in page.entries]
    assert times == sorted(times, reverse=True)
    assert [e.kind for e in page.entries] == ["call", "appointment", "consent", "call"]
    assert page.entries[0].title == "newest" and page.entries[-1].title == "oldest"
    assert page.next_before is None


@pytest.mark.parametrize("limit", [1, 3, 4, 7])
def test_pagination_covers_everything_exactly_once_despite_equal_times(runtime, actor, limit):
    pid = _patient(runtime, actor)
    expected = _fill_with_ties(runtime, actor, pid)
    pages = _all_pages(runtime, pid, limit)
    seen = [e.ref for page in pages for e in page]
    assert len(seen) == len(set(seen)), "an entry appeared on two pages"
    assert set(seen) == expected, "an entry was lost between pages"
    assert all(len(page) <= limit for page in pages)
    assert all(len(page) == limit for page in pages[:-1])
    flat = [e.occurred_at for page in pages for e in page]
    assert flat == sorted(flat, reverse=True)


def test_pages_stay_exact_when_entries_arrive_between_requests(runtime, actor):
    pid = _patient(runtime, actor)
    expected = _fill_with_ties(runtime, actor, pid)
    with runtime.session() as s:
        first = patient_timeline(s, runtime.plugins, pid, limit=5)
    with runtime.transaction() as s:  # newer than every page: must not shift the next ones
        newer = _call(s, pid, actor, T0 + dt.timedelta(days=1))
    seen = [e.ref for e in first.entries]
    before = first.next_before
    with runtime.session() as s:
        while before is not None:
            page = patient_timeline(s, runtime.plugins, pid, before=before, limit=5)
            seen += [e.ref for e in page.entries]
            before = page.next_before
    assert f"interaction:{newer}" not in seen
    assert sorted(seen) == sorted(expected)


@pytest.mark.parametrize("limit", [1, 4, 50])
def test_first_page_read_by_the_caller_is_the_same_page(runtime, actor, limit):
    """A caller may read the first page's core rows in its own statement (the 360 page)."""
    from sqlalchemy import select, union_all

    from core.services.timeline import CoreRow, first_page_branches

    pid = _patient(runtime, actor)
    _fill_with_ties(runtime, actor, pid)
    with runtime.session() as s:
        expected = patient_timeline(s, runtime.plugins, pid, limit=limit)
        statement = union_all(*(select(branch) for branch in first_page_branches(limit)))
        params = {"patient_id": pid}
        rows = [CoreRow(*row) for row in s.execute(statement, params)]
        page = patient_timeline(s, runtime.plugins, pid, limit=limit, core_rows=rows)
        assert page == expected
        assert page.next_before == expected.next_before
        with pytest.raises(ValueError):
            patient_timeline(s, runtime.plugins, pid, before=T0, core_rows=rows)


def test_plain_datetime_before_returns_strictly_older(runtime, actor):
    pid = _patient(runtime, actor)
    with runtime.transaction() as s:
        for hours in range(4):
            _call(s, pid, actor, T0 - dt.timedelta(hours=hours))
    with runtime.session() as s:
        page = patient_timeline(
            s, runtime.plugins, pid, before=T0 - dt.timedelta(hours=1), limit=10
        )
    assert [e.occurred_at for e in page.entries] == [
        T0 - dt.timedelta(hours=2),
        T0 - dt.timedelta(hours=3),
    ]


def test_bad_cursor_is_a_validation_error(runtime, actor):
    pid = _patient(runtime, actor)
    with runtime.session() as s, pytest.raises(ValidationError):
        patient_timeline(s, runtime.plugins, pid, before="not-a-cursor", limit=5)


class NotesPlugin:
    """A plugin with its own timeline rows, some at the same instant as core rows."""

    manifest = Manifest(name="timeline_notes", version="1.0")

    def __init__(self, times: list[dt.datetime]) -> None:
        self.rows = [(t, n) for n, t in enumerate(times)]
        self.calls = 0

    @hookimpl
    def careloop_patient_timeline_entries(self, session, patient_id, before, limit):
        self.calls += 1
        rows = [r for r in self.rows if before is None or r[0] < before]
        rows.sort(key=lambda r: r[0], reverse=True)
        return [
            TimelineEntry(
                occurred_at=t,
                source="timeline_notes",
                kind="note",
                title=f"plugin note {n}",
                ref=f"note:{n}",
            )
            for t, n in rows[:limit]
        ]


def test_plugin_entries_appear_in_order_and_page_exactly(runtime, actor, plugin_registrar):
    pid = _patient(runtime, actor)
    expected = _fill_with_ties(runtime, actor, pid)
    times = [T0 - dt.timedelta(hours=h) for h in (0, 0, 0, 1, 3, 3, 3, 3, 3, 7)]
    plugin = NotesPlugin(times)
    plugin_registrar(plugin)
    expected |= {f"note:{n}" for n in range(len(times))}
    pages = _all_pages(runtime, pid, 4)
    seen = [e.ref for page in pages for e in page]
    assert sorted(seen) == sorted(expected)
    assert len(seen) == len(set(seen))
    notes = [e for page in pages for e in page if e.source == "timeline_notes"]
    assert len(notes) == len(times) and all(e.kind == "note" for e in notes)
    assert plugin.calls >= len(pages)


def test_plugin_entries_vanish_when_plugin_is_disabled(runtime, actor, plugin_registrar):
    from core.audit import Actor

    pid = _patient(runtime, actor)
    plugin_registrar(NotesPlugin([T0]))
    with runtime.session() as s:
        sources = {e.source for e in patient_timeline(s, runtime.plugins, pid).entries}
    assert "timeline_notes" in sources
    runtime.plugins.disable("timeline_notes", Actor.system("test"))
    with runtime.session() as s:
        sources = {e.source for e in patient_timeline(s, runtime.plugins, pid).entries}
    assert "timeline_notes" not in sources


class InteractionHooks:
    manifest = Manifest(name="interaction_hook_recorder", version="1.0")

    def __init__(self) -> None:
        self.calls: list[tuple[int, str, str]] = []

    @hookimpl
    def careloop_on_interaction_logged(self, interaction_id, kind, direction):
        self.calls.append((interaction_id, kind, direction))


def test_bulk_logged_interactions_match_single_ones(runtime, actor, plugin_registrar):
    from sqlalchemy import select

    from core.audit import Actor
    from core.models import AuditEvent, Interaction
    from core.services.interactions import log_interactions

    hooks = InteractionHooks()
    plugin_registrar(hooks)
    pid = _patient(runtime, actor)
    agent = Actor(label="staff:agent", staff_user_id=None)
    items = [
        {"channel": "phone", "direction": "inbound", "kind": "call", "started_at": T0,
         "duration_seconds": 95, "outcome": "answered"},
        {"channel": "whatsapp", "direction": "outbound", "kind": "message", "subject": "Hi",
         "started_at": T0 + dt.timedelta(minutes=1), "actor": agent},
        {"channel": "in_person", "direction": "internal", "kind": "note",
         "started_at": T0 + dt.timedelta(minutes=2)},
    ]  # fmt: skip
    with runtime.transaction() as s:
        ids = log_interactions(s, pid, items, actor)
        assert hooks.calls == []  # announced after commit only
    assert len(ids) == 3 and ids == sorted(ids)
    assert hooks.calls == [
        (ids[0], "call", "inbound"),
        (ids[1], "message", "outbound"),
        (ids[2], "note", "internal"),
    ]
    with runtime.session() as s:
        rows = {
            i.id: i for i in s.scalars(select(Interaction).where(Interaction.patient_id == pid))
        }
        assert rows[ids[0]].ended_at == T0 + dt.timedelta(seconds=95)
        assert rows[ids[1]].subject == "Hi" and rows[ids[1]].created_at is not None
        audit = list(s.scalars(select(AuditEvent).where(AuditEvent.entity_type == "interaction")))
        page = patient_timeline(s, runtime.plugins, pid, limit=10)
    assert sorted(int(a.entity_id) for a in audit) == ids
    assert {a.actor for a in audit} == {actor.label, agent.label}
    assert [e.ref for e in page.entries] == [f"interaction:{i}" for i in reversed(ids)]


def test_bulk_logging_refuses_a_bad_item_and_writes_nothing(runtime, actor):
    from core.services.interactions import log_interactions

    pid = _patient(runtime, actor)
    items = [
        {"channel": "phone", "direction": "inbound", "kind": "call", "started_at": T0},
        {"channel": "fax", "direction": "inbound", "kind": "call", "started_at": T0},
    ]
    with pytest.raises(ValidationError, match="fax"), runtime.transaction() as s:
        log_interactions(s, pid, items, actor)
    with runtime.session() as s:
        assert patient_timeline(s, runtime.plugins, pid).entries == []
        assert log_interactions(s, pid, [], actor) == []


def test_logging_needs_an_existing_patient_but_not_a_committed_one(runtime, actor):
    from core.errors import PatientNotFound
    from core.models import Interaction

    with pytest.raises(PatientNotFound), runtime.transaction() as s:
        _call(s, 987_654, actor, T0)
    with runtime.transaction() as s:
        # created in this transaction: found in the session, then (expunged) by query
        pid = create_patient(s, PatientInput(given_name="Dewi"), actor).id
        _call(s, pid, actor, T0)
        s.expunge_all()
        _call(s, pid, actor, T0 + dt.timedelta(minutes=1))
    with runtime.session() as s:
        assert s.query(Interaction).filter_by(patient_id=pid).count() == 2

"""Lead-source attribution: which inbound interactions become touchpoints, and which cost a job."""

from __future__ import annotations

import dramatiq
from sqlalchemy import select

from core.services.interactions import log_interaction
from core.services.patients import PatientInput, create_patient


def _queued() -> int:
    broker = dramatiq.get_broker()
    return sum(broker.queues[q].qsize() for q in broker.get_declared_queues())


def test_inbound_interactions_with_a_source_become_touchpoints(runtime, actor, run_jobs):
    from plugins.attribution.models import Touchpoint

    with runtime.transaction() as session:
        pid = create_patient(session, PatientInput(given_name="Ana"), actor).id
    run_jobs()
    before = _queued()

    def log(direction: str, lead_source: str | None) -> int:
        with runtime.transaction() as session:
            return log_interaction(
                session,
                pid,
                channel="phone",
                direction=direction,
                kind="call",
                actor=actor,
                lead_source=lead_source,
            ).id

    log("inbound", None)
    log("outbound", "radio-ad")
    # neither can be a touchpoint: no job is queued for them at all
    assert _queued() == before
    tracked = log("inbound", "radio-ad")
    assert _queued() == before + 1
    run_jobs()
    with runtime.session() as session:
        touches = session.execute(
            select(Touchpoint.interaction_id, Touchpoint.source).where(Touchpoint.patient_id == pid)
        ).all()
    assert touches == [(tracked, "radio-ad")]


def test_touchpoints_show_on_the_timeline_page_by_page(runtime, actor, run_jobs):
    import datetime as dt

    from plugins.attribution.services import timeline_entries

    with runtime.transaction() as session:
        pid = create_patient(session, PatientInput(given_name="Ana"), actor).id
        start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        for day, source in enumerate(("radio-ad", "tv-ad", "referral")):
            log_interaction(
                session,
                pid,
                channel="phone",
                direction="inbound",
                kind="call",
                actor=actor,
                lead_source=source,
                started_at=start + dt.timedelta(days=day),
            )
    run_jobs()
    with runtime.session() as session:
        newest = timeline_entries(session, pid, None, 2)
        older = timeline_entries(session, pid, newest[-1].occurred_at, 2)
    assert [(e.source, e.kind, e.title) for e in newest] == [
        ("attribution", "touchpoint", "referral"),
        ("attribution", "touchpoint", "tv-ad"),
    ]
    assert [e.title for e in older] == ["radio-ad"]
    assert older[0].occurred_at == start and older[0].ref.startswith("touchpoint:")

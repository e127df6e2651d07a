"""A patient's timeline: interactions, appointments, consent and plugin entries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Appointment, ConsentEvent, Interaction
from core.plugin_manager import PluginHost
from core.timeline import TimelineEntry

MAX_PAGE = 200


@dataclass(frozen=True)
class TimelinePage:
    """One page of a timeline, newest first; pass ``next_before`` for the next page."""

    entries: list[TimelineEntry]
    next_before: dt.datetime | None


def core_entries(
    session: Session, patient_id: int, before: dt.datetime | None, limit: int
) -> list[TimelineEntry]:
    """Timeline entries from core tables, each query bounded by *limit*."""
    entries: list[TimelineEntry] = []
    q = select(Interaction).where(Interaction.patient_id == patient_id)
    if before is not None:
        q = q.where(Interaction.started_at < before)
    for i in session.scalars(
        q.order_by(Interaction.started_at.desc(), Interaction.id.desc()).limit(limit)
    ):
        entries.append(
            TimelineEntry(
                occurred_at=i.started_at,
                source="core",
                kind=i.kind,
                title=i.subject or i.kind,
                body=i.body,
                channel=i.channel,
                direction=i.direction,
                ref=f"interaction:{i.id}",
            )
        )
    q2 = select(Appointment).where(Appointment.patient_id == patient_id)
    if before is not None:
        q2 = q2.where(Appointment.scheduled_start < before)
    for a in session.scalars(q2.order_by(Appointment.scheduled_start.desc()).limit(limit)):
        entries.append(
            TimelineEntry(
                occurred_at=a.scheduled_start,
                source="core",
                kind="appointment",
                title=a.status,
                ref=f"appointment:{a.id}",
            )
        )
    q3 = select(ConsentEvent).where(ConsentEvent.patient_id == patient_id)
    if before is not None:
        q3 = q3.where(ConsentEvent.occurred_at < before)
    for c in session.scalars(q3.order_by(ConsentEvent.occurred_at.desc()).limit(limit)):
        entries.append(
            TimelineEntry(
                occurred_at=c.occurred_at,
                source="core",
                kind="consent",
                title=f"{c.status}: {c.channel}/{c.purpose}",
                channel=c.channel,
                ref=f"consent:{c.id}",
            )
        )
    return entries


def patient_timeline(
    session: Session,
    plugins: PluginHost,
    patient_id: int,
    *,
    before: dt.datetime | None = None,
    limit: int = 50,
) -> TimelinePage:
    """Everything that happened to a patient, newest first, *limit* per page."""
    limit = max(1, min(limit, MAX_PAGE))
    entries = core_entries(session, patient_id, before, limit + 1)
    entries += plugins.collect(
        "careloop_patient_timeline_entries",
        session=session,
        patient_id=patient_id,
        before=before,
        limit=limit + 1,
    )
    entries.sort(key=lambda e: e.occurred_at, reverse=True)
    page = entries[:limit]
    has_more = len(entries) > limit
    return TimelinePage(page, page[-1].occurred_at if has_more and page else None)

"""Recording and reading touchpoints."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.models import Interaction, Patient
from core.timeline import TimelineEntry
from plugins.attribution.models import Touchpoint


def record_first_touch(session: Session, patient_id: int) -> Touchpoint | None:
    """Record the patient's first-touch source once (idempotent)."""
    patient = session.get(Patient, patient_id)
    if patient is None or not patient.lead_source:
        return None
    existing = session.scalar(
        select(Touchpoint).where(Touchpoint.patient_id == patient_id, Touchpoint.is_first_touch)
    )
    if existing is not None:
        return existing
    touch = Touchpoint(
        patient_id=patient_id,
        source=patient.lead_source,
        is_first_touch=True,
        occurred_at=patient.created_at,
    )
    session.add(touch)
    return touch


def record_interaction_touch(session: Session, interaction_id: int) -> Touchpoint | None:
    """Record a touchpoint for an inbound interaction that carries a source (idempotent)."""
    interaction = session.get(Interaction, interaction_id)
    if interaction is None or not interaction.lead_source:
        return None
    existing = session.scalar(select(Touchpoint).where(Touchpoint.interaction_id == interaction_id))
    if existing is not None:
        return existing
    touch = Touchpoint(
        patient_id=interaction.patient_id,
        source=interaction.lead_source,
        interaction_id=interaction.id,
        occurred_at=interaction.started_at,
    )
    session.add(touch)
    return touch


def move_touchpoints(session: Session, winner_id: int, loser_id: int) -> None:
    """After a merge, the winner owns the loser's touchpoints; one first touch remains."""
    session.execute(
        update(Touchpoint).where(Touchpoint.patient_id == loser_id).values(patient_id=winner_id)
    )
    firsts = list(
        session.scalars(
            select(Touchpoint)
            .where(Touchpoint.patient_id == winner_id, Touchpoint.is_first_touch)
            .order_by(Touchpoint.occurred_at, Touchpoint.id)
        )
    )
    for later in firsts[1:]:
        later.is_first_touch = False


def timeline_entries(
    session: Session, patient_id: int, before: dt.datetime | None, limit: int
) -> list[TimelineEntry]:
    query = select(Touchpoint).where(Touchpoint.patient_id == patient_id)
    if before is not None:
        query = query.where(Touchpoint.occurred_at < before)
    rows = session.scalars(query.order_by(Touchpoint.occurred_at.desc()).limit(limit))
    return [
        TimelineEntry(
            occurred_at=t.occurred_at,
            source="attribution",
            kind="touchpoint",
            title=t.source,
            ref=f"touchpoint:{t.id}",
        )
        for t in rows
    ]

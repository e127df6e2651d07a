"""Recording and reading touchpoints."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, and_, bindparam, exists, insert, literal, select, true, update
from sqlalchemy.orm import Session

from core.driver_query import DriverQuery
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


def record_first_touches(session: Session, patient_ids: list[int]) -> int:
    """Record first touches for many patients at once (bulk imports; idempotent).

    Patients without a lead source, or who already have a first touch, are skipped.
    :returns: how many touchpoints were added.
    """
    if not patient_ids:
        return 0
    already = exists().where(
        and_(Touchpoint.patient_id == Patient.id, Touchpoint.is_first_touch.is_(true()))
    )
    source = select(Patient.id, Patient.lead_source, literal(True), Patient.created_at).where(
        Patient.id.in_(patient_ids),
        Patient.lead_source.is_not(None),
        Patient.lead_source != "",
        ~already,
    )
    result = session.execute(
        insert(Touchpoint).from_select(
            ["patient_id", "source", "is_first_touch", "occurred_at"], source
        )
    )
    return max(result.rowcount or 0, 0)


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


def _touchpoints_page(before: bool) -> Select[Any]:
    query = select(Touchpoint.id, Touchpoint.occurred_at, Touchpoint.source).where(
        Touchpoint.patient_id == bindparam("patient_id")
    )
    if before:
        query = query.where(Touchpoint.occurred_at < bindparam("before"))
    return query.order_by(Touchpoint.occurred_at.desc()).limit(bindparam("limit"))


#: built once, run on the driver's cursor: the 360 page asks for every page of every timeline
_TOUCHPOINTS = {
    False: DriverQuery(_touchpoints_page(before=False), "patient_id", "limit"),
    True: DriverQuery(_touchpoints_page(before=True), "patient_id", "before", "limit"),
}


def timeline_entries(
    session: Session, patient_id: int, before: dt.datetime | None, limit: int
) -> list[TimelineEntry]:
    if before is None:
        rows = _TOUCHPOINTS[False].rows(session, patient_id=patient_id, limit=limit)
    else:
        rows = _TOUCHPOINTS[True].rows(session, patient_id=patient_id, before=before, limit=limit)
    return [
        TimelineEntry(
            occurred_at=occurred_at,
            source="attribution",
            kind="touchpoint",
            title=source,
            ref=f"touchpoint:{touch_id}",
        )
        for touch_id, occurred_at, source in rows
    ]

"""Consent: record grants and withdrawals, and derive the current state.

The history is append-only.  The current state of a (channel, purpose) is the
latest event by ``occurred_at`` (then id).  No event means no consent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import events
from core.audit import Actor, record
from core.db import utcnow
from core.models import ConsentEvent
from core.models.enums import ConsentChannel, ConsentMethod, ConsentPurpose, ConsentStatus
from core.services.patients import get_patient
from core.services.validation import aware, choice


@dataclass(frozen=True)
class ConsentState:
    """The current consent for one channel and purpose."""

    channel: str
    purpose: str
    status: str
    method: str
    occurred_at: dt.datetime

    @property
    def granted(self) -> bool:
        return self.status == ConsentStatus.GRANTED


def record_consent(
    session: Session,
    patient_id: int,
    channel: str,
    purpose: str,
    status: str,
    method: str,
    actor: Actor,
    *,
    evidence: str | None = None,
    occurred_at: dt.datetime | None = None,
) -> ConsentEvent:
    """Append a grant or withdrawal; the hook fires only when the state changes."""
    channel_v = choice(ConsentChannel, channel, "channel").value
    purpose_v = choice(ConsentPurpose, purpose, "purpose").value
    status_v = choice(ConsentStatus, status, "status").value
    method_v = choice(ConsentMethod, method, "method").value
    when = aware(occurred_at, "occurred_at") if occurred_at else utcnow()
    get_patient(session, patient_id, audit_view=False)
    before = session.execute(
        select(ConsentEvent.status, ConsentEvent.occurred_at)
        .where(
            ConsentEvent.patient_id == patient_id,
            ConsentEvent.channel == channel_v,
            ConsentEvent.purpose == purpose_v,
        )
        .order_by(ConsentEvent.occurred_at.desc(), ConsentEvent.id.desc())
        .limit(1)
    ).first()
    event = ConsentEvent(
        patient_id=patient_id,
        channel=channel_v,
        purpose=purpose_v,
        status=status_v,
        method=method_v,
        evidence=evidence,
        occurred_at=when,
        staff_user_id=actor.staff_user_id,
    )
    session.add(event)
    session.flush()
    record(
        session,
        actor,
        f"consent.{status_v}",
        "consent",
        event.id,
        patient_id=patient_id,
        details={"channel": channel_v, "purpose": purpose_v, "method": method_v},
    )
    # the new row has the highest id, so it wins ties: it is current unless an event is later
    after = status_v if before is None or when >= before.occurred_at else before.status
    if (before.status if before else None) != after:
        events.emit(
            session,
            "careloop_on_consent_changed",
            patient_id=patient_id,
            channel=channel_v,
            purpose=purpose_v,
            status=after,
            method=method_v,
            actor=actor,
        )
    return event


def grant(
    session: Session, patient_id: int, channel: str, purpose: str, actor: Actor, **kwargs: object
) -> ConsentEvent:
    """Record that the patient agreed to *channel* for *purpose*."""
    kwargs.setdefault("method", ConsentMethod.STAFF.value)
    return record_consent(session, patient_id, channel, purpose, "granted", actor=actor, **kwargs)  # type: ignore[arg-type]


def withdraw(
    session: Session, patient_id: int, channel: str, purpose: str, actor: Actor, **kwargs: object
) -> ConsentEvent:
    """Record that the patient opted out of *channel* for *purpose*."""
    kwargs.setdefault("method", ConsentMethod.STAFF.value)
    return record_consent(session, patient_id, channel, purpose, "withdrawn", actor=actor, **kwargs)  # type: ignore[arg-type]


def current_consent(session: Session, patient_id: int) -> dict[tuple[str, str], ConsentState]:
    """The latest state per (channel, purpose) for one patient."""
    rows = session.execute(
        select(
            ConsentEvent.channel,
            ConsentEvent.purpose,
            ConsentEvent.status,
            ConsentEvent.method,
            ConsentEvent.occurred_at,
        )
        .where(ConsentEvent.patient_id == patient_id)
        .order_by(ConsentEvent.occurred_at, ConsentEvent.id)
    ).all()
    state: dict[tuple[str, str], ConsentState] = {}
    for channel, purpose, status, method, occurred_at in rows:
        state[(channel, purpose)] = ConsentState(channel, purpose, status, method, occurred_at)
    return state


def has_consent(session: Session, patient_id: int, channel: str, purpose: str) -> bool:
    """True only when the latest event for this channel and purpose is a grant."""
    latest = session.execute(
        select(ConsentEvent.status)
        .where(
            ConsentEvent.patient_id == patient_id,
            ConsentEvent.channel == channel,
            ConsentEvent.purpose == purpose,
        )
        .order_by(ConsentEvent.occurred_at.desc(), ConsentEvent.id.desc())
        .limit(1)
    ).scalar()
    return latest == ConsentStatus.GRANTED


def consent_history(session: Session, patient_id: int) -> list[ConsentEvent]:
    """Every consent event of a patient, newest first."""
    return list(
        session.scalars(
            select(ConsentEvent)
            .where(ConsentEvent.patient_id == patient_id)
            .order_by(ConsentEvent.occurred_at.desc(), ConsentEvent.id.desc())
        )
    )

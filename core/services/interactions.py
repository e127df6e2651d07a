"""Interactions: log what happened between the clinic and a patient."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from core import events
from core.audit import Actor, record
from core.errors import ValidationError
from core.models import Interaction
from core.models.enums import Channel, Direction, InteractionKind
from core.services.patients import require_patient
from core.services.validation import aware, choice


def _interaction_values(
    patient_id: int,
    *,
    channel: str,
    direction: str,
    kind: str,
    actor: Actor,
    subject: str | None = None,
    body: str | None = None,
    outcome: str | None = None,
    started_at: dt.datetime | None = None,
    ended_at: dt.datetime | None = None,
    duration_seconds: int | None = None,
    recording_url: str | None = None,
    provider_ref: str | None = None,
    appointment_id: int | None = None,
    campaign_id: int | None = None,
    lead_source: str | None = None,
) -> dict[str, Any]:
    """Validate one interaction and return its column values."""
    channel_v = choice(Channel, channel, "channel").value
    direction_v = choice(Direction, direction, "direction").value
    kind_v = choice(InteractionKind, kind, "kind").value
    start = aware(started_at, "started_at") if started_at else dt.datetime.now(dt.UTC)
    end = aware(ended_at, "ended_at") if ended_at else None
    if duration_seconds is not None:
        if duration_seconds < 0:
            raise ValidationError("duration cannot be negative", field="duration_seconds")
        end = start + dt.timedelta(seconds=duration_seconds)
    if end is not None and end < start:
        raise ValidationError("an interaction cannot end before it starts", field="ended_at")
    if subject is not None and len(subject) > 250:
        raise ValidationError("subject is longer than 250 characters", field="subject")
    return {
        "patient_id": patient_id,
        "channel": channel_v,
        "direction": direction_v,
        "kind": kind_v,
        "subject": subject,
        "body": body,
        "outcome": outcome,
        "started_at": start,
        "ended_at": end,
        "recording_url": recording_url,
        "provider_ref": provider_ref,
        "appointment_id": appointment_id,
        "campaign_id": campaign_id,
        "lead_source": lead_source,
        "staff_user_id": actor.staff_user_id,
    }


#: the hook that announces a stored interaction
INTERACTION_LOGGED = "careloop_on_interaction_logged"


def logged_hook_kwargs(values: dict[str, Any], interaction_id: int, actor: Actor) -> dict[str, Any]:
    """:data:`INTERACTION_LOGGED`'s arguments for a stored interaction's column *values*."""
    return {
        "interaction_id": interaction_id,
        "patient_id": values["patient_id"],
        "channel": values["channel"],
        "direction": values["direction"],
        "kind": values["kind"],
        "actor": actor,
        "lead_source": values.get("lead_source"),
    }


def _logged(session: Session, values: dict[str, Any], interaction_id: int, actor: Actor) -> None:
    """Audit one stored interaction and queue its hook (fired after commit)."""
    patient_id, kind, channel = values["patient_id"], values["kind"], values["channel"]
    record(
        session,
        actor,
        "create",
        "interaction",
        interaction_id,
        patient_id=patient_id,
        details={"kind": kind, "channel": channel},
    )
    events.emit(session, INTERACTION_LOGGED, **logged_hook_kwargs(values, interaction_id, actor))


def log_interaction(
    session: Session,
    patient_id: int,
    *,
    channel: str,
    direction: str,
    kind: str,
    actor: Actor,
    subject: str | None = None,
    body: str | None = None,
    outcome: str | None = None,
    started_at: dt.datetime | None = None,
    ended_at: dt.datetime | None = None,
    duration_seconds: int | None = None,
    recording_url: str | None = None,
    provider_ref: str | None = None,
    appointment_id: int | None = None,
    campaign_id: int | None = None,
    lead_source: str | None = None,
) -> Interaction:
    """Record an interaction on a patient's timeline; fires ``careloop_on_interaction_logged``."""
    values = _interaction_values(
        patient_id,
        channel=channel,
        direction=direction,
        kind=kind,
        actor=actor,
        subject=subject,
        body=body,
        outcome=outcome,
        started_at=started_at,
        ended_at=ended_at,
        duration_seconds=duration_seconds,
        recording_url=recording_url,
        provider_ref=provider_ref,
        appointment_id=appointment_id,
        campaign_id=campaign_id,
        lead_source=lead_source,
    )
    require_patient(session, patient_id)
    interaction = Interaction(**values)
    session.add(interaction)
    session.flush()
    _logged(session, values, interaction.id, actor)
    return interaction


def log_interactions(
    session: Session, patient_id: int, items: Sequence[dict[str, Any]], actor: Actor
) -> list[int]:
    """Record many interactions of one patient in one statement (imports, history loads).

    Each item takes :func:`log_interaction`'s keyword arguments (an ``actor``
    key overrides *actor* for that item); each is validated, audited and
    announced exactly as :func:`log_interaction` would.  Returns the new ids
    in the order of *items*.
    """
    if not items:
        return []
    rows = [
        (_interaction_values(patient_id, **{"actor": actor, **item}), item.get("actor", actor))
        for item in items
    ]
    require_patient(session, patient_id)
    table = Interaction.__table__
    ids = (
        session.connection()
        .execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True),
            [values for values, _ in rows],
        )
        .scalars()
        .all()
    )
    for (values, who), interaction_id in zip(rows, ids, strict=True):
        _logged(session, values, interaction_id, who)
    return list(ids)

"""JSON endpoints for machines: the telephony screen pop.

``POST /api/telephony/inbound-call`` with ``Authorization: Bearer <CARELOOP_TELEPHONY_TOKEN>``
and a JSON body ``{"caller": "<any format>", "dialled": "<our number>", "call_id": "..."}``
answers with the matching patients' summaries (name, MRN, next appointment, last
interactions) and, when exactly one patient matches, logs the inbound call on
their timeline.  Unset token: the endpoint does not exist (404).  It selects
only the columns it returns (no ORM object graphs) so it answers in milliseconds.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, abort, jsonify, request, url_for
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from admin.views.base import client_ip, get_runtime
from core.audit import Actor, record
from core.db import utcnow
from core.errors import InvalidPhoneNumber
from core.identity import try_normalize_phone
from core.models import Appointment, Doctor, Interaction
from core.models.enums import AppointmentStatus
from core.services.interactions import log_interaction
from core.services.patients import find_by_phone

bp = Blueprint("api", __name__, url_prefix="/api")

#: interactions returned per patient
LAST_INTERACTIONS = 5
#: patients returned when several share the number
MAX_CANDIDATES = 10
_OPEN = (AppointmentStatus.BOOKED.value, AppointmentStatus.CONFIRMED.value)


def _authorised() -> bool:
    token = get_runtime().config.telephony_token
    if not token:
        abort(404)
    header = request.headers.get("Authorization", "")
    scheme, _sep, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def _next_appointment(session: Session, patient_id: int) -> dict[str, Any] | None:
    row = session.execute(
        select(Appointment.id, Appointment.scheduled_start, Appointment.status, Doctor.display_name)
        .outerjoin(Doctor, Doctor.id == Appointment.doctor_id)
        .where(
            Appointment.patient_id == patient_id,
            Appointment.scheduled_start >= utcnow(),
            Appointment.status.in_(_OPEN),
        )
        .order_by(Appointment.scheduled_start)
        .limit(1)
    ).first()
    if row is None:
        return None
    return {
        "id": row.id,
        "start": row.scheduled_start.isoformat(),
        "status": row.status,
        "doctor": row.display_name,
    }


def _last_interactions(session: Session, patient_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(
            Interaction.id,
            Interaction.started_at,
            Interaction.channel,
            Interaction.direction,
            Interaction.kind,
            Interaction.subject,
            Interaction.outcome,
        )
        .where(Interaction.patient_id == patient_id)
        .order_by(Interaction.started_at.desc(), Interaction.id.desc())
        .limit(LAST_INTERACTIONS)
    )
    return [
        {
            "id": r.id,
            "at": r.started_at.isoformat(),
            "channel": r.channel,
            "direction": r.direction,
            "kind": r.kind,
            "subject": r.subject,
            "outcome": r.outcome,
        }
        for r in rows
    ]


def _relaxed_commit(session: Session) -> None:
    """On PostgreSQL, do not wait for this transaction's WAL flush (``synchronous_commit``).

    The screen pop must answer in milliseconds; waiting for the disk would
    double its latency.  The trade-off, local to this one transaction: after a
    database *server* crash the last fraction of a second of inbound-call
    records (and their audit events) may be missing; the data stays consistent.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))


@bp.post("/telephony/inbound-call")
def inbound_call() -> Any:
    """Who is calling?  Summaries of the matching patients; logs the call on a single match."""
    if not _authorised():
        return jsonify(error="unauthorised"), 401
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return jsonify(error="expected a JSON object"), 400
    caller = str(payload.get("caller") or "").strip()
    dialled = str(payload.get("dialled") or "").strip()
    call_id = str(payload.get("call_id") or "")[:200] or None
    if not caller:
        return jsonify(error="caller is required"), 400
    runtime = get_runtime()
    region = runtime.config.default_region
    actor = Actor(label="telephony", ip_address=client_ip())
    dialled_e164 = try_normalize_phone(dialled, region) if dialled else None
    with runtime.transaction() as session:
        _relaxed_commit(session)
        try:
            matches = find_by_phone(session, caller, region)
        except InvalidPhoneNumber:
            return jsonify(error="caller is not a phone number"), 400
        patients = []
        for match in matches[:MAX_CANDIDATES]:
            patients.append(
                {
                    "id": match.id,
                    "name": match.display_name,
                    "mrn": match.mrn,
                    "preferred_language": match.preferred_language,
                    "next_appointment": _next_appointment(session, match.id),
                    "last_interactions": _last_interactions(session, match.id),
                    "url": url_for("patient.record", patient_id=match.id),
                }
            )
        interaction_id = None
        if len(matches) == 1:
            interaction_id = log_interaction(
                session,
                matches[0].id,
                channel="phone",
                direction="inbound",
                kind="call",
                subject=f"Inbound call to {dialled_e164 or dialled or '?'}"[:250],
                outcome="ringing",
                provider_ref=call_id,
                actor=actor,
            ).id
        # who was shown to the caller's screen: flushed with the call's own audit event
        for match in matches[:MAX_CANDIDATES]:
            record(
                session,
                actor,
                "view",
                "patient",
                match.id,
                patient_id=match.id,
                details={"via": "telephony"},
            )
    return jsonify(
        matched=len(matches),
        patients=patients,
        interaction_id=interaction_id,
        screen_pop_url=url_for("lookup.index", phone=caller),
    )

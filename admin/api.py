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
from collections.abc import Sequence
from typing import Any

from flask import Blueprint, abort, jsonify, request, url_for
from sqlalchemy import (
    BigInteger,
    CompoundSelect,
    Select,
    bindparam,
    literal,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from admin.views.base import client_ip, get_runtime, record_url
from core.audit import Actor, record_views
from core.db import UTCDateTime, utcnow
from core.driver_query import DriverQuery
from core.errors import InvalidPhoneNumber
from core.identity import try_normalize_phone
from core.models import Appointment, Doctor, Interaction
from core.models.enums import AppointmentStatus
from core.services.interactions import log_interactions
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


def _summary_union(patient_ids: Sequence[Any], now: Any) -> CompoundSelect:
    """One statement for every shown patient's next open appointment and last interactions.

    A ``UNION ALL`` of small per-patient index range scans (each with its own
    ``LIMIT``, so a patient with thousands of interactions costs no more than
    one with five), in one round trip instead of two per patient.  Columns are
    shared by both kinds: ``a`` is the appointment's status or the interaction's
    channel, ``b`` the doctor or the direction.  *patient_ids* and *now* are
    values or bind parameters.
    """
    parts: list[Select[Any]] = []
    for patient_id in patient_ids:
        parts.append(
            select(
                Appointment.patient_id,
                literal("appointment").label("source"),
                Appointment.id,
                Appointment.scheduled_start.label("at"),
                Appointment.status.label("a"),
                Doctor.display_name.label("b"),
                null().label("kind"),
                null().label("subject"),
                null().label("outcome"),
            )
            .outerjoin(Doctor, Doctor.id == Appointment.doctor_id)
            .where(
                Appointment.patient_id == patient_id,
                Appointment.scheduled_start >= now,
                or_(*(Appointment.status == status for status in _OPEN)),
            )
            .order_by(Appointment.scheduled_start)
            .limit(1)
        )
        parts.append(
            select(
                Interaction.patient_id,
                literal("interaction").label("source"),
                Interaction.id,
                Interaction.started_at.label("at"),
                Interaction.channel.label("a"),
                Interaction.direction.label("b"),
                Interaction.kind,
                Interaction.subject,
                Interaction.outcome,
            )
            .where(Interaction.patient_id == patient_id)
            .order_by(Interaction.started_at.desc(), Interaction.id.desc())
            .limit(LAST_INTERACTIONS)
        )
    # each part as a subquery: SQLite refuses ORDER BY/LIMIT inside a bare compound
    return union_all(*(select(part.subquery()) for part in parts))


#: the usual case, one caller: compiled once, run on the driver's cursor
_ONE_SUMMARY = DriverQuery(
    _summary_union(
        [bindparam("patient_id", type_=BigInteger())], bindparam("now", type_=UTCDateTime())
    ),
    "patient_id",
    "now",
)


def _summaries(session: Session, patient_ids: list[int]) -> dict[int, dict[str, Any]]:
    """patient id -> ``{"next_appointment": ..., "last_interactions": [...]}``."""
    found: dict[int, dict[str, Any]] = {
        pid: {"next_appointment": None, "last_interactions": []} for pid in patient_ids
    }
    if not patient_ids:
        return found
    now = utcnow()
    if len(patient_ids) == 1:
        rows: Sequence[Sequence[Any]] = _ONE_SUMMARY.rows(
            session, patient_id=patient_ids[0], now=now
        )
    else:
        rows = session.connection().execute(_summary_union(patient_ids, now)).all()
    for pid, source, row_id, at, a, b, kind, subject, outcome in rows:
        if source == "appointment":
            found[pid]["next_appointment"] = {
                "id": row_id,
                "start": at.isoformat(),
                "status": a,
                "doctor": b,
            }
        else:
            found[pid]["last_interactions"].append(
                {
                    "id": row_id,
                    "at": at.isoformat(),
                    "channel": a,
                    "direction": b,
                    "kind": kind,
                    "subject": subject,
                    "outcome": outcome,
                }
            )
    for summary in found.values():
        # a UNION ALL keeps no order across its parts: newest first again
        summary["last_interactions"].sort(key=lambda i: (i["at"], i["id"]), reverse=True)
    return found


def _relaxed_commit(session: Session) -> None:
    """On PostgreSQL, do not wait for this transaction's WAL flush (``synchronous_commit``).

    The screen pop must answer in milliseconds; waiting for the disk would
    double its latency.  The trade-off, local to this one transaction: after a
    database *server* crash the last fraction of a second of inbound-call
    records (and their audit events) may be missing; the data stays consistent.
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")


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
        shown = matches[:MAX_CANDIDATES]
        summaries = _summaries(session, [m.id for m in shown])
        patients = [
            {
                "id": match.id,
                "name": match.display_name,
                "mrn": match.mrn,
                "preferred_language": match.preferred_language,
                **summaries[match.id],
                "url": record_url(match.id),
            }
            for match in shown
        ]
        interaction_id = None
        if len(matches) == 1:
            (interaction_id,) = log_interactions(
                session,
                matches[0].id,
                [
                    {
                        "channel": "phone",
                        "direction": "inbound",
                        "kind": "call",
                        "subject": f"Inbound call to {dialled_e164 or dialled or '?'}"[:250],
                        "outcome": "ringing",
                        "provider_ref": call_id,
                    }
                ],
                actor,
            )
        # who was shown to the caller's screen: committed with the call's own audit event
        record_views(session, actor, [m.id for m in shown], details={"via": "telephony"})
    return jsonify(
        matched=len(matches),
        patients=patients,
        interaction_id=interaction_id,
        screen_pop_url=url_for("lookup.index", phone=caller),
    )

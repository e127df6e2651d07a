"""JSON endpoints for machines: the telephony screen pop.

``POST /api/telephony/inbound-call`` with ``Authorization: Bearer <CARELOOP_TELEPHONY_TOKEN>``
and a JSON body ``{"caller": "<any format>", "dialled": "<our number>", "call_id": "..."}``
answers with the matching patients' summaries (name, MRN, next appointment, last
interactions) and, when exactly one patient matches, logs the inbound call on
their timeline.  Unset token: the endpoint does not exist (404).  The work is
:func:`core.services.screen_pop.inbound_call` (one statement on PostgreSQL).
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, abort, jsonify, request, url_for

from admin.views.base import client_ip, get_runtime, record_url
from core.audit import Actor
from core.errors import InvalidPhoneNumber
from core.services.screen_pop import inbound_call as screen_pop

bp = Blueprint("api", __name__, url_prefix="/api")


def _authorised() -> bool:
    token = get_runtime().config.telephony_token
    if not token:
        abort(404)
    header = request.headers.get("Authorization", "")
    scheme, _sep, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


@bp.post("/telephony/inbound-call")
def inbound_call() -> Any:
    """Who is calling?  Summaries of the matching patients; logs the call on a single match."""
    if not _authorised():
        return jsonify(error="unauthorised"), 401
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict):
        return jsonify(error="expected a JSON object"), 400
    caller = str(payload.get("caller") or "").strip()
    if not caller:
        return jsonify(error="caller is required"), 400
    try:
        pop = screen_pop(
            get_runtime(),
            caller,
            actor=Actor(label="telephony", ip_address=client_ip()),
            dialled=str(payload.get("dialled") or "").strip(),
            call_id=str(payload.get("call_id") or "") or None,
        )
    except InvalidPhoneNumber:
        return jsonify(error="caller is not a phone number"), 400
    patients = [
        {
            "id": patient.id,
            "name": patient.name,
            "mrn": patient.mrn,
            "preferred_language": patient.preferred_language,
            "next_appointment": patient.next_appointment,
            "last_interactions": patient.last_interactions,
            "url": record_url(patient.id),
        }
        for patient in pop.patients
    ]
    return jsonify(
        matched=pop.matched,
        patients=patients,
        interaction_id=pop.interaction_id,
        screen_pop_url=url_for("lookup.index", phone=caller),
    )

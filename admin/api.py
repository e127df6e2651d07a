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
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, abort, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from core.audit import Actor
from core.errors import InvalidPhoneNumber
from core.services.screen_pop import inbound_call as screen_pop

if TYPE_CHECKING:
    from core.runtime import CareLoop

#: where :func:`admin.app.create_app` mounts :func:`create_api_app`
MOUNT = "/api"

bp = Blueprint("api", __name__)


def create_api_app(runtime: CareLoop, back_office: Flask) -> Flask:
    """The machine API as a small Flask app of its own, mounted at :data:`MOUNT`.

    A telephony system calls it on every ring with a bearer token.  Nothing
    of the back office applies to such a call (cookie session, sign-in, CSRF,
    language negotiation, templates), so none of it runs: a request pays for
    Flask's routing and its own work only.  *back_office* is the app it sits
    beside: the answers link to its pages.
    """
    app = Flask("careloop.api")
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["careloop"] = runtime
    app.extensions["careloop.back_office_links"] = _BackOfficeLinks(back_office)
    app.register_blueprint(bp)
    warm_up = back_office.extensions.get("careloop_gc_warm_up")

    @app.after_request
    def headers(response: Any) -> Any:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"  # answers carry patient data
        return response

    @app.errorhandler(HTTPException)
    def as_json(error: HTTPException) -> Any:
        return jsonify(error=(error.name or "error").lower()), error.code

    if warm_up is not None:

        @app.teardown_request
        def count_for_gc_freeze(_error: BaseException | None) -> None:
            warm_up.tick()  # see core.gc_tuning

    return app


class _BackOfficeLinks:
    """Paths of back-office pages, built once from its URL map, under this request's root."""

    def __init__(self, back_office: Flask) -> None:
        urls = back_office.url_map.bind("")
        self.record = urls.build("patient.record", {"patient_id": 0})[:-1]
        self.lookup = urls.build("lookup.index")

    @staticmethod
    def _root() -> str:
        # the API's own root is <back office root>/api
        return request.script_root.removesuffix(MOUNT)

    def record_url(self, patient_id: int) -> str:
        return f"{self._root()}{self.record}{int(patient_id)}"

    def lookup_url(self, phone: str) -> str:
        return f"{self._root()}{self.lookup}?{urlencode({'phone': phone})}"


def _runtime() -> CareLoop:
    return current_app.extensions["careloop"]


def _authorised() -> bool:
    token = _runtime().config.telephony_token
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
            _runtime(),
            caller,
            actor=Actor(label="telephony", ip_address=request.remote_addr),
            dialled=str(payload.get("dialled") or "").strip(),
            call_id=str(payload.get("call_id") or "") or None,
        )
    except InvalidPhoneNumber:
        return jsonify(error="caller is not a phone number"), 400
    links: _BackOfficeLinks = current_app.extensions["careloop.back_office_links"]
    patients = [
        {
            "id": patient.id,
            "name": patient.name,
            "mrn": patient.mrn,
            "preferred_language": patient.preferred_language,
            "next_appointment": patient.next_appointment,
            "last_interactions": patient.last_interactions,
            "url": links.record_url(patient.id),
        }
        for patient in pop.patients
    ]
    return jsonify(
        matched=pop.matched,
        patients=patients,
        interaction_id=pop.interaction_id,
        screen_pop_url=links.lookup_url(caller),
    )

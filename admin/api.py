"""JSON endpoints for machines: the telephony screen pop.

``POST /api/telephony/inbound-call`` with ``Authorization: Bearer <CARELOOP_TELEPHONY_TOKEN>``
and a JSON body ``{"caller": "<any format>", "dialled": "<our number>", "call_id": "..."}``
answers with the matching patients' summaries (name, MRN, next appointment, last
interactions) and, when exactly one patient matches, logs the inbound call on
their timeline.  Unset token: the endpoint does not exist (404).  The work is
:func:`core.services.screen_pop.inbound_call` (one statement on PostgreSQL).

Errors answer JSON too: ``{"error": "unauthorised"}`` (401), a bad body (400),
an unknown path (404), another method (405), a body over 64 KiB (413), and a
failure of ours (500; the log gets the exception, which for a database error may
include the statement's parameters, as Flask's log did).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from core.audit import Actor
from core.errors import InvalidPhoneNumber
from core.services.screen_pop import inbound_call as screen_pop

if TYPE_CHECKING:
    from flask import Flask

    from core.runtime import CareLoop

log = logging.getLogger(__name__)

#: where :func:`admin.app.create_app` mounts :func:`create_api_app`
MOUNT = "/api"
#: the largest request body read (a screen pop's is about a hundred bytes)
MAX_BODY = 64 * 1024

StartResponse = Callable[..., Any]
Answer = tuple[int, dict[str, Any]]

_REASONS = {
    200: "200 OK",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    413: "413 Content Too Large",
    500: "500 Internal Server Error",
}
_HEADERS = [
    ("Content-Type", "application/json"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),  # answers carry patient data
]


class _BadRequest(Exception):
    """An answer other than 200, raised from deep in the request's handling."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status, self.error = status, error


def create_api_app(runtime: CareLoop, back_office: Flask) -> TelephonyAPI:
    """The machine API, a WSGI application of its own mounted at :data:`MOUNT`."""
    return TelephonyAPI(runtime, back_office)


class TelephonyAPI:
    """The machine API as a plain WSGI application.

    A telephony system calls it on every ring of every line, with a bearer
    token and a small JSON body.  Nothing of the back office applies to such a
    call (cookie session, sign-in, CSRF, language negotiation, templates), and a
    web framework's request and response objects would cost as much as the
    screen pop's own Python work, so it reads the WSGI environ itself: one
    route, one method, JSON in and out.  *back_office* is the Flask app it sits
    beside: the answers link to its pages.
    """

    def __init__(self, runtime: CareLoop, back_office: Flask) -> None:
        self.runtime = runtime
        self.links = _BackOfficeLinks(back_office)
        self.routes: dict[str, Callable[[dict[str, Any]], Answer]] = {
            "/telephony/inbound-call": self.inbound_call,
        }
        self._warm_up = back_office.extensions.get("careloop_gc_warm_up")

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        headers = list(_HEADERS)
        try:
            status, answer = self._answer(environ, headers)
        except Exception:  # a machine gets JSON, the log gets the trace
            log.exception("telephony API: %s failed", environ.get("PATH_INFO"))
            status, answer = 500, {"error": "internal server error"}
        finally:
            if self._warm_up is not None:
                self._warm_up.tick()  # see core.gc_tuning
        body = json.dumps(answer, separators=(",", ":")).encode()
        headers.append(("Content-Length", str(len(body))))
        start_response(_REASONS[status], headers)
        return [body]

    def _answer(self, environ: dict[str, Any], headers: list[tuple[str, str]]) -> Answer:
        route = self.routes.get(environ.get("PATH_INFO", ""))
        if route is None or not self.runtime.config.telephony_token:
            return 404, {"error": "not found"}
        if environ.get("REQUEST_METHOD") != "POST":
            headers.append(("Allow", "POST"))
            return 405, {"error": "method not allowed"}
        try:
            return route(environ)
        except _BadRequest as refused:
            return refused.status, {"error": refused.error}

    # -- the routes ---------------------------------------------------------

    def inbound_call(self, environ: dict[str, Any]) -> Answer:
        """Who is calling?  Summaries of the matching patients; logs the call on a single match."""
        if not self._authorised(environ):
            return 401, {"error": "unauthorised"}
        payload = _json_object(environ)
        caller = str(payload.get("caller") or "").strip()
        if not caller:
            return 400, {"error": "caller is required"}
        try:
            pop = screen_pop(
                self.runtime,
                caller,
                actor=Actor(label="telephony", ip_address=environ.get("REMOTE_ADDR")),
                dialled=str(payload.get("dialled") or "").strip(),
                call_id=str(payload.get("call_id") or "") or None,
            )
        except InvalidPhoneNumber:
            return 400, {"error": "caller is not a phone number"}
        root = environ.get("SCRIPT_NAME", "").removesuffix(MOUNT)
        patients = [
            {
                "id": patient.id,
                "name": patient.name,
                "mrn": patient.mrn,
                "preferred_language": patient.preferred_language,
                "next_appointment": patient.next_appointment,
                "last_interactions": patient.last_interactions,
                "url": self.links.record_url(root, patient.id),
            }
            for patient in pop.patients
        ]
        return 200, {
            "matched": pop.matched,
            "patients": patients,
            "interaction_id": pop.interaction_id,
            "screen_pop_url": self.links.lookup_url(root, caller),
        }

    def _authorised(self, environ: dict[str, Any]) -> bool:
        token = self.runtime.config.telephony_token
        scheme, _sep, given = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if not token or scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode(), token.encode())


def _json_object(environ: dict[str, Any]) -> dict[str, Any]:
    """The request's JSON object body, or :class:`_BadRequest` (400, or 413 when too big)."""
    mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise _BadRequest(400, "expected a JSON object")
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise _BadRequest(400, "expected a JSON object") from None
    if length < 0:
        raise _BadRequest(400, "expected a JSON object")
    if length > MAX_BODY:
        raise _BadRequest(413, "request entity too large")
    stream = environ["wsgi.input"]
    if length:
        raw = stream.read(length)
    elif environ.get("wsgi.input_terminated"):  # chunked: the server marks the end
        raw = _read_to_end(stream)
    else:
        raw = b""
    try:
        payload = json.loads(raw)
    except ValueError:  # includes undecodable bytes
        raise _BadRequest(400, "expected a JSON object") from None
    if not isinstance(payload, dict):
        raise _BadRequest(400, "expected a JSON object")
    return payload


def _read_to_end(stream: Any) -> bytes:
    """A body without a length, read until its end (or :class:`_BadRequest` 413 past
    :data:`MAX_BODY`): a stream may answer a read with fewer bytes than asked."""
    chunks: list[bytes] = []
    size = 0
    while chunk := stream.read(MAX_BODY + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY:
            raise _BadRequest(413, "request entity too large")
    return b"".join(chunks)


class _BackOfficeLinks:
    """Paths of back-office pages, built once from its URL map, under a request's root."""

    def __init__(self, back_office: Flask) -> None:
        urls = back_office.url_map.bind("")
        self.record = urls.build("patient.record", {"patient_id": 0})[:-1]
        self.lookup = urls.build("lookup.index")

    def record_url(self, root: str, patient_id: int) -> str:
        return f"{root}{self.record}{int(patient_id)}"

    def lookup_url(self, root: str, phone: str) -> str:
        return f"{root}{self.lookup}?{urlencode({'phone': phone})}"

"""SMSAPI callbacks at ``/webhooks/smsapi/<secret>``: delivery reports and inbound SMS.

SMSAPI signs nothing and publishes no source addresses: the secret in the URL
(compared in constant time) and accepting only ids we issued are the guards.
Every answer is the plain text ``OK`` SMSAPI expects, except a wrong secret.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from plugins.sms.services import (
    PROVIDER,
    inbound_event,
    is_inbound,
    issued_reports,
    parse_reports,
    report_events,
)
from plugins.webhooks.web import accept_events, current_runtime, require_enabled, same_secret

blueprint = Blueprint("sms_webhook", __name__)
blueprint.before_request(require_enabled("sms"))


def _ok() -> Response:
    return Response("OK", 200, mimetype="text/plain")


@blueprint.route("/webhooks/smsapi/<secret>", methods=["GET", "POST"])
def callback(secret: str) -> Response:
    runtime = current_runtime()
    if not same_secret(secret, runtime.config.smsapi_callback_secret):
        return Response("not found", 404, mimetype="text/plain")
    params = {**request.args.to_dict(), **request.form.to_dict()}
    from plugins.sms.actors import process_events

    if is_inbound(params):
        event = inbound_event(params)
        if event is not None:
            accept_events(PROVIDER, [event], process_events)
        return _ok()
    reports = parse_reports(params)
    if reports:
        with runtime.session() as session:
            reports = issued_reports(session, reports)
        if reports:
            accept_events(PROVIDER, report_events(reports), process_events)
    return _ok()

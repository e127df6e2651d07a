"""The WhatsApp webhook: ``GET`` verify handshake, ``POST`` signed events."""

from __future__ import annotations

import json

from flask import Blueprint, Response, request

from plugins.webhooks.web import accept_events, current_runtime, require_enabled, same_secret
from plugins.whatsapp.services import PROVIDER, parse_events, verify_signature

blueprint = Blueprint("whatsapp_webhook", __name__)
blueprint.before_request(require_enabled("whatsapp"))


@blueprint.get("/webhooks/whatsapp")
def verify() -> Response:
    """Echo ``hub.challenge`` only for ``hub.mode=subscribe`` and the right verify token."""
    config = current_runtime().config
    mode = request.args.get("hub.mode")
    token = request.args.get("hub.verify_token")
    if mode == "subscribe" and same_secret(token, config.whatsapp_verify_token):
        return Response(request.args.get("hub.challenge", ""), 200, mimetype="text/plain")
    return Response("forbidden", 403, mimetype="text/plain")


@blueprint.post("/webhooks/whatsapp")
def receive() -> Response:
    """Verify the signature over the raw body, store the events, answer at once."""
    raw = request.get_data(cache=False)
    config = current_runtime().config
    signature = request.headers.get("X-Hub-Signature-256")
    if not verify_signature(raw, signature, config.whatsapp_app_secret):
        return Response("invalid signature", 403, mimetype="text/plain")
    try:
        payload = json.loads(raw)
    except ValueError:
        return Response("invalid JSON", 400, mimetype="text/plain")
    from plugins.whatsapp.actors import process_events

    accept_events(PROVIDER, parse_events(payload, config.whatsapp_phone_number_id), process_events)
    return Response("OK", 200, mimetype="text/plain")

"""SendGrid's Event Webhook and the public unsubscribe page."""

from __future__ import annotations

import json

from flask import Blueprint, Response, render_template, request

from core.audit import Actor
from core.i18n import current_locale
from core.i18n import gettext as _
from plugins.email.services import (
    PROVIDER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    parse_events,
    unsubscribe_message,
    verify_request,
)
from plugins.email.unsubscribe import read_token
from plugins.webhooks.web import accept_events, current_runtime, require_enabled

blueprint = Blueprint("email_public", __name__, template_folder="templates")
blueprint.before_request(require_enabled("email"))


@blueprint.post("/webhooks/sendgrid")
def events() -> Response:
    """Verify signature and freshness, store the events, answer at once."""
    raw = request.get_data(cache=False)
    config = current_runtime().config
    if not verify_request(
        raw,
        request.headers.get(SIGNATURE_HEADER),
        request.headers.get(TIMESTAMP_HEADER),
        config.sendgrid_webhook_public_key,
        max_age=config.webhook_max_age,
    ):
        return Response("invalid signature", 403, mimetype="text/plain")
    try:
        payload = json.loads(raw)
    except ValueError:
        return Response("invalid JSON", 400, mimetype="text/plain")
    from plugins.email.actors import process_events

    accept_events(PROVIDER, parse_events(payload), process_events)
    return Response("OK", 200, mimetype="text/plain")


def _page(title: str, text: str, status: int, confirm: str | None = None) -> tuple[str, int]:
    page = render_template(
        "email/unsubscribe.html", title=title, text=text, confirm=confirm, lang=current_locale()
    )
    return page, status


def _speak_the_patients_language(runtime: object, message_id: int) -> None:
    """Show the page in the message's language (else the patient's), unless the
    visitor picked another one with the switcher."""
    from sqlalchemy import select

    from admin.i18n import use_patient_locale
    from core.models import OutboundMessage, Patient

    with runtime.session() as session:  # type: ignore[attr-defined]
        row = session.execute(
            select(OutboundMessage.locale, Patient.preferred_language, Patient.time_zone)
            .join(Patient, Patient.id == OutboundMessage.patient_id)
            .where(OutboundMessage.id == message_id)
        ).first()
    if row is not None:
        use_patient_locale(row.locale or row.preferred_language, row.time_zone)


@blueprint.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> tuple[str, int]:
    """GET asks to confirm; POST (the button, or a mail client's one-click) unsubscribes."""
    runtime = current_runtime()
    message_id = read_token(runtime.config, token)
    if message_id is None:
        text = _("This unsubscribe link is not valid. Please use the link from your e-mail.")
        return _page(_("Link not valid"), text, 404)
    _speak_the_patients_language(runtime, message_id)
    if request.method == "GET":
        text = _("Do you want to stop receiving marketing e-mails from us?")
        return _page(_("Unsubscribe"), text, 200, confirm=_("Unsubscribe"))
    actor = Actor(label="public:unsubscribe", ip_address=request.remote_addr)
    with runtime.transaction() as session:
        found = unsubscribe_message(session, message_id, actor)
    if not found:
        return _page(_("Link not valid"), _("We could not find this message any more."), 404)
    text = _("You will receive no more marketing e-mails from us.")
    return _page(_("You are unsubscribed"), text, 200)

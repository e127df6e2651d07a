"""SendGrid Event Webhook: signature and freshness, events, consent, unsubscribe."""

from __future__ import annotations

import datetime as dt
import functools
import time
from typing import Any

from sendgrid.helpers.eventwebhook import EventWebhook
from sqlalchemy.orm import Session

from core.audit import Actor
from core.errors import InvalidEmail
from core.models.enums import ConsentMethod, ConsentPurpose
from core.models.outbox import OutboundMessage
from core.services import patients
from plugins.email.channel import MESSAGE_ID_ARG
from plugins.webhooks.inbound import ALL_PURPOSES, withdraw_consent
from plugins.webhooks.models import WebhookEvent
from plugins.webhooks.outbox import record_status
from plugins.webhooks.services import IncomingEvent, digest_key, register_handler

PROVIDER = "sendgrid"
CHANNEL = "email"
ACTOR = Actor.system("webhook:sendgrid")
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"

#: SendGrid event -> outbox status (events not listed change no status)
STATUS_MAP = {"delivered": "delivered", "open": "read", "click": "read", "dropped": "failed"}
#: events that withdraw e-mail consent, and for which purposes
WITHDRAWALS: dict[str, tuple[str, ...]] = {
    "spamreport": ALL_PURPOSES,
    "unsubscribe": (ConsentPurpose.MARKETING.value,),
    "group_unsubscribe": (ConsentPurpose.MARKETING.value,),
}


@functools.lru_cache(maxsize=4)
def _verifier(public_key: str) -> EventWebhook:
    return EventWebhook(public_key)


def verify_request(
    raw_body: bytes,
    signature: str | None,
    timestamp: str | None,
    public_key: str,
    *,
    max_age: int,
    now: float | None = None,
) -> bool:
    """ECDSA check over ``timestamp + body`` plus a freshness window; never raises."""
    if not (public_key and signature and timestamp):
        return False
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent_at) > max_age:
        return False
    try:
        payload = raw_body.decode("utf-8")
        return bool(_verifier(public_key).verify_signature(payload, signature, timestamp))
    except Exception:  # a malformed key or signature raises instead of returning False
        return False


def parse_events(payload: Any) -> list[IncomingEvent]:
    """One event per array item, keyed by ``sg_event_id`` and the event type."""
    if not isinstance(payload, list):
        return []
    events = []
    for item in payload:
        if not isinstance(item, dict) or not item.get("event"):
            continue
        key = item.get("sg_event_id") or digest_key(item)
        events.append(IncomingEvent(f"{key}:{item['event']}", str(item["event"]), {"event": item}))
    return events


def _provider_id(event: dict[str, Any]) -> str | None:
    """``sg_message_id`` starts with the ``X-Message-Id`` the send answered."""
    value = event.get("sg_message_id")
    return str(value).split(".", 1)[0] if value else None


def _timestamp(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(int(value), dt.UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def patients_of(session: Session, event: dict[str, Any]) -> list[int]:
    """The message's patient when our id came back, else every patient with that address."""
    message_id = str(event.get(MESSAGE_ID_ARG) or "")
    if message_id.isdigit():
        row = session.get(OutboundMessage, int(message_id))
        if row is not None and row.channel == CHANNEL:
            return [row.patient_id]
    try:
        return [m.id for m in patients.find_by_email(session, str(event.get("email") or ""))]
    except InvalidEmail:
        return []


def handle_event(session: Session, stored: WebhookEvent) -> str:
    """Apply one SendGrid event: outbox status, and consent for bounces and complaints."""
    event = stored.payload["event"]
    name = str(event.get("event"))
    outcomes = []
    status = STATUS_MAP.get(name)
    if name == "bounce":
        status = "failed" if event.get("type") == "blocked" else "bounced"
    if status is not None:
        reason = None
        if status in ("failed", "bounced"):
            reason = f"SendGrid {name}: {event.get('reason') or event.get('type') or ''}"[:200]
        outcomes.append(
            record_status(
                session,
                CHANNEL,
                status,
                message_id=event.get(MESSAGE_ID_ARG),
                provider_message_id=_provider_id(event),
                reason=reason,
                occurred_at=_timestamp(event.get("timestamp")),
            )
        )
    purposes = WITHDRAWALS.get(name)
    if name == "bounce" and event.get("type") != "blocked":
        purposes = ALL_PURPOSES
    if purposes:
        changed = withdraw_consent(
            session,
            patients_of(session, event),
            CHANNEL,
            purposes,
            ACTOR,
            method=ConsentMethod.PROVIDER.value,
            evidence=f"SendGrid {name}",
        )
        outcomes.append(f"consent withdrawn x{changed}")
    return "; ".join(outcomes) or f"ignored: {name[:40]}"


def unsubscribe_message(session: Session, message_id: int, actor: Actor) -> bool:
    """Withdraw marketing e-mail consent for the patient of outbox row *message_id*.

    :returns: False when the row does not exist (deleted patient, forged id).
    """
    row = session.get(OutboundMessage, message_id)
    if row is None:
        return False
    withdraw_consent(
        session,
        [row.patient_id],
        CHANNEL,
        (ConsentPurpose.MARKETING.value,),
        actor,
        method=ConsentMethod.FORM.value,
        evidence=f"unsubscribe link of message {message_id}",
    )
    return True


register_handler(PROVIDER, "email", handle_event)

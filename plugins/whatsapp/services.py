"""WhatsApp webhook: signature check, parsing into events, processing each event."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

from sqlalchemy.orm import Session

from core.audit import Actor
from core.errors import InvalidPhoneNumber
from core.identity import normalize_phone
from core.models.enums import ConsentMethod
from core.services import consent, patients
from plugins.webhooks import inbound
from plugins.webhooks.models import WebhookEvent
from plugins.webhooks.outbox import record_status
from plugins.webhooks.services import IncomingEvent, digest_key, register_handler
from plugins.webhooks.web import same_secret

PROVIDER = "whatsapp"
ACTOR = Actor.system("webhook:whatsapp")

#: Cloud API status -> outbox status
STATUS_MAP = {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed"}


def verify_signature(raw_body: bytes, header: str | None, app_secret: str) -> bool:
    """Check ``X-Hub-Signature-256: sha256=<hex>`` over the raw body, in constant time."""
    if not app_secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()
    return same_secret(header.removeprefix("sha256=").strip().lower(), expected)


def parse_events(payload: Any, phone_number_id: str = "") -> list[IncomingEvent]:
    """Split a webhook document into one event per message, status or preference.

    With *phone_number_id*, changes for the app's other business numbers are skipped.
    """
    events: list[IncomingEvent] = []
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        return events
    for entry in payload.get("entry") or []:
        for change in (entry or {}).get("changes") or []:
            value = (change or {}).get("value") or {}
            number = str((value.get("metadata") or {}).get("phone_number_id") or "")
            if phone_number_id and number and number != phone_number_id:
                continue
            contacts = {c.get("wa_id"): c for c in value.get("contacts") or [] if c}
            for message in value.get("messages") or []:
                key = message.get("id") or digest_key(message)
                doc = {"message": message, "contact": contacts.get(message.get("from"))}
                events.append(IncomingEvent(f"message:{key}", "message", doc))
            for status in value.get("statuses") or []:
                key = f"{status.get('id') or digest_key(status)}:{status.get('status')}"
                events.append(IncomingEvent(f"status:{key}", "status", {"status": status}))
            for pref in value.get("user_preferences") or []:
                doc = {"preference": pref}
                events.append(IncomingEvent(f"preference:{digest_key(pref)}", "preference", doc))
    return events


def _timestamp(value: Any) -> dt.datetime:
    try:
        return dt.datetime.fromtimestamp(int(value), dt.UTC)
    except (TypeError, ValueError, OverflowError):
        return dt.datetime.now(dt.UTC)


def message_text(message: dict[str, Any]) -> str:
    """A readable text for an inbound message of any type."""
    kind = message.get("type")
    if kind == "text":
        return (message.get("text") or {}).get("body") or ""
    if kind == "button":
        return (message.get("button") or {}).get("text") or ""
    if kind == "interactive":
        interactive = message.get("interactive") or {}
        reply = interactive.get("button_reply") or interactive.get("list_reply") or {}
        return reply.get("title") or "[interactive]"
    if kind == "reaction":
        return (message.get("reaction") or {}).get("emoji") or "[reaction]"
    caption = (message.get(kind) or {}).get("caption") if isinstance(kind, str) else None
    return caption or f"[{kind or 'unknown'}]"


def lead_source_of(message: dict[str, Any]) -> str | None:
    """``whatsapp_ad:<source id>`` for a click-to-WhatsApp referral."""
    referral = message.get("referral")
    if not isinstance(referral, dict):
        return None
    source_id = str(referral.get("source_id") or "").strip()
    return f"whatsapp_ad:{source_id}"[:120] if source_id else "whatsapp_ad"


def handle_event(session: Session, event: WebhookEvent) -> str:
    """Apply one stored event (called once per event by the actor)."""
    if event.kind == "status":
        return handle_status(session, event.payload["status"])
    if event.kind == "message":
        return handle_message(session, event.payload["message"], event.payload.get("contact"))
    if event.kind == "preference":
        return handle_preference(session, event.payload["preference"])
    return "ignored: unknown kind"


def handle_status(session: Session, status: dict[str, Any]) -> str:
    """A sent/delivered/read/failed status moves the outbox row forward."""
    target = STATUS_MAP.get(str(status.get("status")))
    if target is None:
        return f"ignored: status {str(status.get('status'))[:40]}"
    reason = None
    errors = status.get("errors") or []
    if errors and isinstance(errors[0], dict):
        reason = f"WhatsApp error {errors[0].get('code')}: {errors[0].get('title') or ''}"[:200]
    return record_status(
        session,
        PROVIDER,
        target,
        message_id=status.get("biz_opaque_callback_data"),
        provider_message_id=status.get("id"),
        reason=reason,
        occurred_at=_timestamp(status.get("timestamp")),
    )


def handle_message(
    session: Session, message: dict[str, Any], contact: dict[str, Any] | None
) -> str:
    """An inbound message becomes an interaction; an opt-out keyword withdraws consent."""
    if message.get("type") == "system" or not message.get("from"):
        return "ignored: system message"
    text = message_text(message)
    reply = inbound.InboundMessage(
        channel=PROVIDER,
        phone=str(message["from"]),
        text=text,
        provider_ref=str(message.get("id") or ""),
        received_at=_timestamp(message.get("timestamp")),
        contact_name=((contact or {}).get("profile") or {}).get("name"),
        lead_source=lead_source_of(message),
    )
    return inbound.handle_reply(session, reply, ACTOR)


def handle_preference(session: Session, preference: dict[str, Any]) -> str:
    """A user's "stop marketing messages" withdraws WhatsApp marketing consent."""
    if preference.get("category") != "marketing_messages" or preference.get("value") != "stop":
        return "ignored: preference"
    try:
        phone = normalize_phone(inbound.provider_phone(str(preference.get("wa_id") or "")))
    except InvalidPhoneNumber:
        return "ignored: unparsable number"
    matches = patients.find_by_phone(session, phone)
    for match in matches:
        consent.withdraw(
            session,
            match.id,
            "whatsapp",
            "marketing",
            ACTOR,
            method=ConsentMethod.PROVIDER.value,
            # recorded now, not at the provider's time: an opt-out must win over
            # any grant we stored before we heard of it
            evidence=f"WhatsApp marketing preference: stop at {preference.get('timestamp')}",
        )
    return f"marketing withdrawn for {len(matches)}"


register_handler(PROVIDER, "whatsapp", handle_event)

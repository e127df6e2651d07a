"""The one confirmation an opt-out reply gets.

Consent is already withdrawn when it is sent, so core's policy would rightly
suppress it; it is therefore written as an outbox row (visible in the outbox
view, ``cause=optout_confirmation``) and sent by this plugin's own actor, once:
its idempotency key is tied to the reply that opted out, and a second STOP
finds nothing left to withdraw and asks for no confirmation.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.db import utcnow
from core.i18n import gettext as _
from core.i18n import use_locale
from core.messaging.channel import (
    ChannelError,
    DuplicateSendRefused,
    OutgoingMessage,
    TransientChannelError,
)
from core.messaging.default_templates import OPT_OUT_CONFIRMATION, default_template
from core.messaging.registry import channels_of
from core.models import Patient
from core.models.outbox import MessageStatus, OutboundMessage
from core.runtime import CareLoop

PENDING_KEY = "careloop.webhooks.confirmations"
CAUSE = "optout_confirmation"


def confirmation_text(locale: str) -> str:
    """Core's default opt-out confirmation text in *locale* (it has no variables)."""
    try:
        return default_template(OPT_OUT_CONFIRMATION, locale).body
    except KeyError:
        return _("You are unsubscribed and will get no more messages here.")


def queue_confirmation(
    session: Session, patient_id: int, channel: str, to_address: str, reply_ref: int
) -> OutboundMessage:
    """Write the confirmation row; it is sent after the caller's transaction commits."""
    patient = session.get(Patient, patient_id)
    locale = patient.preferred_language if patient else None
    with use_locale(locale) as chosen:
        body = confirmation_text(chosen)
    row = OutboundMessage(
        patient_id=patient_id,
        channel=channel,
        purpose="care",
        locale=chosen,
        template_key=OPT_OUT_CONFIRMATION,
        body=body,
        rendered_body=body,
        to_address=to_address,
        idempotency_key=f"{CAUSE}:{channel}:{reply_ref}",
        cause=f"{CAUSE}:{reply_ref}",
        # handed to our own actor: core's dispatcher must not pick it up (its
        # policy would suppress it; if our actor keeps failing, core's sweeper
        # does, and the row ends suppressed: safe)
        enqueued_at=utcnow(),
    )
    session.add(row)
    session.flush()
    session.info.setdefault(PENDING_KEY, []).append(row.id)
    return row


def take_pending(session: Session) -> list[int]:
    """Confirmation ids written in *session* (call after its commit)."""
    return session.info.pop(PENDING_KEY, [])


def send_confirmation(runtime: CareLoop, outbound_id: int) -> str:
    """Send one confirmation row through the process's channel (live or console)."""
    with runtime.transaction() as session:
        row = session.get(OutboundMessage, outbound_id)
        if row is None or row.status != MessageStatus.QUEUED:
            return "skipped"
        row.status = MessageStatus.SENDING.value
        row.sending_at = utcnow()
        row.attempts += 1
        message = OutgoingMessage(
            message_id=row.id,
            idempotency_key=row.idempotency_key,
            channel=row.channel,
            to=row.to_address or "",
            purpose="care",
            locale=row.locale or "en",
            body=row.rendered_body,
        )
    status, reason, provider_id = MessageStatus.SENT.value, None, None
    channel = channels_of(runtime).get(message.channel)
    try:
        if channel is None:
            raise ChannelError("channel_unavailable")
        result = channel.send(message)
        status, provider_id = result.status, result.provider_message_id
    except DuplicateSendRefused:
        reason = "duplicate refused by provider"
    except TransientChannelError:
        _set(runtime, outbound_id, MessageStatus.QUEUED.value, "transient error")
        raise
    except ChannelError as exc:
        status, reason = MessageStatus.FAILED.value, str(exc)[:200]
    _set(runtime, outbound_id, status, reason, provider_id)
    return status


def _set(
    runtime: CareLoop,
    outbound_id: int,
    status: str,
    reason: str | None,
    provider_id: str | None = None,
) -> None:
    with runtime.transaction() as session:
        row = session.get(OutboundMessage, outbound_id)
        if row is None:
            return
        row.status = status
        row.status_reason = reason
        if provider_id:
            row.provider_message_id = provider_id
        if hasattr(row, f"{status}_at"):
            setattr(row, f"{status}_at", utcnow())

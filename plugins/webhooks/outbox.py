"""The bridge from provider status events to core's outbox (forward-only updates)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from core.messaging.outbox import apply_provider_status


def record_status(
    session: Session,
    channel: str,
    status: str,
    *,
    message_id: int | str | None = None,
    provider_message_id: str | None = None,
    reason: str | None = None,
    occurred_at: dt.datetime | None = None,
) -> str:
    """Apply a provider status to the outbox row it is about; returns an outcome label.

    The row is found by our id (WhatsApp's ``biz_opaque_callback_data``,
    SendGrid's ``custom_args``, SMSAPI's ``idx``) when the provider echoes it,
    else by the provider's message id.  Core moves statuses forward only, so
    replays and out-of-order events are harmless.
    """
    our_id = int(message_id) if message_id is not None and str(message_id).isdigit() else None
    if our_id is None and not provider_message_id:
        return "ignored: no message id"
    update = apply_provider_status(
        session, channel, provider_message_id, status, occurred_at, reason, message_id=our_id
    )
    if not update.found and our_id is not None and provider_message_id:
        update = apply_provider_status(
            session, channel, provider_message_id, status, occurred_at, reason
        )
    if not update.found:
        return "ignored: unknown message"
    return f"{status}: {'applied' if update.changed else 'not newer'}"

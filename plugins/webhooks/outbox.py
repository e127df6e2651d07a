"""The bridge from provider status events to core's outbox."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models.outbox import OutboundMessage


def find_message(
    session: Session,
    channel: str,
    *,
    message_id: int | str | None = None,
    provider_message_id: str | None = None,
) -> OutboundMessage | None:
    """The outbox row a provider event is about: by our id first, then by the provider's id.

    Our id only counts when the row is on *channel* and, if the provider named
    its own id too, the row carries that id or none yet.
    """
    if message_id is not None and str(message_id).isdigit():
        row = session.get(OutboundMessage, int(message_id))
        if row is not None and row.channel == channel:
            if not provider_message_id or row.provider_message_id in (None, provider_message_id):
                return row
    if provider_message_id:
        return session.scalars(
            select(OutboundMessage)
            .where(
                OutboundMessage.channel == channel,
                OutboundMessage.provider_message_id == provider_message_id,
            )
            .limit(1)
        ).first()
    return None


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
    """Move the matching outbox row forward to *status*; returns an outcome label."""
    row = find_message(
        session, channel, message_id=message_id, provider_message_id=provider_message_id
    )
    if row is None:
        return "ignored: unknown message"
    from core.messaging import outbox

    changed = outbox.apply_provider_status(
        session,
        row.id,
        status,
        provider_message_id=provider_message_id,
        reason=reason,
        occurred_at=occurred_at,
    )
    return f"{status}: {'applied' if changed else 'not newer'}"

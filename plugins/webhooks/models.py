"""The raw webhook event log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntPK, utcnow


class WebhookEvent(Base):
    """One event a provider told us about, stored as received before processing.

    ``event_key`` identifies the event at the provider (a WhatsApp message id,
    a status id + status, a SendGrid ``sg_event_id``, an SMSAPI ``MsgId`` +
    status); the unique constraint makes every replay a no-op.
    """

    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("provider", "event_key", name="uq_webhook_events_provider_key"),
        Index("ix_webhook_events_pending", "provider", "processed_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    event_key: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[dt.datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(200))

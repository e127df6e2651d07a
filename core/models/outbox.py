"""The transactional outbox: outbound messages and the templates they render.

An :class:`OutboundMessage` row is written in the same database transaction as
its cause (an appointment booked, a campaign launched...) and only then handed
to dramatiq.  Its ``status`` moves forward only (see :data:`STATUS_RANK`); every
status has its own timestamp column, and ``status_reason`` says why a message
was suppressed, deferred, failed or flagged.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, BigIntPK, JSONDocument, utcnow

if TYPE_CHECKING:
    from core.models.patient import Patient


class MessageStatus(StrEnum):
    """Where an outbound message is in its life."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    BOUNCED = "bounced"
    CANCELLED = "cancelled"


class MessagePurpose(StrEnum):
    """Why a message is sent; consent is given per channel *and* purpose."""

    CARE = "care"
    MARKETING = "marketing"


#: Order of the "progress" statuses; a status only ever moves to a higher rank.
STATUS_RANK: dict[str, int] = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.READ: 4,
}

#: Statuses a message never leaves on its own (an operator may retry a failed one).
TERMINAL_STATUSES: frozenset[str] = frozenset(
    {
        MessageStatus.FAILED,
        MessageStatus.SUPPRESSED,
        MessageStatus.BOUNCED,
        MessageStatus.CANCELLED,
    }
)

#: Statuses meaning "the provider accepted it" (counted by the marketing frequency cap).
ACCEPTED_STATUSES: frozenset[str] = frozenset(
    {MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ}
)

#: Template rows whose channel is this value serve every channel.
ANY_CHANNEL = "any"


class OutboundMessage(Base):
    """One message to one patient on one channel, and everything that happened to it."""

    __tablename__ = "outbound_messages"
    __table_args__ = (
        Index("ix_outbound_messages_due", "status", "scheduled_at"),
        Index("ix_outbound_messages_patient", "patient_id", "created_at"),
        Index("ix_outbound_messages_provider", "channel", "provider_message_id"),
        Index("ix_outbound_messages_campaign", "campaign_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    #: the channel chosen (or first wanted until the worker chooses)
    channel: Mapped[str] = mapped_column(String(16))
    #: comma-separated fallback order, e.g. ``whatsapp,sms,email`` (empty: only ``channel``)
    channel_order: Mapped[str | None] = mapped_column(String(120))
    purpose: Mapped[str] = mapped_column(String(16), default=MessagePurpose.CARE.value)
    template_key: Mapped[str | None] = mapped_column(String(120))
    locale: Mapped[str | None] = mapped_column(String(35))
    #: JSON-safe values the template may read as ``ctx.<name>``; ids such as ``appointment_id``
    context: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    #: a literal body (used when there is no template)
    body: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String(250))
    #: what was actually sent (rendered at send time), shown in the outbox view
    rendered_subject: Mapped[str | None] = mapped_column(String(250))
    rendered_body: Mapped[str | None] = mapped_column(Text)
    to_address: Mapped[str | None] = mapped_column(String(320))

    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.QUEUED.value)
    status_reason: Mapped[str | None] = mapped_column(String(500))
    #: set when we cannot know whether the provider delivered (crash mid-call, duplicate refused)
    needs_reconciliation: Mapped[bool] = mapped_column(Boolean, default=False)
    scheduled_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: when the row was last handed to the broker (NULL: waiting in the database)
    enqueued_at: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    #: id of a campaign row owned by a plugin (no FK: plugins own that table)
    campaign_id: Mapped[int | None]
    #: what caused it, e.g. ``appointment:42:reminder`` (ids only)
    cause: Mapped[str | None] = mapped_column(String(120))

    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    sending_at: Mapped[dt.datetime | None]
    sent_at: Mapped[dt.datetime | None]
    delivered_at: Mapped[dt.datetime | None]
    read_at: Mapped[dt.datetime | None]
    failed_at: Mapped[dt.datetime | None]
    suppressed_at: Mapped[dt.datetime | None]
    bounced_at: Mapped[dt.datetime | None]
    cancelled_at: Mapped[dt.datetime | None]

    #: for display (the outbox view joins it); services work with ``patient_id``
    patient: Mapped[Patient] = relationship(lazy="select", viewonly=True)

    @property
    def channels(self) -> list[str]:
        """The fallback order, starting with the wanted channel."""
        order = [c for c in (self.channel_order or "").split(",") if c]
        return order or [self.channel]

    def __repr__(self) -> str:  # ids and status only: reprs end up in logs
        return f"<OutboundMessage id={self.id} status={self.status}>"


class MessageTemplate(Base):
    """A message text per key, channel and locale, written by marketers.

    ``channel`` is a channel name or :data:`ANY_CHANNEL`.  Bodies are sandboxed
    Jinja2 (see :mod:`core.messaging.templates`).  For WhatsApp outside the
    24-hour window only a provider-approved template may be sent:
    ``provider_template`` names it and ``provider_params`` lists one Jinja
    expression per body parameter.
    """

    __tablename__ = "message_templates"
    __table_args__ = (
        UniqueConstraint("key", "channel", "locale", name="uq_message_templates_key_channel"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    key: Mapped[str] = mapped_column(String(120))
    channel: Mapped[str] = mapped_column(String(16), default=ANY_CHANNEL)
    locale: Mapped[str] = mapped_column(String(35))
    subject: Mapped[str | None] = mapped_column(String(250))
    body: Mapped[str] = mapped_column(Text)
    provider_template: Mapped[str | None] = mapped_column(String(200))
    provider_params: Mapped[list[Any]] = mapped_column(JSON, default=list)
    description: Mapped[str | None] = mapped_column(String(250))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<MessageTemplate id={self.id} key={self.key} locale={self.locale}>"

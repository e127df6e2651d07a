"""The contract between core's outbox and channel plugins (WhatsApp, e-mail, SMS).

A channel plugin returns :class:`Channel` objects from
``careloop_register_channels``.  The outbox actor has already checked consent
and policy when it calls :meth:`Channel.send`; the channel only talks to its
provider and classifies failures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from core.errors import CareLoopError


@dataclass(frozen=True)
class OutgoingMessage:
    """Everything a channel needs to send one message; no ORM objects."""

    message_id: int
    idempotency_key: str
    channel: str
    to: str
    purpose: str
    locale: str
    body: str | None = None
    subject: str | None = None
    #: provider-approved template (WhatsApp) name, language and parameters
    template_name: str | None = None
    template_language: str | None = None
    template_params: list[str] = field(default_factory=list)
    unsubscribe_url: str | None = None

    @property
    def is_marketing(self) -> bool:
        return self.purpose == "marketing"


@dataclass(frozen=True)
class SendResult:
    """What the provider answered: its id for the message, and the status it implies."""

    provider_message_id: str
    status: str = "sent"


class ChannelError(CareLoopError):
    """A channel could not send a message."""


class TransientChannelError(ChannelError):
    """Timeout, 5xx, rate limit: retry later with backoff."""


class PermanentChannelError(ChannelError):
    """Invalid number, unknown template, refused content: fail now, do not retry."""


class DuplicateSendRefused(ChannelError):
    """The provider refused because it already accepted this idempotency key."""


@runtime_checkable
class Channel(Protocol):
    """A way to reach patients, provided by a plugin."""

    #: ``whatsapp``, ``email`` or ``sms`` (a ``ConsentChannel`` value)
    name: str
    #: the ``ContactKind`` of the address it sends to (``phone``, ``email``, ``whatsapp``)
    contact_kind: str
    #: True when the provider itself refuses a second message with the same key
    provider_deduplicates: bool

    def send(self, message: OutgoingMessage) -> SendResult:
        """Send *message*; raise a :class:`ChannelError` subclass on failure."""
        ...

"""The console channel: embedded and demo mode, nothing leaves the machine.

With ``CARELOOP_CHANNEL_MODE=console`` (the default) every channel name is
served by a :class:`ConsoleChannel`.  "Delivering" means the outbox row gets
its rendered text, a ``console-<id>`` provider id and the ``delivered`` status,
so the message shows in the back office's outbox view.  It deduplicates on the
idempotency key like a careful provider would.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from core.messaging.channel import DuplicateSendRefused, OutgoingMessage, SendResult

logger = logging.getLogger(__name__)

#: channel name -> contact kind it sends to
CONSOLE_CHANNELS: dict[str, str] = {"whatsapp": "whatsapp", "sms": "phone", "email": "email"}
_REMEMBERED = 10_000


@dataclass(eq=False)
class ConsoleChannel:
    """A :class:`core.messaging.channel.Channel` that only records what it was given."""

    name: str
    contact_kind: str
    provider_deduplicates: bool = True
    _seen: OrderedDict[str, str] = field(default_factory=OrderedDict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def send(self, message: OutgoingMessage) -> SendResult:
        """Accept *message* once per idempotency key; "deliver" it at once."""
        with self._lock:
            if message.idempotency_key in self._seen:
                raise DuplicateSendRefused("console: this idempotency key was already accepted")
            provider_id = f"console-{message.message_id}"
            self._seen[message.idempotency_key] = provider_id
            while len(self._seen) > _REMEMBERED:
                self._seen.popitem(last=False)
        logger.info("console %s delivery of message %s", self.name, message.message_id)
        return SendResult(provider_message_id=provider_id, status="delivered")


def console_channels() -> dict[str, ConsoleChannel]:
    """One console channel per channel name."""
    return {name: ConsoleChannel(name, kind) for name, kind in CONSOLE_CHANNELS.items()}

"""The ``sms`` channel on SMSAPI's official client."""

from __future__ import annotations

import hashlib
from typing import Any

import requests
from smsapi.client import Client
from smsapi.exception import EndpointException, SendException, SmsApiException

from core.config import Config
from core.errors import ConfigurationError
from core.messaging.channel import (
    DuplicateSendRefused,
    OutgoingMessage,
    PermanentChannelError,
    SendResult,
    TransientChannelError,
)
from plugins.webhooks.channel_base import ConfiguredChannel, http_error

#: SMSAPI: "message with the same idx was already sent" (with ``check_idx=1``)
ERROR_DUPLICATE_IDX = 53
#: SMSAPI error codes for a temporary problem on their side
TRANSIENT_CODES = frozenset({8, 201, 202, 203, 999, 1000, 1001})


def sms_idx(message: OutgoingMessage) -> str:
    """SMSAPI's ``idx`` for *message*: our row id, ``k``, a digest of the idempotency key.

    Letters and digits only (what SMSAPI accepts).  The row id lets delivery
    reports find the row; the digest keeps ids from a reset database from
    colliding with old ones under ``check_idx``.
    """
    digest = hashlib.sha256(message.idempotency_key.encode("utf-8")).hexdigest()[:20]
    return f"{message.message_id}k{digest}"


def message_id_of_idx(idx: str | None) -> int | None:
    """Our row id inside an ``idx`` (also accepts a bare number)."""
    head = (idx or "").strip().split("k", 1)[0]
    return int(head) if head.isdigit() else None


def callback_url(config: Config) -> str | None:
    """Our delivery-report URL, when a public URL and a callback secret are set."""
    if not (config.public_url and config.smsapi_callback_secret):
        return None
    return f"{config.public_url.rstrip('/')}/webhooks/smsapi/{config.smsapi_callback_secret}"


def classify(exc: Exception) -> Exception:
    """Map an SMSAPI or network failure to the channel error family."""
    if isinstance(exc, requests.Timeout):
        return TransientChannelError("SMSAPI timed out")
    if isinstance(exc, requests.RequestException):
        return TransientChannelError(f"SMSAPI unreachable ({type(exc).__name__})")
    code = getattr(exc, "code", None)
    if isinstance(exc, SendException):
        if code == ERROR_DUPLICATE_IDX:
            return DuplicateSendRefused("SMSAPI already accepted this idx (error 53)")
        label = f"SMSAPI error {code}"
        if code in TRANSIENT_CODES:
            return TransientChannelError(label)
        return PermanentChannelError(label)
    if isinstance(exc, EndpointException):
        return http_error("SMSAPI", code if isinstance(code, int) else 0)
    return PermanentChannelError(f"SMSAPI client error ({type(exc).__name__})")


class SmsChannel(ConfiguredChannel):
    """Sends one SMS per outbox row; SMSAPI refuses a repeated ``idx``."""

    name = "sms"
    contact_kind = "phone"
    provider_deduplicates = True

    def build_client(self, config: Config) -> Client:
        if not (config.smsapi_url and config.smsapi_token):
            raise ConfigurationError("SMS needs CARELOOP_SMSAPI_URL and CARELOOP_SMSAPI_TOKEN")
        base = config.smsapi_url if config.smsapi_url.endswith("/") else config.smsapi_url + "/"
        return Client(base, access_token=config.smsapi_token)

    def parameters(self, message: OutgoingMessage, config: Config) -> dict[str, Any]:
        """The ``sms.do`` parameters for *message*."""
        if not message.body:
            raise PermanentChannelError("an SMS needs a body")
        params: dict[str, Any] = {
            "to": message.to.lstrip("+"),
            "message": message.body,
            "encoding": "utf-8",
            "idx": sms_idx(message),
            "check_idx": 1,
            "timeout": config.channel_timeout,
        }
        if config.sms_sender:
            params["from_"] = config.sms_sender
        notify = callback_url(config)
        if notify:
            params["notify_url"] = notify
        return params

    def send(self, message: OutgoingMessage) -> SendResult:
        config = self.config
        params = self.parameters(message, config)
        client = self.client()
        try:
            result = client.sms.send(**params)
        except (SmsApiException, requests.RequestException) as exc:
            raise classify(exc) from exc
        try:
            provider_id = str(result.results[0].id)
        except (AttributeError, IndexError) as exc:
            raise TransientChannelError("SMSAPI answered without a message id") from exc
        return SendResult(provider_message_id=provider_id, status="sent")


CHANNEL = SmsChannel()

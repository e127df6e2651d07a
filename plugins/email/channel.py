"""The ``email`` channel on SendGrid's official client."""

from __future__ import annotations

import socket
import urllib.error
from typing import Any

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import CustomArg, Header, Mail

from core.config import Config
from core.errors import ConfigurationError
from core.messaging.channel import (
    OutgoingMessage,
    PermanentChannelError,
    SendResult,
    TransientChannelError,
)
from plugins.email.unsubscribe import unsubscribe_url
from plugins.webhooks.channel_base import ConfiguredChannel, http_error

#: the ``custom_args`` key that brings our outbox id back in every event
MESSAGE_ID_ARG = "careloop_message_id"


def mail_document(message: OutgoingMessage, config: Config) -> dict[str, Any]:
    """The v3 ``mail/send`` body: text, our id in ``custom_args``, one-click unsubscribe."""
    if not message.body:
        raise PermanentChannelError("an e-mail needs a body")
    if not config.email_from:
        raise ConfigurationError("e-mail needs CARELOOP_EMAIL_FROM")
    mail = Mail(
        from_email=config.email_from,
        to_emails=message.to,
        subject=message.subject or "",
        plain_text_content=message.body,
    )
    mail.custom_arg = [CustomArg(MESSAGE_ID_ARG, str(message.message_id))]
    if message.is_marketing:
        url = message.unsubscribe_url or (
            unsubscribe_url(config, message.message_id) if config.public_url else None
        )
        if not url:
            raise ConfigurationError("marketing e-mail needs CARELOOP_PUBLIC_URL for unsubscribe")
        mail.header = [
            Header("List-Unsubscribe", f"<{url}>"),
            Header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ]
    return mail.get()


def classify(exc: Exception) -> Exception:
    """Map a SendGrid or network failure to the channel error family."""
    if isinstance(exc, HTTPError):
        return http_error("SendGrid", int(getattr(exc, "status_code", 0) or 0))
    if isinstance(exc, socket.timeout | TimeoutError):
        return TransientChannelError("SendGrid timed out")
    return TransientChannelError(f"SendGrid unreachable ({type(exc).__name__})")


class EmailChannel(ConfiguredChannel):
    """Sends one e-mail per outbox row through SendGrid."""

    name = "email"
    contact_kind = "email"
    #: SendGrid has no idempotency key: a lost answer may mean a sent message
    provider_deduplicates = False

    def build_client(self, config: Config) -> SendGridAPIClient:
        if not (config.sendgrid_api_key and config.sendgrid_host):
            raise ConfigurationError(
                "e-mail needs CARELOOP_SENDGRID_API_KEY and CARELOOP_SENDGRID_HOST"
            )
        client = SendGridAPIClient(api_key=config.sendgrid_api_key, host=config.sendgrid_host)
        client.client.timeout = config.channel_timeout  # the client has none by default
        return client

    def send(self, message: OutgoingMessage) -> SendResult:
        config = self.config
        document = mail_document(message, config)
        client = self.client()
        try:
            response = client.send(document)
        except (HTTPError, urllib.error.URLError, OSError) as exc:
            raise classify(exc) from exc
        provider_id = response.headers.get("X-Message-Id") if response.headers else None
        if not provider_id:
            raise TransientChannelError("SendGrid answered without X-Message-Id")
        return SendResult(provider_message_id=str(provider_id), status="sent")


CHANNEL = EmailChannel()

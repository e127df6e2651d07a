"""A small WhatsApp Cloud API client (core's provider HTTP client) and the channel built on it."""

from __future__ import annotations

from typing import Any

import httpx

from core.config import Config
from core.errors import ConfigurationError
from core.messaging.channel import (
    OutgoingMessage,
    PermanentChannelError,
    SendResult,
    TransientChannelError,
)
from core.messaging.http import ProviderHTTP
from plugins.webhooks.channel_base import ConfiguredChannel, http_error

#: Graph error codes that mean "slow down", not "this message is wrong"
RATE_LIMIT_CODES = frozenset({4, 80007, 130429, 131048, 131056})
#: Graph error codes for a temporary problem on Meta's side
TEMPORARY_CODES = frozenset({1, 2, 131000, 131016, 133004})


class WhatsAppClient:
    """Sends message documents to ``POST {api_url}/{phone_number_id}/messages``."""

    def __init__(
        self,
        api_url: str,
        token: str,
        phone_number_id: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not (api_url and token and phone_number_id):
            raise ConfigurationError(
                "WhatsApp needs CARELOOP_WHATSAPP_API_URL, CARELOOP_WHATSAPP_TOKEN and "
                "CARELOOP_WHATSAPP_PHONE_NUMBER_ID"
            )
        self.phone_number_id = phone_number_id
        self._http = ProviderHTTP(
            api_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )
        self._messages_url = self._http.url(f"{phone_number_id}/messages")

    def send(self, document: dict[str, Any]) -> str:
        """Post one message document; return its ``wamid`` or raise a channel error."""
        try:
            response = self._http.post_json(self._messages_url, document)
        except httpx.TimeoutException as exc:
            raise TransientChannelError("WhatsApp API timed out") from exc
        except httpx.TransportError as exc:
            raise TransientChannelError(f"WhatsApp API unreachable ({type(exc).__name__})") from exc
        if response.status_code >= 400:
            raise classify_error(response)
        try:
            return str(response.json()["messages"][0]["id"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise TransientChannelError("WhatsApp API answered without a message id") from exc

    def close(self) -> None:
        self._http.close()


def classify_error(response: httpx.Response) -> Exception:
    """Map a Graph error answer to a transient or permanent channel error."""
    try:
        code = int(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        code = 0
    label = f"WhatsApp API error {code or '?'}"
    if code in RATE_LIMIT_CODES or code in TEMPORARY_CODES:
        return TransientChannelError(f"{label} HTTP {response.status_code}")
    return http_error(label, response.status_code)


def message_document(message: OutgoingMessage) -> dict[str, Any]:
    """The Cloud API document for *message*: an approved template, or a text."""
    document: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": message.to.lstrip("+"),
        # comes back in every status webhook: the outbox row's id
        "biz_opaque_callback_data": str(message.message_id),
    }
    if message.template_name:
        template: dict[str, Any] = {
            "name": message.template_name,
            "language": {"code": message.template_language or message.locale},
        }
        if message.template_params:
            template["components"] = [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": p} for p in message.template_params],
                }
            ]
        document.update(type="template", template=template)
    elif message.body:
        document.update(type="text", text={"body": message.body, "preview_url": False})
    else:
        raise PermanentChannelError("a WhatsApp message needs a template or a body")
    return document


class WhatsAppChannel(ConfiguredChannel):
    """The ``whatsapp`` channel; reads its settings from the process runtime's config."""

    name = "whatsapp"
    contact_kind = "whatsapp"
    #: the Cloud API has no idempotency key: a lost answer may mean a sent message
    provider_deduplicates = False

    def build_client(self, config: Config) -> WhatsAppClient:
        return WhatsAppClient(
            config.whatsapp_api_url,
            config.whatsapp_token,
            config.whatsapp_phone_number_id,
            timeout=config.channel_timeout,
        )

    def send(self, message: OutgoingMessage) -> SendResult:
        wamid = self.client().send(message_document(message))
        return SendResult(provider_message_id=wamid, status="sent")


CHANNEL = WhatsAppChannel()

"""WhatsApp through the Cloud API: a channel and its webhook.

Sends text and approved template messages over a small httpx client (base
URL configurable with ``CARELOOP_WHATSAPP_API_URL``), and receives status
updates and replies at ``/webhooks/whatsapp``.  Used in live mode only
(``CARELOOP_CHANNEL_MODE=live``); in console mode core keeps messages in the
outbox view.
"""

from __future__ import annotations

from typing import Any

from core import Manifest, hookimpl

manifest = Manifest(
    name="whatsapp",
    version="0.1.0",
    summary="WhatsApp Cloud API channel: template and text messages, statuses, replies",
    depends=("webhooks",),
    default_enabled=True,
)


@hookimpl
def careloop_register_channels() -> list[Any]:
    from plugins.whatsapp.client import CHANNEL

    return [CHANNEL]


@hookimpl
def careloop_register_blueprints() -> list[Any]:
    from plugins.whatsapp.views import blueprint

    return [blueprint]

"""SMS through SMSAPI: a channel (``smsapi-client``) and its callbacks.

Sends with ``idx`` = our message id and ``check_idx=1``, so SMSAPI itself
refuses a second message for the same outbox row (error 53).  Delivery
reports and inbound SMS arrive at ``/webhooks/smsapi/<secret>``
(``CARELOOP_SMSAPI_CALLBACK_SECRET``).  Used in live mode only.
"""

from __future__ import annotations

from typing import Any

from core import Manifest, hookimpl

manifest = Manifest(
    name="sms",
    version="0.1.0",
    summary="SMSAPI channel: SMS with provider-side idempotency, delivery reports, replies",
    depends=("webhooks",),
    default_enabled=True,
)


@hookimpl
def careloop_register_channels() -> list[Any]:
    from plugins.sms.channel import CHANNEL

    return [CHANNEL]


@hookimpl
def careloop_register_blueprints() -> list[Any]:
    from plugins.sms.views import blueprint

    return [blueprint]

"""E-mail through SendGrid: a channel, the Event Webhook and one-click unsubscribe.

Sends with the official ``sendgrid`` client (``CARELOOP_SENDGRID_HOST`` can
point it elsewhere), puts our message id in ``custom_args`` and, on marketing
mail, ``List-Unsubscribe`` + ``List-Unsubscribe-Post`` (RFC 8058) headers
pointing at ``/unsubscribe/<token>``.  Signed events arrive at
``/webhooks/sendgrid``.  Used in live mode only.
"""

from __future__ import annotations

from typing import Any

from core import Manifest, hookimpl

manifest = Manifest(
    name="email",
    version="0.1.0",
    summary="SendGrid e-mail channel: signed event webhook, bounces, one-click unsubscribe",
    depends=("webhooks",),
    default_enabled=True,
)


@hookimpl
def careloop_register_channels() -> list[Any]:
    from plugins.email.channel import CHANNEL

    return [CHANNEL]


@hookimpl
def careloop_register_blueprints() -> list[Any]:
    from plugins.email.views import blueprint

    return [blueprint]

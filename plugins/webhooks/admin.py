"""Back-office view of the raw webhook log (admins only; payloads are never shown)."""

# ruff: noqa: RUF012  (Flask-Admin views are configured by class attributes)
from __future__ import annotations

from typing import Any

from flask_admin.contrib.sqla import filters as f

from admin.views.base import CareLoopModelView
from core.i18n import lazy_gettext
from plugins.webhooks.models import WebhookEvent


class WebhookEventView(CareLoopModelView):
    """What providers told us and what processing did with it; no payload column."""

    permission = None  # admins only
    can_create = can_edit = False
    column_list = ("received_at", "provider", "kind", "event_key", "processed_at", "outcome")
    column_labels = {
        "received_at": lazy_gettext("Received"),
        "provider": lazy_gettext("Provider"),
        "kind": lazy_gettext("Kind"),
        "event_key": lazy_gettext("Event key"),
        "processed_at": lazy_gettext("Processed"),
        "outcome": lazy_gettext("Outcome"),
    }
    column_default_sort = ("received_at", True)
    column_sortable_list = ("received_at", "processed_at")
    column_filters = (
        "provider",
        "kind",
        "outcome",
        f.DateTimeGreaterFilter(WebhookEvent.received_at, lazy_gettext("After")),
        f.DateTimeSmallerFilter(WebhookEvent.received_at, lazy_gettext("Before")),
    )
    column_searchable_list = ("event_key",)


def views(db: Any) -> list[Any]:
    return [
        WebhookEventView(
            WebhookEvent,
            db,
            name=lazy_gettext("Webhook events"),
            endpoint="webhook_events",
        )
    ]

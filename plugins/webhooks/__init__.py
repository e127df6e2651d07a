"""Shared plumbing of the channel plugins (WhatsApp, e-mail, SMS).

* a log of raw provider webhook events, written **before** they are processed,
  unique per (provider, event key) so replays and repeated deliveries are
  dropped at the door;
* inbound replies: find the patient by phone (or create a lead), log the
  interaction, honour opt-out keywords;
* the bridge to core's outbox for provider status updates.

The channel plugins declare ``depends=("webhooks",)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core import Manifest, hookimpl

manifest = Manifest(
    name="webhooks",
    version="0.1.0",
    summary="Provider webhook log with de-duplication, inbound replies and opt-out keywords",
    default_enabled=True,
)


@hookimpl
def careloop_register_migrations() -> str:
    return str(Path(__file__).parent / "migrations")


@hookimpl
def careloop_register_models() -> list[type]:
    from plugins.webhooks.models import WebhookEvent

    return [WebhookEvent]


#: when processed raw events are purged (clinic time): a quiet hour
PURGE_SCHEDULE = "40 2 * * *"


@hookimpl
def careloop_register_periodic_tasks() -> list[Any]:
    from core.periodic import PeriodicTask
    from plugins.webhooks.actors import purge_old_events

    return [PeriodicTask("webhooks.purge", PURGE_SCHEDULE, purge_old_events)]


@hookimpl
def careloop_register_cli_commands() -> list[Any]:
    from plugins.webhooks.cli import webhooks

    return [webhooks]


@hookimpl
def careloop_register_admin_views(admin: Any, db: Any) -> list[Any]:
    if not hasattr(db, "session"):  # not a Flask-SQLAlchemy(-Lite) extension
        return []
    from plugins.webhooks.admin import views

    return views(db)

"""E-mail background jobs: process stored SendGrid events (ids in, idempotent)."""

from __future__ import annotations

from core.runtime import CareLoop
from core.tasks import plugin_actor
from plugins.email.services import handle_event
from plugins.webhooks.services import run_events


@plugin_actor("email", max_retries=10, min_backoff=1_000, max_backoff=300_000)
def process_events(runtime: CareLoop, event_ids: list[int]) -> None:
    run_events(runtime, event_ids, handle_event)

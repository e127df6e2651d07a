"""Background jobs of the shared webhook plumbing."""

from __future__ import annotations

from core.runtime import CareLoop
from core.tasks import plugin_actor
from plugins.webhooks.confirmations import send_confirmation


@plugin_actor("webhooks", max_retries=8, min_backoff=1_000, max_backoff=600_000)
def send_optout_confirmation(runtime: CareLoop, outbound_id: int) -> None:
    send_confirmation(runtime, outbound_id)

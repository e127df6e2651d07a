"""Background jobs of the shared webhook plumbing."""

from __future__ import annotations

import datetime as dt
import logging

from core.runtime import CareLoop
from core.tasks import plugin_actor
from plugins.webhooks.confirmations import send_confirmation

logger = logging.getLogger(__name__)


@plugin_actor("webhooks", max_retries=8, min_backoff=1_000, max_backoff=600_000)
def send_optout_confirmation(runtime: CareLoop, outbound_id: int) -> None:
    send_confirmation(runtime, outbound_id)


@plugin_actor("webhooks", max_retries=3)
def purge_old_events(runtime: CareLoop) -> None:
    """Nightly: delete processed raw events older than ``CARELOOP_WEBHOOK_RETENTION_DAYS``."""
    from plugins.webhooks.services import purge_processed

    days = runtime.config.webhook_retention_days
    with runtime.transaction() as session:
        count = purge_processed(session, older_than=dt.timedelta(days=days))
    logger.info("webhooks: purged %d processed event(s) older than %d days", count, days)

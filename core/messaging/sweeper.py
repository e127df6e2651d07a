"""The sweeper: recover messages a crash left behind.

* ``queued`` rows handed to the broker long ago (``CARELOOP_OUTBOX_STUCK_AFTER``
  seconds) and never taken — the broker lost the job, or the process died
  between commit and enqueue — are enqueued again.  Duplicate jobs are
  harmless: the send actor only acts on a row it claims itself.
* ``sending`` rows older than that — a worker died during the provider call —
  are enqueued again **only if the channel's provider deduplicates** on our
  idempotency key (it will refuse a second copy); otherwise they are marked
  ``failed`` with ``needs_reconciliation`` so staff can check with the
  provider.  They are never silently sent twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from core.db import utcnow
from core.messaging.outbox import emit_status, send_to_broker, stuck_queued_filter
from core.messaging.registry import channels_of
from core.models.outbox import MessageStatus, OutboundMessage

if TYPE_CHECKING:
    from core.runtime import CareLoop

logger = logging.getLogger(__name__)

INTERRUPTED_REQUEUED = "requeued_after_interrupted_send"
INTERRUPTED_UNKNOWN = "interrupted_send:provider_cannot_deduplicate"


@dataclass(frozen=True)
class SweepReport:
    """What one sweep did."""

    requeued_queued: int = 0
    requeued_sending: int = 0
    flagged: int = 0


def _requeue_stuck_queued(runtime: CareLoop, now: dt.datetime, stuck: dt.timedelta) -> int:
    with runtime.transaction() as session:
        ids = session.scalars(
            update(OutboundMessage)
            .where(stuck_queued_filter(now, stuck))
            .values(enqueued_at=now)
            .returning(OutboundMessage.id)
            .execution_options(synchronize_session=False)
        ).all()
    return send_to_broker([(mid, 0) for mid in ids]) if ids else 0


def _recover_sending(runtime: CareLoop, now: dt.datetime, stuck: dt.timedelta) -> tuple[int, int]:
    channels = channels_of(runtime)
    limit = now - stuck
    requeue: list[int] = []
    flagged = 0
    with runtime.transaction() as session:
        rows = session.execute(
            select(OutboundMessage.id, OutboundMessage.channel, OutboundMessage.sending_at).where(
                OutboundMessage.status == MessageStatus.SENDING,
                OutboundMessage.sending_at < limit,
            )
        ).all()
        for mid, channel_name, sending_at in rows:
            channel = channels.get(channel_name)
            dedupes = bool(channel is not None and channel.provider_deduplicates)
            values: dict[str, object] = {"updated_at": now}
            if dedupes:
                values |= {
                    "status": MessageStatus.QUEUED.value,
                    "status_reason": INTERRUPTED_REQUEUED,
                    "scheduled_at": now,
                    "enqueued_at": now,
                }
            else:
                values |= {
                    "status": MessageStatus.FAILED.value,
                    "status_reason": INTERRUPTED_UNKNOWN,
                    "failed_at": now,
                    "needs_reconciliation": True,
                }
            done = session.execute(
                update(OutboundMessage)
                .where(
                    OutboundMessage.id == mid,
                    OutboundMessage.status == MessageStatus.SENDING,
                    OutboundMessage.sending_at == sending_at,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]  # the worker finished meanwhile
                continue
            if dedupes:
                requeue.append(mid)
            else:
                flagged += 1
                row = session.get(OutboundMessage, mid)
                if row is not None:
                    emit_status(
                        session, mid, row.patient_id, row.channel, "failed", row.campaign_id
                    )
    if flagged:
        logger.warning("%d interrupted send(s) need reconciliation with the provider", flagged)
    return (send_to_broker([(mid, 0) for mid in requeue]) if requeue else 0), flagged


def sweep(
    runtime: CareLoop, *, now: dt.datetime | None = None, stuck_after: float | None = None
) -> SweepReport:
    """Run both recoveries once."""
    now = now or utcnow()
    stuck = dt.timedelta(
        seconds=runtime.config.outbox_stuck_after if stuck_after is None else stuck_after
    )
    queued = _requeue_stuck_queued(runtime, now, stuck)
    sending, flagged = _recover_sending(runtime, now, stuck)
    return SweepReport(queued, sending, flagged)

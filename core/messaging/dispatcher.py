"""The dispatcher: hand rows that became due to the broker.

Messages due later than :data:`core.messaging.outbox.BROKER_HORIZON` wait in
the database (``enqueued_at`` is NULL), not in broker delays.  ``careloop
worker`` calls :func:`dispatch_due` periodically; several workers may do so at
once: a row is marked ``enqueued_at`` by exactly one of them (``UPDATE ...
WHERE enqueued_at IS NULL RETURNING``; rows are picked with ``SKIP LOCKED`` on
PostgreSQL), and the send actor is idempotent anyway.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from core.db import utcnow
from core.messaging.outbox import due_filter, send_to_broker
from core.models.outbox import OutboundMessage

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from core.runtime import CareLoop


def _delay_ms(scheduled_at: dt.datetime, now: dt.datetime) -> int:
    return max(0, int((scheduled_at - now).total_seconds() * 1000))


def claim_due(session: Session, now: dt.datetime, limit: int) -> list[tuple[int, int]]:
    """Mark up to *limit* due rows as enqueued; return (id, delay ms) for each."""
    query = (
        select(OutboundMessage.id)
        .where(due_filter(now))
        .order_by(OutboundMessage.scheduled_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(session.scalars(query))
    if not ids:
        return []
    rows = session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.id.in_(ids), OutboundMessage.enqueued_at.is_(None))
        .values(enqueued_at=now)
        .returning(OutboundMessage.id, OutboundMessage.scheduled_at)
        .execution_options(synchronize_session=False)
    ).all()
    return [(mid, _delay_ms(when, now)) for mid, when in rows]


def dispatch_due(
    runtime: CareLoop, *, now: dt.datetime | None = None, batch: int = 1000, max_batches: int = 50
) -> int:
    """Enqueue every row due within the horizon; returns how many were handed over."""
    now = now or utcnow()
    total = 0
    for _ in range(max_batches):
        with runtime.transaction() as session:
            jobs = claim_due(session, now, batch)
        if not jobs:
            break
        total += send_to_broker(jobs)
        if len(jobs) < batch:
            break
    return total

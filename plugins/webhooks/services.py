"""Record provider events once, process each once.

A webhook view verifies the request, calls :func:`record_events` in one short
transaction (the raw events are now safe), answers the provider and queues the
new event ids.  An actor then calls :func:`process_event` for each; it is
idempotent, so a retried or re-queued job changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.db import utcnow
from core.runtime import CareLoop
from plugins.webhooks.models import WebhookEvent

#: what a provider-specific handler does with one event; returns an outcome label
Handler = Callable[[Session, WebhookEvent], str | None]


#: provider -> (owning plugin, handler); filled by each channel plugin's services module
HANDLERS: dict[str, tuple[str, Handler]] = {}


def register_handler(provider: str, plugin: str, handler: Handler) -> None:
    """Declare how *plugin* processes *provider*'s stored events (for re-processing)."""
    HANDLERS[provider] = (plugin, handler)


@dataclass(frozen=True)
class IncomingEvent:
    """One event parsed out of a webhook request, not yet stored."""

    key: str
    kind: str
    payload: dict[str, Any]


def digest_key(payload: Any) -> str:
    """A stable key for events that carry no id of their own."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def record_events(session: Session, provider: str, events: Iterable[IncomingEvent]) -> list[int]:
    """Store events not seen before; return the ids of the new rows only.

    Uses ``INSERT ... ON CONFLICT DO NOTHING`` on (provider, event_key), so two
    deliveries of the same event racing each other store it once.
    """
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    new_ids: list[int] = []
    seen: set[str] = set()
    for event in events:
        key = event.key[:255]
        if key in seen:
            continue
        seen.add(key)
        statement = (
            insert(WebhookEvent)
            .values(
                provider=provider,
                event_key=key,
                kind=event.kind[:40],
                payload=event.payload,
                received_at=now,
            )
            .on_conflict_do_nothing(index_elements=["provider", "event_key"])
            .returning(WebhookEvent.id)
        )
        new_id = session.execute(statement).scalar()
        if new_id is not None:
            new_ids.append(new_id)
    return new_ids


def process_event(session: Session, event_id: int, handler: Handler) -> str | None:
    """Run *handler* on one unprocessed event inside the caller's transaction.

    Returns the outcome, or ``None`` when the event is unknown or already done.
    On PostgreSQL the row is locked so two workers cannot process it together.
    """
    query = select(WebhookEvent).where(
        WebhookEvent.id == event_id, WebhookEvent.processed_at.is_(None)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    event = session.scalars(query).first()
    if event is None:
        return None
    outcome = handler(session, event) or "ok"
    event.processed_at = utcnow()
    event.outcome = outcome[:200]
    return event.outcome


def run_events(runtime: CareLoop, event_ids: Iterable[int], handler: Handler) -> None:
    """Process each event in its own transaction, then send any opt-out confirmations."""
    from plugins.webhooks.actors import send_optout_confirmation
    from plugins.webhooks.confirmations import take_pending

    for event_id in event_ids:
        with runtime.transaction() as session:
            process_event(session, event_id, handler)
        for outbound_id in take_pending(session):
            send_optout_confirmation.send(outbound_id)


def reprocess_pending(runtime: CareLoop, *, older_than: dt.timedelta) -> dict[str, int]:
    """Process events the queue lost (stored, never processed) for enabled plugins."""
    done: dict[str, int] = {}
    runtime.plugins.refresh(force=True)
    for provider, (plugin, handler) in sorted(HANDLERS.items()):
        if plugin not in runtime.plugins.enabled:
            continue
        with runtime.session() as session:
            ids = pending_event_ids(session, provider, older_than=older_than)
        run_events(runtime, ids, handler)
        done[provider] = len(ids)
    return done


def pending_event_ids(
    session: Session, provider: str, *, older_than: dt.timedelta = dt.timedelta(minutes=5)
) -> list[int]:
    """Events received a while ago and still unprocessed (the queue lost them)."""
    cutoff = utcnow() - older_than
    return list(
        session.scalars(
            select(WebhookEvent.id)
            .where(
                WebhookEvent.provider == provider,
                WebhookEvent.processed_at.is_(None),
                WebhookEvent.received_at < cutoff,
            )
            .order_by(WebhookEvent.id)
            .limit(1000)
        )
    )


def purge_processed(session: Session, *, older_than: dt.timedelta) -> int:
    """Delete processed events received before ``now - older_than`` (raw payloads hold
    phone numbers and message texts: keep them only as long as needed).

    A purged event's key is forgotten, so keep *older_than* well beyond how
    long providers retry (days, not hours).
    """
    cutoff = utcnow() - older_than
    result = session.execute(
        delete(WebhookEvent).where(
            WebhookEvent.processed_at.is_not(None), WebhookEvent.received_at < cutoff
        )
    )
    return int(result.rowcount or 0)

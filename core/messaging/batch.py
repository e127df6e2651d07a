"""Sending a batch of outbox rows in one job (campaigns, bulk reminders).

:func:`core.messaging.outbox.enqueue_bulk` hands ids to the broker in groups of
:data:`BATCH_SIZE`, one ``messaging.send_messages`` job per group.  Per batch:

1. one transaction reads the queued rows, their patients and every policy
   fact (one query for all), decides and renders; suppressed, deferred and
   unrenderable rows are recorded there;
2. then, chunk by chunk, the rows are claimed (``queued`` -> ``sending``, with
   their rendered text), sent and their provider answers recorded.  A chunk
   is up to :data:`CHUNK` messages of a channel whose provider deduplicates on
   our key (after a crash the sweeper re-queues them and the provider refuses
   any copy), claimed by one conditional ``UPDATE`` and recorded by another
   (on PostgreSQL ``UPDATE ... FROM unnest(...) RETURNING``: one statement
   whatever the chunk's size); for other providers it is one message, claimed
   by a single autocommitted conditional ``UPDATE`` right before its call and
   recorded right after, so only the one message in flight can need
   reconciliation.

The policy is thus checked at most one batch duration before each send, and the
same idempotency rules hold as for :func:`core.messaging.sender.process_message`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import BigInteger, String, bindparam, case, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from core.config import CONFIG_KEY
from core.db import utcnow
from core.messaging import policy, sender
from core.messaging.channel import SendResult
from core.messaging.outbox import emit_status
from core.models import Patient
from core.models.outbox import MessageStatus, OutboundMessage

if TYPE_CHECKING:
    from sqlalchemy import Update
    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import Session

    from core.runtime import CareLoop

BATCH_SIZE = 50
#: messages of a deduplicating provider claimed, sent and recorded together (others: one).
#: A whole batch: the claim and record transactions cost about as much CPU for one row
#: as for fifty (a tenth of a millisecond per message at 10).  Even if every call hit
#: the default 10 s channel timeout, a chunk stays ``sending`` less than the sweeper's
#: default ``CARELOOP_OUTBOX_STUCK_AFTER`` (600 s); were it longer, the re-queued copies
#: would be refused by the provider, never sent twice.
CHUNK = BATCH_SIZE


@dataclass
class _Sent:
    plan: sender.Plan
    result: SendResult | None
    error: BaseException | None


def _plan_batch(runtime: CareLoop, session: Session, ids: Sequence[int]) -> list[sender.Plan]:
    now = utcnow()
    rows = list(
        session.scalars(
            select(OutboundMessage)
            .where(OutboundMessage.id.in_(list(ids)), OutboundMessage.status == "queued")
            .order_by(OutboundMessage.id)
        )
    )
    due = []
    for row in rows:
        if row.scheduled_at > now:
            sender._requeue(session, row, row.scheduled_at, row.status_reason or "not_due")
        else:
            due.append(row)
    if not due:
        return []
    patients = {
        p.id: p
        for p in session.scalars(
            select(Patient).where(Patient.id.in_({row.patient_id for row in due}))
        )
    }
    cap = policy.parse_frequency_cap(runtime.config.marketing_cap)
    facts = policy.recipients_facts(
        session, patients, {row.purpose for row in due}, now=now, cap=cap
    )
    plans = []
    for row in due:
        patient = patients.get(row.patient_id)
        recipient = (
            facts[(row.patient_id, row.purpose)]
            if patient is not None
            else policy.Recipient(row.patient_id, active=False)
        )
        plan = sender.plan_message(runtime, session, row, patient, recipient, now)
        if plan is not None:
            plans.append(plan)
    return plans


def _claim(autocommit: Connection, plan: sender.Plan) -> bool:
    now = utcnow()
    done = autocommit.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.id == plan.outgoing.message_id,
            OutboundMessage.status == MessageStatus.QUEUED,
        )
        .values(
            status=MessageStatus.SENDING.value,
            attempts=OutboundMessage.attempts + 1,
            sending_at=now,
            updated_at=now,
            **plan.values,
        )
    )
    return done.rowcount == 1


def _claim_many(session: Session, plans: list[sender.Plan]) -> list[sender.Plan]:
    """Claim every plan in one transaction; returns the plans this worker won."""
    if not plans:
        return []
    with session.begin():
        won = _claim_rows(session, plans, utcnow())
    return [plan for plan in plans if plan.outgoing.message_id in won]


def _claim_rows(session: Session, plans: list[sender.Plan], now: dt.datetime) -> set[int]:
    """``queued`` -> ``sending`` with the rendered text; returns the ids this call moved."""
    ids = [plan.outgoing.message_id for plan in plans]
    if session.get_bind().dialect.name == "postgresql":
        params: dict[str, Any] = {"now": now, "ids": ids}
        for name in _CLAIMED:
            params[name] = [plan.values[name] for plan in plans]
        return set(session.scalars(_pg_claim(), params))
    table = OutboundMessage.__table__
    session.execute(
        update(table)
        .where(table.c.id == bindparam("mid"), table.c.status == MessageStatus.QUEUED)
        .values(
            status=MessageStatus.SENDING.value,
            attempts=table.c.attempts + 1,
            sending_at=now,
            updated_at=now,
            status_reason=None,
            **{name: bindparam(f"v_{name}") for name in _CLAIMED},
        ),
        [
            {"mid": plan.outgoing.message_id}
            | {f"v_{name}": plan.values[name] for name in _CLAIMED}
            for plan in plans
        ],
    )
    return set(
        session.scalars(
            select(OutboundMessage.id).where(
                OutboundMessage.id.in_(ids),
                OutboundMessage.status == MessageStatus.SENDING,
                OutboundMessage.sending_at == now,
            )
        )
    )


#: the columns a claim writes from each plan (besides status and counters)
_CLAIMED = ("channel", "to_address", "locale", "rendered_subject", "rendered_body")


@functools.cache
def _pg_claim() -> Update:
    """PostgreSQL: the claim of a whole chunk as one ``UPDATE ... FROM unnest(...)``.

    Built once: one array parameter per column keeps the SQL text the same for
    any chunk size, so SQLAlchemy's compiled cache and the server's prepared
    statement are reused; ``RETURNING`` says which rows this worker won.
    """
    table = OutboundMessage.__table__
    now = bindparam("now", type_=table.c.sending_at.type)
    source = (
        func.unnest(
            bindparam("ids", type_=ARRAY(BigInteger)),
            *(bindparam(name, type_=ARRAY(table.c[name].type)) for name in _CLAIMED),
        )
        .table_valued("id", *_CLAIMED)
        .render_derived()
    )
    return (
        update(table)
        .where(table.c.id == source.c.id, table.c.status == MessageStatus.QUEUED.value)
        .values(
            status=MessageStatus.SENDING.value,
            attempts=table.c.attempts + 1,
            sending_at=now,
            updated_at=now,
            status_reason=None,
            **{name: source.c[name] for name in _CLAIMED},
        )
        .returning(table.c.id)
    )


def _record(runtime: CareLoop, session: Session, sent: list[_Sent]) -> dict[int, str]:
    """Write provider answers: successes in one statement, the rest one by one."""
    statuses: dict[int, str] = {}
    ok = [s for s in sent if s.error is None and s.result is not None]
    with session.begin():
        recorded = _record_successes(session, ok, utcnow()) if ok else {}
        for item in sent:
            mid = item.plan.outgoing.message_id
            row = recorded.get(mid)
            if row is not None:
                status, patient_id, campaign_id = row
                statuses[mid] = status
                emit_status(
                    session, mid, patient_id, item.plan.outgoing.channel, status, campaign_id
                )
                continue
            prepared = sender.Prepared(item.plan.channel, item.plan.outgoing)
            statuses[mid] = sender.record_result(
                runtime, session, prepared, item.result, item.error
            )
    sender._flush_requeues(session)
    return statuses


def _record_successes(
    session: Session, ok: list[_Sent], now: dt.datetime
) -> dict[int, tuple[str, int, int | None]]:
    """``sending`` -> sent/delivered with the provider's id, for rows still ``sending``.

    :returns: message id -> (status, patient id, campaign id) of each row this call moved;
        the others (moved on meanwhile) are left to :func:`sender.record_result`.
    """
    ids = [s.plan.outgoing.message_id for s in ok]
    new_status = [_status_of(s.result) for s in ok]
    provider_ids = [s.result.provider_message_id for s in ok]  # type: ignore[union-attr]
    if session.get_bind().dialect.name == "postgresql":
        params = {"now": now, "ids": ids, "statuses": new_status, "provider_ids": provider_ids}
        return {
            mid: (status, patient_id, campaign_id)
            for mid, status, patient_id, campaign_id in session.execute(_pg_record(), params)
        }
    table = OutboundMessage.__table__
    session.execute(
        update(table)
        .where(
            table.c.id == bindparam("mid"),
            table.c.status == MessageStatus.SENDING,
            table.c.provider_message_id.is_(None),
        )
        .values(
            status=bindparam("new_status"),
            provider_message_id=bindparam("pid"),
            status_reason=None,
            sent_at=now,
            delivered_at=bindparam("delivered"),
            updated_at=now,
        ),
        [
            {
                "mid": mid,
                "new_status": status,
                "pid": pid,
                "delivered": now if status in _DELIVERED else None,
            }
            for mid, status, pid in zip(ids, new_status, provider_ids, strict=True)
        ],
    )
    mine = dict(zip(ids, provider_ids, strict=True))
    return {
        mid: (status, patient_id, campaign_id)
        for mid, status, patient_id, campaign_id, provider_id in session.execute(
            select(
                OutboundMessage.id,
                OutboundMessage.status,
                OutboundMessage.patient_id,
                OutboundMessage.campaign_id,
                OutboundMessage.provider_message_id,
            ).where(OutboundMessage.id.in_(ids))
        )
        if provider_id == mine[mid]
    }


_DELIVERED = ("delivered", "read")


@functools.cache
def _pg_record() -> Update:
    """PostgreSQL: recording a chunk's successes as one ``UPDATE ... FROM unnest(...)``."""
    table = OutboundMessage.__table__
    now = bindparam("now", type_=table.c.sent_at.type)
    source = (
        func.unnest(
            bindparam("ids", type_=ARRAY(BigInteger)),
            bindparam("statuses", type_=ARRAY(String)),
            bindparam("provider_ids", type_=ARRAY(String)),
        )
        .table_valued("id", "status", "provider_id")
        .render_derived()
    )
    return (
        update(table)
        .where(
            table.c.id == source.c.id,
            table.c.status == MessageStatus.SENDING.value,
            table.c.provider_message_id.is_(None),
        )
        .values(
            status=source.c.status,
            provider_message_id=source.c.provider_id,
            status_reason=None,
            sent_at=now,
            delivered_at=case((source.c.status.in_(_DELIVERED), now), else_=table.c.delivered_at),
            updated_at=now,
        )
        .returning(table.c.id, table.c.status, table.c.patient_id, table.c.campaign_id)
    )


def _status_of(result: SendResult | None) -> str:
    status = result.status if result is not None else "sent"
    return status if status in ("sent", "delivered", "read") else "sent"


def _chunks(plans: list[sender.Plan]) -> list[list[sender.Plan]]:
    """Consecutive plans of deduplicating channels, :data:`CHUNK` at a time; others alone."""
    out: list[list[sender.Plan]] = []
    for plan in plans:
        if (
            plan.channel.provider_deduplicates
            and out
            and out[-1][0].channel.provider_deduplicates
            and len(out[-1]) < CHUNK
        ):
            out[-1].append(plan)
        else:
            out.append([plan])
    return out


def _send(plan: sender.Plan) -> _Sent:
    try:
        return _Sent(plan, plan.channel.send(plan.outgoing), None)
    except Exception as exc:  # classified when recorded; never logs the text
        sender.logger.warning(
            "send of message %s on %s failed: %s",
            plan.outgoing.message_id,
            plan.outgoing.channel,
            type(exc).__name__,
        )
        return _Sent(plan, None, exc)


def process_batch(runtime: CareLoop, ids: Sequence[int]) -> dict[int, str]:
    """Send every queued, due message among *ids*; returns the status of each one sent."""
    engine = runtime.db.engine
    with (
        engine.connect() as connection,
        engine.connect().execution_options(isolation_level="AUTOCOMMIT") as autocommit,
    ):
        session = runtime.db.session_factory(bind=connection)
        session.info[CONFIG_KEY] = runtime.config
        with session:
            with session.begin():
                plans = _plan_batch(runtime, session, ids)
            sender._flush_requeues(session)
            statuses: dict[int, str] = {}
            for chunk in _chunks(plans):
                if len(chunk) == 1 and not chunk[0].channel.provider_deduplicates:
                    claimed = chunk if _claim(autocommit, chunk[0]) else []
                else:
                    claimed = _claim_many(session, chunk)
                if claimed:
                    statuses |= _record(runtime, session, [_send(plan) for plan in claimed])
            return statuses

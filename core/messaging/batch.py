"""Sending a batch of outbox rows in one job (campaigns, bulk reminders).

:func:`core.messaging.outbox.enqueue_bulk` hands ids to the broker in groups of
:data:`BATCH_SIZE`, one ``messaging.send_messages`` job per group.  Per batch:

1. one transaction reads the queued rows, their patients and every policy
   fact (one query for all), decides and renders; suppressed, deferred and
   unrenderable rows are recorded there;
2. then, chunk by chunk, the rows are claimed (``queued`` -> ``sending``, with
   their rendered text), sent and their provider answers recorded.  A chunk
   is :data:`CHUNK` messages of a channel whose provider deduplicates on our
   key (after a crash the sweeper re-queues them and the provider refuses any
   copy); for other providers it is one message, claimed by a single
   autocommitted conditional ``UPDATE`` right before its call and recorded
   right after, so only the one message in flight can need reconciliation.

The policy is thus checked at most one batch duration before each send, and the
same idempotency rules hold as for :func:`core.messaging.sender.process_message`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, select, update

from core.config import CONFIG_KEY
from core.db import utcnow
from core.messaging import policy, sender
from core.messaging.channel import SendResult
from core.messaging.outbox import emit_status
from core.models import Patient
from core.models.outbox import MessageStatus, OutboundMessage

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.orm import Session

    from core.runtime import CareLoop

BATCH_SIZE = 50
#: messages of a deduplicating provider claimed, sent and recorded together (others: one)
CHUNK = 10


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
    now = utcnow()
    table = OutboundMessage.__table__
    names = sorted(plans[0].values)
    with session.begin():
        session.execute(
            update(table)
            .where(table.c.id == bindparam("mid"), table.c.status == MessageStatus.QUEUED)
            .values(
                status=MessageStatus.SENDING.value,
                attempts=table.c.attempts + 1,
                sending_at=now,
                updated_at=now,
                **{name: bindparam(f"v_{name}") for name in names},
            ),
            [
                {"mid": plan.outgoing.message_id}
                | {f"v_{name}": plan.values[name] for name in names}
                for plan in plans
            ],
        )
        won = set(
            session.scalars(
                select(OutboundMessage.id).where(
                    OutboundMessage.id.in_([plan.outgoing.message_id for plan in plans]),
                    OutboundMessage.status == MessageStatus.SENDING,
                    OutboundMessage.sending_at == now,
                )
            )
        )
    return [plan for plan in plans if plan.outgoing.message_id in won]


def _record(runtime: CareLoop, session: Session, sent: list[_Sent]) -> dict[int, str]:
    """Write provider answers: successes in one executemany, the rest one by one."""
    statuses: dict[int, str] = {}
    now = utcnow()
    ok = [s for s in sent if s.error is None and s.result is not None]
    table = OutboundMessage.__table__
    with session.begin():
        if ok:
            params = [
                {
                    "mid": s.plan.outgoing.message_id,
                    "new_status": _status_of(s.result),
                    "pid": s.result.provider_message_id,  # type: ignore[union-attr]
                    "delivered": now if _status_of(s.result) in ("delivered", "read") else None,
                }
                for s in ok
            ]
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
                params,
            )
            recorded = {
                mid: (status, patient_id, campaign_id, provider_id)
                for mid, status, patient_id, campaign_id, provider_id in session.execute(
                    select(
                        OutboundMessage.id,
                        OutboundMessage.status,
                        OutboundMessage.patient_id,
                        OutboundMessage.campaign_id,
                        OutboundMessage.provider_message_id,
                    ).where(OutboundMessage.id.in_([p["mid"] for p in params]))
                )
            }
        ok_items = {id(s) for s in ok}
        for item in sent:
            mid = item.plan.outgoing.message_id
            row = recorded.get(mid) if ok else None
            if (
                id(item) in ok_items
                and row is not None
                and item.result is not None
                and row[3] == item.result.provider_message_id
            ):
                statuses[mid] = row[0]
                emit_status(session, mid, row[1], item.plan.outgoing.channel, row[0], row[2])
                continue
            prepared = sender.Prepared(item.plan.channel, item.plan.outgoing)
            statuses[mid] = sender.record_result(
                runtime, session, prepared, item.result, item.error
            )
    sender._flush_requeues(session)
    return statuses


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

"""Sending one outbox row: re-check policy, render, call the channel, record.

:func:`process_message` is what the ``messaging.send_message`` actor runs
(see :mod:`core.messaging.actors`).  It is idempotent: it only acts on a row it moves
from ``queued`` to ``sending`` itself (``SELECT ... FOR UPDATE SKIP LOCKED`` on
PostgreSQL, a conditional ``UPDATE`` on SQLite), so a duplicate job finds
nothing to do.  The provider is called *outside* any transaction, after the
``sending`` claim is committed; a worker killed during the call leaves the row
in ``sending`` for the sweeper (:mod:`core.messaging.sweeper`).

Failures: :class:`TransientChannelError` goes back to ``queued`` with
exponential backoff until ``CARELOOP_SEND_MAX_ATTEMPTS``, then ``failed``;
:class:`PermanentChannelError` fails at once; :class:`DuplicateSendRefused`
means an earlier attempt went through: ``sent`` and flagged for
reconciliation, never sent again.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from core.config import CONFIG_KEY
from core.db import utcnow
from core.errors import ConfigurationError
from core.messaging import policy
from core.messaging.channel import (
    ChannelError,
    DuplicateSendRefused,
    OutgoingMessage,
    PermanentChannelError,
    SendResult,
    TransientChannelError,
)
from core.messaging.outbox import BROKER_HORIZON, emit_status, send_to_broker
from core.messaging.registry import channels_of
from core.messaging.templates import (
    Rendered,
    TemplateNotFound,
    TemplateProblem,
    build_context,
    cached_template,
    render_string,
    render_template,
)
from core.models import Patient
from core.models.outbox import MessageStatus, OutboundMessage

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from core.messaging.channel import Channel
    from core.runtime import CareLoop

logger = logging.getLogger(__name__)

QUEUE = "messaging"  # the actors module declares its own copy
#: longest wait between two attempts
MAX_BACKOFF = dt.timedelta(minutes=30)


@dataclass(frozen=True)
class Prepared:
    """A message claimed for sending: what to give the channel."""

    channel: Channel
    outgoing: OutgoingMessage


def backoff(attempts: int, base_seconds: float) -> dt.timedelta:
    """Exponential backoff with jitter: base * 2^(attempts-1), +-20%, capped."""
    seconds = base_seconds * (2 ** max(0, attempts - 1))
    seconds = min(seconds, MAX_BACKOFF.total_seconds())
    return dt.timedelta(seconds=seconds * random.uniform(0.8, 1.2))


def _claim(session: Session, message_id: int, now: dt.datetime) -> OutboundMessage | None:
    """Move the row from ``queued`` to ``sending`` in one statement and return it.

    PostgreSQL picks the row with ``FOR UPDATE SKIP LOCKED`` (a duplicate job
    does not wait for the first); SQLite relies on the conditional ``UPDATE``
    (its write lock serialises writers).  Either way exactly one job wins.
    """
    queued = (OutboundMessage.id == message_id) & (OutboundMessage.status == MessageStatus.QUEUED)
    if session.get_bind().dialect.name == "postgresql":
        picked = select(OutboundMessage.id).where(queued).with_for_update(skip_locked=True)
        condition = OutboundMessage.id == picked.scalar_subquery()
    else:
        condition = queued
    statement = (
        update(OutboundMessage)
        .where(condition, OutboundMessage.scheduled_at <= now + dt.timedelta(seconds=1))
        .values(
            status=MessageStatus.SENDING.value,
            attempts=OutboundMessage.attempts + 1,
            sending_at=now,
            updated_at=now,
        )
        .returning(OutboundMessage)
        .execution_options(synchronize_session=False)
    )
    return session.scalars(statement).first()


def _not_due(session: Session, message_id: int, now: dt.datetime) -> None:
    """A job arrived before its row is due (duplicate or early job): wait again."""
    message = session.scalars(
        select(OutboundMessage).where(
            OutboundMessage.id == message_id, OutboundMessage.status == MessageStatus.QUEUED
        )
    ).first()
    if message is not None and message.scheduled_at > now:
        _requeue(session, message, message.scheduled_at, message.status_reason or "not_due")


def _unclaim(message: OutboundMessage) -> None:
    """Undo the claim's counters when nothing was sent (suppressed, deferred...)."""
    message.attempts = max(0, message.attempts - 1)
    if message.attempts == 0:
        message.sending_at = None


def _finish(
    session: Session, message: OutboundMessage, status: str, reason: str | None, **values: Any
) -> None:
    now = utcnow()
    message.status = status
    message.status_reason = reason[:500] if reason else None
    message.updated_at = now
    stamp = f"{status}_at"
    if hasattr(OutboundMessage, stamp) and getattr(message, stamp) is None:
        setattr(message, stamp, now)
    for name, value in values.items():
        setattr(message, name, value)
    emit_status(
        session, message.id, message.patient_id, message.channel, status, message.campaign_id
    )


def _requeue(session: Session, message: OutboundMessage, when: dt.datetime, reason: str) -> None:
    """Back to ``queued`` for *when*; the broker gets it after commit if due soon."""
    now = utcnow()
    message.status = MessageStatus.QUEUED.value
    message.status_reason = reason[:500]
    message.scheduled_at = when
    message.updated_at = now
    delay = when - now
    if delay <= BROKER_HORIZON:
        message.enqueued_at = now
        session.info.setdefault("careloop.requeue", []).append(
            (message.id, max(0, int(delay.total_seconds() * 1000)))
        )
    else:
        message.enqueued_at = None  # the dispatcher picks it up when due


def _flush_requeues(session: Session) -> None:
    jobs = session.info.pop("careloop.requeue", None)
    if jobs:
        send_to_broker(jobs)


def _render(
    session: Session,
    runtime: CareLoop,
    message: OutboundMessage,
    patient: Patient,
    channel: str,
    template_only: bool,
) -> Rendered:
    config = runtime.config
    locale = message.locale or patient.preferred_language or config.default_locale
    context = build_context(
        session,
        patient,
        channel=channel,
        purpose=message.purpose,
        locale=locale,
        clinic_timezone=config.timezone,
        ctx=message.context,
    ).as_dict()
    if message.template_key:
        template = cached_template(
            session, message.template_key, channel, locale, config.default_locale
        )
        rendered = render_template(template, context, locale=locale)
        if not template_only:
            # free text inside the window: the provider template is not needed
            return Rendered(rendered.body, rendered.subject, locale=rendered.locale)
        return rendered
    return Rendered(
        body=render_string(message.body or "", context),
        subject=render_string(message.subject, context) if message.subject else None,
        locale=locale,
    )


def _approved_channels(
    session: Session, runtime: CareLoop, message: OutboundMessage, patient: Patient
) -> set[str]:
    """Channels on which the message has a provider-approved template (WhatsApp)."""
    if not message.template_key or "whatsapp" not in message.channels:
        return set()
    locale = message.locale or patient.preferred_language or runtime.config.default_locale
    try:
        template = cached_template(
            session, message.template_key, "whatsapp", locale, runtime.config.default_locale
        )
    except TemplateNotFound:
        return set()
    return {"whatsapp"} if template.provider_template else set()


@dataclass(frozen=True)
class Plan:
    """The policy's choice and the rendered text for one message about to be sent."""

    channel: Channel
    outgoing: OutgoingMessage
    values: dict[str, Any]


def plan_message(
    runtime: CareLoop,
    session: Session,
    message: OutboundMessage,
    patient: Patient | None,
    facts: policy.Recipient,
    now: dt.datetime,
) -> Plan | None:
    """Apply the policy and render; record suppress/defer/failure on *message*.

    :returns: what to send, or ``None`` when the row now says why not.
    """
    config = runtime.config
    channels = channels_of(runtime)
    approved = _approved_channels(session, runtime, message, patient) if patient else set()
    decision = policy.decide(
        facts,
        purpose=message.purpose,
        channels=message.channels,
        now=now,
        contact_kinds={name: ch.contact_kind for name, ch in channels.items()},
        quiet_hours=policy.parse_quiet_hours(config.quiet_hours),
        cap=policy.parse_frequency_cap(config.marketing_cap),
        default_zone=config.timezone,
        approved_template_channels=approved,
    )
    if decision.action == "suppress" or patient is None:
        _finish(session, message, MessageStatus.SUPPRESSED, decision.reason or "patient_inactive")
        return None
    if decision.action == "defer":
        assert decision.until is not None
        _requeue(session, message, decision.until, decision.reason or "deferred")
        return None
    assert decision.channel is not None and decision.address is not None
    try:
        rendered = _render(
            session, runtime, message, patient, decision.channel, decision.template_only
        )
    except (TemplateProblem, TemplateNotFound) as exc:
        _finish(session, message, MessageStatus.FAILED, f"template:{exc}")
        return None
    values = {
        "status_reason": None,
        "channel": decision.channel,
        "to_address": decision.address,
        "locale": rendered.locale,
        "rendered_subject": rendered.subject[:250] if rendered.subject else None,
        "rendered_body": rendered.body,
    }
    outgoing = OutgoingMessage(
        message_id=message.id,
        idempotency_key=message.idempotency_key,
        channel=decision.channel,
        to=decision.address,
        purpose=message.purpose,
        locale=rendered.locale,
        body=rendered.body,
        subject=rendered.subject,
        template_name=rendered.template_name,
        template_language=rendered.template_language,
        template_params=list(rendered.template_params),
        unsubscribe_url=(message.context or {}).get("unsubscribe_url"),
    )
    return Plan(channels[decision.channel], outgoing, values)


def prepare(runtime: CareLoop, session: Session, message_id: int) -> Prepared | None:
    """In one transaction: claim (``queued`` -> ``sending``), re-check policy, render.

    :returns: what to send, or ``None`` when there is nothing to send now
        (already taken, suppressed, deferred, not due, failed to render); the
        row then says why.
    """
    now = utcnow()
    message = _claim(session, message_id, now)
    if message is None:
        _not_due(session, message_id, now)
        return None
    patient = session.get(Patient, message.patient_id)
    cap = policy.parse_frequency_cap(runtime.config.marketing_cap)
    facts = policy.recipient_facts(
        session, message.patient_id, purpose=message.purpose, now=now, cap=cap, patient=patient
    )
    plan = plan_message(runtime, session, message, patient, facts, now)
    if plan is None:
        _unclaim(message)
        return None
    for name, value in plan.values.items():
        setattr(message, name, value)
    return Prepared(plan.channel, plan.outgoing)


def _record_success(session: Session, prepared: Prepared, result: SendResult) -> str | None:
    """The common case in one statement: ``sending`` -> sent/delivered with the provider id."""
    now = utcnow()
    status = result.status if result.status in ("sent", "delivered", "read") else "sent"
    values: dict[str, Any] = {
        "status": status,
        "status_reason": None,
        "provider_message_id": result.provider_message_id,
        "sent_at": now,
        "updated_at": now,
    }
    if status != "sent":
        values[f"{status}_at"] = now
    row = session.execute(
        update(OutboundMessage)
        .where(
            OutboundMessage.id == prepared.outgoing.message_id,
            OutboundMessage.status == MessageStatus.SENDING,
            OutboundMessage.provider_message_id.is_(None),
        )
        .values(**values)
        .returning(OutboundMessage.patient_id, OutboundMessage.campaign_id)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        return None
    emit_status(
        session,
        prepared.outgoing.message_id,
        row.patient_id,
        prepared.outgoing.channel,
        status,
        row.campaign_id,
    )
    return status


def _load_sending(session: Session, message_id: int) -> OutboundMessage | None:
    return session.get(OutboundMessage, message_id, populate_existing=True)


def record_result(
    runtime: CareLoop,
    session: Session,
    prepared: Prepared,
    result: SendResult | None,
    error: BaseException | None,
) -> str:
    """Write what the provider said; returns the status recorded."""
    if error is None and result is not None:
        status = _record_success(session, prepared, result)
        if status is not None:
            return status
    message = _load_sending(session, prepared.outgoing.message_id)
    if message is None:
        return "gone"
    if error is None and result is not None:
        if message.provider_message_id is None:
            message.provider_message_id = result.provider_message_id
        late = message.status == MessageStatus.FAILED and message.needs_reconciliation
        if message.status == MessageStatus.SENDING or late:
            # (late: the sweeper gave up on a slow call that did go through)
            status = result.status if result.status in ("sent", "delivered", "read") else "sent"
            if message.sent_at is None:
                message.sent_at = utcnow()
            _finish(session, message, status, None, needs_reconciliation=False)
        return message.status
    if message.status != MessageStatus.SENDING:
        return message.status  # a webhook already moved it on
    kind = type(error).__name__
    detail = f"{kind}: {error}"[:400]
    if isinstance(error, DuplicateSendRefused):
        _finish(
            session, message, MessageStatus.SENT, "duplicate_refused", needs_reconciliation=True
        )
        message.sent_at = message.sent_at or utcnow()
    elif isinstance(error, PermanentChannelError | ConfigurationError):
        _finish(session, message, MessageStatus.FAILED, f"permanent:{detail}")
    elif isinstance(error, TransientChannelError) or (
        prepared.channel.provider_deduplicates and not isinstance(error, ChannelError)
    ):
        if message.attempts >= runtime.config.send_max_attempts:
            _finish(session, message, MessageStatus.FAILED, f"attempts_exhausted:{detail}")
        else:
            wait = backoff(message.attempts, runtime.config.send_backoff)
            _requeue(session, message, utcnow() + wait, f"retry:{detail}")
    else:
        # an unexpected error from a provider that cannot deduplicate: it may have gone out
        _finish(
            session,
            message,
            MessageStatus.FAILED,
            f"unknown_outcome:{detail}",
            needs_reconciliation=True,
        )
    return message.status


def process_message(runtime: CareLoop, message_id: int) -> str:
    """Do everything for one message; returns the status it ended in (for tests/bench).

    Both transactions (claim, then record) use one pooled connection.
    """
    with runtime.db.engine.connect() as connection:
        session = runtime.db.session_factory(bind=connection)
        session.info[CONFIG_KEY] = runtime.config
        with session:
            return _process(runtime, session, message_id)


def _process(runtime: CareLoop, session: Session, message_id: int) -> str:
    with session.begin():
        prepared = prepare(runtime, session, message_id)
    _flush_requeues(session)
    if prepared is None:
        with session.begin():
            status = session.scalar(
                select(OutboundMessage.status).where(OutboundMessage.id == message_id)
            )
        return status or "gone"
    result: SendResult | None = None
    error: BaseException | None = None
    try:
        result = prepared.channel.send(prepared.outgoing)
    except Exception as exc:  # classified in record_result; never logs the text
        error = exc
        logger.warning(
            "send of message %s on %s failed: %s",
            message_id,
            prepared.outgoing.channel,
            type(exc).__name__,
        )
    with session.begin():
        status = record_result(runtime, session, prepared, result, error)
    _flush_requeues(session)
    return status

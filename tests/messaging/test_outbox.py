"""The outbox service: transactional enqueue, status updates, retry and cancel."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from core.db import utcnow
from core.errors import InvalidTransition, ValidationError
from core.messaging import outbox
from core.messaging.sender import process_message
from core.models import OutboundMessage
from tests.messaging.conftest import reload


def _count(session) -> int:
    return session.scalar(select(func.count()).select_from(OutboundMessage))


def test_row_and_job_only_after_commit(msg_runtime, make_patient, monkeypatch):
    jobs: list[tuple[int, int]] = []
    monkeypatch.setattr(outbox, "send_to_broker", lambda pending: jobs.extend(pending))
    pid = make_patient(consents=[("sms", "care")])
    with msg_runtime.session() as session:
        session.begin()
        message = outbox.enqueue_message(session, pid, channel="sms", body="hello")
        assert message.id and jobs == []
        session.rollback()
        assert _count(session) == 0 and jobs == []
        session.rollback()
        with session.begin():
            message = outbox.enqueue_message(session, pid, channel="sms", body="hello")
        assert jobs == [(message.id, 0)]
        assert _count(session) == 1


def test_rollback_of_the_cause_leaves_no_row(msg_runtime, make_patient, monkeypatch):
    jobs: list[tuple[int, int]] = []
    monkeypatch.setattr(outbox, "send_to_broker", lambda pending: jobs.extend(pending))
    pid = make_patient(consents=[("sms", "care")])
    with pytest.raises(RuntimeError), msg_runtime.transaction() as session:
        outbox.enqueue_message(session, pid, channel="sms", body="hello")
        raise RuntimeError("the cause failed")
    with msg_runtime.session() as session:
        assert _count(session) == 0
    assert jobs == []


def test_far_future_waits_in_the_database(msg_runtime, make_patient, monkeypatch):
    jobs: list[tuple[int, int]] = []
    monkeypatch.setattr(outbox, "send_to_broker", lambda pending: jobs.extend(pending))
    pid = make_patient()
    later = utcnow() + dt.timedelta(days=2)
    soon = utcnow() + dt.timedelta(minutes=10)
    with msg_runtime.transaction() as session:
        far = outbox.enqueue_message(session, pid, channel="sms", body="x", scheduled_at=later)
        near = outbox.enqueue_message(session, pid, channel="sms", body="x", scheduled_at=soon)
    assert far.enqueued_at is None and near.enqueued_at is not None
    assert [job[0] for job in jobs] == [near.id]
    assert 9 * 60_000 < jobs[0][1] <= 10 * 60_000


def test_idempotency_key_returns_the_first_row(msg_runtime, make_patient):
    pid = make_patient()
    with msg_runtime.transaction() as session:
        first = outbox.enqueue_message(session, pid, channel="sms", body="a", idempotency_key="k1")
        again = outbox.enqueue_message(session, pid, channel="sms", body="b", idempotency_key="k1")
        assert first.id == again.id
        assert _count(session) == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"channel": "fax", "body": "x"},
        {"channel": "sms"},
        {"channel": "sms", "body": "x", "purpose": "spam"},
    ],
)
def test_enqueue_validates(msg_runtime, make_patient, kwargs):
    pid = make_patient()
    with pytest.raises(ValidationError), msg_runtime.transaction() as session:
        outbox.enqueue_message(session, pid, **kwargs)


def test_end_to_end_console_delivers_into_the_outbox(msg_runtime, make_patient, run_jobs):
    pid = make_patient(consents=[("sms", "care")])
    with msg_runtime.transaction() as session:
        message = outbox.enqueue_message(
            session, pid, channels=["whatsapp", "sms"], body="Hi {{ patient.given_name }}"
        )
    run_jobs()
    with msg_runtime.session() as session:
        row = reload(session, OutboundMessage, message.id)
        assert row.status == "delivered"
        assert row.channel == "sms"  # no WhatsApp consent: fell back
        assert row.rendered_body.startswith("Hi Pat")
        assert row.provider_message_id == f"console-{row.id}"
        assert row.attempts == 1 and row.sent_at and row.delivered_at


def _sent_message(msg_runtime, make_patient, fake_channels) -> int:
    pid = make_patient(consents=[("sms", "care")])
    with msg_runtime.transaction() as session:
        message = outbox.enqueue_message(session, pid, channel="sms", body="x")
    assert process_message(msg_runtime, message.id) == "sent"
    return message.id


def test_provider_status_moves_forward_only(msg_runtime, make_patient, fake_channels):
    mid = _sent_message(msg_runtime, make_patient, fake_channels)
    t0 = utcnow()
    with msg_runtime.transaction() as session:
        row = session.get(OutboundMessage, mid)
        pid_ = row.provider_message_id
        read = outbox.apply_provider_status(session, "sms", pid_, "read", t0)
        assert read.changed and read.status == "read"
        late = outbox.apply_provider_status(session, "sms", pid_, "delivered", t0)
        assert not late.changed and late.status == "read"
        failed = outbox.apply_provider_status(session, "sms", pid_, "failed", t0, "late")
        assert not failed.changed
    with msg_runtime.session() as session:
        row = session.get(OutboundMessage, mid)
        assert row.status == "read" and row.delivered_at == t0 and row.read_at == t0


def test_provider_status_is_idempotent_and_finds_by_our_ids(
    msg_runtime, make_patient, fake_channels
):
    mid = _sent_message(msg_runtime, make_patient, fake_channels)
    with msg_runtime.transaction() as session:
        key = session.get(OutboundMessage, mid).idempotency_key
        first = outbox.apply_provider_status(session, "sms", None, "delivered", message_id=mid)
        second = outbox.apply_provider_status(
            session, "sms", None, "delivered", idempotency_key=key
        )
        other = outbox.apply_provider_status(session, "email", None, "delivered", message_id=mid)
        missing = outbox.apply_provider_status(session, "sms", "nope", "delivered")
    assert first.changed and not second.changed and second.found
    assert not other.found and not missing.found
    with pytest.raises(ValidationError), msg_runtime.transaction() as session:
        outbox.apply_provider_status(session, "sms", None, "cancelled", message_id=mid)


def test_failed_after_sent_keeps_reason(msg_runtime, make_patient, fake_channels):
    mid = _sent_message(msg_runtime, make_patient, fake_channels)
    with msg_runtime.transaction() as session:
        update = outbox.apply_provider_status(
            session, "sms", None, "failed", reason="131026 undeliverable", message_id=mid
        )
    assert update.changed
    with msg_runtime.session() as session:
        row = session.get(OutboundMessage, mid)
        assert row.status == "failed" and row.status_reason == "131026 undeliverable"


@pytest.mark.parametrize(
    ("current", "new", "allowed"),
    [
        ("queued", "sent", True),
        ("sending", "delivered", True),
        ("delivered", "sent", False),
        ("read", "read", False),
        ("sent", "failed", True),
        ("delivered", "failed", False),
        ("delivered", "bounced", True),
        ("read", "bounced", False),
        ("cancelled", "sent", False),
        ("suppressed", "delivered", False),
    ],
)
def test_may_move(current, new, allowed):
    assert outbox.may_move(current, new) is allowed


def test_delivery_evidence_resolves_reconciliation():
    assert outbox.may_move("failed", "delivered", needs_reconciliation=True)
    assert not outbox.may_move("failed", "delivered", needs_reconciliation=False)


def test_retry_and_cancel(msg_runtime, make_patient, actor, monkeypatch):
    monkeypatch.setattr(outbox, "send_to_broker", lambda pending: None)
    pid = make_patient()
    with msg_runtime.transaction() as session:
        message = outbox.enqueue_message(session, pid, channel="sms", body="x")
    with msg_runtime.transaction() as session:
        outbox.cancel_message(session, message.id, actor)
    with msg_runtime.transaction() as session:
        with pytest.raises(InvalidTransition):
            outbox.cancel_message(session, message.id, actor)
        row = outbox.retry_message(session, message.id, actor)
        assert row.status == "queued" and row.attempts == 0
    with pytest.raises(InvalidTransition), msg_runtime.transaction() as session:
        outbox.retry_message(session, message.id, actor)


def test_the_patients_channel_preference_reaches_the_policy(runtime, actor):
    from core.messaging import policy
    from core.services.patients import PatientInput, create_patient, update_patient

    with runtime.transaction() as s:
        pid = create_patient(
            s,
            PatientInput(
                given_name="Rina",
                phones=["+6281234500001"],
                emails=["rina@example.org"],
                preferred_channels="Email; sms",
            ),
            actor,
        ).id
    now = dt.datetime.now(dt.UTC)
    with runtime.session() as s:
        facts = policy.recipient_facts(s, pid, purpose="care", now=now)
    assert facts.preferred_channels == ("email", "sms")
    with runtime.transaction() as s:
        assert update_patient(s, pid, {"preferred_channels": ["whatsapp"]}, actor) == [
            "preferred_channels"
        ]
    with runtime.session() as s:
        assert policy.recipient_facts(s, pid, purpose="care", now=now).preferred_channels == (
            "whatsapp",
        )


def test_a_flagged_message_is_retried_only_when_no_duplicate_can_reach_the_patient(
    msg_runtime, make_patient, actor, monkeypatch
):
    from core.models import AuditEvent

    monkeypatch.setattr(outbox, "send_to_broker", lambda pending: None)
    pid = make_patient()
    with msg_runtime.transaction() as session:
        message = outbox.enqueue_message(session, pid, channel="email", body="x")
        message.status, message.needs_reconciliation = "failed", True
    with pytest.raises(outbox.MayDuplicate, match="may already have been delivered"):
        with msg_runtime.transaction() as session:
            outbox.retry_message(session, message.id, actor)
    with msg_runtime.transaction() as session:  # a deduplicating provider refuses a repeat
        outbox.retry_message(session, message.id, actor, deduplicating_channels={"email"})
        row = session.get(OutboundMessage, message.id)
        row.status, row.needs_reconciliation = "failed", True
    with msg_runtime.transaction() as session:
        row = outbox.retry_message(session, message.id, actor, delivery_checked=True)
        assert row.status == "queued" and not row.needs_reconciliation
    with msg_runtime.session() as session:
        details = session.scalars(
            select(AuditEvent.details).where(AuditEvent.action == "message.retry")
        ).all()
    assert [d["delivery_checked"] for d in details] == [False, True]

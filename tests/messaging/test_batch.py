"""Batches of messages in one job (campaigns): same policy and idempotency as single sends."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from core.messaging import outbox, sender
from core.messaging.batch import process_batch
from core.messaging.channel import PermanentChannelError, TransientChannelError
from core.models import OutboundMessage


@pytest.fixture
def jobs(monkeypatch):
    recorded: list = []
    monkeypatch.setattr(sender, "send_to_broker", lambda pending: recorded.extend(pending) or 0)
    return recorded


def _statuses(runtime, ids):
    with runtime.session() as session:
        rows = session.execute(
            select(OutboundMessage.id, OutboundMessage.status, OutboundMessage.status_reason).where(
                OutboundMessage.id.in_(ids)
            )
        ).all()
    return {mid: (status, reason) for mid, status, reason in rows}


def _campaign(runtime, pids, monkeypatch, **kwargs):
    monkeypatch.setattr(outbox, "send_to_broker", lambda pending: 0)
    with runtime.transaction() as session:
        return outbox.enqueue_bulk(
            session,
            pids,
            purpose=kwargs.pop("purpose", "marketing"),
            body="Hi {{ patient.given_name }}",
            channels=["sms", "email"],
            **kwargs,
        )


def test_batch_applies_policy_per_patient(
    msg_runtime, make_patient, fake_channels, monkeypatch, jobs
):
    sms = make_patient(consents=[("sms", "marketing")])
    email = make_patient(consents=[("email", "marketing")])
    nobody = make_patient(consents=[("sms", "care")])
    ids = _campaign(msg_runtime, [sms, email, nobody], monkeypatch, campaign_id=3)
    statuses = process_batch(msg_runtime, ids)
    assert statuses == {ids[0]: "sent", ids[1]: "sent"}
    final = _statuses(msg_runtime, ids)
    assert final[ids[2]] == ("suppressed", "no_channel:sms=no_consent,email=no_consent")
    assert [m.channel for m in fake_channels.all_sent()] == ["sms", "email"]
    assert {m.body for m in fake_channels.all_sent()} == {"Hi Pat1", "Hi Pat2"}
    # the same job again (at-least-once delivery) sends nothing more
    assert process_batch(msg_runtime, ids) == {}
    assert len(fake_channels.all_sent()) == 2


def test_batch_skips_rows_taken_by_another_worker(
    msg_runtime, make_patient, fake_channels, monkeypatch, jobs
):
    pids = [make_patient(consents=[("sms", "marketing")]) for _ in range(3)]
    ids = _campaign(msg_runtime, pids, monkeypatch)
    with msg_runtime.transaction() as session:
        session.execute(
            update(OutboundMessage).where(OutboundMessage.id == ids[1]).values(status="sending")
        )
    statuses = process_batch(msg_runtime, ids)
    assert set(statuses) == {ids[0], ids[2]}
    assert len(fake_channels.all_sent()) == 2


def test_batch_classifies_errors_per_message(
    msg_runtime, make_patient, fake_channels, monkeypatch, jobs
):
    pids = [make_patient(consents=[("sms", "marketing")]) for _ in range(3)]
    ids = _campaign(msg_runtime, pids, monkeypatch)
    fake_channels.channels["sms"].errors = [
        TransientChannelError("503"),
        PermanentChannelError("bad number"),
    ]
    statuses = process_batch(msg_runtime, ids)
    assert statuses == {ids[0]: "queued", ids[1]: "failed", ids[2]: "sent"}
    assert [job[0] for job in jobs] == [ids[0]]  # the retry goes back to the broker
    final = _statuses(msg_runtime, ids)
    assert final[ids[1]][1].startswith("permanent:")


def test_bulk_campaign_end_to_end_on_the_embedded_broker(msg_runtime, make_patient, run_jobs):
    pids = [make_patient(consents=[("sms", "care")]) for _ in range(30)]
    with msg_runtime.transaction() as session:
        ids = outbox.enqueue_bulk(session, pids, purpose="care", body="x", channels=["sms"])
    run_jobs()
    final = _statuses(msg_runtime, ids)
    assert {status for status, _ in final.values()} == {"delivered"}  # console channel
    with msg_runtime.session() as session:
        attempts = session.scalars(select(OutboundMessage.attempts)).all()
    assert set(attempts) == {1}


def test_send_to_broker_groups_ids_by_delay(monkeypatch):
    from core.messaging import broker

    calls: list = []
    monkeypatch.setattr(
        broker, "send_many", lambda actor, jobs: calls.append((actor.actor_name, list(jobs))) or 0
    )
    outbox.send_to_broker([(1, 0), (2, 0), (3, 0), (4, 500), (5, 0)], batch_size=2)
    by_actor = {name: jobs for name, jobs in calls}
    assert by_actor["messaging.send_messages"] == [(([1, 2],), 0), (([3, 5],), 0)]
    assert by_actor["messaging.send_message"] == [((4,), 500)]

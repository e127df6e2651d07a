"""The dispatcher (due rows to the broker) and the sweeper (crash recovery)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from core.db import utcnow
from core.messaging import dispatcher, outbox, sender, sweeper
from core.messaging.sender import prepare, process_message
from core.models import OutboundMessage
from tests.messaging.conftest import reload


@pytest.fixture
def jobs(monkeypatch):
    sent: list[tuple[int, int]] = []

    def record(pending):
        pending = list(pending)
        sent.extend(pending)
        return len(pending)

    for module in (outbox, dispatcher, sweeper, sender):
        monkeypatch.setattr(module, "send_to_broker", record)
    return sent


def _queue(runtime, pid, **kwargs) -> int:
    with runtime.transaction() as session:
        return outbox.enqueue_message(session, pid, channel="sms", body="x", **kwargs).id


def test_dispatcher_enqueues_rows_once_they_are_due(msg_runtime, make_patient, jobs):
    pid = make_patient(consents=[("sms", "care")])
    in_two_hours = utcnow() + dt.timedelta(hours=2)
    mid = _queue(msg_runtime, pid, scheduled_at=in_two_hours)
    assert jobs == []
    assert dispatcher.dispatch_due(msg_runtime) == 0
    later = in_two_hours - dt.timedelta(minutes=30)
    assert dispatcher.dispatch_due(msg_runtime, now=later) == 1
    assert jobs[0][0] == mid and 29 * 60_000 <= jobs[0][1] <= 30 * 60_000
    # a second dispatcher run (another worker) hands nothing over again
    assert dispatcher.dispatch_due(msg_runtime, now=later) == 0
    with msg_runtime.session() as session:
        assert session.get(OutboundMessage, mid).enqueued_at == later


def test_dispatcher_works_in_batches(msg_runtime, make_patient, jobs):
    pids = [make_patient(consents=[("sms", "care")]) for _ in range(3)]
    with msg_runtime.transaction() as session:
        outbox.enqueue_bulk(
            session,
            pids * 2,
            purpose="care",
            body="x",
            channels=["sms"],
            scheduled_at=utcnow() + dt.timedelta(days=1),
        )
    assert jobs == []
    assert dispatcher.dispatch_due(msg_runtime, now=utcnow() + dt.timedelta(days=1), batch=2) == 3
    assert len({job[0] for job in jobs}) == 3


def test_bulk_enqueue_is_idempotent_per_campaign(msg_runtime, make_patient, jobs):
    pids = [make_patient() for _ in range(3)]
    with msg_runtime.transaction() as session:
        first = outbox.enqueue_bulk(session, pids, purpose="marketing", body="x", campaign_id=7)
    with msg_runtime.transaction() as session:
        again = outbox.enqueue_bulk(session, pids, purpose="marketing", body="x", campaign_id=7)
    assert len(first) == 3 and again == []
    assert sorted(job[0] for job in jobs) == sorted(first)


def test_sweeper_requeues_lost_queued_jobs(msg_runtime, make_patient, jobs):
    pid = make_patient(consents=[("sms", "care")])
    mid = _queue(msg_runtime, pid)
    jobs.clear()  # the broker "lost" the job
    assert sweeper.sweep(msg_runtime).requeued_queued == 0  # not stuck yet
    later = utcnow() + dt.timedelta(minutes=11)
    report = sweeper.sweep(msg_runtime, now=later)
    assert report.requeued_queued == 1 and jobs == [(mid, 0)]
    assert sweeper.sweep(msg_runtime, now=later).requeued_queued == 0


def _age(runtime, mid, minutes: int, *columns: str) -> None:
    """Move some timestamps of a row into the past, as if time had passed."""
    with runtime.transaction() as session:
        then = utcnow() - dt.timedelta(minutes=minutes)
        session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == mid)
            .values(**{column: then for column in columns})
        )


def _crash_during_send(runtime, mid) -> None:
    """Claim the row like a worker, then 'die' before recording the provider's answer."""
    with runtime.session() as session, session.begin():
        assert prepare(runtime, session, mid) is not None


def test_interrupted_send_on_deduplicating_provider_is_retried(
    msg_runtime, make_patient, fake_channels, jobs
):
    pid = make_patient(consents=[("sms", "care")])
    mid = _queue(msg_runtime, pid)
    _crash_during_send(msg_runtime, mid)
    with msg_runtime.session() as session:
        assert session.get(OutboundMessage, mid).status == "sending"
    assert sweeper.sweep(msg_runtime).requeued_sending == 0  # may still be in flight
    jobs.clear()
    _age(msg_runtime, mid, 11, "sending_at")
    report = sweeper.sweep(msg_runtime)
    assert report.requeued_sending == 1 and jobs == [(mid, 0)]
    assert process_message(msg_runtime, mid) == "sent"
    with msg_runtime.session() as session:
        row = reload(session, OutboundMessage, mid)
        assert row.attempts == 2 and not row.needs_reconciliation


def test_interrupted_send_on_non_deduplicating_provider_is_flagged(
    msg_runtime, make_patient, fake_channels, jobs
):
    fake_channels.channels["sms"].provider_deduplicates = False
    pid = make_patient(consents=[("sms", "care")])
    mid = _queue(msg_runtime, pid)
    _crash_during_send(msg_runtime, mid)
    jobs.clear()
    _age(msg_runtime, mid, 11, "sending_at")
    report = sweeper.sweep(msg_runtime)
    assert report.flagged == 1 and jobs == []
    with msg_runtime.session() as session:
        row = reload(session, OutboundMessage, mid)
        assert row.status == "failed" and row.needs_reconciliation
        assert row.status_reason == sweeper.INTERRUPTED_UNKNOWN
    assert process_message(msg_runtime, mid) == "failed"  # never sent again by a stray job
    assert fake_channels.all_sent() == []


def test_sweeper_leaves_a_finished_send_alone(msg_runtime, make_patient, fake_channels, jobs):
    pid = make_patient(consents=[("sms", "care")])
    mid = _queue(msg_runtime, pid)
    assert process_message(msg_runtime, mid) == "sent"
    with msg_runtime.transaction() as session:  # an old sending_at on a finished row
        session.execute(update(OutboundMessage).values(sending_at=utcnow() - dt.timedelta(days=1)))
    report = sweeper.sweep(msg_runtime, now=utcnow() + dt.timedelta(minutes=11))
    assert report == sweeper.SweepReport()

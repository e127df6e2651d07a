"""The send path: policy re-check, rendering, retries and failure classification."""

from __future__ import annotations

import datetime as dt

import pytest

from core.db import utcnow
from core.messaging import outbox, sender
from core.messaging.channel import (
    DuplicateSendRefused,
    PermanentChannelError,
    TransientChannelError,
)
from core.messaging.sender import backoff, process_message
from core.messaging.templates import save_template
from core.models import OutboundMessage
from core.services import consent
from core.services.interactions import log_interaction
from tests.messaging.conftest import reload


@pytest.fixture(autouse=True)
def _no_broker(monkeypatch):
    """Jobs are run by calling process_message; record what would reach the broker."""
    jobs: list[tuple[int, int]] = []
    monkeypatch.setattr(outbox, "send_to_broker", lambda pending: jobs.extend(pending) or 0)
    monkeypatch.setattr(sender, "send_to_broker", lambda pending: jobs.extend(pending) or 0)
    return jobs


def _queue(runtime, pid, **kwargs) -> int:
    kwargs.setdefault("body", "Hello {{ patient.given_name }}")
    with runtime.transaction() as session:
        return outbox.enqueue_message(session, pid, **kwargs).id


def _row(runtime, mid) -> OutboundMessage:
    with runtime.session() as session:
        return reload(session, OutboundMessage, mid)


def test_sends_rendered_text_with_the_idempotency_key(msg_runtime, make_patient, fake_channels):
    pid = make_patient(consents=[("email", "care")])
    mid = _queue(msg_runtime, pid, channel="email", subject="Hi {{ patient.family_name }}")
    assert process_message(msg_runtime, mid) == "sent"
    (sent,) = fake_channels.channels["email"].sent
    row = _row(msg_runtime, mid)
    assert sent.message_id == mid and sent.idempotency_key == row.idempotency_key
    assert sent.body == "Hello " + row.rendered_body.removeprefix("Hello ")
    assert sent.subject == "Hi Test" and sent.to == "pat@example.org"
    assert row.provider_message_id == "email-1" and row.to_address == "pat@example.org"
    # a second job for the same row does nothing
    assert process_message(msg_runtime, mid) == "sent"
    assert len(fake_channels.channels["email"].sent) == 1


def test_consent_withdrawn_after_queueing_suppresses(
    msg_runtime, make_patient, fake_channels, actor
):
    pid = make_patient(consents=[("sms", "care")])
    mid = _queue(msg_runtime, pid, channel="sms")
    with msg_runtime.transaction() as session:
        consent.withdraw(session, pid, "sms", "care", actor)
    assert process_message(msg_runtime, mid) == "suppressed"
    row = _row(msg_runtime, mid)
    assert row.status_reason == "no_channel:sms=opted_out" and row.suppressed_at
    assert fake_channels.all_sent() == []


def test_marketing_needs_marketing_consent(msg_runtime, make_patient, fake_channels):
    pid = make_patient(consents=[("sms", "care")])
    mid = _queue(msg_runtime, pid, channel="sms", purpose="marketing")
    assert process_message(msg_runtime, mid) == "suppressed"
    assert _row(msg_runtime, mid).status_reason == "no_channel:sms=no_consent"


def test_fallback_order_picks_first_possible_channel(msg_runtime, make_patient, fake_channels):
    pid = make_patient(consents=[("email", "care"), ("sms", "care")], phone=None)
    mid = _queue(msg_runtime, pid, channels=["whatsapp", "sms", "email"])
    assert process_message(msg_runtime, mid) == "sent"
    row = _row(msg_runtime, mid)
    assert row.channel == "email"
    assert [m.channel for m in fake_channels.all_sent()] == ["email"]


def test_quiet_hours_defer_never_drop(msg_runtime, make_patient, fake_channels, _no_broker):
    msg_runtime.config = msg_runtime.config.with_overrides(quiet_hours="00:00-23:59")
    pid = make_patient(consents=[("sms", "care")], tz="Asia/Jakarta")
    mid = _queue(msg_runtime, pid, channel="sms")
    _no_broker.clear()
    assert process_message(msg_runtime, mid) == "queued"
    row = _row(msg_runtime, mid)
    assert row.status_reason == "quiet_hours" and row.scheduled_at > utcnow()
    assert fake_channels.all_sent() == []
    local_end = row.scheduled_at.astimezone(dt.timezone(dt.timedelta(hours=7)))
    assert (local_end.hour, local_end.minute) == (23, 59)
    assert _no_broker == [] or _no_broker[0][0] == mid  # due within the hour -> delayed job


def test_whatsapp_window_requires_an_approved_template(
    msg_runtime, make_patient, fake_channels, actor
):
    pid = make_patient(consents=[("whatsapp", "care"), ("sms", "care")])
    free_text = _queue(msg_runtime, pid, channels=["whatsapp", "sms"])
    assert process_message(msg_runtime, free_text) == "sent"
    assert _row(msg_runtime, free_text).channel == "sms"  # no window, no template

    with msg_runtime.transaction() as session:
        save_template(
            session,
            key="reminder",
            locale="en",
            channel="whatsapp",
            body="Hi {{ patient.given_name }}",
            provider_template="appointment_reminder_v2",
            provider_params=["{{ patient.given_name }}"],
        )
    templated = _queue(
        msg_runtime, pid, channels=["whatsapp", "sms"], template_key="reminder", body=None
    )
    assert process_message(msg_runtime, templated) == "sent"
    (wa,) = fake_channels.channels["whatsapp"].sent
    assert wa.template_name == "appointment_reminder_v2" and wa.template_params[0].startswith("Pat")

    with msg_runtime.transaction() as session:
        log_interaction(
            session, pid, channel="whatsapp", direction="inbound", kind="message", actor=actor
        )
    inside = _queue(msg_runtime, pid, channels=["whatsapp", "sms"])
    assert process_message(msg_runtime, inside) == "sent"
    assert _row(msg_runtime, inside).channel == "whatsapp"
    assert fake_channels.channels["whatsapp"].sent[-1].template_name is None


def test_transient_errors_retry_with_backoff_then_fail(
    msg_runtime, make_patient, fake_channels, _no_broker
):
    msg_runtime.config = msg_runtime.config.with_overrides(send_max_attempts=3)
    pid = make_patient(consents=[("sms", "care")])
    mid = _queue(msg_runtime, pid, channel="sms")
    fake_channels.channels["sms"].errors = [TransientChannelError("503") for _ in range(3)]
    _no_broker.clear()
    assert process_message(msg_runtime, mid) == "queued"
    row = _row(msg_runtime, mid)
    assert row.attempts == 1 and row.status_reason.startswith("retry:TransientChannelError")
    assert _no_broker and _no_broker[-1][0] == mid
    for expected in ("queued", "failed"):
        with msg_runtime.transaction() as session:  # make it due now
            session.get(OutboundMessage, mid).scheduled_at = utcnow()
        assert process_message(msg_runtime, mid) == expected
    row = _row(msg_runtime, mid)
    assert row.attempts == 3 and row.status_reason.startswith("attempts_exhausted:")
    assert fake_channels.all_sent() == []


def test_transient_then_success(msg_runtime, make_patient, fake_channels):
    pid = make_patient(consents=[("sms", "care")])
    mid = _queue(msg_runtime, pid, channel="sms")
    fake_channels.channels["sms"].errors = [TransientChannelError("timeout")]
    assert process_message(msg_runtime, mid) == "queued"
    with msg_runtime.transaction() as session:
        session.get(OutboundMessage, mid).scheduled_at = utcnow()
    assert process_message(msg_runtime, mid) == "sent"
    assert _row(msg_runtime, mid).attempts == 2


def test_permanent_error_fails_at_once(msg_runtime, make_patient, fake_channels):
    pid = make_patient(consents=[("sms", "care")])
    mid = _queue(msg_runtime, pid, channel="sms")
    fake_channels.channels["sms"].errors = [PermanentChannelError("invalid number")]
    assert process_message(msg_runtime, mid) == "failed"
    row = _row(msg_runtime, mid)
    assert (
        row.attempts == 1 and row.status_reason == "permanent:PermanentChannelError: invalid number"
    )


def test_duplicate_refused_is_sent_and_flagged(msg_runtime, make_patient, fake_channels):
    pid = make_patient(consents=[("sms", "care")])
    mid = _queue(msg_runtime, pid, channel="sms")
    fake_channels.channels["sms"].errors = [DuplicateSendRefused("53")]
    assert process_message(msg_runtime, mid) == "sent"
    row = _row(msg_runtime, mid)
    assert row.needs_reconciliation and row.status_reason == "duplicate_refused"


def test_unexpected_error_on_non_deduplicating_provider_is_flagged(
    msg_runtime, make_patient, fake_channels
):
    fake_channels.channels["sms"].provider_deduplicates = False
    pid = make_patient(consents=[("sms", "care")])
    mid = _queue(msg_runtime, pid, channel="sms")
    fake_channels.channels["sms"].errors = [ConnectionResetError("peer")]
    assert process_message(msg_runtime, mid) == "failed"
    assert _row(msg_runtime, mid).needs_reconciliation


def test_template_error_fails_with_reason(msg_runtime, make_patient, fake_channels):
    pid = make_patient(consents=[("sms", "care")])
    mid = _queue(msg_runtime, pid, channel="sms", template_key="missing", body=None)
    assert process_message(msg_runtime, mid) == "failed"
    assert _row(msg_runtime, mid).status_reason.startswith("template:")


def test_disabled_channel_plugin_means_no_channel(msg_runtime, make_patient, fake_channels, actor):
    pid = make_patient(consents=[("sms", "care")])
    mid = _queue(msg_runtime, pid, channel="sms")
    msg_runtime.plugins.disable("fake_channels", actor)
    # and any real SMS plugin installed in this tree
    for impl in msg_runtime.plugins.caller("careloop_register_channels").get_hookimpls():
        if any(ch.name == "sms" for ch in impl.function() or ()):
            msg_runtime.plugins.disable(impl.plugin_name, actor, cascade=True)
    assert process_message(msg_runtime, mid) == "suppressed"
    assert _row(msg_runtime, mid).status_reason == "no_channel:sms=channel_unavailable"


@pytest.mark.parametrize("attempts", [1, 2, 3, 8, 30])
def test_backoff_grows_and_is_capped(attempts):
    wait = backoff(attempts, 5.0).total_seconds()
    expected = min(5.0 * 2 ** (attempts - 1), sender.MAX_BACKOFF.total_seconds())
    assert 0.8 * expected <= wait <= 1.2 * expected

"""A patient writes on WhatsApp; the clinic's answer goes out through core and the fake API;
status webhooks, replayed and out of order, move it forward only."""

from __future__ import annotations

import copy
import time

from core.messaging.outbox import enqueue_message
from core.models import Patient
from core.models.outbox import OutboundMessage
from core.services import consent
from tests.fakes.webapp import load_fixture


def status_payload(name: str, wamid: str, our_id: int):
    payload = copy.deepcopy(load_fixture(f"whatsapp-status-{name}.json"))
    status = payload["entry"][0]["changes"][0]["value"]["statuses"][0]
    status.update(id=wamid, biz_opaque_callback_data=str(our_id))
    return payload


def fresh_text():
    """The documented inbound text, sent just now (it opens the 24-hour window)."""
    payload = copy.deepcopy(load_fixture("whatsapp-inbound-text.json"))
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = str(int(time.time()))
    return payload


def test_reply_inside_the_window_then_statuses_in_any_order(
    post_signed, session, actor, run_jobs, fake_whatsapp
):
    post_signed(fresh_text())
    run_jobs()
    patient = session.query(Patient).one()
    consent.grant(session, patient.id, "whatsapp", "care", actor)
    row = enqueue_message(session, patient.id, channel="whatsapp", body="Terima kasih!")
    session.commit()
    run_jobs()
    session.expire_all()
    row = session.get(OutboundMessage, row.id)
    [sent] = fake_whatsapp.accepted
    assert row.status == "sent" and row.provider_message_id == sent["wamid"]
    assert sent["biz_opaque_callback_data"] == str(row.id) and sent["type"] == "text"
    for name in ["read", "sent", "delivered", "read", "sent"] * 3:
        assert post_signed(status_payload(name, sent["wamid"], row.id)).status_code == 200
    run_jobs()
    session.expire_all()
    row = session.get(OutboundMessage, row.id)
    assert row.status == "read"
    assert row.delivered_at is not None and row.read_at is not None


def test_a_failed_status_records_the_providers_reason(post_signed, session, actor, run_jobs):
    post_signed(fresh_text())
    run_jobs()
    patient = session.query(Patient).one()
    consent.grant(session, patient.id, "whatsapp", "care", actor)
    row = enqueue_message(session, patient.id, channel="whatsapp", body="Halo")
    session.commit()
    run_jobs()
    session.expire_all()
    row = session.get(OutboundMessage, row.id)
    post_signed(status_payload("failed", row.provider_message_id, row.id))
    run_jobs()
    session.expire_all()
    row = session.get(OutboundMessage, row.id)
    assert row.status == "failed" and "130472" in row.status_reason


def test_outside_the_window_free_text_never_reaches_the_provider(
    post_signed, session, actor, run_jobs, fake_whatsapp
):
    post_signed(load_fixture("whatsapp-inbound-text.json"))  # written in 2023
    run_jobs()
    patient = session.query(Patient).one()
    consent.grant(session, patient.id, "whatsapp", "care", actor)
    row = enqueue_message(session, patient.id, channel="whatsapp", body="Halo")
    session.commit()
    run_jobs()
    session.expire_all()
    assert session.get(OutboundMessage, row.id).status == "suppressed"
    assert fake_whatsapp.requests == []


def test_a_status_for_a_message_we_never_sent_is_ignored(post_signed, session, run_jobs):
    post_signed(status_payload("delivered", "wamid.unknown", 999))
    run_jobs()
    from plugins.webhooks.models import WebhookEvent

    event = session.query(WebhookEvent).one()
    assert event.outcome == "ignored: unknown message"

"""Core's outbox in live mode -> e-mail channel -> fake SendGrid -> signed events -> outbox."""

from __future__ import annotations

from core.messaging.outbox import enqueue_message
from core.models.outbox import OutboundMessage
from core.services import consent, patients


def test_marketing_mail_goes_out_once_then_a_signed_event_and_the_unsubscribe_link_work(
    client, post_events, session, actor, run_jobs, fake_sendgrid
):
    patient = patients.create_patient(
        session, patients.PatientInput(given_name="Wati", emails=["wati@example.com"]), actor
    )
    consent.grant(session, patient.id, "email", "marketing", actor)
    consent.grant(session, patient.id, "email", "care", actor)
    row = enqueue_message(
        session, patient.id, channel="email", purpose="marketing", subject="Promo", body="Diskon"
    )
    session.commit()
    run_jobs()
    session.expire_all()
    row = session.get(OutboundMessage, row.id)
    [sent] = fake_sendgrid.accepted
    assert row.status == "sent" and row.provider_message_id == sent["x_message_id"]
    assert sent["custom_args"]["careloop_message_id"] == str(row.id)
    event = {
        "email": "wati@example.com",
        "event": "delivered",
        "sg_event_id": "e2e-delivered",
        "sg_message_id": f"{sent['x_message_id']}.filter0001.1.0",
        "timestamp": 1700000000,
        "careloop_message_id": str(row.id),
    }
    assert post_events([event]).status_code == 200
    run_jobs()
    session.expire_all()
    assert session.get(OutboundMessage, row.id).status == "delivered"
    # the one-click unsubscribe URL from the mail's header
    url = sent["headers"]["List-Unsubscribe"].strip("<>").removeprefix("https://crm.example.org")
    assert client.post(url, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    session.expire_all()
    assert not consent.has_consent(session, patient.id, "email", "marketing")
    assert consent.has_consent(session, patient.id, "email", "care")

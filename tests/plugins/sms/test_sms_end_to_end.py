"""Core's outbox in live mode -> SMS channel -> fake SMSAPI -> delivery report -> outbox."""

from __future__ import annotations

from core.messaging.outbox import enqueue_message
from core.models.outbox import OutboundMessage
from core.services import consent, patients
from tests.plugins.sms.conftest import CALLBACK_SECRET


def test_a_queued_sms_is_sent_once_and_its_report_marks_it_delivered(
    client, session, actor, run_jobs, fake_smsapi
):
    patient = patients.create_patient(
        session, patients.PatientInput(given_name="Putri", phones=["+6281234567890"]), actor
    )
    consent.grant(session, patient.id, "sms", "care", actor)
    row = enqueue_message(session, patient.id, channel="sms", body="Kontrol besok 09:00")
    session.commit()
    run_jobs()
    session.expire_all()
    row = session.get(OutboundMessage, row.id)
    assert row.status == "sent"
    [sent] = fake_smsapi.accepted
    assert sent["idx"].startswith(f"{row.id}k")
    assert (sent["check_idx"], sent["to"]) == ("1", "6281234567890")
    assert row.provider_message_id == sent["id"]
    assert sent["notify_url"].endswith(f"/webhooks/smsapi/{CALLBACK_SECRET}")
    report = {"MsgId": sent["id"], "status": "404", "status_name": "DELIVERED", "idx": sent["idx"]}
    assert client.get(f"/webhooks/smsapi/{CALLBACK_SECRET}", query_string=report).data == b"OK"
    run_jobs()
    session.expire_all()
    assert session.get(OutboundMessage, row.id).status == "delivered"


def test_no_consent_means_nothing_reaches_the_provider(session, actor, run_jobs, fake_smsapi):
    patient = patients.create_patient(
        session, patients.PatientInput(given_name="Tono", phones=["+6281234567891"]), actor
    )
    row = enqueue_message(session, patient.id, channel="sms", body="Promo", purpose="marketing")
    session.commit()
    run_jobs()
    session.expire_all()
    assert session.get(OutboundMessage, row.id).status == "suppressed"
    assert fake_smsapi.requests == []

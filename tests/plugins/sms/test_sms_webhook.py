"""SMSAPI callbacks: secret URL, issued ids only, reports, replays, inbound SMS, opt-out."""

from __future__ import annotations

from sqlalchemy import func, select

from core.models import ConsentEvent, Interaction, Patient
from core.models.outbox import OutboundMessage
from core.services import consent, patients
from plugins.webhooks.models import WebhookEvent
from tests.fakes.webapp import load_fixture
from tests.plugins.sms.conftest import CALLBACK_SECRET

URL = f"/webhooks/smsapi/{CALLBACK_SECRET}"
FIXTURE_MSG_ID = "60E576ED3463355E5B8E386A"


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def sent_sms(session, actor, *, provider_id: str | None, phone: str = "+6281234567890"):
    patient = patients.create_patient(
        session, patients.PatientInput(given_name="Sari", phones=[phone]), actor
    )
    row = OutboundMessage(
        patient_id=patient.id,
        channel="sms",
        body="hello",
        status="sent" if provider_id else "sending",
        provider_message_id=provider_id,
        idempotency_key=f"test-{provider_id or 'none'}-{patient.id}",
        enqueued_at=func.now(),
    )
    session.add(row)
    session.commit()
    return row


def test_a_wrong_or_missing_secret_is_not_found_and_stores_nothing(client, session, actor):
    sent_sms(session, actor, provider_id=FIXTURE_MSG_ID)
    query = load_fixture("smsapi-dlr-delivered.txt").strip()
    for url in ("/webhooks/smsapi/wrong", f"/webhooks/smsapi/{CALLBACK_SECRET}x"):
        assert client.get(f"{url}?{query}").status_code == 404
    assert count(session, WebhookEvent) == 0


def test_the_documented_delivery_report_marks_the_message_delivered(
    client, session, actor, run_jobs
):
    row = sent_sms(session, actor, provider_id=FIXTURE_MSG_ID)
    response = client.get(f"{URL}?{load_fixture('smsapi-dlr-delivered.txt').strip()}")
    assert response.status_code == 200 and response.get_data(as_text=True) == "OK"
    run_jobs()
    session.expire_all()
    assert session.get(OutboundMessage, row.id).status == "delivered"


def test_reports_for_ids_we_never_issued_are_dropped(client, session, run_jobs):
    response = client.get(f"{URL}?{load_fixture('smsapi-dlr-delivered.txt').strip()}")
    assert response.get_data(as_text=True) == "OK"
    response = client.get(URL, query_string={"MsgId": "ABC", "status": "404", "idx": "999"})
    assert response.get_data(as_text=True) == "OK"
    assert count(session, WebhookEvent) == 0


def test_batched_reports_out_of_order_and_by_idx(client, session, actor, run_jobs):
    first = sent_sms(session, actor, provider_id="AAA1", phone="+6281111111111")
    second = sent_sms(session, actor, provider_id=None, phone="+6282222222222")
    # delivered before sent for the first; the second is known only by our idx
    client.get(
        URL,
        query_string={
            "MsgId": "AAA1,AAA1,BBB2",
            "status": "404,403,405",
            "status_name": "DELIVERED,SENT,UNDELIVERED",
            "idx": f"{first.id},{first.id},{second.id}",
            "donedate": "1625650938,1625650930,1625650940",
        },
    )
    run_jobs()
    session.expire_all()
    one, two = session.get(OutboundMessage, first.id), session.get(OutboundMessage, second.id)
    assert one.status == "delivered" and one.sent_at is not None
    assert two.status == "failed" and "405" in two.status_reason
    assert two.provider_message_id == "BBB2"


def test_a_report_naming_our_idx_with_another_providers_id_is_dropped(
    client, session, actor, run_jobs
):
    row = sent_sms(session, actor, provider_id="REAL1")
    client.get(URL, query_string={"MsgId": "FORGED", "status": "405", "idx": str(row.id)})
    run_jobs()
    session.expire_all()
    assert count(session, WebhookEvent) == 0
    assert session.get(OutboundMessage, row.id).status == "sent"


def test_replaying_reports_ten_times_changes_nothing(client, session, actor, run_jobs):
    row = sent_sms(session, actor, provider_id=FIXTURE_MSG_ID)
    query = load_fixture("smsapi-dlr-delivered.txt").strip()
    client.get(f"{URL}?{query}")
    run_jobs()
    session.expire_all()
    before = (count(session, WebhookEvent), session.get(OutboundMessage, row.id).delivered_at)
    for _ in range(10):
        assert client.get(f"{URL}?{query}").get_data(as_text=True) == "OK"
    run_jobs()
    session.expire_all()
    after = (count(session, WebhookEvent), session.get(OutboundMessage, row.id).delivered_at)
    assert after == before and before[0] == 1


# -- inbound SMS ------------------------------------------------------------------


def mo(text: str, msg_id: str, sender: str = "6281234567890") -> dict[str, str]:
    return {
        "MsgId": msg_id,
        "sms_from": sender,
        "sms_to": "48500000000",
        "sms_text": text,
        "sms_date": "1700000000",
        "username": "clinic",
    }


def test_an_inbound_reply_is_logged_on_the_patient(client, session, actor, run_jobs):
    row = sent_sms(session, actor, provider_id="X1")
    assert client.post(URL, data=mo("Ya, saya datang besok", "MO1")).get_data(as_text=True) == "OK"
    run_jobs()
    interaction = session.scalars(select(Interaction)).one()
    assert (interaction.patient_id, interaction.channel, interaction.direction) == (
        row.patient_id,
        "sms",
        "inbound",
    )
    assert interaction.body == "Ya, saya datang besok"


def test_an_inbound_sms_from_an_unknown_number_creates_a_lead(client, session, run_jobs):
    client.post(URL, data=mo("Halo, berapa harga konsultasi?", "MO2", sender="6289999999999"))
    run_jobs()
    lead = session.scalars(select(Patient)).one()
    assert lead.is_lead and lead.lead_source == "sms"


def test_opt_out_keywords_in_any_language_withdraw_and_confirm_once(
    client, session, actor, run_jobs, fake_smsapi
):
    row = sent_sms(session, actor, provider_id="X2")
    consent.grant(session, row.patient_id, "sms", "care", actor)
    consent.grant(session, row.patient_id, "sms", "marketing", actor)
    session.commit()
    for n, word in enumerate(["수신거부", "BERHENTI", "stop", "退订", "СТОП"]):
        client.post(URL, data=mo(word, f"MO-STOP-{n}"))
        run_jobs()
    session.expire_all()
    assert not consent.has_consent(session, row.patient_id, "sms", "care")
    assert not consent.has_consent(session, row.patient_id, "sms", "marketing")
    assert count(session, ConsentEvent) == 4  # two grants, two withdrawals
    assert count(session, Interaction) == 5
    confirmations = session.scalars(
        select(OutboundMessage).where(OutboundMessage.cause.like("optout_confirmation%"))
    ).all()
    assert len(confirmations) == 1 and confirmations[0].status == "sent"
    assert [m["to"] for m in fake_smsapi.accepted] == ["6281234567890"]


def test_replayed_inbound_sms_is_logged_once(client, session, actor, run_jobs):
    sent_sms(session, actor, provider_id="X3")
    for _ in range(10):
        client.post(URL, data=mo("Terima kasih", "MO3"))
    run_jobs()
    assert count(session, Interaction) == 1


def test_start_undoes_a_keyword_opt_out_but_not_a_staff_withdrawal(
    client, session, actor, run_jobs
):
    row = sent_sms(session, actor, provider_id="X4")
    consent.grant(session, row.patient_id, "sms", "care", actor)
    consent.withdraw(session, row.patient_id, "sms", "marketing", actor)  # by staff
    session.commit()
    client.post(URL, data=mo("STOP", "MO-4a"))
    run_jobs()
    assert not consent.has_consent(session, row.patient_id, "sms", "care")
    client.post(URL, data=mo("START", "MO-4b"))
    run_jobs()
    session.expire_all()
    assert consent.has_consent(session, row.patient_id, "sms", "care")
    assert not consent.has_consent(session, row.patient_id, "sms", "marketing")

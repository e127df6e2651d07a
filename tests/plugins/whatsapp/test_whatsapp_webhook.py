"""The WhatsApp webhook: handshake, signatures, inbound messages, replays, opt-out."""

from __future__ import annotations

import copy
import json

from sqlalchemy import func, select

from core.models import ConsentEvent, Interaction, Patient
from core.models.outbox import OutboundMessage
from core.services import consent, patients
from plugins.webhooks.models import WebhookEvent
from tests.fakes.webapp import load_fixture
from tests.plugins.whatsapp.conftest import VERIFY_TOKEN, sign


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def text_payload(text: str, *, msg_id: str = "wamid.in1", wa_id: str = "972987654321"):
    payload = copy.deepcopy(load_fixture("whatsapp-inbound-text.json"))
    value = payload["entry"][0]["changes"][0]["value"]
    value["messages"][0].update(id=msg_id, **{"from": wa_id})
    value["messages"][0]["text"]["body"] = text
    value["contacts"][0]["wa_id"] = wa_id
    return payload


# -- handshake ---------------------------------------------------------------


def test_verify_handshake_echoes_challenge_only_for_subscribe_and_right_token(client):
    ok = client.get(
        "/webhooks/whatsapp",
        query_string={
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    )
    assert ok.status_code == 200 and ok.get_data(as_text=True) == "1158201444"
    wrong_token = client.get(
        "/webhooks/whatsapp",
        query_string={"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"},
    )
    wrong_mode = client.get(
        "/webhooks/whatsapp",
        query_string={
            "hub.mode": "unsubscribe",
            "hub.verify_token": VERIFY_TOKEN,
            "hub.challenge": "1",
        },
    )
    assert wrong_token.status_code == 403 and wrong_mode.status_code == 403
    assert "1" not in wrong_token.get_data(as_text=True)


# -- signatures ----------------------------------------------------------------


def test_forged_unsigned_and_tampered_posts_are_rejected_without_side_effects(client, session):
    body = json.dumps(load_fixture("whatsapp-inbound-text.json")).encode()
    attempts = [
        {},  # unsigned
        {"X-Hub-Signature-256": sign(body, "not-the-secret")},  # forged
        {"X-Hub-Signature-256": sign(body + b" ")},  # signature of another body
        {"X-Hub-Signature-256": sign(body).replace("sha256=", "sha1=")},
        {"X-Hub-Signature-256": "sha256=zz"},
    ]
    for headers in attempts:
        response = client.post(
            "/webhooks/whatsapp", data=body, headers=headers, content_type="application/json"
        )
        assert response.status_code == 403
    assert count(session, WebhookEvent) == 0
    assert count(session, Patient) == 0


# -- inbound messages -----------------------------------------------------------


def test_inbound_text_from_unknown_number_creates_a_lead_with_the_interaction(
    post_signed, run_jobs, session
):
    assert post_signed(load_fixture("whatsapp-inbound-text.json")).status_code == 200
    run_jobs()
    lead = session.scalars(select(Patient)).one()
    assert lead.is_lead and lead.display_name == "Test Name"
    assert lead.lead_source == "whatsapp"
    interaction = session.scalars(select(Interaction)).one()
    assert (interaction.patient_id, interaction.channel, interaction.direction) == (
        lead.id,
        "whatsapp",
        "inbound",
    )
    assert interaction.body == "Body Text" and interaction.provider_ref == "wamid.xyzxyz"
    assert [m.id for m in patients.find_by_phone(session, "+972987654321")] == [lead.id]


def test_click_to_whatsapp_referral_becomes_the_leads_source(post_signed, run_jobs, session):
    post_signed(load_fixture("whatsapp-inbound-referral.json"))
    run_jobs()
    lead = session.scalars(select(Patient)).one()
    assert lead.lead_source == "whatsapp_ad:ADID"
    assert session.scalars(select(Interaction)).one().lead_source == "whatsapp_ad:ADID"


def test_known_number_logs_on_the_existing_patient(post_signed, run_jobs, session, actor):
    known = patients.create_patient(
        session,
        patients.PatientInput(given_name="Rina", phones=["+972987654321"]),
        actor,
    )
    session.commit()
    post_signed(load_fixture("whatsapp-inbound-button-reply.json"))
    run_jobs()
    session.expire_all()
    assert count(session, Patient) == 1
    interaction = session.scalars(select(Interaction)).one()
    assert interaction.patient_id == known.id


def test_system_messages_are_stored_but_create_nothing(post_signed, run_jobs, session):
    post_signed(load_fixture("whatsapp-system-phone-number-change.json"))
    run_jobs()
    event = session.scalars(select(WebhookEvent)).one()
    assert event.processed_at is not None and event.outcome.startswith("ignored")
    assert count(session, Patient) == 0


# -- replays --------------------------------------------------------------------


def test_replaying_every_webhook_ten_times_changes_nothing(post_signed, run_jobs, session):
    image = load_fixture("whatsapp-inbound-image.json")
    # pywa scrubbed every id to the same value: give the image its own
    image["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = "wamid.image1"
    payloads = [
        load_fixture("whatsapp-inbound-text.json"),
        load_fixture("whatsapp-inbound-referral.json"),
        image,
        load_fixture("whatsapp-status-delivered.json"),
    ]
    for payload in payloads:
        post_signed(payload)
    run_jobs()
    before = (count(session, WebhookEvent), count(session, Patient), count(session, Interaction))
    for _ in range(10):
        for payload in payloads:
            assert post_signed(payload).status_code == 200
    run_jobs()
    session.expire_all()
    after = (count(session, WebhookEvent), count(session, Patient), count(session, Interaction))
    assert after == before
    assert before[2] == 3  # three distinct inbound messages


# -- opt-out ----------------------------------------------------------------------


def test_stop_withdraws_whatsapp_consent_and_confirms_once(
    post_signed, run_jobs, session, actor, fake_whatsapp
):
    patient = patients.create_patient(
        session, patients.PatientInput(given_name="Ayu", whatsapp=["+6281234567890"]), actor
    )
    consent.grant(session, patient.id, "whatsapp", "care", actor)
    consent.grant(session, patient.id, "whatsapp", "marketing", actor)
    session.commit()
    post_signed(text_payload("Stop!", msg_id="wamid.stop1", wa_id="6281234567890"))
    run_jobs()
    post_signed(text_payload("STOP", msg_id="wamid.stop2", wa_id="6281234567890"))
    run_jobs()
    session.expire_all()
    assert not consent.has_consent(session, patient.id, "whatsapp", "care")
    assert not consent.has_consent(session, patient.id, "whatsapp", "marketing")
    withdrawals = session.scalars(
        select(ConsentEvent).where(ConsentEvent.status == "withdrawn")
    ).all()
    assert {w.method for w in withdrawals} == {"reply_keyword"} and len(withdrawals) == 2
    confirmations = session.scalars(select(OutboundMessage)).all()
    assert len(confirmations) == 1
    assert confirmations[0].cause.startswith("optout_confirmation")
    assert confirmations[0].status == "sent"
    assert [m["to"] for m in fake_whatsapp.accepted] == ["6281234567890"]
    assert count(session, Interaction) == 2  # both replies are on the timeline


def test_marketing_preference_stop_withdraws_marketing_only(post_signed, run_jobs, session, actor):
    patient = patients.create_patient(
        session, patients.PatientInput(given_name="Budi", whatsapp=["+16505551234"]), actor
    )
    consent.grant(session, patient.id, "whatsapp", "care", actor)
    consent.grant(session, patient.id, "whatsapp", "marketing", actor)
    session.commit()
    payload = load_fixture("whatsapp-user-marketing-preferences-resume.json")
    metadata = payload["entry"][0]["changes"][0]["value"]["metadata"]
    metadata["phone_number_id"] = "1122334455667"  # our number (the sample has another)
    post_signed(payload)  # "resume" is not a consent: nothing changes
    stop = copy.deepcopy(payload)
    stop["entry"][0]["changes"][0]["value"]["user_preferences"][0]["value"] = "stop"
    post_signed(stop)
    run_jobs()
    session.expire_all()
    assert consent.has_consent(session, patient.id, "whatsapp", "care")
    assert not consent.has_consent(session, patient.id, "whatsapp", "marketing")


def test_changes_for_another_business_number_are_skipped(post_signed, run_jobs, session):
    payload = load_fixture("whatsapp-inbound-text.json")
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999"
    assert post_signed(payload).status_code == 200
    run_jobs()
    assert count(session, WebhookEvent) == 0 and count(session, Patient) == 0

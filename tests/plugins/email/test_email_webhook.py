"""SendGrid Event Webhook (signatures, freshness, replays, consent) and unsubscribe links."""

from __future__ import annotations

import copy
import json
import time

import pytest
from sqlalchemy import func, select

from core.models import ConsentEvent
from core.models.outbox import OutboundMessage
from core.services import consent, patients
from plugins.email.services import verify_request
from plugins.email.unsubscribe import make_token
from plugins.webhooks.models import WebhookEvent
from tests.fakes.webapp import load_fixture

EVENT_FILES = [
    "sendgrid-event-processed.json",
    "sendgrid-event-delivered.json",
    "sendgrid-event-deferred.json",
    "sendgrid-event-open.json",
    "sendgrid-event-click.json",
    "sendgrid-event-bounce.json",
    "sendgrid-event-blocked.json",
    "sendgrid-event-dropped.json",
    "sendgrid-event-spamreport.json",
    "sendgrid-event-unsubscribe.json",
    "sendgrid-event-group-unsubscribe.json",
    "sendgrid-event-group-resubscribe.json",
]


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def patient_with_mail(session, actor, email="example@test.com", *, provider_id="PROV1"):
    patient = patients.create_patient(
        session, patients.PatientInput(given_name="Dewi", emails=[email]), actor
    )
    for purpose in ("care", "marketing"):
        consent.grant(session, patient.id, "email", purpose, actor)
    row = OutboundMessage(
        patient_id=patient.id,
        channel="email",
        purpose="marketing",
        body="Promo",
        status="sent",
        provider_message_id=provider_id,
        idempotency_key=f"mail-{patient.id}",
        enqueued_at=func.now(),
    )
    session.add(row)
    session.commit()
    return patient, row


# -- signature: known answers from SendGrid's own tests ----------------------------


@pytest.mark.parametrize("name", ["sendgrid-signed-sample.json", "sendgrid-signed-sample-2.json"])
def test_sendgrids_published_vectors_verify_and_their_negatives_do_not(name):
    sample = load_fixture(name)
    body = sample["payload"].encode()
    stamp = sample["timestamp"]
    now = int(stamp)
    key = sample["public_key"]
    assert verify_request(body, sample["signature"], stamp, key, max_age=600, now=now)
    assert not verify_request(body + b" ", sample["signature"], stamp, key, max_age=600, now=now)
    assert not verify_request(body, sample["signature"], stamp, key, max_age=600, now=now + 601)
    negatives = sample.get("negative_vectors")
    if negatives:
        wrong_key, wrong_sig = negatives["wrong_public_key"], negatives["wrong_signature"]
        assert not verify_request(body, sample["signature"], stamp, wrong_key, max_age=600, now=now)
        assert not verify_request(body, wrong_sig, stamp, key, max_age=600, now=now)
    # malformed signatures make the SDK raise: they must simply not verify
    for junk in ("", "abc", "!!!notbase64", "AAAA"):
        assert not verify_request(body, junk, stamp, key, max_age=600, now=now)


# -- rejected requests ---------------------------------------------------------------


def test_unsigned_forged_stale_and_tampered_requests_change_nothing(client, signer, session, actor):
    patient_with_mail(session, actor)
    events = load_fixture("sendgrid-event-bounce.json")
    body = json.dumps(events).encode()
    other = type(signer)()  # a key SendGrid never had
    now = int(time.time())
    attempts = [
        {},
        other.headers(body),
        signer.headers(body, now - 11 * 60),  # stale
        signer.headers(body, now + 11 * 60),  # from the future
        {**signer.headers(body), "X-Twilio-Email-Event-Webhook-Signature": "bm90IGEgc2ln"},
        {**signer.headers(body), "X-Twilio-Email-Event-Webhook-Timestamp": str(now - 1)},
    ]
    for headers in attempts:
        response = client.post("/webhooks/sendgrid", data=body, headers=headers)
        assert response.status_code == 403
    tampered = body.replace(b"bounce", b"delivered")
    response = client.post("/webhooks/sendgrid", data=tampered, headers=signer.headers(body))
    assert response.status_code == 403
    assert count(session, WebhookEvent) == 0
    assert count(session, ConsentEvent) == 2  # only the two grants


# -- events -----------------------------------------------------------------------------


def test_status_events_move_the_outbox_row_forward_only(post_events, run_jobs, session, actor):
    _, row = patient_with_mail(session, actor)
    base = {
        "email": "example@test.com",
        "sg_message_id": "PROV1.filter0001.1.0",
        "careloop_message_id": str(row.id),
    }
    opened = {**base, "event": "open", "sg_event_id": "ev-open", "timestamp": 1700000100}
    delivered = {**base, "event": "delivered", "sg_event_id": "ev-dlv", "timestamp": 1700000050}
    assert post_events([opened]).status_code == 200
    run_jobs()
    assert post_events([delivered]).status_code == 200  # arrives late
    run_jobs()
    session.expire_all()
    row = session.get(OutboundMessage, row.id)
    assert row.status == "read"
    assert row.delivered_at is not None and row.read_at is not None


def test_bounce_withdraws_email_consent_for_every_purpose(post_events, run_jobs, session, actor):
    patient, _ = patient_with_mail(session, actor)
    post_events(load_fixture("sendgrid-event-bounce.json"))
    run_jobs()
    session.expire_all()
    assert not consent.has_consent(session, patient.id, "email", "care")
    assert not consent.has_consent(session, patient.id, "email", "marketing")
    methods = set(
        session.scalars(select(ConsentEvent.method).where(ConsentEvent.status == "withdrawn"))
    )
    assert methods == {"provider"}


def test_a_blocked_bounce_fails_the_message_but_keeps_consent(
    post_events, run_jobs, session, actor
):
    patient, row = patient_with_mail(session, actor)
    blocked = copy.deepcopy(load_fixture("sendgrid-event-blocked.json"))
    blocked[0]["careloop_message_id"] = str(row.id)
    post_events(blocked)
    run_jobs()
    session.expire_all()
    assert session.get(OutboundMessage, row.id).status == "failed"
    assert consent.has_consent(session, patient.id, "email", "care")


@pytest.mark.parametrize(
    ("fixture", "care_kept"),
    [
        ("sendgrid-event-spamreport.json", False),
        ("sendgrid-event-unsubscribe.json", True),
        ("sendgrid-event-group-unsubscribe.json", True),
    ],
)
def test_complaints_and_unsubscribes_withdraw_consent(
    post_events, run_jobs, session, actor, fixture, care_kept
):
    patient, _ = patient_with_mail(session, actor)
    post_events(load_fixture(fixture))
    run_jobs()
    session.expire_all()
    assert not consent.has_consent(session, patient.id, "email", "marketing")
    assert consent.has_consent(session, patient.id, "email", "care") is care_kept


def test_the_documented_batch_is_stored_event_by_event(post_events, run_jobs, session, actor):
    patient_with_mail(session, actor)
    batch = load_fixture("sendgrid-events-batch.json")
    assert post_events(batch).status_code == 200
    run_jobs()
    stored = session.scalars(select(WebhookEvent)).all()
    assert len(stored) == len({e["event"] for e in batch})
    assert all(e.processed_at is not None for e in stored)


def test_replaying_every_event_ten_times_changes_nothing(post_events, run_jobs, session, actor):
    patient_with_mail(session, actor)
    payloads = [load_fixture(name) for name in EVENT_FILES]
    for payload in payloads:
        post_events(payload)
    run_jobs()

    def snapshot():
        session.expire_all()
        return (
            count(session, WebhookEvent),
            count(session, ConsentEvent),
            [(r.status, r.status_reason) for r in session.scalars(select(OutboundMessage))],
        )

    before = snapshot()
    for _ in range(10):
        for payload in payloads:
            assert post_events(payload).status_code == 200
    run_jobs()
    assert snapshot() == before
    # the docs' bounce and blocked samples share one sg_event_id: stored once
    distinct = {(e["sg_event_id"], e["event"]) for payload in payloads for e in payload}
    assert before[0] == len(distinct) == len(EVENT_FILES) - 1


# -- unsubscribe link ------------------------------------------------------------------


def test_unsubscribe_get_asks_and_post_one_click_withdraws_marketing_once(
    client, email_runtime, session, actor
):
    patient, row = patient_with_mail(session, actor)
    url = f"/unsubscribe/{make_token(email_runtime.config, row.id)}"
    page = client.get(url)
    assert page.status_code == 200 and b"<form" in page.data
    assert consent.has_consent(session, patient.id, "email", "marketing")
    for _ in range(3):
        response = client.post(
            url, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
        )
        assert response.status_code == 200
    session.expire_all()
    assert not consent.has_consent(session, patient.id, "email", "marketing")
    assert consent.has_consent(session, patient.id, "email", "care")
    withdrawn = session.scalars(
        select(ConsentEvent).where(ConsentEvent.status == "withdrawn")
    ).all()
    assert [(w.purpose, w.method) for w in withdrawn] == [("marketing", "form")]


def test_a_forged_unsubscribe_token_changes_nothing(client, session, actor):
    patient, row = patient_with_mail(session, actor)
    for token in ("abc", make_token(type("C", (), {"effective_secret_key": "other"})(), row.id)):
        assert client.post(f"/unsubscribe/{token}").status_code == 404
    assert consent.has_consent(session, patient.id, "email", "marketing")


def test_unsubscribe_page_speaks_the_patients_language(client, email_runtime, session, actor):
    patient, row = patient_with_mail(session, actor)
    patient.preferred_language = "uk"
    session.commit()
    url = f"/unsubscribe/{make_token(email_runtime.config, row.id)}"
    english = client.get(url, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Ви хочете відмовитися від наших рекламних листів?" in english
    chosen = client.get(url + "?lang=id", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Apakah Anda ingin berhenti menerima email pemasaran dari kami?" in chosen

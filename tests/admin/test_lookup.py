"""Caller-ID lookup in the back office and the telephony JSON endpoint."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from core import Manifest, hookimpl
from core.audit import Actor
from core.models import AuditEvent, Doctor, Interaction
from core.services.appointments import book_appointment
from core.services.interactions import log_interaction
from core.services.patients import PatientInput, create_patient
from tests.admin.conftest import TELEPHONY_TOKEN, csrf_token

FORMATS = [
    "+62 812-3456-7890",
    "0812 3456 7890",
    "(0812) 3456-7890",
    "6281234567890",
    "0062812.3456.7890",
]


@pytest.mark.parametrize("phone", FORMATS)
def test_one_match_opens_the_360_page(client, login_as, patient_id, phone):
    login_as("agent")
    response = client.get("/admin/lookup", query_string={"phone": phone}, follow_redirects=False)
    if response.status_code == 308:  # /admin/lookup -> /admin/lookup/
        response = client.get(response.location)
    assert response.status_code == 302
    assert response.location.endswith(f"/admin/patient/{patient_id}")


def test_several_matches_are_listed(client, login_as, patient_id, runtime):
    with runtime.transaction() as session:
        create_patient(
            session,
            PatientInput(given_name="Made", family_name="Sudarsana", phones=["081234567890"]),
            Actor.system("test"),
        )
    login_as("agent")
    body = client.get("/admin/lookup/?phone=0812-3456-7890").get_data(as_text=True)
    assert 'id="lookup-matches"' in body
    assert "Wayan Sudarsana" in body and "Made Sudarsana" in body


def test_no_match_offers_a_new_patient_with_the_number(client, login_as, runtime):
    login_as("agent")
    body = client.get("/admin/lookup/?phone=0813-9999-0000").get_data(as_text=True)
    assert 'id="create-patient"' in body
    form = client.get("/admin/patient/new?phone=0813-9999-0000").get_data(as_text=True)
    assert 'value="0813-9999-0000"' in form
    token = csrf_token(client)
    response = client.post(
        "/admin/patient/new",
        data={"csrf_token": token, "given_name": "Nyoman", "phone": "0813-9999-0000"},
    )
    assert response.status_code == 302
    again = client.get("/admin/lookup/?phone=+6281399990000")
    assert again.status_code == 302 and again.location == response.location


def test_invalid_number_is_said_so(client, login_as):
    login_as("agent")
    body = client.get("/admin/lookup/?phone=12").get_data(as_text=True)
    assert 'id="lookup-invalid"' in body


# -- telephony API -------------------------------------------------------------


def _call(client, token=TELEPHONY_TOKEN, **payload):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.post("/api/telephony/inbound-call", json=payload, headers=headers)


def test_telephony_needs_the_token(client, patient_id, runtime):
    assert _call(client, token=None, caller="08123").status_code == 401
    assert _call(client, token="wrong", caller="08123").status_code == 401
    assert _call(client, token=TELEPHONY_TOKEN + "x", caller="08123").status_code == 401
    with runtime.session() as session:
        assert (
            session.scalars(
                select(Interaction).where(
                    Interaction.kind == "call", Interaction.outcome == "ringing"
                )
            ).all()
            == []
        )


def test_telephony_refuses_bodies_it_cannot_read_with_json_errors(client, patient_id):
    auth = {"Authorization": f"Bearer {TELEPHONY_TOKEN}"}
    url = "/api/telephony/inbound-call"
    cases = [
        (client.post(url, data="caller=0812", headers=auth), 400),  # a form, not JSON
        (client.post(url, data="{not json", content_type="application/json", headers=auth), 400),
        (client.post(url, data=b"\xff\xfe", content_type="application/json", headers=auth), 400),
        (client.post(url, json=["0812 3456 7890"], headers=auth), 400),
        (client.post(url, json={"dialled": "0361"}, headers=auth), 400),
        (client.post(url, json={"caller": "12"}, headers=auth), 400),
        (client.post(url, json={"caller": "0812", "pad": "x" * 70_000}, headers=auth), 413),
    ]
    for response, status in cases:
        assert response.status_code == status
        assert response.is_json and set(response.get_json()) == {"error"}
        assert response.headers["Cache-Control"] == "no-store"
    assert cases[5][0].get_json() == {"error": "caller is not a phone number"}
    # the caller's own content type parameters are fine
    fine = client.post(
        url,
        data=json.dumps({"caller": "0812 3456 7890"}),
        content_type="application/json; charset=utf-8",
        headers=auth,
    )
    assert fine.status_code == 200 and fine.get_json()["matched"] == 1


def test_telephony_reads_bodies_without_a_length_and_refuses_a_negative_one(runtime):
    """Straight through WSGI: a chunked body read in short pieces, a negative length, the
    Allow header of a 405."""
    import io

    from admin.api import MAX_BODY, TelephonyAPI
    from admin.app import create_app

    runtime.config = runtime.config.with_overrides(telephony_token=TELEPHONY_TOKEN)
    api = TelephonyAPI(runtime, create_app(runtime=runtime))

    class Trickle(io.BytesIO):
        def read(self, size=-1):  # a server may answer with fewer bytes than asked
            return super().read(min(size, 7) if size >= 0 else 7)

    def call(body: bytes, method="POST", **environ):
        seen = {}
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": "/telephony/inbound-call",
            "SCRIPT_NAME": "/api",
            "CONTENT_TYPE": "application/json",
            "HTTP_AUTHORIZATION": f"Bearer {TELEPHONY_TOKEN}",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.input": Trickle(body),
            **environ,
        }
        out = b"".join(api(environ, lambda status, headers: seen.update(s=status, h=headers)))
        return seen["s"], dict(seen["h"]), json.loads(out)

    status, _h, data = call(b'{"caller": "12"}', **{"wsgi.input_terminated": True})
    assert (status, data) == ("400 Bad Request", {"error": "caller is not a phone number"})
    big = b'{"caller": "0812", "pad": "' + b"x" * MAX_BODY + b'"}'
    assert call(big, **{"wsgi.input_terminated": True})[0] == "413 Content Too Large"
    assert call(b"{}", CONTENT_LENGTH="-1")[0] == "400 Bad Request"
    status, headers, _d = call(b"", method="GET")
    assert (status, headers["Allow"]) == ("405 Method Not Allowed", "POST")


def test_telephony_failure_answers_json_and_logs_no_request_content(
    client, patient_id, monkeypatch, caplog
):
    import admin.api

    def broken(*_args, **_kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(admin.api, "screen_pop", broken)
    response = _call(client, caller="0812 3456 7890", call_id="pbx-secret-9")
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal server error"}
    assert "database went away" in caplog.text  # the trace is logged...
    assert "0812" not in caplog.text and "pbx-secret-9" not in caplog.text  # ...not the call


def test_telephony_is_off_without_a_configured_token(client, runtime):
    runtime.config = runtime.config.with_overrides(telephony_token="")
    assert _call(client, caller="0812").status_code == 404
    assert _call(client, token="", caller="0812").status_code == 404


def test_telephony_summary_and_call_logged(client, patient_id, runtime):
    with runtime.transaction() as session:
        doctor = Doctor(display_name="Dr. Kadek")
        session.add(doctor)
        session.flush()
        book_appointment(
            session,
            patient_id,
            scheduled_start=dt.datetime.now(dt.UTC) + dt.timedelta(days=2),
            doctor_id=doctor.id,
            actor=Actor.system("test"),
        )
    response = _call(client, caller="0812 3456 7890", dialled="(0361) 555-123", call_id="pbx-1")
    assert response.status_code == 200
    data = response.get_json()
    assert data["matched"] == 1
    summary = data["patients"][0]
    assert summary["name"] == "Wayan Sudarsana"
    assert summary["id"] == patient_id
    assert summary["next_appointment"]["status"] == "booked"
    assert summary["next_appointment"]["doctor"] == "Dr. Kadek"
    assert [i["kind"] for i in summary["last_interactions"]] == ["call"]
    with runtime.session() as session:
        logged = session.get(Interaction, data["interaction_id"])
        assert (logged.patient_id, logged.direction, logged.kind, logged.provider_ref) == (
            patient_id,
            "inbound",
            "call",
            "pbx-1",
        )
        assert "+62361555123" in logged.subject
        views = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "view", AuditEvent.actor == "telephony")
        ).all()
    assert [v.patient_id for v in views] == [patient_id]


def test_telephony_several_or_no_matches_log_nothing(client, patient_id, runtime):
    assert _call(client, caller="0899 1234 5678").get_json() == {
        "matched": 0,
        "patients": [],
        "interaction_id": None,
        "screen_pop_url": "/admin/lookup/?phone=0899+1234+5678",
    }
    with runtime.transaction() as session:
        create_patient(
            session, PatientInput(given_name="Twin", phones=["081234567890"]), Actor.system("t")
        )
    data = _call(client, caller="+6281234567890").get_json()
    assert data["matched"] == 2 and data["interaction_id"] is None
    assert _call(client, caller="not a number").status_code == 400
    assert _call(client).status_code == 400


def test_telephony_summaries_of_several_candidates(client, patient_id, runtime):
    """Each candidate gets its own next appointment and newest interactions, at most five."""
    actor = Actor.system("test")
    now = dt.datetime.now(dt.UTC)
    with runtime.transaction() as session:
        twin = create_patient(
            session, PatientInput(given_name="Twin", phones=["081234567890"]), actor
        ).id
        for minutes in range(7):
            log_interaction(
                session,
                twin,
                channel="whatsapp",
                direction="outbound",
                kind="message",
                subject=f"m{minutes}",
                started_at=now - dt.timedelta(hours=1, minutes=minutes),
                actor=actor,
            )
        for days in (9, 3):
            book_appointment(
                session, twin, scheduled_start=now + dt.timedelta(days=days), actor=actor
            )
    data = _call(client, caller="0812-3456-7890").get_json()
    by_id = {p["id"]: p for p in data["patients"]}
    assert set(by_id) == {patient_id, twin} and data["interaction_id"] is None
    assert [i["subject"] for i in by_id[twin]["last_interactions"]] == [
        "m0",
        "m1",
        "m2",
        "m3",
        "m4",
    ]
    assert by_id[twin]["next_appointment"]["start"].startswith(
        (now + dt.timedelta(days=3)).date().isoformat()
    )
    assert by_id[patient_id]["next_appointment"] is None
    with runtime.session() as session:
        views = session.scalars(
            select(AuditEvent.patient_id).where(
                AuditEvent.action == "view", AuditEvent.actor == "telephony"
            )
        ).all()
    assert sorted(views) == sorted([patient_id, twin])


class _CallListener:
    """A plugin that remembers the interactions it heard about."""

    def __init__(self) -> None:
        self.manifest = Manifest(name="call_listener", version="1.0")
        self.heard: list[dict] = []

    @hookimpl
    def careloop_on_interaction_logged(
        self, interaction_id, patient_id, channel, direction, kind, actor, lead_source
    ):
        self.heard.append(
            {
                "interaction_id": interaction_id,
                "patient_id": patient_id,
                "channel": channel,
                "direction": direction,
                "kind": kind,
                "actor": actor.label,
                "lead_source": lead_source,
            }
        )


def test_telephony_call_fires_the_interaction_hook_once(
    client, patient_id, runtime, plugin_registrar
):
    """The screen pop announces the logged call like any other interaction, and only then."""
    listener = _CallListener()
    plugin_registrar(listener)
    data = _call(client, caller="+62 812 3456 7890", call_id="pbx-9").get_json()
    assert listener.heard == [
        {
            "interaction_id": data["interaction_id"],
            "patient_id": patient_id,
            "channel": "phone",
            "direction": "inbound",
            "kind": "call",
            "actor": "telephony",
            "lead_source": None,
        }
    ]
    _call(client, caller="0899 1234 5678")  # nobody: nothing logged, nothing announced
    assert len(listener.heard) == 1


def test_telephony_audit_rows_match_the_stored_call(client, patient_id, runtime):
    """One ``create`` event for the call and one ``view`` per shown patient, with the address."""
    data = _call(client, caller="0812 3456 7890").get_json()
    with runtime.session() as session:
        events = session.execute(
            select(
                AuditEvent.action,
                AuditEvent.entity_type,
                AuditEvent.entity_id,
                AuditEvent.patient_id,
                AuditEvent.ip_address,
                AuditEvent.details,
            )
            .where(AuditEvent.actor == "telephony")
            .order_by(AuditEvent.action)
        ).all()
    assert [tuple(e) for e in events] == [
        (
            "create",
            "interaction",
            str(data["interaction_id"]),
            patient_id,
            "127.0.0.1",
            {"kind": "call", "channel": "phone"},
        ),
        ("view", "patient", str(patient_id), patient_id, "127.0.0.1", {"via": "telephony"}),
    ]


def test_telephony_api_answers_json_without_cookies_or_caching(client, patient_id):
    response = _call(client, caller="0812 3456 7890")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Set-Cookie" not in response.headers
    assert response.get_json()["patients"][0]["url"] == f"/admin/patient/{patient_id}"
    missing = client.get("/api/nowhere")
    assert (missing.status_code, missing.get_json()) == (404, {"error": "not found"})
    wrong_method = client.get("/api/telephony/inbound-call")
    assert wrong_method.status_code == 405 and wrong_method.is_json


def test_telephony_behind_a_proxy_audits_the_pbx_address_and_links_under_its_prefix(
    runtime, patient_id
):
    from admin.app import create_app

    runtime.config = runtime.config.with_overrides(proxy_hops=1, telephony_token=TELEPHONY_TOKEN)
    client = create_app(runtime=runtime).test_client()
    response = client.post(
        "/api/telephony/inbound-call",
        json={"caller": "0812 3456 7890"},
        headers={
            "Authorization": f"Bearer {TELEPHONY_TOKEN}",
            "X-Forwarded-For": "198.51.100.20",
            "X-Forwarded-Proto": "https",
        },
        base_url="https://localhost/crm",
    )
    data = response.get_json()
    assert data["patients"][0]["url"] == f"/crm/admin/patient/{patient_id}"
    assert data["screen_pop_url"] == "/crm/admin/lookup/?phone=0812+3456+7890"
    with runtime.session() as session:
        addresses = set(
            session.scalars(select(AuditEvent.ip_address).where(AuditEvent.actor == "telephony"))
        )
    assert addresses == {"198.51.100.20"}


def test_telephony_logs_a_call_id_once_when_the_pbx_sends_it_again(
    client, patient_id, runtime, plugin_registrar
):
    listener = _CallListener()
    plugin_registrar(listener)
    first = _call(client, caller="0812 3456 7890", call_id="pbx-77").get_json()
    again = _call(client, caller="+62 812-3456-7890", call_id="pbx-77").get_json()
    other = _call(client, caller="0812 3456 7890", call_id="pbx-78").get_json()
    assert again["interaction_id"] == first["interaction_id"] != other["interaction_id"]
    assert [h["interaction_id"] for h in listener.heard] == [
        first["interaction_id"],
        other["interaction_id"],
    ]
    with runtime.session() as session:
        calls = session.scalars(
            select(Interaction.provider_ref).where(Interaction.outcome == "ringing")
        ).all()
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.actor == "telephony")
        ).all()
    assert sorted(calls) == ["pbx-77", "pbx-78"]
    assert sorted(actions) == ["create", "create", "view", "view", "view"]  # each ring was seen

"""The role matrix: each role x each view and action, allowed or denied (403, no patient data)."""

from __future__ import annotations

import pytest

from tests.admin.conftest import ROLES, csrf_token

A, C, G, M = "admin", "crm_staff", "agent", "marketer"

#: (name, path with {pid}, roles allowed) — written from the issue, not from admin.roles
VIEWS = [
    ("home", "/admin/", {A, C, G, M}),
    ("patient list", "/admin/patients/", {A, C, G, M}),
    ("patient search", "/admin/patients/?search=Sudarsana", {A, C, G, M}),
    ("patient 360", "/admin/patient/{pid}", {A, C, G}),
    ("caller id", "/admin/lookup/?phone=0812-3456-7890", {A, C, G}),
    ("new patient", "/admin/patient/new?phone=0811", {A, C, G}),
    ("merge preview", "/admin/patient/{pid}/merge?other_id={pid}", {A, C}),
    ("interactions", "/admin/interactions/", {A, C}),
    ("appointments", "/admin/appointments/", {A, C}),
    ("patient export", "/admin/patients/export/csv/", {A, C}),
    ("condition filter", "/admin/patients/?flt0_3=1", {A, C, G}),
    ("staff users", "/admin/users/", {A}),
    ("plugins", "/admin/plugins/", {A}),
    ("audit trail", "/admin/audit/", {A}),
    ("scheduled tasks", "/admin/periodic/", {A}),
    ("edit profile", "/admin/patient/{pid}/edit", {A, C, G}),
]

#: (name, path, form fields, roles allowed)
ACTIONS = [
    (
        "log call",
        "/admin/patient/{pid}/call",
        {"direction": "inbound", "outcome": "answered"},
        {A, C, G},
    ),
    (
        "book appointment",
        "/admin/patient/{pid}/appointment",
        {"scheduled_start": "2030-01-02T10:00"},
        {A, C, G},
    ),
    (
        "complaint",
        "/admin/patient/{pid}/feedback",
        {"kind": "complaint", "channel": "phone", "subject": "Waited long"},
        {A, C, G},
    ),
    (
        "consent",
        "/admin/patient/{pid}/consent",
        {"channel": "sms", "purpose": "care", "action": "granted"},
        {A, C},
    ),
    (
        "add contact",
        "/admin/patient/{pid}/contacts",
        {"kind": "email", "value": "second@example.org"},
        {A, C, G},
    ),
    (
        "remove contact",
        "/admin/patient/{pid}/contacts/{pid}/remove",
        {},
        {A, C, G},
    ),
    (
        "contact preference",
        "/admin/patient/{pid}/channels",
        {"first": "email"},
        {A, C},
    ),
    ("disable plugin", "/admin/plugins/attribution/disable", {}, {A}),
]

PATIENT_DATA = ("Sudarsana", "wayan@example.org", "6281234567890", "secret clinical note", "E11")


def _assert_no_patient_data(body: str) -> None:
    for value in PATIENT_DATA:
        assert value not in body


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "path", "allowed"), VIEWS, ids=[v[0] for v in VIEWS])
def test_view_matrix(client, login_as, patient_id, role, name, path, allowed):
    login_as(role)
    response = client.get(path.format(pid=patient_id))
    body = response.get_data(as_text=True)
    if role in allowed:
        assert response.status_code in (200, 302), (role, name, response.status_code)
        if response.status_code == 302:
            assert "/login" not in response.location
    else:
        assert response.status_code == 403, (role, name, response.status_code)
        _assert_no_patient_data(body)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "path", "data", "allowed"), ACTIONS, ids=[a[0] for a in ACTIONS])
def test_action_matrix(client, login_as, patient_id, role, name, path, data, allowed):
    login_as(role)
    token = csrf_token(client)
    response = client.post(path.format(pid=patient_id), data={**data, "csrf_token": token})
    if role in allowed:
        assert response.status_code in (200, 302), (role, name, response.status_code)
    else:
        assert response.status_code == 403, (role, name, response.status_code)
        _assert_no_patient_data(response.get_data(as_text=True))


@pytest.mark.parametrize(
    "path", ["/admin/", "/admin/patients/", "/admin/patient/1", "/admin/audit/", "/admin/plugins/"]
)
def test_anonymous_is_sent_to_sign_in(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert "/login" in response.location


def test_marketer_list_hides_conditions(client, login_as, patient_id):
    login_as("marketer")
    body = client.get("/admin/patients/").get_data(as_text=True)
    assert "Sudarsana" in body  # contact data for campaigns
    assert "Type 2 diabetes" not in body  # no clinical conditions, not even as a filter option


def test_agent_sees_notes_on_360(client, login_as, patient_id):
    login_as("agent")
    body = client.get(f"/admin/patient/{patient_id}").get_data(as_text=True)
    assert "secret clinical note" in body
    assert "Type 2 diabetes" in body


def test_csrf_token_is_computed_once_a_request_and_follows_the_session(app):
    """csrf_token() answers the same token all request; a new CSRF secret, a new token."""
    from flask import session

    from admin.views.base import csrf_token

    with app.test_request_context("/admin/"):
        first = csrf_token()
        assert csrf_token() == first
        session["csrf"] = "another secret"  # e.g. sign-in started a new session
        other = csrf_token()
        assert other != first
        assert csrf_token() == other
        session.clear()  # sign-out
        assert csrf_token() not in (first, other)

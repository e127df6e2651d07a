"""Back-office views of the outbox and of message templates."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.messaging import outbox
from core.models import AuditEvent, MessageTemplate, OutboundMessage
from tests.admin.conftest import (  # noqa: F401  (fixtures)
    app,
    client,
    csrf_token,
    login_as,
    make_user,
    patient_id,
)


@pytest.fixture
def failed_message(runtime, patient_id, monkeypatch):  # noqa: F811
    monkeypatch.setattr(outbox, "send_to_broker", lambda jobs: 0)
    with runtime.transaction() as session:
        message = outbox.enqueue_message(session, patient_id, channel="sms", body="Hi")
        message.status = "failed"
        message.status_reason = "no_channel:sms=opted_out"
        return message.id


def test_outbox_lists_messages_with_readable_reasons(client, login_as, failed_message):  # noqa: F811
    login_as("crm_staff")
    page = client.get("/admin/outbox/").get_data(as_text=True)
    assert "Wayan" in page and "opted out" in page


@pytest.mark.parametrize("role", ["agent"])
def test_outbox_needs_the_messaging_permission(client, login_as, failed_message, role):  # noqa: F811
    login_as(role)
    assert client.get("/admin/outbox/").status_code == 403


def test_retry_action_requeues_and_audits(client, login_as, runtime, failed_message):  # noqa: F811
    login_as("marketer")
    token = csrf_token(client, "/admin/outbox/")
    response = client.post(
        "/admin/outbox/action/",
        data={"action": "retry", "rowid": str(failed_message), "csrf_token": token},
    )
    assert response.status_code == 302
    with runtime.session() as session:
        assert session.get(OutboundMessage, failed_message).status == "queued"
        actions = session.scalars(select(AuditEvent.action)).all()
    assert "message.retry" in actions


def _template_form(token: str, body: str) -> dict[str, str]:
    return {
        "key": "reminder",
        "channel": "any",
        "locale": "en",
        "subject": "",
        "body": body,
        "provider_template": "",
        "provider_params": "",
        "description": "",
        "active": "y",
        "csrf_token": token,
    }


def test_template_is_validated_on_save(client, login_as, runtime):  # noqa: F811
    login_as("marketer")
    token = csrf_token(client, "/admin/message_templates/new/")
    bad = client.post(
        "/admin/message_templates/new/", data=_template_form(token, "Hi {{ patient.ssn }}")
    )
    assert bad.status_code == 200 and "undefined variable" in bad.get_data(as_text=True)
    with runtime.session() as session:
        assert session.scalars(select(MessageTemplate)).all() == []
    good = client.post(
        "/admin/message_templates/new/", data=_template_form(token, "Hi {{ patient.given_name }}")
    )
    assert good.status_code == 302
    with runtime.session() as session:
        (row,) = session.scalars(select(MessageTemplate)).all()
        assert row.body == "Hi {{ patient.given_name }}"
        assert "template.create" in session.scalars(select(AuditEvent.action)).all()


def test_preview_on_a_real_patient(client, login_as, runtime, patient_id):  # noqa: F811
    with runtime.transaction() as session:
        from core.messaging.templates import save_template

        template = save_template(
            session, key="hello", locale="id", body="Halo {{ patient.given_name }}!"
        )
        template_id = template.id
    login_as("crm_staff")
    page = client.get(f"/admin/message_templates/preview/?id={template_id}&patient_id={patient_id}")
    assert page.status_code == 200
    assert "Halo Wayan!" in page.get_data(as_text=True)
    with runtime.session() as session:
        assert "template.preview" in session.scalars(select(AuditEvent.action)).all()


def test_retry_needs_check(client, login_as, runtime, failed_message, monkeypatch):  # noqa: F811
    """A message that may already have reached the patient needs "Retry, delivery checked"."""
    import admin.views.messaging as messaging_views

    monkeypatch.setattr(messaging_views, "channels_of", lambda runtime: {})  # none deduplicates
    with runtime.transaction() as session:
        session.get(OutboundMessage, failed_message).needs_reconciliation = True
    login_as("marketer")
    for action, expected in (("retry", "failed"), ("retry_checked", "queued")):
        token = csrf_token(client, "/admin/outbox/")
        response = client.post(
            "/admin/outbox/action/",
            data={"action": action, "rowid": str(failed_message), "csrf_token": token},
            follow_redirects=True,
        )
        with runtime.session() as session:
            assert session.get(OutboundMessage, failed_message).status == expected
        if action == "retry":
            assert "may already have been delivered" in response.get_data(as_text=True)

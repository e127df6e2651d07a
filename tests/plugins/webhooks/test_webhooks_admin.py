"""The webhook log in the back office: admins only, payloads never shown."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.models import StaffUser
from plugins.webhooks.services import IncomingEvent, record_events
from tests.admin.conftest import password_hash, sign_in
from tests.fakes.webapp import web_app


def _client_as(runtime, role: str):
    with runtime.transaction() as session:
        session.add(
            StaffUser(
                username=f"{role}_user",
                display_name=role,
                password_hash=password_hash(),
                role=role,
            )
        )
    client = web_app(runtime).test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    assert sign_in(client, f"{role}_user").status_code == 302
    return client


def test_admins_see_the_log_without_payloads(runtime, session: Session):
    record_events(
        session,
        "smsapi",
        [IncomingEvent("mo:SECRET-ID", "inbound", {"sms": {"sms_text": "my private words"}})],
    )
    session.commit()
    page = _client_as(runtime, "admin").get("/admin/webhook_events/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "mo:SECRET-ID" in html and "my private words" not in html


def test_other_roles_are_refused(runtime):
    for role in ("agent", "marketer", "crm_staff"):
        response = _client_as(runtime, role).get("/admin/webhook_events/")
        assert response.status_code == 403, role

"""Sign-in: throttling, session invalidation, open redirects, CSRF, cookie flags."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.audit import Actor
from core.models import AuditEvent
from core.services import staff
from tests.admin.conftest import PASSWORD, csrf_token, sign_in


def test_sign_in_and_out(client, make_user, runtime):
    user_id = make_user("agent")
    response = sign_in(client, "agent_user")
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200
    token = csrf_token(client)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/admin/").status_code == 302
    with runtime.session() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.staff_user_id == user_id)
        ).all()
    assert "login" in actions


def test_logout_needs_a_post_with_csrf(client, login_as):
    login_as("agent")
    assert client.get("/logout").status_code == 405
    client.post("/logout", data={})  # no token: ignored
    assert client.get("/admin/").status_code == 200


def test_session_cookie_flags(client, make_user):
    make_user("agent")
    response = sign_in(client, "agent_user")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_secure_flag_can_be_turned_off_for_a_local_demo(runtime):
    from admin.app import create_app

    runtime.config = runtime.config.with_overrides(session_cookie_secure=False)
    assert create_app(runtime=runtime).config["SESSION_COOKIE_SECURE"] is False


def test_wrong_password_is_refused_and_account_locks(client, make_user, runtime):
    make_user("agent")
    for _ in range(staff.MAX_FAILED_LOGINS):
        assert sign_in(client, "agent_user", "wrong password!").status_code == 401
    # locked now: even the right password is refused
    assert sign_in(client, "agent_user", PASSWORD).status_code == 401
    with runtime.session() as session:
        failed = session.scalars(
            select(AuditEvent.id).where(AuditEvent.action == "login.failed")
        ).all()
    assert len(failed) == staff.MAX_FAILED_LOGINS + 1


def test_address_throttle(client, app, make_user):
    make_user("agent")
    app.extensions["careloop.login_throttle"].limit = 3
    for _ in range(3):
        assert sign_in(client, "nobody", "wrong password!").status_code == 401
    assert sign_in(client, "agent_user", PASSWORD).status_code == 429


@pytest.mark.parametrize("change", ["password", "role"])
def test_password_or_role_change_ends_sessions(client, login_as, runtime, change):
    user_id = login_as("crm_staff")
    assert client.get("/admin/interactions/").status_code == 200
    with runtime.transaction() as session:
        if change == "password":
            staff.set_password(session, user_id, "a brand new password", Actor.system("test"))
        else:
            staff.set_role(session, user_id, "agent", Actor.system("test"))
    response = client.get("/admin/interactions/")
    assert response.status_code == 302
    assert "/login" in response.location


def test_deactivated_user_is_signed_out(client, login_as, runtime):
    from core.models import StaffUser

    user_id = login_as("agent")
    with runtime.transaction() as session:
        session.get(StaffUser, user_id).active = False
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "http:/evil.example",
        "javascript:alert(1)",
        "/\r\nSet-Cookie:x=1",
        "",
    ],
)
def test_next_never_leaves_the_site(client, make_user, target):
    make_user("agent")
    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"username": "agent_user", "password": PASSWORD, "csrf_token": token},
    )
    assert response.status_code == 302
    assert response.location == "/admin/"


def test_next_to_a_local_page_is_kept(client, make_user):
    make_user("agent")
    token = csrf_token(client, "/login")
    response = client.post(
        "/login?next=/admin/lookup/%3Fphone%3D0811",
        data={"username": "agent_user", "password": PASSWORD, "csrf_token": token},
    )
    assert response.location == "/admin/lookup/?phone=0811"


def test_login_without_csrf_token_is_refused(client, make_user):
    make_user("agent")
    client.get("/login")
    response = client.post("/login", data={"username": "agent_user", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 302


def test_action_without_csrf_token_is_refused(client, login_as, patient_id, runtime):
    from core.models import Interaction

    login_as("agent")
    for token in (None, "forged-token"):
        data = {"direction": "inbound", "outcome": "answered"}
        if token:
            data["csrf_token"] = token
        assert client.post(f"/admin/patient/{patient_id}/call", data=data).status_code == 400
    with runtime.session() as session:
        calls = session.scalars(
            select(Interaction.id).where(Interaction.staff_user_id.is_not(None))
        ).all()
    assert calls == []


def test_plugin_switch_without_csrf_token_is_refused(client, login_as, runtime):
    login_as("admin")
    assert client.post("/admin/plugins/attribution/disable", data={}).status_code == 400
    runtime.plugins.refresh(force=True)
    assert "attribution" in runtime.plugins.enabled


def test_audit_uses_the_forwarded_address_behind_a_trusted_proxy(runtime, make_user, patient_id):
    from admin.app import create_app

    runtime.config = runtime.config.with_overrides(proxy_hops=1)
    client = create_app(runtime=runtime).test_client()
    user_id = make_user("agent")
    headers = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    token = csrf_token_with(client, headers)
    client.post(
        "/login",
        data={"username": "agent_user", "password": PASSWORD, "csrf_token": token},
        headers=headers,
    )
    assert client.get(f"/admin/patient/{patient_id}", headers=headers).status_code == 200
    with runtime.session() as session:
        view = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "view", AuditEvent.staff_user_id == user_id
            )
        ).one()
    assert view.ip_address == "203.0.113.7"


def csrf_token_with(client, headers):
    import re

    page = client.get("/login", headers=headers).get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def test_forwarded_address_is_ignored_without_a_proxy(client, login_as, patient_id, runtime):
    user_id = login_as("agent")
    client.get(f"/admin/patient/{patient_id}", headers={"X-Forwarded-For": "198.51.100.9"})
    with runtime.session() as session:
        view = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "view", AuditEvent.staff_user_id == user_id
            )
        ).one()
    assert view.ip_address == "127.0.0.1"

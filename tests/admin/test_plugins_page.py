"""Plugin management page, plugin-contributed views and blueprints, the audit trail page."""

from __future__ import annotations

import pytest
from flask import Blueprint
from sqlalchemy import select

from admin.app import create_app
from admin.views.base import CareLoopView, Perm
from core import Manifest, hookimpl
from core.models import AuditEvent
from tests.admin.conftest import csrf_token, sign_in


class ReportsView(CareLoopView):
    permission = Perm.MARKETING

    from flask_admin import expose

    @expose("/")
    def index(self):
        return "campaign report"


class BasePlugin:
    manifest = Manifest(name="basething", version="2.0", summary="A base")


class DependentPlugin:
    manifest = Manifest(name="reports", version="1.3", summary="Reports", depends=("basething",))

    @hookimpl
    def careloop_register_admin_views(self, admin, db):
        return [ReportsView(name="Reports", endpoint="reports_view", url="reports")]

    @hookimpl
    def careloop_register_blueprints(self):
        bp = Blueprint("reports_public", __name__, url_prefix="/r")
        bp.add_url_rule("/ping", "ping", lambda: "pong")
        return [bp]


@pytest.fixture
def plugin_client(runtime, plugin_registrar, make_user):
    plugin_registrar(BasePlugin())
    plugin_registrar(DependentPlugin())
    runtime.config = runtime.config.with_overrides(session_cookie_secure=False)
    app = create_app(runtime=runtime)
    client = app.test_client()
    for role in ("admin", "marketer", "agent"):
        make_user(role)
    return client


def _login(client, role):
    client.get("/login")
    assert sign_in(client, f"{role}_user").status_code == 302


def _post(client, path, **data):
    return client.post(path, data={"csrf_token": csrf_token(client), **data})


def test_page_lists_manifest_state_and_dependents(plugin_client):
    _login(plugin_client, "admin")
    body = plugin_client.get("/admin/plugins/").get_data(as_text=True)
    assert 'id="plugin-reports" data-state="enabled"' in body
    assert "1.3" in body and "Reports" in body
    row = body[body.index('id="plugin-basething"') :]
    row = row[: row.index("</tr>")]
    assert "reports" in row  # needed by
    assert "Also disables: reports" in row


def test_disable_with_dependents_asks_then_cascades(plugin_client, runtime):
    _login(plugin_client, "admin")
    ask = _post(plugin_client, "/admin/plugins/basething/disable")
    assert ask.status_code == 200
    assert 'id="cascade-explained"' in ask.get_data(as_text=True)
    runtime.plugins.refresh(force=True)
    assert {"basething", "reports"} <= runtime.plugins.enabled  # nothing changed yet
    done = _post(plugin_client, "/admin/plugins/basething/disable", cascade="yes")
    assert done.status_code == 302
    runtime.plugins.refresh(force=True)
    assert not {"basething", "reports"} & runtime.plugins.enabled
    with runtime.session() as session:
        audited = session.scalars(
            select(AuditEvent.entity_id).where(AuditEvent.action == "plugin.disable")
        ).all()
    assert sorted(audited) == ["basething", "reports"]


def test_enable_resolves_dependencies(plugin_client, runtime):
    from core.audit import Actor

    runtime.plugins.disable("basething", Actor.system("t"), cascade=True)
    _login(plugin_client, "admin")
    body = plugin_client.get("/admin/plugins/").get_data(as_text=True)
    assert "Also enables: basething" in body
    assert _post(plugin_client, "/admin/plugins/reports/enable").status_code == 302
    runtime.plugins.refresh(force=True)
    assert {"basething", "reports"} <= runtime.plugins.enabled


def test_plugin_views_and_blueprints_stop_at_once(plugin_client, runtime):
    from core.audit import Actor

    _login(plugin_client, "marketer")
    assert plugin_client.get("/admin/reports/").get_data(as_text=True) == "campaign report"
    assert plugin_client.get("/r/ping").get_data(as_text=True) == "pong"
    runtime.plugins.disable("reports", Actor.system("t"))
    assert plugin_client.get("/admin/reports/").status_code == 404
    assert plugin_client.get("/r/ping").status_code == 404
    runtime.plugins.enable("reports", Actor.system("t"))
    assert plugin_client.get("/r/ping").status_code == 200


def test_plugin_views_obey_the_role_matrix(plugin_client):
    _login(plugin_client, "agent")
    assert plugin_client.get("/admin/reports/").status_code == 403


def test_broken_plugin_is_shown_with_its_error(runtime, plugin_registrar, make_user):
    class Broken:
        manifest = Manifest(name="brokenthing", version="0.1", depends=("nothere",))

    plugin_registrar(Broken())
    runtime.config = runtime.config.with_overrides(session_cookie_secure=False)
    client = create_app(runtime=runtime).test_client()
    make_user("admin")
    _login(client, "admin")
    body = client.get("/admin/plugins/").get_data(as_text=True)
    row = body[body.index('id="plugin-brokenthing"') :]
    assert 'data-state="broken"' in row[:60]
    assert "nothere" in row[: row.index("</tr>")]


def test_audit_trail_is_read_only_and_filterable(client, login_as, patient_id, runtime):
    login_as("admin")
    client.get(f"/admin/patient/{patient_id}")
    listing = client.get("/admin/audit/").get_data(as_text=True)
    assert "view" in listing
    for path in ("/admin/audit/new/", "/admin/audit/edit/?id=1", "/admin/audit/details/?id=1"):
        assert client.get(path).status_code in (302, 403, 404)
    with runtime.session() as session:
        before = session.scalars(select(AuditEvent.id)).all()
    token = csrf_token(client)
    client.post("/admin/audit/delete/", data={"id": str(before[0]), "csrf_token": token})
    with runtime.session() as session:
        after = session.scalars(select(AuditEvent.id)).all()
    assert set(before) <= set(after)  # nothing deleted (new events may be added)
    app = client.application
    with app.test_request_context():
        view = next(
            v for v in app.extensions["admin"][0]._views if getattr(v, "endpoint", "") == "audit"
        )
        action_index = next(i for i, f in enumerate(view._filters) if str(f.name) == "Action")
    filtered = client.get(f"/admin/audit/?flt0_{action_index}=login").get_data(as_text=True)
    assert "login" in filtered
    assert f"#{patient_id}</a>" not in filtered

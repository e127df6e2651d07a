"""The cached parts of the back-office layout: the menu per role, language, plugins,
page and script root; asset URLs per script root (admin/layout_cache.py)."""

from __future__ import annotations

import re

from flask_admin import expose
from sqlalchemy import update

from admin.app import create_app
from admin.views.base import CareLoopView, Perm
from core.audit import Actor
from core.models import StaffUser
from tests.admin.conftest import sign_in


def _menu(body: str) -> str:
    start = body.index('<ul class="nav navbar-nav mr-auto">')
    return body[start : body.index("</ul>", start)]


def _logout(client) -> None:
    from tests.admin.conftest import csrf_token

    client.post("/logout", data={"csrf_token": csrf_token(client)})


def test_menu_follows_the_role_on_a_shared_app(client, make_user):
    for role in ("admin", "marketer"):
        make_user(role)
    for role in ("admin", "marketer", "admin"):
        assert sign_in(client, f"{role}_user").status_code == 302
        menu = _menu(client.get("/admin/patients/").get_data(as_text=True))
        assert ("Audit trail" in menu) == (role == "admin")
        assert ("Staff" in menu) == (role == "admin")
        assert ("Caller ID" in menu) == (role == "admin")  # marketers may not look up callers
        assert "Patients" in menu
        _logout(client)


def test_menu_marks_the_current_page(client, login_as):
    login_as("admin")
    menu = _menu(client.get("/admin/patients/").get_data(as_text=True))
    assert re.search(r'<li class="active">\s*<a class="nav-link " href="/admin/patients/"', menu)
    menu = _menu(client.get("/admin/audit/").get_data(as_text=True))
    assert re.search(r'<li class="active">\s*<a class="nav-link " href="/admin/audit/"', menu)
    assert not re.search(
        r'<li class="active">\s*<a class="nav-link " href="/admin/patients/"', menu
    )


def test_menu_follows_enabled_plugins(client, login_as, runtime):
    login_as("admin")
    assert "Webhook events" in _menu(client.get("/admin/patients/").get_data(as_text=True))
    runtime.plugins.disable("webhooks", Actor.system("test"), cascade=True)
    assert "Webhook events" not in _menu(client.get("/admin/patients/").get_data(as_text=True))
    runtime.plugins.enable("webhooks", Actor.system("test"))
    assert "Webhook events" in _menu(client.get("/admin/patients/").get_data(as_text=True))


def test_menu_in_the_staff_language(client, make_user, runtime):
    make_user("admin")
    make_user("crm_staff")
    with runtime.transaction() as session:
        session.execute(
            update(StaffUser).where(StaffUser.username == "admin_user").values(locale="ko")
        )
    sign_in(client, "admin_user")
    assert "환자" in _menu(client.get("/admin/patients/").get_data(as_text=True))
    _logout(client)
    sign_in(client, "crm_staff_user")
    menu = _menu(client.get("/admin/patients/").get_data(as_text=True))
    assert "Patients" in menu and "환자" not in menu


def test_menu_asks_views_that_decide_for_themselves(runtime, make_user):
    """A view overriding is_visible is asked on every request (its answer is in the key)."""
    shown = {"now": True}

    class Moody(CareLoopView):
        permission = Perm.PATIENT_LIST

        def is_visible(self) -> bool:
            return shown["now"]

        @expose("/")
        def index(self):
            return "moody"

    runtime.config = runtime.config.with_overrides(session_cookie_secure=False)
    app = create_app(runtime=runtime)
    app.extensions["admin"][0].add_view(Moody(name="Moody page", endpoint="moody"))
    client = app.test_client()
    make_user("agent")
    sign_in(client, "agent_user")
    assert "Moody page" in _menu(client.get("/admin/patients/").get_data(as_text=True))
    shown["now"] = False
    assert "Moody page" not in _menu(client.get("/admin/patients/").get_data(as_text=True))
    shown["now"] = True
    assert "Moody page" in _menu(client.get("/admin/patients/").get_data(as_text=True))


def test_assets_follow_the_script_root(client, login_as):
    """(Menu URLs are Flask-Admin's own: it keeps each entry's first URL.)"""
    login_as("admin")
    plain = client.get("/admin/patients/").get_data(as_text=True)
    mounted = client.get("/admin/patients/", environ_overrides={"SCRIPT_NAME": "/crm"}).get_data(
        as_text=True
    )
    assert 'src="/admin/static/vendor/jquery.min.js?v=3.5.1"' in plain
    assert 'src="/crm/admin/static/vendor/jquery.min.js?v=3.5.1"' in mounted
    assert 'src="/admin/static/' not in mounted and 'href="/admin/static/' not in mounted
    again = client.get("/admin/patients/").get_data(as_text=True)
    assert 'src="/admin/static/vendor/jquery.min.js?v=3.5.1"' in again


def test_asset_tags_are_kept_per_view_assets_and_never_with_a_csp_nonce(app):
    import uuid
    from types import SimpleNamespace

    from admin.layout_cache import assets

    calls: list[str] = []

    def stylesheets():
        calls.append("css")
        return f"<link> {len(calls)}"

    # entries of its own (not the layout's, not another run's)
    stylesheets.name = f"a test's stylesheets {uuid.uuid4()}"
    admin = SimpleNamespace(endpoint="admin")
    plain = SimpleNamespace(admin=admin, extra_css=None, extra_js=None)
    styled = SimpleNamespace(admin=admin, extra_css=["/x.css"], extra_js=None)
    with app.test_request_context("/admin/"):
        first = assets(stylesheets, plain, "default", "")
        assert assets(stylesheets, plain, "default", "") == first
        assert len(calls) == 1
        assert assets(stylesheets, styled, "default", "") != first  # the view's own CSS
        assert assets(stylesheets, plain, "cerulean", "") != first  # another swatch
        assert len(calls) == 3
        nonce = 'nonce="abc"'
        assert assets(stylesheets, plain, "default", nonce) != assets(
            stylesheets, plain, "default", nonce
        )
        assert len(calls) == 5
    with app.test_request_context("/admin/", environ_overrides={"SCRIPT_NAME": "/crm"}):
        assets(stylesheets, plain, "default", "")
        assert len(calls) == 6


def test_menu_renders_afresh_after_a_catalogue_reload(client, login_as, app):
    from core import i18n

    login_as("admin")
    client.get("/admin/patients/")
    menus = app.extensions["admin"][0]._careloop_menus
    before = set(menus.html)
    assert before
    i18n.reload_catalogues()
    client.get("/admin/patients/")
    assert set(menus.html) - before  # a new entry for the reloaded catalogue

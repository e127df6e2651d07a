"""Language and time-zone choice in the web app (Flask-Babel through admin.i18n)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from flask import Flask, jsonify, render_template_string
from flask.testing import FlaskClient
from flask_babel import get_locale
from flask_login import LoginManager, UserMixin

from admin import i18n as web_i18n
from core import i18n
from core.config import Config

STAFF = {
    "uk-user": "uk",
    "no-pref": None,
}


class _User(UserMixin):
    def __init__(self, name: str, locale: str | None) -> None:
        self.id = name
        self.locale = locale


@pytest.fixture
def app() -> Iterator[Flask]:
    app = Flask(__name__, template_folder="../../admin/templates")
    app.config.update(SECRET_KEY="test", TESTING=True)
    config = Config.from_env({}, default_locale="ru", timezone="Asia/Seoul")
    app.extensions["careloop"] = SimpleNamespace(config=config)
    login = LoginManager(app)

    @login.request_loader
    def load(request):  # a header stands in for a signed-in session
        name = request.headers.get("X-Staff")
        return _User(name, STAFF[name]) if name in STAFF else None

    web_i18n.init_app(app)

    @app.get("/probe")
    def probe():
        return jsonify(
            babel=str(get_locale()),
            core=i18n.current_locale(),
            text=i18n.gettext("Sign in"),
            page=render_template_string(
                "{{ _('Sign in') }}|{{ current_locale }}|"
                "{{ ngettext('%(num)d patient', '%(num)d patients', 5) }}|"
                "{{ when|localdatetime('short') }}|{{ 150000|money('IDR') }}",
                when=dt.datetime(2026, 3, 5, 23, 30, tzinfo=dt.UTC),
            ),
        )

    @app.get("/patient-page")
    def patient_page():
        web_i18n.use_patient_locale("id", "Asia/Jakarta")
        return render_template_string(
            "{% from 'careloop/_language_switcher.html' import language_switcher %}"
            "<p id=t>{{ _('Sign in') }}</p><p id=d>{{ when|localdate('long') }}</p>"
            "{{ language_switcher() }}",
            when=dt.datetime(2026, 3, 5, 23, 30, tzinfo=dt.UTC),
        )

    yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _probe(client: FlaskClient, path: str = "/probe", **headers: str) -> dict:
    response = client.get(path, headers=headers)
    assert response.status_code == 200
    return response.get_json()


def test_accept_language_negotiated(client: FlaskClient) -> None:
    data = _probe(client, **{"Accept-Language": "ko-KR,ko;q=0.9,en;q=0.5"})
    assert data["babel"] == data["core"] == "ko"
    assert data["text"] == "로그인"
    assert data["page"].startswith("로그인|ko|환자 5명|")


def test_staff_locale_beats_accept_language(client: FlaskClient) -> None:
    data = _probe(client, **{"Accept-Language": "ko", "X-Staff": "uk-user"})
    assert data["babel"] == "uk"
    assert data["text"] == "Увійти"


def test_staff_without_preference_gets_browser_language(client: FlaskClient) -> None:
    data = _probe(client, **{"Accept-Language": "zh-CN,zh;q=0.9", "X-Staff": "no-pref"})
    assert data["babel"] == "zh"


def test_clinic_default_without_any_hint(client: FlaskClient) -> None:
    data = _probe(client)
    assert data["babel"] == "ru"
    assert data["page"].split("|")[2] == "5 пациентов"


def test_unsupported_browser_language_falls_back_to_clinic_default(client: FlaskClient) -> None:
    assert _probe(client, **{"Accept-Language": "de-DE,fr;q=0.8"})["babel"] == "ru"


def test_switcher_choice_is_remembered(client: FlaskClient) -> None:
    assert _probe(client, "/probe?lang=id", **{"Accept-Language": "ko"})["babel"] == "id"
    assert _probe(client, **{"Accept-Language": "ko"})["babel"] == "id"
    # a signed-in staff member's own setting beats a remembered click...
    assert _probe(client, **{"X-Staff": "uk-user"})["babel"] == "uk"
    # ...but not a click on this very request
    assert _probe(client, "/probe?lang=zh", **{"X-Staff": "uk-user"})["babel"] == "zh"


def test_core_locale_is_reset_after_the_request(client: FlaskClient) -> None:
    _probe(client, **{"Accept-Language": "ko"})
    assert i18n.current_locale() == "en"


def test_clinic_time_zone_and_money_in_templates(client: FlaskClient) -> None:
    page = _probe(client, **{"Accept-Language": "id"})["page"]
    # 23:30 UTC is 08:30 next morning in Seoul (the clinic's zone)
    assert page.split("|")[3] == "06/03/26 08.30"
    assert page.split("|")[4] == "Rp150.000"


def test_patient_page_uses_patient_language_and_zone(client: FlaskClient) -> None:
    html = client.get("/patient-page", headers={"Accept-Language": "ko"}).get_data(as_text=True)
    assert "<p id=t>Masuk</p>" in html
    assert "<p id=d>6 Maret 2026</p>" in html  # Jakarta, UTC+7
    links = re.findall(r'data-lang="(\w+)"', html)
    assert links == list(i18n.SUPPORTED_LOCALES)
    assert re.search(r'<strong lang="id" aria-current="true"', html)
    assert 'href="/patient-page?lang=uk"' in html


def test_bad_patient_zone_falls_back_to_clinic_zone(app: Flask) -> None:
    with app.test_request_context("/"):
        web_i18n.use_patient_locale("uk", "Not/AZone")
        assert web_i18n.current_timezone() == "Asia/Seoul"
        assert i18n.current_locale() == "uk"
    assert i18n.current_locale() == "en"  # not leaked past the request


def test_switcher_beats_patient_language(client: FlaskClient) -> None:
    html = client.get("/patient-page?lang=uk").get_data(as_text=True)
    assert "<p id=t>Увійти</p>" in html
    assert "<p id=d>6 березня 2026\u202fр.</p>" in html


# --- the real back office -----------------------------------------------------


@pytest.fixture
def real_client(runtime) -> FlaskClient:
    from admin.app import create_app

    flask_app = create_app(runtime=runtime)
    flask_app.config["TESTING"] = True
    client = flask_app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    return client


def test_login_page_follows_browser(real_client: FlaskClient) -> None:
    html = real_client.get("/login", headers={"Accept-Language": "ko"}).get_data(as_text=True)
    assert 'lang="ko"' in html
    assert "로그인" in html
    html = real_client.get("/login", headers={"Accept-Language": "uk"}).get_data(as_text=True)
    assert "Увійти" in html


def test_signed_in_staff_sees_own_language(real_client: FlaskClient, runtime) -> None:
    from core.models import StaffUser
    from core.services.staff import hash_password

    with runtime.transaction() as session:
        session.add(
            StaffUser(
                username="ko_agent",
                display_name="Kim",
                password_hash=hash_password("a long enough password"),
                role="admin",
                locale="ko",
            )
        )
    page = real_client.get("/login", headers={"Accept-Language": "id"}).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = real_client.post(
        "/login",
        data={"username": "ko_agent", "password": "a long enough password", "csrf_token": token},
        headers={"Accept-Language": "id"},
    )
    assert response.status_code == 302
    html = real_client.get("/admin/", headers={"Accept-Language": "id"}).get_data(as_text=True)
    assert "로그아웃" in html  # "Sign out" in Korean, though the browser asks for Indonesian
    assert ">환자<" in html or "환자</a>" in html  # the "Patients" menu entry
    assert "Pasien" not in html

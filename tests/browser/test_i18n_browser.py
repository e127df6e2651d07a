"""Languages in a real browser: the back office in Korean, patient pages in Indonesian
and Ukrainian with their dates and money, and the language switcher.

Uses the ``browser`` fixture of ``tests/browser/conftest.py`` (Playwright on Debian's
Chromium; skipped without it unless ``CARELOOP_TEST_REQUIRE_BROWSER=1``).  The app
gets a test-only patient page, so it is served here rather than by ``live_app``;
like the other browser tests these run once, on SQLite.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask, render_template_string
from werkzeug.serving import make_server

from admin import i18n as web_i18n
from core.audit import Actor
from core.models import Department, Patient, Service, StaffUser
from core.runtime import CareLoop
from core.services.appointments import book_appointment
from core.services.patients import PatientInput, create_patient
from core.services.staff import hash_password

PASSWORD = "a long enough password"
#: 23:30 UTC on 5 March: 6 March in Jakarta, Kyiv and Seoul
START = dt.datetime(2026, 3, 5, 23, 30, tzinfo=dt.UTC)

#: a patient page as a public plugin page would build it: the patient's language and
#: zone, the clinic's currency, the shared switcher macro
PATIENT_PAGE = """<!DOCTYPE html>
<html lang="{{ current_locale }}"><head><meta charset="utf-8"><title>CareLoop</title></head>
<body>
{% from 'careloop/_language_switcher.html' import language_switcher %}
{{ language_switcher() }}
<h1 id="title">{{ _('Appointments') }}</h1>
<p id="when">{{ start|localdate('long') }}, {{ start|localtime }}</p>
<p id="price">{{ _('Service') }}: {{ service.name }} —
{{- ' ' ~ service.price|money(service.currency) }}</p>
<p id="count">{{ ngettext('%(num)d patient', '%(num)d patients', 22) }}</p>
</body></html>"""


@pytest.fixture
def clinic(runtime: CareLoop) -> dict[str, int]:
    """A Korean staff member, an Indonesian patient with a booked, priced visit."""
    actor = Actor.system("test")
    with runtime.transaction() as session:
        session.add(
            StaffUser(
                username="ko_admin",
                display_name="김민수",
                password_hash=hash_password(PASSWORD),
                role="admin",
                locale="ko",
            )
        )
        department = Department(code="dent", name="Dental")
        service = Service(
            code="scaling",
            name="Scaling",
            price=Decimal("150000"),
            currency="IDR",
            department=department,
        )
        session.add_all([department, service])
        session.flush()
        patient = create_patient(
            session,
            PatientInput(
                given_name="Siti",
                family_name="Rahma",
                phones=["+62 812-3456-7890"],
                preferred_language="id",
                time_zone="Asia/Jakarta",
            ),
            actor,
        )
        book_appointment(
            session, patient.id, scheduled_start=START, actor=actor, service_id=service.id
        )
        return {"patient": patient.id, "service": service.id}


@pytest.fixture
def live_url(runtime: CareLoop, clinic: dict[str, int]) -> Iterator[str]:
    from admin.app import create_app

    if not runtime.config.is_sqlite:
        pytest.skip("browser tests run once, on SQLite")
    runtime.config = runtime.config.with_overrides(
        session_cookie_secure=False, timezone="Asia/Seoul"
    )
    app = create_app(runtime=runtime)
    _add_patient_page(app, runtime)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def _add_patient_page(app: Flask, runtime: CareLoop) -> None:
    @app.get("/test-i18n/patient/<int:patient_id>/<int:service_id>")
    def patient_page(patient_id: int, service_id: int) -> str:
        with runtime.session() as session:
            patient = session.get(Patient, patient_id)
            service = session.get(Service, service_id)
            web_i18n.use_patient_locale(patient.preferred_language, patient.time_zone)
            return render_template_string(PATIENT_PAGE, start=START, service=service)


def _page(browser: Any, locale: str) -> Any:
    context = browser.new_context(locale=locale)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def test_back_office_in_korean(
    browser: Any, live_url: str, clinic: dict[str, int], runtime: CareLoop
) -> None:
    # the browser asks for Indonesian; the staff member chose Korean
    page = _page(browser, "id-ID")
    page.goto(f"{live_url}/login")
    assert page.locator("html").get_attribute("lang") == "id"
    page.fill("#username", "ko_admin")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_url}/admin/**")
    body = page.locator("body").inner_text()
    assert "로그아웃" in body  # Sign out
    assert "환자" in body  # the Patients menu entry
    page.goto(f"{live_url}/admin/patient/{clinic['patient']}")
    body = page.locator("body").inner_text()
    assert "예약" in body  # Appointments
    # 23:30 UTC shown in the clinic's zone (Seoul), Korean date and 오전 (a.m.)
    assert "2026. 3. 6. 오전 8:30:00" in body


def test_public_page_in_indonesian(browser: Any, live_url: str, clinic: dict[str, int]) -> None:
    page = _page(browser, "en-US")  # the patient record says Indonesian
    page.goto(f"{live_url}/test-i18n/patient/{clinic['patient']}/{clinic['service']}")
    assert page.locator("html").get_attribute("lang") == "id"
    assert page.inner_text("#title") == "Janji temu"
    assert page.inner_text("#when") == "6 Maret 2026, 06.30"  # Jakarta, UTC+7
    assert page.inner_text("#price") == "Layanan: Scaling — Rp150.000"
    assert page.inner_text("#count") == "22 pasien"


def test_public_page_switched_to_ukrainian(
    browser: Any, live_url: str, clinic: dict[str, int]
) -> None:
    page = _page(browser, "en-US")
    page.goto(f"{live_url}/test-i18n/patient/{clinic['patient']}/{clinic['service']}")
    switcher = page.locator("nav.careloop-language-switcher")
    assert switcher.is_visible()
    assert switcher.locator("[data-lang]").count() == 6
    switcher.locator("a[data-lang=uk]").click()
    page.wait_for_url("**lang=uk")
    assert page.locator("html").get_attribute("lang") == "uk"
    assert page.inner_text("#title") == "Записи на прийом"
    assert page.inner_text("#when") == "6 березня 2026\u202fр., 06:30"  # still the patient's zone
    assert page.inner_text("#price") == "Послуга: Scaling — 150\xa0000\xa0IDR"
    assert page.inner_text("#count") == "22 пацієнти"
    # the choice is remembered on the next page without ?lang
    page.goto(f"{live_url}/login")
    assert "Увійти" in page.locator("body").inner_text()


def test_login_page_follows_browser_language(browser: Any, live_url: str) -> None:
    expected = {"uk-UA": "Увійти", "id-ID": "Masuk", "ko-KR": "로그인"}

    def check(locale: str, text: str) -> None:
        page = _page(browser, locale)
        page.goto(f"{live_url}/login")
        assert text in page.locator("button[type=submit]").inner_text()
        page.context.close()

    for locale, text in expected.items():
        check(locale, text)


def test_login_page_switcher(browser: Any, live_url: str) -> None:
    page = _page(browser, "ko-KR")
    page.goto(f"{live_url}/login")
    switcher = page.locator("nav.careloop-language-switcher")
    assert switcher.is_visible()
    assert switcher.locator("[aria-current=true]").inner_text() == "한국어"
    switcher.locator("a[data-lang=id]").click()
    page.wait_for_url("**/login?lang=id")
    assert page.locator("button[type=submit]").inner_text() == "Masuk"
    assert page.locator("label[for=username]").inner_text() == "Nama pengguna"
    page.goto(f"{live_url}/login")  # remembered without ?lang
    assert page.locator("button[type=submit]").inner_text() == "Masuk"
    page.context.close()


@pytest.mark.parametrize(
    ("browser_locale", "title", "question"),
    [
        ("id-ID", "Berhenti berlangganan", "Apakah Anda ingin berhenti menerima email"),
        ("uk-UA", "Відписатися", "Ви хочете відмовитися від наших рекламних листів?"),
    ],
)
def test_email_unsubscribe_page_in_browser_language(
    browser: Any,
    live_url: str,
    runtime: CareLoop,
    browser_locale: str,
    title: str,
    question: str,
) -> None:
    """The real public page of the e-mail plugin, as a patient's browser asks for it."""
    from plugins.email.unsubscribe import make_token

    if "email" not in runtime.plugins.enabled:
        runtime.plugins.enable("email", Actor.system("test"))
    token = make_token(runtime.config, 12345)
    page = _page(browser, browser_locale)
    page.goto(f"{live_url}/unsubscribe/{token}")
    assert page.inner_text("h1") == title
    assert question in page.inner_text("p")
    assert page.locator("button[type=submit]").inner_text() == title
    page.context.close()

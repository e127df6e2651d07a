"""The back office in a real browser: roles, caller ID, agent actions, plugins, escaping."""

from __future__ import annotations

import pytest

from tests.browser.conftest import XSS_NAME, sign_in

A, C, G, M = "admin", "crm_staff", "agent", "marketer"
PAGES = [
    ("/admin/patients/", {A, C, G, M}),
    ("/admin/patient/{wayan}", {A, C, G}),
    ("/admin/lookup/?phone=0811", {A, C, G}),
    ("/admin/interactions/", {A, C}),
    ("/admin/appointments/", {A, C}),
    ("/admin/users/", {A}),
    ("/admin/plugins/", {A}),
    ("/admin/audit/", {A}),
    ("/admin/periodic/", {A}),
    ("/admin/patient/{wayan}/edit", {A, C, G}),
]


@pytest.mark.parametrize("role", [A, C, G, M])
def test_each_role_opens_only_its_pages(page_factory, staff, patients, role):
    page = page_factory()
    sign_in(page, staff[role])
    assert role in page.inner_text("#whoami")
    for path, allowed in PAGES:
        response = page.goto(path.format(**patients))
        if role in allowed:
            assert response.status == 200, (role, path)
        else:
            assert response.status == 403, (role, path)
            assert "Sudarsana" not in page.content()
    # the menu offers only what the role may open
    page.goto("/admin/")
    menu = page.inner_text("nav")
    assert ("Audit trail" in menu) == (role == A)
    assert ("Plugins" in menu) == (role == A)


def test_caller_id_then_log_a_call_and_book(page_factory, staff, patients):
    page = page_factory()
    sign_in(page, staff[G])
    page.goto("/admin/")
    page.fill("#phone", "0812 3456 7890")  # stored as +6281234567890
    page.click("text=Look up")
    page.wait_for_url(f"**/admin/patient/{patients['wayan']}")
    assert page.inner_text("#patient-name") == "Wayan Sudarsana"

    page.select_option("#log-call select[name=outcome]", "callback")
    page.fill("#log-call input[name=duration_minutes]", "3")
    page.fill("#log-call textarea[name=notes]", "Asked to reschedule the lab test")
    page.click("#log-call button[type=submit]")
    page.wait_for_selector(".alert-success")
    assert "Asked to reschedule the lab test" in page.inner_text("#timeline")

    page.fill("#book input[name=scheduled_start]", "2031-05-06T10:15")
    page.click("#book button[type=submit]")
    page.wait_for_selector(".alert-success")
    appointments = page.inner_text("#appointments")
    assert "booked" in appointments and "2031" in appointments
    assert page.dialogs == []


def test_enable_and_disable_a_plugin(page_factory, staff, runtime):
    page = page_factory()
    sign_in(page, staff[A])
    page.goto("/admin/plugins/")
    row = page.locator("#plugin-attribution")
    assert row.get_attribute("data-state") == "enabled"
    row.locator("button", has_text="Disable").click()
    page.wait_for_selector("#plugin-attribution[data-state=disabled]")
    runtime.plugins.refresh(force=True)
    assert "attribution" not in runtime.plugins.enabled
    page.locator("#plugin-attribution button", has_text="Enable").click()
    page.wait_for_selector("#plugin-attribution[data-state=enabled]")
    runtime.plugins.refresh(force=True)
    assert "attribution" in runtime.plugins.enabled


def test_xss_name_is_text_everywhere_and_no_dialog(page_factory, staff, patients):
    page = page_factory()
    sign_in(page, staff[A])
    xss = patients["xss"]
    paths = [
        "/admin/patients/",
        "/admin/patients/?search=%3Cimg",
        f"/admin/patient/{xss}",
        f"/admin/patient/{xss}/edit",
        "/admin/lookup/?phone=0811-0000-0001",
        "/admin/audit/",
        "/admin/interactions/",
    ]
    for path in paths:
        page.goto(path)
        page.wait_for_load_state("load")
        assert page.locator("img[src=x]").count() == 0, path
    page.goto(f"/admin/patient/{xss}")
    assert page.inner_text("#patient-name") == XSS_NAME
    page.goto("/admin/patients/")
    assert XSS_NAME in page.inner_text("body")
    assert page.dialogs == []


def test_agent_corrects_the_profile_and_adds_a_number(page_factory, staff, patients):
    page = page_factory()
    sign_in(page, staff[G])
    page.goto(f"/admin/patient/{patients['wayan']}")
    page.click("#edit-profile")
    page.fill("#profile-form input[name=city]", "Singaraja")
    page.fill("#profile-form input[name=time_zone]", "Asia/Makassar")
    page.click("#profile-form button[type=submit]")
    page.wait_for_selector(".alert-success")
    assert "Singaraja" in page.inner_text("body")
    page.click("text=Add a phone, e-mail or WhatsApp number")
    page.select_option("#contact-form select[name=kind]", "whatsapp")
    page.fill("#contact-form input[name=value]", "0813-5555-0101")
    page.click("#contact-form button[type=submit]")
    page.wait_for_selector(".alert-success")
    assert "whatsapp: +6281355550101" in page.inner_text("#contacts")

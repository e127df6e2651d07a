"""Browser tests: the real app served by werkzeug in a thread, driven by Playwright + Chromium.

Chromium is Debian's (``apt-get install chromium``), or ``CARELOOP_TEST_CHROMIUM``.
Without it these tests are skipped, unless ``CARELOOP_TEST_REQUIRE_BROWSER=1``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from admin.app import create_app
from core.audit import Actor
from core.runtime import CareLoop
from core.services.patients import PatientInput, create_patient
from core.services.staff import create_user

CHROMIUM = os.environ.get("CARELOOP_TEST_CHROMIUM", "/usr/bin/chromium")
REQUIRE = os.environ.get("CARELOOP_TEST_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PASSWORD = "browser test password"
XSS_NAME = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        if REQUIRE:
            pytest.fail(f"CARELOOP_TEST_REQUIRE_BROWSER=1 but no Chromium at {CHROMIUM}")
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def live_app(runtime: CareLoop) -> Iterator[str]:
    """The app on a free port of 127.0.0.1 (plain http: Secure cookies off, as for the demo)."""
    if not runtime.config.is_sqlite:
        pytest.skip("browser tests run once, on SQLite")
    runtime.config = runtime.config.with_overrides(session_cookie_secure=False)
    app = create_app(runtime=runtime)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def staff(runtime: CareLoop) -> dict[str, str]:
    """One user per role: role -> username."""
    users = {}
    with runtime.transaction() as session:
        for role in ("admin", "crm_staff", "agent", "marketer"):
            create_user(session, f"{role}_b", PASSWORD, role, Actor.system("test"))
            users[role] = f"{role}_b"
    return users


@pytest.fixture
def patients(runtime: CareLoop) -> dict[str, int]:
    with runtime.transaction() as session:
        wayan = create_patient(
            session,
            PatientInput(
                given_name="Wayan",
                family_name="Sudarsana",
                phones=["+62 812-3456-7890"],
                conditions=[("E11", "Type 2 diabetes")],
            ),
            Actor.system("test"),
        )
        xss = create_patient(
            session,
            PatientInput(given_name=XSS_NAME, city=XSS_NAME, phones=["+62 811-0000-0001"]),
            Actor.system("test"),
        )
        return {"wayan": wayan.id, "xss": xss.id}


@pytest.fixture
def page_factory(browser: Any, live_app: str) -> Iterator[Callable[[], Any]]:
    """New isolated pages (own cookies); every JavaScript dialog is recorded in ``page.dialogs``."""
    contexts = []

    def new_page() -> Any:
        context = browser.new_context(base_url=live_app)
        contexts.append(context)
        page = context.new_page()
        page.dialogs = []

        def on_dialog(dialog: Any) -> None:
            page.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.set_default_timeout(10_000)
        return page

    yield new_page
    for context in contexts:
        context.close()


def sign_in(page: Any, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/**")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests run once, on SQLite: deselect (not skip) their PostgreSQL copies."""
    here = str(Path(__file__).parent)
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("database_url") == "postgresql"
        (dropped if on_postgres and str(item.path).startswith(here) else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept

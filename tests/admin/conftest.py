"""Fixtures for back-office tests: the app, staff of each role, signed-in clients."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel import dates as babel_dates
from flask import Flask
from flask.testing import FlaskClient

from admin.app import create_app
from core.audit import Actor
from core.models import AuditEvent, Interaction, Patient, StaffUser
from core.runtime import CareLoop
from core.services.patients import PatientInput, create_patient
from core.services.staff import hash_password

PASSWORD = "correct horse battery"
TELEPHONY_TOKEN = "telephony-test-token"
ROLES = ("admin", "crm_staff", "agent", "marketer")
XSS_NAME = "<img src=x onerror=alert(1)>"
#: the clinic's zone in the list-time tests: UTC+8, no daylight saving
CLINIC_ZONE = "Asia/Makassar"
#: 20:30 UTC on 5 March is 04:30 on 6 March in the clinic: the day changes too
STORED = dt.datetime(2026, 3, 5, 20, 30, tzinfo=dt.UTC)
_CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
_HASH: list[str] = []


def password_hash() -> str:
    """One argon2 hash for every test user (hashing is slow on purpose)."""
    if not _HASH:
        _HASH.append(hash_password(PASSWORD))
    return _HASH[0]


@pytest.fixture
def app(runtime: CareLoop) -> Iterator[Flask]:
    runtime.config = runtime.config.with_overrides(telephony_token=TELEPHONY_TOKEN)
    flask_app = create_app(runtime=runtime)
    flask_app.config["TESTING"] = True
    yield flask_app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    test_client = app.test_client()
    # the session cookie is Secure: talk HTTPS like a real browser would
    test_client.environ_base["wsgi.url_scheme"] = "https"
    return test_client


@pytest.fixture
def make_user(runtime: CareLoop) -> Callable[..., int]:
    """``make_user(role, username=None)`` inserts an active staff user, returns its id."""

    def make(role: str, username: str | None = None) -> int:
        with runtime.transaction() as session:
            user = StaffUser(
                username=username or f"{role}_user",
                display_name=f"{role} user",
                password_hash=password_hash(),
                role=role,
            )
            session.add(user)
            session.flush()
            return user.id

    return make


def csrf_token(client: FlaskClient, path: str = "/admin/") -> str:
    """The session's CSRF token, read from a page that has a form."""
    response = client.get(path)
    if response.status_code == 302:
        response = client.get("/login")
    match = _CSRF.search(response.get_data(as_text=True))
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_in(client: FlaskClient, username: str, password: str = PASSWORD, **kwargs: Any) -> Any:
    """Post the login form with its CSRF token."""
    token = csrf_token(client, "/login")
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        **kwargs,
    )


@pytest.fixture
def login_as(client: FlaskClient, make_user: Callable[..., int]) -> Callable[[str], int]:
    """``login_as(role)``: a user of that role signs in through the real form."""

    def login(role: str) -> int:
        user_id = make_user(role)
        response = sign_in(client, f"{role}_user")
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return user_id

    return login


@pytest.fixture
def patient_id(runtime: CareLoop) -> int:
    """A patient with a phone, an e-mail, an MRN, a condition and a note-bearing call."""
    from core.services.interactions import log_interaction

    with runtime.transaction() as session:
        patient = create_patient(
            session,
            PatientInput(
                given_name="Wayan",
                family_name="Sudarsana",
                mrn="MRN-0001",
                phones=["+62 812-3456-7890"],
                emails=["wayan@example.org"],
                conditions=[("E11", "Type 2 diabetes")],
                tags=["vip"],
                preferred_language="id",
                lead_source="instagram",
            ),
            Actor.system("test"),
        )
        log_interaction(
            session,
            patient.id,
            channel="phone",
            direction="inbound",
            kind="call",
            body="secret clinical note",
            actor=Actor.system("test"),
        )
        return patient.id


@pytest.fixture
def xss_patient_id(runtime: CareLoop) -> int:
    """A patient whose name, city and notes are an XSS attempt."""
    from core.services.interactions import log_interaction

    with runtime.transaction() as session:
        patient = create_patient(
            session,
            PatientInput(
                given_name=XSS_NAME,
                family_name="",
                city=XSS_NAME,
                lead_source=XSS_NAME,
                phones=["+62 811-0000-0001"],
            ),
            Actor.system("test"),
        )
        log_interaction(
            session,
            patient.id,
            channel="phone",
            direction="inbound",
            kind="complaint",
            subject=XSS_NAME,
            body=XSS_NAME,
            actor=Actor.system("test"),
        )
        return patient.id


def stored_as_shown(locale: str) -> str:
    """Babel's own medium date and time of STORED in the clinic's zone."""
    return babel_dates.format_datetime(
        STORED, "medium", tzinfo=ZoneInfo(CLINIC_ZONE), locale=locale
    )


@pytest.fixture
def clinic_zone(runtime: CareLoop) -> None:
    runtime.config = runtime.config.with_overrides(timezone=CLINIC_ZONE)


@pytest.fixture
def stored_times(runtime: CareLoop, patient_id: int, clinic_zone: None) -> int:
    """The patient's creation, its call and its create audit event all at STORED (UTC)."""
    from sqlalchemy import update

    with runtime.transaction() as session:
        session.execute(update(Patient).where(Patient.id == patient_id).values(created_at=STORED))
        session.execute(
            update(Interaction)
            .where(Interaction.patient_id == patient_id)
            .values(started_at=STORED)
        )
        session.execute(
            update(AuditEvent)
            .where(AuditEvent.patient_id == patient_id, AuditEvent.action == "create")
            .values(occurred_at=STORED)
        )
    return patient_id

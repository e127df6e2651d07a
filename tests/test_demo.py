"""The demo data and ``careloop demo``: content, determinism, the CLI and a real server."""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import subprocess
import sys
import time
import unicodedata
import urllib.error
import urllib.request
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path

import dramatiq
import phonenumbers
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, text

from core.cli import _register_core_commands, cli
from core.config import Config
from core.db import make_engine
from core.demo import DEMO_LOGINS, load_demo
from core.demo.clinic import LEAD_SOURCES, price_in
from core.demo.countries import BY_CODE
from core.demo.loader import with_duplicates
from core.demo.messages import TEXTS
from core.demo.people import make_people
from core.identity import compose_display_name
from core.models import (
    Appointment,
    ConsentEvent,
    ContactPoint,
    Department,
    Doctor,
    Interaction,
    Patient,
    Service,
)
from core.runtime import CareLoop
from core.services.patients import PatientInput, create_patient, find_by_phone
from core.services.staff import authenticate
from core.testing import POSTGRES_URL_ENV
from core.testing import test_config as make_config

REPO_ROOT = Path(__file__).resolve().parent.parent
NOW = dt.datetime(2026, 5, 4, 3, 0, tzinfo=dt.UTC)
SMALL = 150
SEED = 7


@pytest.fixture(scope="module")
def demo(database_url, tmp_path_factory):
    """The demo loaded once per backend, into a database of its own."""
    if database_url.startswith("sqlite"):
        url, drop = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}", None
    else:
        admin = make_engine(os.environ[POSTGRES_URL_ENV], isolation_level="AUTOCOMMIT")
        name = f"careloop_demo_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url, drop = f"{database_url.rpartition('/')[0]}/{name}", name
    runtime = CareLoop(make_config(url))
    try:
        runtime.init_database()
        summary = load_demo(runtime, patients=SMALL, seed=SEED, now=NOW)
        dramatiq.get_broker().flush_all()  # no stale jobs for other tests' workers
        yield runtime, summary
    finally:
        runtime.close()
        if drop:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)'))
            admin.dispose()


def _script_of(text: str) -> str:
    for char in text:
        if char.isalpha():
            return unicodedata.name(char).split()[0]
    return ""


def test_counts_directory_and_summary(demo):
    runtime, summary = demo
    with runtime.session() as s:

        def count(model):
            return s.scalar(select(func.count()).select_from(model))

        assert count(Patient) == summary.patients == SMALL
        assert count(Department) == summary.departments >= 3
        assert count(Doctor) == summary.doctors >= 8
        assert count(Appointment) == summary.appointments > SMALL
        assert count(Interaction) == summary.interactions > 5 * SMALL
        assert count(ConsentEvent) == summary.consent_events > 2 * SMALL
        for doctor in s.scalars(select(Doctor)):
            assert doctor.languages and doctor.specialties and doctor.department_id
        services = list(s.scalars(select(Service)))
        assert services and all(
            sv.currency == runtime.config.currency and sv.price > 0 for sv in services
        )


def test_countries_languages_time_zones_and_names(demo):
    runtime, _ = demo
    with runtime.session() as s:
        patients = list(s.scalars(select(Patient).order_by(Patient.id)))
    assert {p.country for p in patients} >= {"ID", "CN", "RU", "UA", "KR"}
    assert {p.preferred_language for p in patients} == {"id", "zh", "ru", "uk", "ko", "en"}
    for p in patients:
        country = BY_CODE[p.country]
        assert p.preferred_language == country.language
        assert p.time_zone in {city.time_zone for city in country.cities}
        assert p.display_name == compose_display_name(p.given_name, p.family_name)
    scripts = {p.preferred_language: _script_of(p.display_name) for p in patients}
    assert scripts == {
        "id": "LATIN",
        "en": "LATIN",
        "zh": "CJK",
        "ko": "HANGUL",
        "ru": "CYRILLIC",
        "uk": "CYRILLIC",
    }
    # family name first, no space: 李小明, 김민수
    for p in patients:
        if p.preferred_language in ("zh", "ko"):
            assert p.display_name == p.family_name + p.given_name
    assert Counter(p.country for p in patients).most_common(1)[0][0] == "ID"


def test_names_round_trip_exactly(demo):
    runtime, _ = demo
    people = with_duplicates(make_people(SMALL, SEED, NOW.date()), SEED)
    with runtime.session() as s:
        stored = list(
            s.execute(
                select(Patient.given_name, Patient.family_name, Patient.mrn).order_by(Patient.id)
            )
        )
    assert [(g, f) for g, f, _ in stored] == [
        (p.data.given_name, p.data.family_name) for p in people
    ]
    assert [m for _, _, m in stored] == [p.data.mrn for p in people]


def test_every_phone_is_valid_e164_and_emails_are_normalised(demo):
    runtime, _ = demo
    with runtime.session() as s:
        points = list(s.execute(select(ContactPoint.kind, ContactPoint.value)))
        patients = s.scalar(select(func.count()).select_from(Patient))
    phones = [v for k, v in points if k in ("phone", "whatsapp")]
    assert len({v for k, v in points if k == "phone"}) >= patients - 5  # 5 likely duplicates
    for value in phones:
        number = phonenumbers.parse(value, None)
        assert phonenumbers.is_valid_number(number), value
        assert phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) == value
    emails = [v for k, v in points if k == "email"]
    assert emails and all(e == e.lower() and e.endswith(".example") for e in emails)
    assert len(emails) == len(set(emails))


def test_conditions_tags_and_lead_sources(demo):
    runtime, _ = demo
    with runtime.session() as s:
        patients = list(s.scalars(select(Patient)))
        codes = {c.code: c.label for p in patients for c in p.conditions}
        tags = {t.name for p in patients for t in p.tags}
        assert any(p.related_people for p in patients)
    assert {"E11", "I10", "J45"} <= set(codes)
    assert codes["E11"] == "Type 2 diabetes mellitus"
    assert {"vip", "medical-tourist", "possible-duplicate"} <= tags
    sources = {p.lead_source for p in patients}
    assert sources <= set(LEAD_SOURCES) and len(sources) >= 6


def test_appointments_past_and_future(demo):
    runtime, _ = demo
    with runtime.session() as s:
        appointments = list(s.scalars(select(Appointment)))
    past = [a for a in appointments if a.scheduled_start < NOW]
    future = [a for a in appointments if a.scheduled_start > NOW]
    assert {a.status for a in past} == {"completed", "no_show", "cancelled"}
    assert {a.status for a in future} == {"booked", "confirmed"}
    assert all(a.scheduled_start <= NOW + dt.timedelta(days=30) for a in future)
    for a in past:
        if a.status == "completed":
            assert a.amount_billed and a.amount_billed > 0
            assert a.actual_start and a.actual_end and a.actual_end > a.actual_start
        else:
            assert a.amount_billed is None and a.actual_end is None


def test_interactions_of_every_kind_in_the_patients_language(demo):
    runtime, _ = demo
    with runtime.session() as s:
        rows = list(
            s.execute(
                select(Interaction, Patient.preferred_language).join(
                    Patient, Patient.id == Interaction.patient_id
                )
            )
        )
    kinds = {i.kind for i, _ in rows}
    assert kinds >= {
        "call",
        "message",
        "visit",
        "consultation",
        "follow_up",
        "survey",
        "complaint",
        "suggestion",
        "note",
    }
    assert {i.channel for i, _ in rows} >= {"phone", "whatsapp", "sms", "email", "in_person"}
    calls = [i for i, _ in rows if i.kind == "call"]
    assert calls and all(i.outcome and i.ended_at is not None for i in calls)
    assert {i.outcome for i in calls} >= {"answered", "no_answer"}
    reminders = 0
    subjects = {lang: texts[0] for lang, texts in TEXTS["reminder"].items()}
    for i, language in rows:
        if i.kind == "message" and i.subject in subjects.values():
            assert i.subject == subjects[language]
            reminders += 1
    assert reminders > SMALL / 2
    assert all(i.started_at <= NOW for i, _ in rows)


def test_consent_histories_grant_and_withdraw(demo):
    runtime, _ = demo
    with runtime.session() as s:
        events = list(s.scalars(select(ConsentEvent).order_by(ConsentEvent.occurred_at)))
    assert {(e.purpose, e.status) for e in events} == {
        ("care", "granted"),
        ("care", "withdrawn"),
        ("marketing", "granted"),
        ("marketing", "withdrawn"),
    }
    assert {e.method for e in events} >= {"form", "import", "reply_keyword", "provider"}
    granted = {(e.patient_id, e.channel) for e in events if e.purpose == "marketing"}
    for e in events:
        if e.purpose == "marketing" and e.status == "withdrawn":
            assert (e.patient_id, e.channel) in granted


def test_demo_logins_authenticate_with_their_roles(demo):
    runtime, summary = demo
    assert {login.role for login in summary.logins} == {"admin", "crm_staff", "marketer", "agent"}
    with runtime.transaction() as s:
        for login in DEMO_LOGINS:
            user = authenticate(s, login.username, login.password)
            assert user is not None and user.role == login.role, login.username


def test_likely_duplicates_share_a_phone(demo):
    runtime, _ = demo
    with runtime.session() as s:
        dup = s.scalar(
            select(Patient).join(Patient.tags).where(Patient.tags.any(name="possible-duplicate"))
        )
        phone = next(c.value for c in dup.contact_points if c.kind == "phone")
        assert len(find_by_phone(s, phone)) == 2


def test_generation_is_deterministic():
    first = make_people(40, 3, NOW.date())
    again = make_people(40, 3, NOW.date())
    other = make_people(40, 4, NOW.date())
    assert [p.data for p in first] == [p.data for p in again]
    assert [p.data.phones for p in first] != [p.data.phones for p in other]


def test_prices_follow_the_clinic_currency():
    assert price_in("IDR", 350_000) == Decimal("350000.00")
    assert price_in("USD", 350_000) == Decimal("22.00")
    assert price_in("KRW", 350_000) == Decimal("30000.00")
    assert price_in("XYZ", 350_000) == price_in("USD", 350_000)


def test_loader_uses_the_configured_currency(tmp_path):
    path = tmp_path / "currency.db"
    runtime = CareLoop(make_config(f"sqlite:///{path}", currency="USD"))
    try:
        runtime.init_database()
        load_demo(runtime, patients=5, seed=1, now=NOW)
        dramatiq.get_broker().flush_all()
        with runtime.session() as s:
            assert set(s.scalars(select(Service.currency))) == {"USD"}
            assert set(
                s.scalars(select(Appointment.currency).where(Appointment.currency.isnot(None)))
            ) == {"USD"}
    finally:
        runtime.close()


# -- the command ----------------------------------------------------------------------------


def _invoke(args: list[str], cwd: Path) -> object:
    _register_core_commands()
    runner = CliRunner()
    env = {name: None for name in os.environ if name.startswith("CARELOOP_")}
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return runner.invoke(cli, args, env=env, catch_exceptions=False)
    finally:
        os.chdir(old)


def test_cli_no_serve_loads_a_fresh_file_in_the_working_directory(tmp_path):
    """Full size on SQLite: 1,000 patients must load well under a minute."""
    started = time.process_time()  # CPU time: other processes on the machine do not count
    result = _invoke(["demo", "--no-serve"], tmp_path)
    elapsed = time.process_time() - started
    assert result.exit_code == 0, result.output
    assert (tmp_path / "careloop-demo.db").exists()
    assert "Loaded 1000 patients" in result.output
    for login in DEMO_LOGINS:
        assert re.search(rf"\b{login.username}\s+{login.password}\b", result.output)
    assert "demo passwords" in result.output
    assert elapsed < 60, f"1,000 demo patients took {elapsed:.1f} s of CPU"
    runtime = CareLoop(
        Config.from_env({}, database_url=f"sqlite:///{tmp_path / 'careloop-demo.db'}")
    )
    try:
        with runtime.session() as s:
            assert s.scalar(select(func.count()).select_from(Patient)) == 1000
    finally:
        runtime.close()
    # --fresh (the default) starts again from an empty file
    again = _invoke(["demo", "--no-serve", "--patients", "10"], tmp_path)
    assert again.exit_code == 0, again.output
    assert "Loaded 10 patients" in again.output


def test_cli_configured_database_is_never_overwritten(tmp_path, actor):
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    runtime = CareLoop(Config.from_env({}, database_url=url))
    try:
        runtime.init_database()
        with runtime.transaction() as s:
            for n in range(3):
                create_patient(s, PatientInput(given_name=f"Real {n}", mrn=f"CL-00000{n}"), actor)
        dramatiq.get_broker().flush_all()
        refused = _invoke(
            ["demo", "--no-serve", "--patients", "12", "--database-url", url], tmp_path
        )
        assert refused.exit_code != 0
        assert "already holds 3 patients" in refused.output
        kept = _invoke(
            ["demo", "--no-serve", "--keep", "--patients", "12", "--database-url", url], tmp_path
        )
        assert kept.exit_code == 0, kept.output
        assert "Loaded 12 patients" in kept.output
        with runtime.session() as s:
            mrns = list(s.scalars(select(Patient.mrn).where(Patient.mrn.isnot(None))))
            assert s.scalar(select(func.count()).select_from(Patient)) == 15
        assert len(mrns) == len(set(mrns)) and {"CL-000000", "CL-000001"} <= set(mrns)
        again = _invoke(["demo", "--no-serve", "--keep", "--database-url", url], tmp_path)
        assert again.exit_code == 0, again.output
        assert "already loaded" in again.output and "careloop-admin" in again.output
        with runtime.session() as s:
            assert s.scalar(select(func.count()).select_from(Patient)) == 15
    finally:
        runtime.close()
    assert not (tmp_path / "careloop-demo.db").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_demo_serves_health_and_prints_logins(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARELOOP_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    command = [sys.executable, "-c", "from core.cli import main; main()"]
    args = ["demo", "--port", str(port), "--patients", "25"]
    proc = subprocess.Popen(
        command + args,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                    health = (response.status, response.read().decode())
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.3)
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        assert health is not None and health[0] == 200 and '"ok"' in health[1]
        try:
            with urllib.request.urlopen(f"{base}/admin/", timeout=5) as response:
                admin_status = response.status
        except urllib.error.HTTPError as exc:
            admin_status = exc.code
        assert admin_status < 500
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=30)
    assert f"{base}/admin/" in output
    for login in DEMO_LOGINS:
        assert login.username in output and login.password in output
    assert (tmp_path / "careloop-demo.db").exists()


def _refusals(reason: str) -> list[tuple[str, str]]:
    """``no_channel:whatsapp=no_consent,sms=opted_out`` -> [(channel, why), ...]."""
    code, _, detail = reason.partition(":")
    if code != "no_channel":
        return []
    return [tuple(item.split("=", 1)) for item in detail.split(",") if "=" in item]


def test_demo_queues_reminders_and_a_recall_that_policy_sorts(runtime, run_jobs):
    """The outbox after a small demo: sent on the console, suppressed with reasons, waiting."""
    from core.cli.demo import drain_jobs
    from core.demo.outreach import RECALL_TEMPLATE, message_counts
    from core.messaging.default_templates import APPOINTMENT_REMINDER
    from core.models import MessageTemplate, OutboundMessage
    from core.services.consent import has_consent

    # quiet hours depend on the wall clock in each patient's zone: off, so the run is repeatable
    runtime.config = runtime.config.with_overrides(quiet_hours="off")
    summary = load_demo(runtime, patients=40, seed=SEED)
    outreach = summary.outreach
    assert outreach.templates >= 6 * 5  # 4 default keys and the recall, six languages each
    assert drain_jobs(runtime, timeout_ms=60_000)
    counts = message_counts(runtime)
    with runtime.session() as s:
        messages = list(s.scalars(select(OutboundMessage)))
        locales = set(
            s.scalars(select(MessageTemplate.locale).where(MessageTemplate.key == RECALL_TEMPLATE))
        )
        assert locales == {"en", "id", "zh", "ru", "uk", "ko"}
        reminders = [m for m in messages if m.template_key == APPOINTMENT_REMINDER]
        upcoming = s.scalar(
            select(func.count())
            .select_from(Appointment)
            .where(Appointment.scheduled_start > dt.datetime.now(dt.UTC))
            .where(Appointment.status.in_(("booked", "confirmed")))
        )
        assert len(reminders) == outreach.reminders == upcoming
        assert all(m.purpose == "care" for m in reminders)
        waiting = [m for m in reminders if m.status == "queued" and m.enqueued_at is None]
        assert len(waiting) == outreach.reminders_waiting  # not due: untouched in the database
        for m in reminders:  # each in the patient's language
            assert m.locale == s.get(Patient, m.patient_id).preferred_language
        assert len(counts) >= 3, counts
        sent = [m for m in messages if m.status in ("sent", "delivered", "read")]
        suppressed = [m for m in messages if m.status == "suppressed"]
        assert any(m.provider_message_id.startswith("console-") for m in sent)
        assert suppressed and all(m.status_reason for m in suppressed)
        assert outreach.earlier_sent > 0
        assert any(m.status_reason == "frequency_cap" for m in suppressed)
        assert all(m.status != "failed" for m in messages)
        for m in sent:  # consent for the channel it went out on, for its purpose
            assert has_consent(s, m.patient_id, m.channel, m.purpose), m
            assert m.rendered_body and m.sent_at is not None
        for m in suppressed:  # refused for consent: really no current consent
            for channel, why in _refusals(m.status_reason):
                if why in ("no_consent", "opted_out"):
                    assert not has_consent(s, m.patient_id, channel, m.purpose), m
        names = {m.patient_id: s.get(Patient, m.patient_id).display_name for m in sent}

    from admin.app import create_app
    from tests.admin.conftest import sign_in

    app = create_app(runtime=runtime)
    app.config["TESTING"] = True
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"
    admin = DEMO_LOGINS[0]
    assert sign_in(client, admin.username, admin.password).status_code == 302
    response = client.get("/admin/outbox/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "suppressed" in page.lower()
    assert any(name in page for name in names.values()) or "delivered" in page.lower()

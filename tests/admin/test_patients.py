"""Patient list: search in every format, filters, export safety, escaping, secrets."""

from __future__ import annotations

import csv
import io

import pytest

from admin.export import neutralise
from core.audit import Actor
from core.services import consent
from core.services.appointments import book_appointment
from core.services.patients import PatientInput, create_patient
from tests.admin.conftest import XSS_NAME


@pytest.fixture
def two_patients(runtime, patient_id):
    import datetime as dt

    from core.models import Department

    with runtime.transaction() as session:
        other = create_patient(
            session,
            PatientInput(
                given_name="Ketut",
                family_name="Arsana",
                mrn="MRN-0002",
                phones=["+62 878-1111-2222"],
                preferred_language="en",
                lead_source="referral",
                tags=["corporate"],
            ),
            Actor.system("test"),
        )
        cardio = Department(code="CARD", name="Cardiology")
        session.add(cardio)
        session.flush()
        book_appointment(
            session,
            other.id,
            scheduled_start=dt.datetime(2030, 1, 1, 9, tzinfo=dt.UTC),
            department_id=cardio.id,
            actor=Actor.system("test"),
        )
        consent.grant(session, patient_id, "whatsapp", "marketing", Actor.system("test"))
        return patient_id, other.id, cardio.id


def _names(client, query: str = "", **params) -> str:
    response = client.get(
        "/admin/patients/", query_string={"search": query, **params} if query else params
    )
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.mark.parametrize(
    "query",
    [
        "+6281234567890",
        "0812-3456-7890",
        "0812 3456 7890",
        "(0812) 3456.7890",
        "+62 812 3456 7890",
        "006281234567890",
        "wayan@example.org",
        "WAYAN@Example.org",
        "MRN-0001",
        "sudarsana",
        "SUDAR",
        "Sudarsana Wayan",
        "Wayan Sudarsana",
        "sudarsana wa",
    ],
)
def test_search_finds_by_any_identifier(client, login_as, two_patients, query):
    login_as("crm_staff")
    body = _names(client, query)
    assert "Sudarsana" in body
    assert "Arsana</a>" not in body  # not the other patient


@pytest.mark.parametrize("query", ["0899-0000-0000", "nobody@example.org", "zzz", "MRN-9999"])
def test_search_without_match(client, login_as, two_patients, query):
    login_as("crm_staff")
    body = _names(client, query)
    assert "Sudarsana" not in body and "Ketut" not in body


def _filter_index(app, label: str) -> int:
    with app.test_request_context():
        view = next(
            v for v in app.extensions["admin"][0]._views if getattr(v, "endpoint", "") == "patients"
        )
        return next(i for i, flt in enumerate(view._filters) if str(flt.name) == label)


@pytest.mark.parametrize(
    ("label", "value", "expect"),
    [
        ("Department", "{dept}", "Ketut"),
        ("Tag", None, "Ketut"),
        ("Language", "en", "Ketut"),
        ("Lead source", "instagram", "Wayan"),
        ("Consent granted", "whatsapp/marketing", "Wayan"),
    ],
)
def test_filters(client, app, login_as, two_patients, runtime, label, value, expect):
    from sqlalchemy import select

    from core.models import Tag

    login_as("crm_staff")
    if label == "Tag":
        with runtime.session() as session:
            value = str(session.scalar(select(Tag.id).where(Tag.name == "corporate")))
    value = value.replace("{dept}", str(two_patients[2]))
    index = _filter_index(app, label)
    body = client.get(f"/admin/patients/?flt0_{index}={value}").get_data(as_text=True)
    other = {"Ketut": "Wayan", "Wayan": "Ketut"}[expect]
    assert expect in body
    assert other not in body


def test_condition_filter_is_clinical(client, app, login_as, two_patients, runtime):
    from sqlalchemy import select

    from core.models import Condition

    with runtime.session() as session:
        condition_id = session.scalar(select(Condition.id))
    index = _filter_index(app, "Condition")
    login_as("crm_staff")
    body = client.get(f"/admin/patients/?flt0_{index}={condition_id}").get_data(as_text=True)
    assert "Sudarsana" in body and "Ketut" not in body


@pytest.fixture
def statements(runtime, monkeypatch):
    """Every SQL statement run: through SQLAlchemy, or on the cursor by a DriverQuery."""
    from sqlalchemy import event

    from core.driver_query import DriverQuery

    seen: list[str] = []

    def remember(conn, cursor, statement, *args):
        seen.append(statement.lower())

    driver_rows = DriverQuery.rows

    def rows(self, session, **values):
        seen.append(self._compiled(session.connection().dialect).sql.lower())
        return driver_rows(self, session, **values)

    monkeypatch.setattr(DriverQuery, "rows", rows)
    event.listen(runtime.db.engine, "before_cursor_execute", remember)
    yield seen
    event.remove(runtime.db.engine, "before_cursor_execute", remember)


@pytest.mark.parametrize("query", ["", "?search=sudarsana", "?search=0812-3456-7890", "?flt0_4=id"])
def test_list_does_no_count_query(client, login_as, two_patients, statements, query):
    login_as("crm_staff")
    statements.clear()
    assert "Sudarsana" in client.get(f"/admin/patients/{query}").get_data(as_text=True)
    patient_selects = [s for s in statements if "from patients" in s]
    assert patient_selects
    assert not any("count(" in s for s in patient_selects)
    # the page's patients, then their phones and e-mails: one query each, not one per row
    assert len([s for s in statements if "from contact_points" in s and "patient_id in" in s]) == 1


def test_export_neutralises_formulas(client, login_as, runtime):
    evil = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]
    with runtime.transaction() as session:
        for i, text in enumerate(evil):
            create_patient(
                session,
                PatientInput(
                    given_name=f"P{i}", family_name="Formula", city=text, lead_source=text
                ),
                Actor.system("test"),
            )
    user_id = login_as("admin")
    response = client.get("/admin/patients/export/csv/")
    assert response.status_code == 200
    with runtime.session() as session:
        from sqlalchemy import select

        from core.models import AuditEvent

        exports = session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).all()
    assert [(e.staff_user_id, e.entity_type) for e in exports] == [(user_id, "patients")]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == len(evil)
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    stored = [text.strip() for text in evil]  # the service trims lead sources
    expected = ["'" + t if t[:1] in "=+-@" else t for t in stored]
    assert sorted(row["Lead source"] for row in rows) == sorted(expected)


def test_neutralise_leaves_safe_values():
    assert neutralise("Budi") == "Budi"
    assert neutralise(12) == 12
    assert neutralise(None) is None
    assert neutralise("=1") == "'=1"


def test_no_secret_columns_anywhere(client, login_as, make_user):
    login_as("admin")
    make_user("agent")
    pages = [
        client.get("/admin/users/").get_data(as_text=True),
        client.get("/admin/users/?search=agent").get_data(as_text=True),
        client.get("/admin/users/export/csv/").get_data(as_text=True),
    ]
    for page in pages:
        assert "argon2" not in page
        assert "password_hash" not in page.lower()
    # and no filter or sort by the hash is accepted
    assert "argon2" not in client.get("/admin/users/?sort=password_hash").get_data(as_text=True)


def test_xss_name_is_text_on_every_page(client, login_as, xss_patient_id):
    login_as("admin")
    pages = [
        "/admin/patients/",
        f"/admin/patients/?search={XSS_NAME}",
        f"/admin/patient/{xss_patient_id}",
        "/admin/lookup/?phone=%2B6281100000002",
        "/admin/lookup/?phone=0811-0000-0001&follow=1",
        "/admin/interactions/",
        "/admin/audit/",
    ]
    for path in pages:
        response = client.get(path, follow_redirects=True)
        body = response.get_data(as_text=True)
        assert response.status_code == 200, path
        assert "<img src=x" not in body, path
    body = client.get(f"/admin/patient/{xss_patient_id}").get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(1)&gt;" in body

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


def _rows_of(body: str) -> list[str]:
    """The list's body rows (HTML of each ``<tr>`` after the header)."""
    start = body.index("</thead>")
    return body[start : body.index("</table>", start)].split("<tr>")[1:]


def _cells(row: str) -> dict[str, str]:
    import re

    return dict(re.findall(r'<td class="col-(\w+)">(.*?)</td>', row, re.S))


def test_list_shows_the_primary_contact_else_the_oldest(client, login_as, runtime):
    from sqlalchemy import select

    from core.models import ContactPoint

    with runtime.transaction() as session:
        patient = create_patient(
            session,
            PatientInput(
                given_name="Made",
                family_name="Primary",
                phones=["+62 812-0000-0001", "+62 812-0000-0002"],
                emails=["first@example.org", "second@example.org"],
            ),
            Actor.system("test"),
        )
        points = session.scalars(
            select(ContactPoint).where(ContactPoint.patient_id == patient.id)
        ).all()
        for point in points:  # the second of each kind becomes the primary one
            point.is_primary = point.value in ("+6281200000002", "second@example.org")
    login_as("agent")
    (row,) = _rows_of(client.get("/admin/patients/?search=primary").get_data(as_text=True))
    assert _cells(row)["phone"] == "+6281200000002"
    assert _cells(row)["email"] == "second@example.org"
    with runtime.transaction() as session:
        for point in session.scalars(select(ContactPoint)).all():
            point.is_primary = False
    (row,) = _rows_of(client.get("/admin/patients/?search=primary").get_data(as_text=True))
    assert _cells(row)["phone"] == "+6281200000001"  # no primary: the oldest
    assert _cells(row)["email"] == "first@example.org"


def test_list_cells_follow_the_columns(client, app, login_as, patient_id):
    login_as("crm_staff")
    body = client.get("/admin/patients/").get_data(as_text=True)
    with app.test_request_context():
        view = next(
            v for v in app.extensions["admin"][0]._views if getattr(v, "endpoint", "") == "patients"
        )
        columns = list(view.column_list)
    (row,) = _rows_of(body)
    assert list(_cells(row)) == columns
    header = body[body.index("<thead>") : body.index("</thead>")]
    assert header.count("<th ") == len(columns)
    cells = _cells(row)
    assert f'href="/admin/patient/{patient_id}"' in cells["display_name"]
    assert "Wayan Sudarsana" in cells["display_name"]
    assert (cells["mrn"], cells["phone"], cells["email"]) == (
        "MRN-0001",
        "+6281234567890",
        "wayan@example.org",
    )
    assert (cells["preferred_language"], cells["lead_source"]) == ("id", "instagram")


@pytest.mark.parametrize(("role", "linked"), [("agent", True), ("marketer", False)])
def test_names_link_to_the_record_only_for_roles_that_may_open_it(
    client, login_as, patient_id, role, linked
):
    login_as(role)
    body = client.get("/admin/patients/").get_data(as_text=True)
    assert "Wayan Sudarsana" in body
    assert (f'href="/admin/patient/{patient_id}"' in body) == linked


def test_every_list_cell_is_escaped(client, login_as, xss_patient_id):
    login_as("admin")
    for path in ("/admin/patients/", "/admin/patients/?search=%3Cimg"):
        (row,) = _rows_of(client.get(path).get_data(as_text=True))
        assert "<img" not in row
        cells = _cells(row)
        for column in ("display_name", "city", "lead_source"):
            assert "&lt;img src=x onerror=alert(1)&gt;" in cells[column], (path, column)


@pytest.fixture
def thirty(runtime):
    with runtime.transaction() as session:
        for i in range(30):
            create_patient(
                session,
                PatientInput(
                    given_name=f"G{i:02d}",
                    family_name="Pager",
                    mrn=f"P-{i:02d}",
                    preferred_language="en",
                ),
                Actor.system("test"),
            )


def test_pages_and_sorts(client, app, login_as, thirty):
    import re

    login_as("crm_staff")
    first = client.get("/admin/patients/").get_data(as_text=True)
    second = client.get("/admin/patients/?page=1").get_data(as_text=True)
    names = [_cells(r)["mrn"] for r in _rows_of(first) + _rows_of(second)]
    assert names == sorted(names)  # sort names "pager g00".. follow the MRNs
    assert (len(_rows_of(first)), len(_rows_of(second))) == (25, 5)
    assert '<li class="page-item disabled">' in first  # no previous page
    assert re.search(
        r'<li class="page-item disabled">\s*<a class="page-link" href="[^"]*page=1', second
    )
    index = _filter_index(app, "Language")
    mrn_sort = [
        [_cells(r).get("mrn") for r in _rows_of(client.get(path).get_data(as_text=True))]
        for path in (
            "/admin/patients/?sort=1&desc=1",  # a statement built once
            f"/admin/patients/?sort=1&desc=1&flt0_{index}=en",  # Flask-Admin's query
            f"/admin/patients/?sort=1&desc=1&flt0_{index}=en&search=pager",
            "/admin/patients/?sort=1&desc=1&search=pager",
        )
    ]
    assert mrn_sort[0] == sorted(names, reverse=True)[:25]
    assert mrn_sort[0] == mrn_sort[1] == mrn_sort[2] == mrn_sort[3]
    assert _rows_of(client.get(f"/admin/patients/?flt0_{index}=zz").get_data(as_text=True)) == [
        _rows_of(client.get("/admin/patients/?search=zzz").get_data(as_text=True))[0]
    ]


def test_search_and_filter_together_use_both(client, app, login_as, two_patients):
    login_as("crm_staff")
    index = _filter_index(app, "Language")
    body = client.get(f"/admin/patients/?search=arsana&flt0_{index}=en").get_data(as_text=True)
    assert "Ketut" in body and "Sudarsana" not in body
    body = client.get(f"/admin/patients/?search=sudarsana&flt0_{index}=en").get_data(as_text=True)
    assert "Sudarsana" not in body and "Ketut" not in body


def test_export_has_contacts_and_every_row(client, login_as, two_patients):
    login_as("crm_staff")
    response = client.get("/admin/patients/export/csv/")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    by_name = {row["Name"]: row for row in rows}
    assert set(by_name) == {"Wayan Sudarsana", "Ketut Arsana"}
    # (numbers start with "+": neutralised like formulas)
    assert by_name["Wayan Sudarsana"]["Phone"] == "'+6281234567890"
    assert by_name["Wayan Sudarsana"]["E-mail"] == "wayan@example.org"
    assert by_name["Ketut Arsana"]["Phone"] == "'+6287811112222"


@pytest.mark.parametrize(
    ("role", "export", "condition"),
    [("crm_staff", True, True), ("agent", False, True), ("marketer", False, False)],
)
def test_export_and_condition_filter_only_for_roles_allowed(
    client, login_as, patient_id, role, export, condition
):
    login_as(role)
    body = client.get("/admin/patients/?search=sudarsana").get_data(as_text=True)
    assert ("/admin/patients/export/csv/?search=sudarsana" in body) == export
    groups = body[body.index('id="filter-groups-data"') :]
    groups = groups[: groups.index("</div>")]
    assert '"Tag"' in groups
    assert ('"Condition"' in groups) == condition
    assert ('class="dropdown-item filter" onclick="return false;">Condition<' in body) == condition

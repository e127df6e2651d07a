"""Back-office lists: times stored in UTC are shown in the clinic's zone and the viewer's
locale (exported as ISO 8601 with the offset); the patient list sorts by name."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest

from core.audit import Actor
from core.models import Patient
from core.services.patients import PatientInput, create_patient
from tests.admin.conftest import STORED, stored_as_shown


def _rows_of(body: str) -> list[str]:
    start = body.index("</thead>")
    return body[start : body.index("</table>", start)].split("<tr>")[1:]


def _cells(row: str) -> dict[str, str]:
    return dict(re.findall(r'<td class="col-(\w+)">(.*?)</td>', row, re.S))


def _patient_filter_index(app, label: str) -> int:
    with app.test_request_context():
        view = next(
            v for v in app.extensions["admin"][0]._views if getattr(v, "endpoint", "") == "patients"
        )
        return next(i for i, flt in enumerate(view._filters) if str(flt.name) == label)


def test_expected_text_is_the_local_time_not_utc():
    # the test's own expectation: 04:30 on the 6th in the clinic, never 20:30 on the 5th
    assert "4:30:00" in stored_as_shown("en") and "6" in stored_as_shown("en")
    assert "4:30:00" in stored_as_shown("ru") and "20:30" not in stored_as_shown("ru")


@pytest.mark.parametrize("locale", ["en", "ru", "id"])
def test_patient_list_shows_created_at_in_clinic_zone_and_locale(
    client, app, login_as, stored_times, locale
):
    login_as("crm_staff")
    language = _patient_filter_index(app, "Language")
    for path in (
        f"/admin/patients/?lang={locale}",  # the prebuilt statement
        f"/admin/patients/?lang={locale}&search=sudarsana",
        f"/admin/patients/?lang={locale}&flt0_{language}=id",  # Flask-Admin's query
    ):
        (row,) = _rows_of(client.get(path).get_data(as_text=True))
        assert _cells(row)["created_at"] == stored_as_shown(locale), path


@pytest.mark.parametrize("locale", ["en", "ru"])
@pytest.mark.parametrize(
    ("role", "path", "column"),
    [
        ("crm_staff", "/admin/interactions/", "started_at"),
        ("admin", "/admin/audit/", "occurred_at"),
    ],
)
def test_model_lists_show_times_in_clinic_zone_and_locale(
    client, login_as, stored_times, role, path, column, locale
):
    login_as(role)
    body = client.get(f"{path}?lang={locale}").get_data(as_text=True)
    shown = [_cells(row).get(column) for row in _rows_of(body)]
    assert stored_as_shown(locale) in shown
    assert not any(text and ("20:30" in text or "+00:00" in text) for text in shown), shown


@pytest.mark.parametrize("locale", ["en", "ru"])
def test_outbox_details_show_times_in_clinic_zone(
    client, login_as, runtime, stored_times, monkeypatch, locale
):
    from core.messaging import outbox

    monkeypatch.setattr(outbox, "send_to_broker", lambda jobs: 0)
    with runtime.transaction() as session:
        message = outbox.enqueue_message(session, stored_times, channel="sms", body="Hi")
        message.created_at = STORED
        message_id = message.id
    login_as("crm_staff")
    response = client.get(f"/admin/outbox/details/?id={message_id}&lang={locale}")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert stored_as_shown(locale) in body
    assert "20:30:00" not in body and "+00:00" not in body
    listed = client.get(f"/admin/outbox/?lang={locale}").get_data(as_text=True)
    assert stored_as_shown(locale) in listed


def test_export_writes_iso_8601_with_the_offset(client, login_as, stored_times):
    login_as("crm_staff")
    response = client.get("/admin/patients/export/csv/")
    assert response.status_code == 200
    (row,) = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert row["Created"] == "2026-03-06T04:30:00+08:00"
    assert dt.datetime.fromisoformat(row["Created"]) == STORED


# --------------------------------------------------------------------------- sorting


@pytest.fixture
def named(runtime):
    """Three patients whose sort names, MRNs and creation orders all differ."""
    with runtime.transaction() as session:
        for given, family, mrn in (
            ("Zoe", "Martin", "S-1"),
            ("Amy", "Martell", "S-3"),
            ("Bob", "Marten", "S-2"),
        ):
            create_patient(
                session,
                PatientInput(
                    given_name=given, family_name=family, mrn=mrn, preferred_language="en"
                ),
                Actor.system("test"),
            )
    return ["Amy Martell", "Bob Marten", "Zoe Martin"]  # by sort name (family name first)


def _names(client, path: str) -> list[str]:
    response = client.get(path)
    assert response.status_code == 200, path
    cells = [_cells(row)["display_name"] for row in _rows_of(response.get_data(as_text=True))]
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in cells]


def _name_header(body: str) -> str:
    header = re.search(r'<th class="column-header col-display_name">(.*?)</th>', body, re.S)
    assert header is not None
    return header.group(1)


def test_name_header_has_a_sort_link(client, login_as, named):
    login_as("crm_staff")
    header = _name_header(client.get("/admin/patients/").get_data(as_text=True))
    link = re.search(r'<a href="([^"]*)"', header)
    assert link is not None, header
    assert re.search(r"[?&]sort=0(&|$)", link.group(1)), link.group(1)
    assert "desc=1" not in link.group(1)
    # once sorted by name, the link turns the order round
    header = _name_header(client.get("/admin/patients/?sort=0").get_data(as_text=True))
    link = re.search(r'<a href="([^"]*)"', header)
    assert link is not None, header
    assert re.search(r"[?&]sort=0(&|$)", link.group(1)) and "desc=1" in link.group(1)
    assert "fa-chevron-down" in header


def test_sorting_by_name_orders_rows(client, app, login_as, named):
    login_as("crm_staff")
    language = _patient_filter_index(app, "Language")
    for extra in (
        "",  # the prebuilt statement
        "&search=mart",  # the prebuilt statement with name keys
        f"&flt0_{language}=en",  # Flask-Admin's query
        f"&flt0_{language}=en&search=mart",
    ):
        assert _names(client, f"/admin/patients/?sort=0{extra}") == named, extra
        assert _names(client, f"/admin/patients/?sort=0&desc=1{extra}") == named[::-1], extra
        # the MRN column still sorts by MRN
        by_mrn = ["Zoe Martin", "Bob Marten", "Amy Martell"]
        assert _names(client, f"/admin/patients/?sort=1{extra}") == by_mrn, extra


def test_sort_key_of_a_renamed_column_is_the_shown_column(app):
    with app.test_request_context():
        view = next(
            v for v in app.extensions["admin"][0]._views if getattr(v, "endpoint", "") == "patients"
        )
        assert view.is_sortable("display_name")
        assert view._sortable_columns["display_name"] is Patient.sort_name
        assert "sort_name" not in view._sortable_columns

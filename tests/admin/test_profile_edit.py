"""Staff correct a patient's profile and contact points from the 360° page; all audited."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from core.models import AuditEvent, ContactPoint, Patient
from tests.admin.conftest import XSS_NAME, csrf_token

_VERSION = re.compile(r'name="version" type="hidden" value="([^"]*)"')


def _profile(client, url: str, **fields: str) -> dict[str, str]:
    """The form as the browser would post it, opened just now, with *fields* changed."""
    page = client.get(url).get_data(as_text=True)
    data = {
        "csrf_token": csrf_token(client, url),
        "version": _VERSION.search(page).group(1),
        "given_name": "Wayan",
        "family_name": "Sudarsana",
        "mrn": "MRN-0001",
        "birth_date": "",
        "sex": "unknown",
        "preferred_language": "id",
        "time_zone": "",
        "address_line": "",
        "city": "",
        "province": "",
        "postal_code": "",
        "country": "",
        "lead_source": "instagram",
    }
    data.update(fields)
    return data


def test_the_form_shows_the_profile_and_saves_changes(client, login_as, patient_id, runtime):
    user_id = login_as("agent")
    url = f"/admin/patient/{patient_id}/edit"
    page = client.get(url).get_data(as_text=True)
    assert 'value="MRN-0001"' in page and 'id="profile-form"' in page
    data = _profile(
        client,
        url,
        given_name="Made",
        birth_date="1984-02-29",
        time_zone="Asia/Makassar",
        city="Denpasar",
    )
    response = client.post(url, data=data)
    assert response.status_code == 302 and response.location.endswith(f"/patient/{patient_id}")
    with runtime.session() as session:
        patient = session.get(Patient, patient_id)
        assert (patient.display_name, patient.birth_date, patient.city) == (
            "Made Sudarsana",
            dt.date(1984, 2, 29),
            "Denpasar",
        )
        (event,) = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "update", AuditEvent.staff_user_id == user_id
            )
        ).all()
    assert set(event.details["fields"]) == {"given_name", "birth_date", "time_zone", "city"}


def test_bad_values_are_refused_with_the_reason_and_nothing_changes(
    client, login_as, patient_id, runtime
):
    login_as("crm_staff")
    url = f"/admin/patient/{patient_id}/edit"
    data = _profile(client, url, preferred_language="klingon", city="Ubud")
    page = client.post(url, data=data).get_data(as_text=True)
    assert "klingon" in page and "not a known language tag" in page
    with runtime.session() as session:
        assert session.get(Patient, patient_id).city is None


def test_a_name_is_escaped_on_the_edit_page(client, login_as, patient_id, runtime):
    with runtime.transaction() as session:
        session.get(Patient, patient_id).display_name = XSS_NAME
    login_as("admin")
    page = client.get(f"/admin/patient/{patient_id}/edit").get_data(as_text=True)
    assert XSS_NAME not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_contact_points_are_added_in_any_format_and_removed(client, login_as, patient_id, runtime):
    login_as("agent")
    record = f"/admin/patient/{patient_id}"
    add = {"csrf_token": csrf_token(client, record), "kind": "phone", "value": "0813 1111 2222"}
    assert client.post(f"{record}/contacts", data=add).status_code == 302
    bad = {**add, "csrf_token": csrf_token(client, record), "value": "call me"}
    client.post(f"{record}/contacts", data=bad)
    with runtime.session() as session:
        phones = session.scalars(
            select(ContactPoint)
            .where(ContactPoint.patient_id == patient_id, ContactPoint.kind == "phone")
            .order_by(ContactPoint.id)
        ).all()
    assert [(p.value, p.is_primary) for p in phones] == [
        ("+6281234567890", True),
        ("+6281311112222", False),
    ]
    remove = {"csrf_token": csrf_token(client, record)}
    assert client.post(f"{record}/contacts/{phones[0].id}/remove", data=remove).status_code == 302
    with runtime.session() as session:
        left = session.scalars(
            select(ContactPoint).where(
                ContactPoint.patient_id == patient_id, ContactPoint.kind == "phone"
            )
        ).all()
    assert [(p.value, p.is_primary) for p in left] == [("+6281311112222", True)]


def test_opening_the_form_is_an_audited_view(client, login_as, patient_id, runtime):
    user_id = login_as("agent")
    client.get(f"/admin/patient/{patient_id}/edit")
    with runtime.session() as session:
        views = session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "view", AuditEvent.staff_user_id == user_id
            )
        ).all()
    assert [v.patient_id for v in views] == [patient_id]


def test_a_save_over_someone_elses_change_is_refused(client, login_as, patient_id, runtime):
    from core.audit import Actor
    from core.services.patients import update_patient

    login_as("crm_staff")
    url = f"/admin/patient/{patient_id}/edit"
    stale = _profile(client, url, city="Ubud")
    with runtime.transaction() as session:  # another member of staff saves first
        update_patient(session, patient_id, {"city": "Kuta"}, Actor.system("other"))
    page = client.post(url, data=stale).get_data(as_text=True)
    assert "Someone else changed this record" in page and 'value="Kuta"' in page
    with runtime.session() as session:
        assert session.get(Patient, patient_id).city == "Kuta"

"""The 360° page: audit of views, agent actions through core services, timeline, panels."""

from __future__ import annotations

import datetime as dt

import pytest
from markupsafe import Markup
from sqlalchemy import select

from core import Manifest, hookimpl
from core.audit import Actor
from core.models import Appointment, AuditEvent, ConsentEvent, Interaction, Patient
from core.panels import PatientPanel, render_panel
from core.services.interactions import log_interaction
from core.services.patients import PatientInput, create_patient
from tests.admin.conftest import XSS_NAME, csrf_token


def _audit(runtime, **where):
    with runtime.session() as session:
        query = select(AuditEvent)
        for key, value in where.items():
            query = query.where(getattr(AuditEvent, key) == value)
        return session.scalars(query.order_by(AuditEvent.id)).all()


def test_viewing_a_record_is_audited_with_user_and_address(client, login_as, patient_id, runtime):
    user_id = login_as("agent")
    response = client.get(f"/admin/patient/{patient_id}", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert response.status_code == 200
    assert "Sudarsana" in response.get_data(as_text=True)
    views = _audit(runtime, action="view", patient_id=patient_id)
    assert [(e.staff_user_id, e.ip_address, e.entity_type) for e in views] == [
        (user_id, "10.1.2.3", "patient")
    ]


def test_denied_view_is_not_audited_and_shows_nothing(client, login_as, patient_id, runtime):
    login_as("marketer")
    response = client.get(f"/admin/patient/{patient_id}")
    assert response.status_code == 403
    assert _audit(runtime, action="view") == []


def test_unknown_patient_is_404(client, login_as):
    login_as("agent")
    assert client.get("/admin/patient/999999").status_code == 404


def test_log_call(client, login_as, patient_id, runtime):
    user_id = login_as("agent")
    token = csrf_token(client)
    response = client.post(
        f"/admin/patient/{patient_id}/call",
        data={
            "csrf_token": token,
            "direction": "outbound",
            "outcome": "callback",
            "duration_minutes": "4",
            "notes": "asked about fasting before the lab test",
        },
        environ_base={"REMOTE_ADDR": "10.9.8.7"},
    )
    assert response.status_code == 302
    with runtime.session() as session:
        call = session.scalars(
            select(Interaction).where(Interaction.staff_user_id == user_id)
        ).one()
    assert (call.kind, call.channel, call.direction, call.outcome) == (
        "call",
        "phone",
        "outbound",
        "callback",
    )
    assert call.duration_seconds == 240
    assert call.body == "asked about fasting before the lab test"
    created = _audit(runtime, action="create", entity_type="interaction", staff_user_id=user_id)
    assert [e.ip_address for e in created] == ["10.9.8.7"]
    page = client.get(f"/admin/patient/{patient_id}").get_data(as_text=True)
    assert "asked about fasting" in page


def test_book_appointment_in_clinic_time_zone(client, login_as, patient_id, runtime):
    runtime.config = runtime.config.with_overrides(timezone="Asia/Makassar")  # UTC+8
    user_id = login_as("agent")
    token = csrf_token(client)
    response = client.post(
        f"/admin/patient/{patient_id}/appointment",
        data={"csrf_token": token, "scheduled_start": "2030-03-04T09:30", "notes": "first visit"},
    )
    assert response.status_code == 302
    with runtime.session() as session:
        appointment = session.scalars(select(Appointment)).one()
    assert appointment.scheduled_start == dt.datetime(2030, 3, 4, 1, 30, tzinfo=dt.UTC)
    assert appointment.status == "booked"
    assert _audit(runtime, entity_type="appointment", staff_user_id=user_id)
    page = client.get(f"/admin/patient/{patient_id}").get_data(as_text=True)
    shown = page[page.find('id="appointments"') :][:600]
    assert "9:30" in shown  # 01:30 UTC shown at 09:30 in the clinic's zone
    assert "2030" in shown


def test_bad_booking_is_reported_not_saved(client, login_as, patient_id, runtime):
    login_as("agent")
    token = csrf_token(client)
    response = client.post(
        f"/admin/patient/{patient_id}/appointment",
        data={"csrf_token": token, "scheduled_start": "not a date"},
        follow_redirects=True,
    )
    assert response.status_code == 200
    with runtime.session() as session:
        assert session.scalars(select(Appointment)).all() == []


@pytest.mark.parametrize("kind", ["complaint", "suggestion"])
def test_record_feedback(client, login_as, patient_id, runtime, kind):
    login_as("agent")
    token = csrf_token(client)
    client.post(
        f"/admin/patient/{patient_id}/feedback",
        data={"csrf_token": token, "kind": kind, "channel": "in_person", "subject": "Parking"},
    )
    with runtime.session() as session:
        row = session.scalars(select(Interaction).where(Interaction.kind == kind)).one()
    assert (row.subject, row.channel, row.direction) == ("Parking", "in_person", "inbound")


def test_grant_then_withdraw_consent(client, login_as, patient_id, runtime):
    user_id = login_as("crm_staff")
    for action in ("granted", "withdrawn"):
        token = csrf_token(client)
        client.post(
            f"/admin/patient/{patient_id}/consent",
            data={
                "csrf_token": token,
                "channel": "whatsapp",
                "purpose": "marketing",
                "action": action,
            },
        )
    with runtime.session() as session:
        rows = session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)).all()
    assert [(r.status, r.method, r.staff_user_id) for r in rows] == [
        ("granted", "staff", user_id),
        ("withdrawn", "staff", user_id),
    ]
    assert len(_audit(runtime, entity_type="consent", staff_user_id=user_id)) == 2


def test_merge_preview_then_merge(client, login_as, patient_id, runtime):
    with runtime.transaction() as session:
        dup = create_patient(
            session,
            PatientInput(given_name="Wayan", family_name="S.", phones=["+62 813-1111-2222"]),
            Actor.system("test"),
        )
        log_interaction(
            session,
            dup.id,
            channel="sms",
            direction="inbound",
            kind="message",
            actor=Actor.system("t"),
        )
        dup_id = dup.id
    user_id = login_as("crm_staff")
    preview = client.get(f"/admin/patient/{patient_id}/merge?other_id={dup_id}")
    assert preview.status_code == 200
    body = preview.get_data(as_text=True)
    assert "Merge preview" in body and "Wayan S." in body
    with runtime.session() as session:
        assert session.get(Patient, dup_id).merged_into_id is None  # a preview changes nothing
    token = csrf_token(client)
    response = client.post(
        f"/admin/patient/{patient_id}/merge",
        data={"csrf_token": token, "other_id": dup_id, "confirm": "yes"},
    )
    assert response.status_code == 302
    with runtime.session() as session:
        assert session.get(Patient, dup_id).merged_into_id == patient_id
        moved = session.scalars(
            select(Interaction).where(Interaction.patient_id == patient_id)
        ).all()
    assert len(moved) == 2
    assert _audit(runtime, action="merge", staff_user_id=user_id)
    # the duplicate's page now leads to the record that was kept
    redirect = client.get(f"/admin/patient/{dup_id}")
    assert redirect.status_code == 302
    assert redirect.location.endswith(f"/admin/patient/{patient_id}")


def _thirty_messages(runtime, patient_id) -> None:
    """30 outbound SMS, one an hour from 2024-01-01, subjects "message number 00".. "29"."""
    base = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    with runtime.transaction() as session:
        for i in range(30):
            log_interaction(
                session,
                patient_id,
                channel="sms",
                direction="outbound",
                kind="message",
                subject=f"message number {i:02d}",
                started_at=base + dt.timedelta(hours=i),
                actor=Actor.system("t"),
            )


def test_timeline_is_newest_first_and_paginated(client, login_as, patient_id, runtime):
    _thirty_messages(runtime, patient_id)
    login_as("agent")
    first = client.get(f"/admin/patient/{patient_id}").get_data(as_text=True)
    assert first.index("message number 29") < first.index("message number 28")
    assert "message number 00" not in first
    import re

    older = re.search(r'id="timeline-older" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(older).get_data(as_text=True)
    assert "message number 00" in second
    assert "message number 29" not in second


def test_hook_careloop_patient_panels(client, login_as, patient_id, plugin_registrar):
    seen_roles = []

    class PanelPlugin:
        manifest = Manifest(name="paneltest", version="1.0")

        @hookimpl
        def careloop_patient_panels(self, session, patient_id, viewer_role):
            seen_roles.append(viewer_role)
            name = session.get(Patient, patient_id).display_name
            return [
                render_panel(
                    "Survey answers",
                    "<p class='answers'>{{ name }} said {{ text }}</p>",
                    name=name,
                    text=XSS_NAME,
                ),
                PatientPanel(title="Plain " + XSS_NAME, text="line one\n" + XSS_NAME, order=1),
                PatientPanel(title="Not markup", html=XSS_NAME),  # a plain str is escaped
            ]

    plugin_registrar(PanelPlugin())
    login_as("agent")
    body = client.get(f"/admin/patient/{patient_id}").get_data(as_text=True)
    assert seen_roles == ["agent"]
    assert "<p class='answers'>Wayan Sudarsana said &lt;img" in body
    assert "Plain &lt;img" in body
    assert body.index("Plain &lt;img") < body.index("Survey answers")  # order
    assert "<img src=x" not in body
    assert isinstance(render_panel("t", "{{ x }}", x="<b>").html, Markup)


def test_disabled_plugin_adds_no_panel(client, login_as, patient_id, plugin_registrar, runtime):
    class PanelPlugin:
        manifest = Manifest(name="panelgone", version="1.0")

        @hookimpl
        def careloop_patient_panels(self):
            return [PatientPanel(title="Gone panel", text="x")]

    plugin_registrar(PanelPlugin())
    login_as("admin")
    assert "Gone panel" in client.get(f"/admin/patient/{patient_id}").get_data(as_text=True)
    runtime.plugins.disable("panelgone", Actor.system("test"))
    assert "Gone panel" not in client.get(f"/admin/patient/{patient_id}").get_data(as_text=True)


def test_contact_preference_is_saved_shown_and_cleared(client, login_as, patient_id, runtime):
    user_id = login_as("crm_staff")
    url = f"/admin/patient/{patient_id}/channels"
    data = {"csrf_token": csrf_token(client), "first": "email", "second": "sms", "third": "email"}
    assert client.post(url, data=data).status_code == 302
    with runtime.session() as session:
        assert session.get(Patient, patient_id).preferred_channels == "email,sms"
    page = client.get(f"/admin/patient/{patient_id}").get_data(as_text=True)
    assert "email → sms" in page and '<option selected value="email">' in page
    blank = {"csrf_token": csrf_token(client), "first": "", "second": "", "third": ""}
    assert client.post(url, data=blank).status_code == 302
    with runtime.session() as session:
        assert session.get(Patient, patient_id).preferred_channels is None
    changes = _audit(runtime, entity_type="patient", action="update", staff_user_id=user_id)
    assert len(changes) == 2
    assert (
        client.post(url, data={"csrf_token": csrf_token(client), "first": "fax"}).status_code == 302
    )
    with runtime.session() as session:
        assert session.get(Patient, patient_id).preferred_channels is None  # refused


# -- the action forms: rendered once per language, each with the request's CSRF token ------

_FORMS = {  # form id -> (action suffix, the field names it posts)
    "contact-form": ("contacts", {"kind", "value"}),
    "log-call": ("call", {"direction", "outcome", "duration_minutes", "notes"}),
    "book": (
        "appointment",
        {"scheduled_start", "doctor_id", "department_id", "service_id", "notes"},
    ),
    "feedback": ("feedback", {"kind", "channel", "subject", "body"}),
    "consent-form": ("consent", {"channel", "purpose", "action", "evidence"}),
    "channels-form": ("channels", {"first", "second", "third"}),
}


def _form(page: str, form_id: str) -> str:
    import re

    match = re.search(
        rf'<form method="post" action="([^"]+)" id="{form_id}">(.*?)</form>', page, re.S
    )
    assert match, f"no form {form_id}"
    return match.group(0)


def _names(html: str) -> set[str]:
    import re

    return set(re.findall(r'name="([^"]+)"', html))


def test_every_action_form_has_its_fields_and_a_working_csrf_token(
    client, login_as, patient_id, runtime
):
    import re

    login_as("admin")
    page = client.get(f"/admin/patient/{patient_id}").get_data(as_text=True)
    tokens = set()
    for form_id, (suffix, fields) in _FORMS.items():
        html = _form(page, form_id)
        assert f'action="/admin/patient/{patient_id}/{suffix}"' in html
        assert _names(html) == fields | {"csrf_token"}, form_id
        tokens |= set(re.findall(r'name="csrf_token" type="hidden" value="([^"]+)"', html))
    removes = re.findall(r'action="(/admin/patient/\d+/contacts/\d+/remove)">(.*?)</form>', page)
    assert len(removes) == 2  # the phone and the e-mail
    for _url, html in removes:
        tokens |= set(re.findall(r'name="csrf_token" type="hidden" value="([^"]+)"', html))
    assert len(tokens) == 1  # one token per page, valid for every form
    sign_out = re.search(r'action="/logout">.*?name="csrf_token" value="([^"]+)"', page, re.S)
    assert sign_out.group(1) in tokens  # the layout's sign-out form too
    merge = page[page.index('id="merge"') :]
    assert 'name="other_id"' in merge[: merge.index("</form>")]
    # the page's token is accepted; a form without it is refused
    data = {"direction": "outbound", "outcome": "answered", "notes": "token check"}
    url = f"/admin/patient/{patient_id}/call"
    assert client.post(url, data=data).status_code == 400
    assert client.post(url, data={**data, "csrf_token": tokens.pop()}).status_code == 302
    with runtime.session() as session:
        notes = session.scalars(select(Interaction.body).where(Interaction.kind == "call")).all()
    assert "token check" in notes


def test_forms_follow_the_role(client, login_as, patient_id):
    login_as("agent")
    page = client.get(f"/admin/patient/{patient_id}").get_data(as_text=True)
    for form_id in ("log-call", "book", "feedback", "contact-form"):
        _form(page, form_id)
    for absent in ('id="consent-form"', 'id="channels-form"', 'id="merge"'):
        assert absent not in page


def test_forms_are_in_the_viewers_language(client, login_as, patient_id):
    login_as("agent")
    url = f"/admin/patient/{patient_id}"
    english = _form(client.get(url + "?lang=en").get_data(as_text=True), "log-call")
    assert ">Direction</label>" in english and ">Inbound</option>" in english
    page = client.get(url + "?lang=id").get_data(as_text=True)
    indonesian = _form(page, "log-call")
    assert ">Arah</label>" in indonesian and ">Masuk</option>" in indonesian
    assert "Catat panggilan" in page and "Log a call" not in page  # the page's own labels
    page = client.get(url + "?lang=en").get_data(as_text=True)
    assert ">Direction</label>" in _form(page, "log-call")
    assert "Log a call" in page and "Catat panggilan" not in page


def test_booking_choices_are_escaped_and_each_patient_sees_their_own_preference(
    client, login_as, patient_id, runtime
):
    from core.models import Doctor

    with runtime.transaction() as session:
        session.add(Doctor(display_name=XSS_NAME))
        other = create_patient(
            session, PatientInput(given_name="Ketut", family_name="Other"), Actor.system("t")
        )
        other.preferred_channels = "sms,phone"
        session.get(Patient, patient_id).preferred_channels = "email"
        other_id = other.id
    login_as("admin")
    page = client.get(f"/admin/patient/{patient_id}").get_data(as_text=True)
    book = _form(page, "book")
    assert "&lt;img src=x onerror=alert(1)&gt;</option>" in book
    assert "<img src=x" not in page
    channels = _form(page, "channels-form")
    assert channels.count("<option selected") == 3  # email, then "-" twice
    assert '<option selected value="email">' in channels
    other_page = client.get(f"/admin/patient/{other_id}").get_data(as_text=True)
    theirs = _form(other_page, "channels-form")
    assert '<option selected value="sms">' in theirs and '<option selected value="phone">' in theirs
    assert '<option selected value="email">' not in theirs


def test_record_view_is_audited_once_and_merged_records_are_not(
    client, login_as, patient_id, runtime
):
    login_as("agent")
    assert client.get(f"/admin/patient/{patient_id}").status_code == 200
    assert len(_audit(runtime, action="view", patient_id=patient_id)) == 1
    with runtime.transaction() as session:
        dup = create_patient(session, PatientInput(given_name="Dup"), Actor.system("t"))
        dup.merged_into_id = patient_id
        dup_id = dup.id
    assert client.get(f"/admin/patient/{dup_id}").status_code == 302
    assert _audit(runtime, action="view", patient_id=dup_id) == []


def test_clinical_details_follow_the_role(client, login_as, patient_id):
    login_as("admin")
    page = client.get(f"/admin/patient/{patient_id}").get_data(as_text=True)
    assert "Type 2 diabetes" in page and "secret clinical note" in page


def test_rendered_pieces_start_afresh_after_a_catalogue_reload(app):
    from admin.views import patient360
    from core import i18n

    with app.test_request_context():
        first = patient360._rendered()
        first["probe"] = Markup("x")
        assert patient360._rendered() is first
        i18n.reload_catalogues()
        again = patient360._rendered()
        assert again is not first and "probe" not in again


def test_record_lists_and_first_timeline_page_are_one_statement(
    client, login_as, patient_id, runtime, monkeypatch
):
    """The page reads the record, its lists and the timeline's first page in one round
    trip (a later timeline page: the record and lists, then the page)."""
    from sqlalchemy import event

    _thirty_messages(runtime, patient_id)
    login_as("agent")
    seen: list[str] = []

    def remember(_conn, _cursor, statement, *_args):
        seen.append(statement)

    from core.driver_query import DriverQuery

    run_on_driver = DriverQuery.rows

    def driver_rows(query, session, **values):  # statements run on the driver's cursor
        seen.append(str(query.statement))
        return run_on_driver(query, session, **values)

    monkeypatch.setattr(DriverQuery, "rows", driver_rows)

    def reads(url: str) -> tuple[list[str], str]:
        seen.clear()
        event.listen(runtime.db.engine, "before_cursor_execute", remember)
        try:
            page = client.get(url)
        finally:
            event.remove(runtime.db.engine, "before_cursor_execute", remember)
        assert page.status_code == 200
        touching = [s for s in seen if "contact_points" in s or "interactions" in s]
        return touching, page.get_data(as_text=True)

    first, html = reads(f"/admin/patient/{patient_id}")
    assert len(first) == 1
    assert "contact_points" in first[0] and "interactions" in first[0]
    assert "message number 29" in html and "message number 04" not in html
    import re

    older = re.search(r'id="timeline-older" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    later, html = reads(older)
    assert len(later) == 2
    assert "message number 04" in html and "message number 29" not in html


def test_links_and_form_actions_follow_the_script_root(client, login_as, patient_id, runtime):
    """The page's URLs are built once per script root, with this patient's ids in them."""
    from core.models import ContactPoint

    with runtime.session() as session:
        contact_ids = session.scalars(
            select(ContactPoint.id).where(ContactPoint.patient_id == patient_id)
        ).all()
    assert contact_ids
    login_as("crm_staff")
    for root in ("", "/clinic", ""):
        html = client.get(
            f"/admin/patient/{patient_id}", base_url=f"https://localhost{root}"
        ).get_data(as_text=True)
        record = f"{root}/admin/patient/{patient_id}"
        assert f'id="edit-profile" href="{record}/edit"' in html
        for action in ("contacts", "call", "appointment", "feedback", "consent", "channels"):
            assert f'action="{record}/{action}"' in html
        assert f'action="{record}/merge"' in html or "merge" not in html
        for contact_id in contact_ids:
            assert f'action="{record}/contacts/{contact_id}/remove"' in html
        if not root:
            assert "/clinic/" not in html

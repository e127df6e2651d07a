"""The patient 360° page and the agent actions on it.

One page shows the profile, contact points, consent (current and history),
appointments, the timeline (newest first, paginated with ``before``) and the
panels enabled plugins add.  Each view writes an audit event; each action
goes through a core service (which audits the change and fires hooks after
commit).  Every form carries a CSRF token.
"""

from __future__ import annotations

import time
from typing import Any
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.form import SecureForm
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from admin.forms import (
    BookAppointmentForm,
    ChannelPreferenceForm,
    ConsentForm,
    ContactPointForm,
    FeedbackForm,
    LogCallForm,
    MergeForm,
    NewPatientForm,
    PatientProfileForm,
)
from admin.views.base import (
    CareLoopView,
    Perm,
    can,
    current_actor,
    current_role,
    db_session,
    get_runtime,
)
from core.errors import CareLoopError, PatientNotFound, ValidationError
from core.i18n import gettext as _
from core.models import Appointment, Department, Doctor, Patient, Service
from core.panels import PatientPanel
from core.services import appointments, consent, interactions, patients
from core.services.timeline import TimelineCursor, patient_timeline

TIMELINE_PAGE = 25
_RECORD_OPTIONS = (
    joinedload(Patient.contact_points),
    joinedload(Patient.tags),
    joinedload(Patient.conditions),
    joinedload(Patient.primary_doctor),
)
APPOINTMENTS_SHOWN = 20


def _parse_before(raw: str | None) -> str | None:
    """The timeline cursor of the page asked for (opaque; checked here, 400 if forged)."""
    if not raw:
        return None
    try:
        TimelineCursor.parse(raw)
    except ValidationError:
        abort(400)
    return raw


def _appointment_rows(session: Session, patient_id: int) -> list[Any]:
    return list(
        session.execute(
            select(
                Appointment.id,
                Appointment.scheduled_start,
                Appointment.status,
                Doctor.display_name.label("doctor"),
                Department.name.label("department"),
                Service.name.label("service"),
                Appointment.notes,
            )
            .outerjoin(Doctor, Doctor.id == Appointment.doctor_id)
            .outerjoin(Department, Department.id == Appointment.department_id)
            .outerjoin(Service, Service.id == Appointment.service_id)
            .where(Appointment.patient_id == patient_id)
            .order_by(Appointment.scheduled_start.desc())
            .limit(APPOINTMENTS_SHOWN)
        )
    )


#: seconds the booking form's doctors, departments and services are reused per process
DIRECTORY_TTL = 30.0
_directory: dict[str, Any] = {"at": float("-inf")}


def _choices(session: Session, model: Any, label: Any) -> list[tuple[str, str]]:
    rows = session.execute(
        select(model.id, label).where(model.active.is_(True)).order_by(label).limit(500)
    )
    return [("", "—")] + [(str(i), str(name)) for i, name in rows]


def _booking_form(session: Session, formdata: Any = None) -> BookAppointmentForm:
    """The booking form; the clinic directory behind its drop-downs is cached briefly."""
    now = time.monotonic()
    if now - _directory["at"] >= DIRECTORY_TTL:
        _directory.update(
            doctors=_choices(session, Doctor, Doctor.display_name),
            departments=_choices(session, Department, Department.name),
            services=_choices(session, Service, Service.name),
            at=now,
        )
    form = BookAppointmentForm(formdata)
    form.doctor_id.choices = _directory["doctors"]
    form.department_id.choices = _directory["departments"]
    form.service_id.choices = _directory["services"]
    return form


def _current(history: list[Any]) -> list[consent.ConsentState]:
    """The latest event per (channel, purpose) from a newest-first history."""
    latest: dict[tuple[str, str], consent.ConsentState] = {}
    for event in history:
        key = (event.channel, event.purpose)
        if key not in latest:
            latest[key] = consent.ConsentState(
                event.channel, event.purpose, event.status, event.method, event.occurred_at
            )
    return [latest[key] for key in sorted(latest)]


def _panels(session: Session, patient_id: int) -> list[PatientPanel]:
    runtime = get_runtime()
    found = runtime.plugins.collect(
        "careloop_patient_panels",
        session=session,
        patient_id=patient_id,
        viewer_role=current_role() or "",
    )
    panels = [p for p in found if isinstance(p, PatientPanel)]
    return sorted(panels, key=lambda p: (p.order, p.title))


def _optional_int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


class PatientRecordView(CareLoopView):
    """``/admin/patient/<id>``: the 360° page (not in the menu; reached from lists and lookup)."""

    permission = Perm.PATIENT_RECORD

    def is_visible(self) -> bool:
        return False

    # -- the page -----------------------------------------------------------

    @expose("/")
    def index(self) -> Any:
        return redirect(url_for("patients.index_view"))

    @expose("/<int:patient_id>")
    def record(self, patient_id: int) -> Any:
        runtime = get_runtime()
        before = _parse_before(request.args.get("before"))
        session = db_session()
        # one query for the record and its small collections; keep a reference so the
        # service's own get() finds it in the (weak) identity map instead of asking again
        _keep = session.get(Patient, patient_id, options=_RECORD_OPTIONS)
        try:
            patient = patients.get_patient(session, patient_id, current_actor())
        except PatientNotFound:
            abort(404)
        if patient.merged_into_id is not None:
            session.rollback()
            winner = patients.resolve_merged(session, patient_id)
            return redirect(url_for(".record", patient_id=winner))
        session.commit()  # the audit event of this view
        history = consent.consent_history(session, patient_id)
        context = {
            "patient": patient,
            "contacts": list(patient.contact_points),
            "tags": [t.name for t in patient.tags],
            "conditions": list(patient.conditions) if can(Perm.CLINICAL) else [],
            "consent_now": _current(history),
            "consent_history": history[:50],
            "appointments": _appointment_rows(session, patient_id),
            "timeline": patient_timeline(
                session, runtime.plugins, patient_id, before=before, limit=TIMELINE_PAGE
            ),
            "panels": _panels(session, patient_id),
            "call_form": LogCallForm(),
            "book_form": _booking_form(session),
            "feedback_form": FeedbackForm(),
            "consent_form": ConsentForm(),
            "channels_form": ChannelPreferenceForm.for_patient(patient.preferred_channels),
            "contact_form": ContactPointForm(),
            "remove_form": SecureForm(),
            "merge_form": MergeForm(),
            "show_bodies": can(Perm.CLINICAL),
            "before": before,
        }
        return self.render("careloop/patient360.html", **context)

    # -- actions ------------------------------------------------------------

    def _act(self, patient_id: int, perm: Perm, form: Any, action: Any) -> Any:
        """Check the permission and the form (CSRF), run *action* in one transaction."""
        if not can(perm):
            abort(403)
        if not form.validate():
            if "csrf_token" in form.errors:
                abort(400)
            flash(
                _("Please check the form: %(fields)s", fields=", ".join(sorted(form.errors))),
                "error",
            )
            return redirect(url_for(".record", patient_id=patient_id))
        try:
            with get_runtime().transaction() as session:
                message = action(session)
        except PatientNotFound:
            abort(404)
        except CareLoopError as exc:
            flash(str(exc), "error")
        else:
            flash(message, "success")
        return redirect(url_for(".record", patient_id=patient_id))

    @expose("/<int:patient_id>/call", methods=("POST",))
    def log_call(self, patient_id: int) -> Any:
        form = LogCallForm(request.form)

        def action(session: Session) -> str:
            minutes = form.duration_minutes.data
            interactions.log_interaction(
                session,
                patient_id,
                channel="phone",
                direction=form.direction.data,
                kind="call",
                outcome=form.outcome.data,
                body=form.notes.data or None,
                duration_seconds=None if minutes is None else minutes * 60,
                actor=current_actor(),
            )
            return _("Call logged.")

        return self._act(patient_id, Perm.LOG_CALL, form, action)

    @expose("/<int:patient_id>/appointment", methods=("POST",))
    def book(self, patient_id: int) -> Any:
        form = _booking_form(db_session(), request.form)
        zone = ZoneInfo(get_runtime().config.timezone)

        def action(session: Session) -> str:
            start = form.scheduled_start.data.replace(tzinfo=zone)
            appointments.book_appointment(
                session,
                patient_id,
                scheduled_start=start,
                doctor_id=_optional_int(form.doctor_id.data),
                department_id=_optional_int(form.department_id.data),
                service_id=_optional_int(form.service_id.data),
                booking_channel="phone",
                notes=form.notes.data or None,
                actor=current_actor(),
            )
            return _("Appointment booked.")

        return self._act(patient_id, Perm.BOOK, form, action)

    @expose("/<int:patient_id>/feedback", methods=("POST",))
    def feedback(self, patient_id: int) -> Any:
        form = FeedbackForm(request.form)

        def action(session: Session) -> str:
            interactions.log_interaction(
                session,
                patient_id,
                channel=form.channel.data,
                direction="inbound",
                kind=form.kind.data,
                subject=form.subject.data,
                body=form.body.data or None,
                actor=current_actor(),
            )
            return _("Recorded.")

        return self._act(patient_id, Perm.COMPLAINT, form, action)

    @expose("/<int:patient_id>/consent", methods=("POST",))
    def change_consent(self, patient_id: int) -> Any:
        form = ConsentForm(request.form)

        def action(session: Session) -> str:
            consent.record_consent(
                session,
                patient_id,
                form.channel.data,
                form.purpose.data,
                form.action.data,
                "staff",
                current_actor(),
                evidence=form.evidence.data or None,
            )
            return _("Consent recorded.")

        return self._act(patient_id, Perm.CONSENT_EDIT, form, action)

    @expose("/<int:patient_id>/channels", methods=("POST",))
    def change_channels(self, patient_id: int) -> Any:
        form = ChannelPreferenceForm(request.form)

        def action(session: Session) -> str:
            patients.update_patient(
                session, patient_id, {"preferred_channels": form.order()}, current_actor()
            )
            return _("Contact preference saved.")

        return self._act(patient_id, Perm.CONSENT_EDIT, form, action)

    @expose("/<int:patient_id>/merge", methods=("GET", "POST"))
    def merge(self, patient_id: int) -> Any:
        """GET (or POST without ``confirm``): a preview; POST with ``confirm=yes``: merge."""
        if not can(Perm.PATIENT_MERGE):
            abort(403)
        form = MergeForm(
            request.form if request.method == "POST" else request.args,
            meta={"csrf": request.method == "POST"},
        )
        if not form.validate():
            if "csrf_token" in form.errors:
                abort(400)
            flash(_("Give the id of the duplicate record."), "error")
            return redirect(url_for(".record", patient_id=patient_id))
        other_id = form.other_id.data
        runtime = get_runtime()
        if request.method == "POST" and form.confirm.data == "yes":
            try:
                with runtime.transaction() as session:
                    patients.merge_patients(session, patient_id, other_id, current_actor())
            except CareLoopError as exc:
                flash(str(exc), "error")
            else:
                flash(_("Records merged."), "success")
            return redirect(url_for(".record", patient_id=patient_id))
        with runtime.session() as session:
            try:
                plan = patients.preview_merge(session, patient_id, other_id)
            except CareLoopError as exc:
                flash(str(exc), "error")
                return redirect(url_for(".record", patient_id=patient_id))
            winner = session.get(Patient, patient_id)
            loser = session.get(Patient, other_id)
            return self.render(
                "careloop/merge_preview.html",
                plan=plan,
                winner=winner,
                loser=loser,
                form=MergeForm(data={"other_id": other_id, "confirm": "yes"}),
            )

    # -- profile and contact points ---------------------------------------------

    @expose("/<int:patient_id>/edit", methods=("GET", "POST"))
    def edit(self, patient_id: int) -> Any:
        if not can(Perm.PATIENT_EDIT):
            abort(403)
        session = db_session()
        try:  # the form shows the record: that is a view, audited like the 360 page
            patient = patients.get_patient(session, patient_id, current_actor())
        except PatientNotFound:
            abort(404)
        if patient.merged_into_id is not None:
            abort(404)
        session.commit()
        form = PatientProfileForm(request.form if request.method == "POST" else None, obj=patient)
        if request.method == "GET":
            form.version.data = PatientProfileForm.version_of(patient)
        elif not form.validate():
            if "csrf_token" in form.errors:
                abort(400)
        elif form.version.data != PatientProfileForm.version_of(patient):
            # someone saved the record since this form was opened: show theirs, save nothing
            flash(
                _("Someone else changed this record meanwhile: check it and save again."),
                "error",
            )
            form = PatientProfileForm(obj=patient)
            form.version.data = PatientProfileForm.version_of(patient)
        else:
            try:
                with get_runtime().transaction() as tx:
                    changed = patients.update_patient(
                        tx, patient_id, form.changes(), current_actor()
                    )
            except CareLoopError as exc:
                flash(str(exc), "error")
            else:
                flash(_("Profile saved.") if changed else _("Nothing changed."), "success")
                return redirect(url_for(".record", patient_id=patient_id))
        return self.render("careloop/patient_edit.html", form=form, patient=patient)

    @expose("/<int:patient_id>/contacts", methods=("POST",))
    def add_contact(self, patient_id: int) -> Any:
        form = ContactPointForm(request.form)

        def action(session: Session) -> str:
            patients.add_contact_point(
                session, patient_id, form.kind.data, form.value.data, current_actor()
            )
            return _("Contact added.")

        return self._act(patient_id, Perm.PATIENT_EDIT, form, action)

    @expose("/<int:patient_id>/contacts/<int:contact_id>/remove", methods=("POST",))
    def remove_contact(self, patient_id: int, contact_id: int) -> Any:
        form = SecureForm(request.form)

        def action(session: Session) -> str:
            patients.remove_contact_point(session, patient_id, contact_id, current_actor())
            return _("Contact removed.")

        return self._act(patient_id, Perm.PATIENT_EDIT, form, action)

    # -- new patient (from caller-ID "create") -------------------------------

    @expose("/new", methods=("GET", "POST"))
    def new(self) -> Any:
        if not can(Perm.PATIENT_EDIT):
            abort(403)
        form = NewPatientForm(request.form if request.method == "POST" else None)
        if request.method == "GET":
            form.phone.data = request.args.get("phone", "")
        elif form.validate():
            data = patients.PatientInput(
                given_name=form.given_name.data or "",
                family_name=form.family_name.data or "",
                mrn=form.mrn.data or None,
                birth_date=form.birth_date.data,
                preferred_language=form.preferred_language.data or None,
                lead_source=form.lead_source.data or None,
                phones=[form.phone.data] if form.phone.data else [],
                emails=[form.email.data] if form.email.data else [],
            )
            try:
                with get_runtime().transaction() as session:
                    patient = patients.create_patient(session, data, current_actor())
                    new_id = patient.id
            except CareLoopError as exc:
                flash(str(exc), "error")
            else:
                flash(_("Patient created."), "success")
                return redirect(url_for(".record", patient_id=new_id))
        elif "csrf_token" in form.errors:
            abort(400)
        return self.render("careloop/patient_new.html", form=form)

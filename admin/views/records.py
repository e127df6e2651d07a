"""Read-only lists of interactions and appointments across patients."""

# Flask-Admin is configured by class attributes (dicts and lists): RUF012 does not apply.
# ruff: noqa: RUF012

from __future__ import annotations

from typing import Any

from flask_admin.contrib.sqla import filters as f
from markupsafe import Markup
from sqlalchemy.orm import joinedload

from admin.views.base import CareLoopModelView, Perm, can, record_url
from core.i18n import lazy_gettext
from core.models import Appointment, Interaction


def patient_link(view: Any, context: Any, model: Any, name: str) -> Markup:
    """The patient's name, linked to the 360° page for roles that may open it (escaped)."""
    patient = model.patient
    if patient is None:
        return Markup("")
    if not can(Perm.PATIENT_RECORD):
        return Markup("{}").format(patient.display_name)
    href = record_url(patient.id)
    return Markup('<a href="{}">{}</a>').format(href, patient.display_name)


class InteractionListView(CareLoopModelView):
    """Every interaction, newest first; bodies only for roles that see notes."""

    permission = Perm.INTERACTIONS
    can_create = can_edit = False
    column_list = ("started_at", "patient", "channel", "direction", "kind", "subject", "outcome")
    column_labels = {
        "started_at": lazy_gettext("When"),
        "patient": lazy_gettext("Patient"),
        "channel": lazy_gettext("Channel"),
        "direction": lazy_gettext("Direction"),
        "kind": lazy_gettext("Kind"),
        "subject": lazy_gettext("Subject"),
        "outcome": lazy_gettext("Outcome"),
    }
    column_default_sort = ("started_at", True)
    column_sortable_list = ("started_at",)
    column_filters = (
        "channel",
        "direction",
        "kind",
        "outcome",
        "patient_id",
        f.DateTimeGreaterFilter(Interaction.started_at, lazy_gettext("After")),
        f.DateTimeSmallerFilter(Interaction.started_at, lazy_gettext("Before")),
        f.DateTimeBetweenFilter(Interaction.started_at, lazy_gettext("When")),
    )
    column_formatters = {"patient": patient_link}

    def get_query(self) -> Any:
        return super().get_query().options(joinedload(Interaction.patient))


class AppointmentListView(CareLoopModelView):
    """Every appointment, soonest last; booking happens on the 360° page."""

    permission = Perm.APPOINTMENTS
    can_create = can_edit = False
    column_list = ("scheduled_start", "patient", "status", "doctor", "department", "walk_in")
    column_labels = {
        "scheduled_start": lazy_gettext("When"),
        "patient": lazy_gettext("Patient"),
        "status": lazy_gettext("Status"),
        "doctor": lazy_gettext("Doctor"),
        "department": lazy_gettext("Department"),
        "walk_in": lazy_gettext("Walk-in"),
    }
    column_default_sort = ("scheduled_start", True)
    column_sortable_list = ("scheduled_start", "status")
    column_filters = (
        "status",
        "doctor_id",
        "department_id",
        "patient_id",
        f.DateTimeGreaterFilter(Appointment.scheduled_start, lazy_gettext("After")),
        f.DateTimeSmallerFilter(Appointment.scheduled_start, lazy_gettext("Before")),
    )
    column_formatters = {
        "patient": patient_link,
        "doctor": lambda v, c, m, n: m.doctor.display_name if m.doctor else "",
        "department": lambda v, c, m, n: m.department.name if m.department else "",
    }

    def get_query(self) -> Any:
        return (
            super()
            .get_query()
            .options(
                joinedload(Appointment.patient),
                joinedload(Appointment.doctor),
                joinedload(Appointment.department),
            )
        )

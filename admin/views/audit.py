"""The audit trail (admins only): filterable, read-only — no create, edit or delete."""

# Flask-Admin is configured by class attributes (dicts and lists): RUF012 does not apply.
# ruff: noqa: RUF012

from __future__ import annotations

from typing import Any

from flask import abort
from flask_admin.contrib.sqla import filters as f
from markupsafe import Markup

from admin.views.base import CareLoopModelView, Perm, record_url
from core.i18n import lazy_gettext
from core.models import AuditEvent


def _patient(view: Any, context: Any, model: Any, name: str) -> Markup:
    if model.patient_id is None:
        return Markup("")
    href = record_url(model.patient_id)
    return Markup('<a href="{}">#{}</a>').format(href, model.patient_id)


class AuditView(CareLoopModelView):
    """Who viewed or changed what, when, from where."""

    permission = Perm.AUDIT
    can_create = can_edit = can_delete = False
    column_list = (
        "occurred_at",
        "actor",
        "staff_user_id",
        "action",
        "entity_type",
        "entity_id",
        "patient_id",
        "ip_address",
        "details",
    )
    column_labels = {
        "occurred_at": lazy_gettext("When"),
        "actor": lazy_gettext("Who"),
        "staff_user_id": lazy_gettext("Staff id"),
        "action": lazy_gettext("Action"),
        "entity_type": lazy_gettext("What"),
        "entity_id": lazy_gettext("Id"),
        "patient_id": lazy_gettext("Patient"),
        "ip_address": lazy_gettext("Address"),
        "details": lazy_gettext("Details"),
    }
    column_default_sort = ("occurred_at", True)
    column_sortable_list = ("occurred_at",)
    column_filters = (
        f.DateTimeGreaterFilter(AuditEvent.occurred_at, lazy_gettext("After")),
        f.DateTimeSmallerFilter(AuditEvent.occurred_at, lazy_gettext("Before")),
        f.DateTimeBetweenFilter(AuditEvent.occurred_at, lazy_gettext("When")),
        "actor",
        "staff_user_id",
        "action",
        "entity_type",
        "entity_id",
        "patient_id",
        "ip_address",
    )
    column_formatters = {"patient_id": _patient}

    # belt and braces: the UI never writes audit rows, whatever a subclass sets
    def create_model(self, form: Any) -> Any:
        abort(403)

    def update_model(self, form: Any, model: Any) -> Any:
        abort(403)

    def delete_model(self, model: Any) -> Any:
        abort(403)

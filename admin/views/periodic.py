"""Scheduled (periodic) tasks, for admins: when each ran, how, and when it runs next."""

# Flask-Admin is configured by class attributes (dicts and lists): RUF012 does not apply.
# ruff: noqa: RUF012

from __future__ import annotations

from admin.views.base import CareLoopModelView
from core.i18n import lazy_gettext


class PeriodicRunView(CareLoopModelView):
    """Read-only: the schedule state the workers keep in ``periodic_runs``."""

    permission = None  # admins only
    can_create = can_edit = can_delete = False
    column_list = ("name", "schedule", "next_run_at", "last_run_at", "last_outcome")
    column_labels = {
        "name": lazy_gettext("Task"),
        "schedule": lazy_gettext("Schedule (cron, clinic time)"),
        "next_run_at": lazy_gettext("Next run"),
        "last_run_at": lazy_gettext("Last run"),
        "last_outcome": lazy_gettext("Outcome"),
    }
    column_default_sort = "name"
    column_sortable_list = ("name", "next_run_at", "last_run_at")

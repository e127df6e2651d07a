"""Staff users (admins only): a read-only list; never the password hash.

Create the first admin with ``careloop users create --role admin NAME``.
"""

# Flask-Admin is configured by class attributes (dicts and lists): RUF012 does not apply.
# ruff: noqa: RUF012

from __future__ import annotations

from admin.views.base import CareLoopModelView, Perm
from core.i18n import lazy_gettext


class UserListView(CareLoopModelView):
    """Who may sign in, with which role, and whether the account is locked."""

    permission = Perm.USERS
    can_create = can_edit = can_delete = False
    column_list = (
        "username",
        "display_name",
        "role",
        "active",
        "locale",
        "last_login_at",
        "locked_until",
        "created_at",
    )
    column_labels = {
        "username": lazy_gettext("Username"),
        "display_name": lazy_gettext("Name"),
        "role": lazy_gettext("Role"),
        "active": lazy_gettext("Active"),
        "locale": lazy_gettext("Language"),
        "last_login_at": lazy_gettext("Last sign-in"),
        "locked_until": lazy_gettext("Locked until"),
        "created_at": lazy_gettext("Created"),
    }
    column_searchable_list = ("username", "display_name")
    column_filters = ("role", "active")
    column_default_sort = "username"
